//! Tests of the load checker's table and of placing by it: the reference's
//! choice (lowest (sessions + 1) / load factor), failed checks left out
//! unless no host has a factor, our agents' servers weighed as before,
//! and the table surviving snapshots, stored pairs and retention.

use super::*;
use std::collections::BTreeMap;

fn checked(at: Millis, loads: &[(&str, &str, CheckedLoad)]) -> Command {
    Command::LoadsChecked {
        at,
        checks: loads
            .iter()
            .map(|(p, h, l)| LoadCheck {
                profile: p.to_string(),
                host: h.to_string(),
                load: *l,
            })
            .collect(),
    }
}

fn weighed(user: &str, hosts: &[&str], sessions: &[(&str, u32)], now: Millis) -> Command {
    Command::PlaceWeighed {
        profile: "p".into(),
        user: user.into(),
        candidates: hosts
            .iter()
            .map(|h| Candidate {
                name: h.to_string(),
                alive: true,
            })
            .collect(),
        sessions: sessions.iter().map(|(h, n)| (h.to_string(), *n)).collect(),
        now,
        window_ms: 10_000,
    }
}

fn host_of(o: Outcome) -> String {
    match o {
        Outcome::Placed(PlacedOutcome::Host(h) | PlacedOutcome::Sticky(h)) => h,
        other => panic!("{other:?}"),
    }
}

use CheckedLoad::{Bogus, Factor, Unreachable};

#[test]
fn the_lowest_sessions_per_load_factor_wins() {
    let mut s = State::default();
    s.apply(&checked(
        1,
        &[("p", "a", Factor(1000)), ("p", "b", Factor(4000))],
    ));
    // b: 1/4000 beats a: 1/1000.
    assert_eq!(host_of(s.apply(&weighed("u1", &["a", "b"], &[], 2)).0), "b");
    // With 5 sessions on b (6/4000 = 1/667) and none on a (1/1000), a wins.
    assert_eq!(
        host_of(s.apply(&weighed("u2", &["a", "b"], &[("b", 5)], 3)).0),
        "a"
    );
    // Counts of servers that are not candidates do not matter.
    assert_eq!(
        host_of(s.apply(&weighed("u3", &["a", "b"], &[("c", 50)], 4)).0),
        "b"
    );
}

#[test]
fn failed_checks_are_left_out_unless_no_host_has_a_factor() {
    let mut s = State::default();
    s.apply(&checked(
        1,
        &[
            ("p", "a", Unreachable),
            ("p", "b", Factor(10)),
            ("p", "c", Bogus),
        ],
    ));
    // a and c are out although b is far more loaded than they might be.
    for (i, u) in ["u1", "u2", "u3"].iter().enumerate() {
        assert_eq!(
            host_of(s.apply(&weighed(u, &["a", "c", "b"], &[], 2 + i as u64)).0),
            "b"
        );
    }
    // Nobody reports a factor: placement as without the load checker.
    s.apply(&checked(9, &[("p", "b", Unreachable)]));
    assert_eq!(
        host_of(s.apply(&weighed("u4", &["a", "b"], &[], 10)).0),
        "a"
    );
}

#[test]
fn without_a_factor_for_every_host_sessions_count() {
    let mut s = State::default();
    // b was never checked: the reference then goes by session counts.
    s.apply(&checked(1, &[("p", "a", Factor(1_000_000))]));
    assert_eq!(
        host_of(
            s.apply(&weighed("u1", &["a", "b"], &[("a", 3), ("b", 1)], 2))
                .0
        ),
        "b"
    );
}

#[test]
fn checks_are_per_profile() {
    let mut s = State::default();
    s.apply(&checked(
        1,
        &[
            ("other", "a", Factor(1)),
            ("p", "a", Factor(100)),
            ("p", "b", Factor(10)),
        ],
    ));
    assert_eq!(host_of(s.apply(&weighed("u", &["a", "b"], &[], 2)).0), "a");
    assert_eq!(s.load_check("other", "a").unwrap().load, Factor(1));
}

#[test]
fn weighed_placements_are_sticky_and_count() {
    let mut s = State::default();
    s.apply(&checked(
        1,
        &[("p", "a", Factor(1000)), ("p", "b", Factor(1100))],
    ));
    assert_eq!(host_of(s.apply(&weighed("u1", &["a", "b"], &[], 2)).0), "b");
    // The placement on b counts: 2/1100 > 1/1000.
    assert_eq!(host_of(s.apply(&weighed("u2", &["a", "b"], &[], 3)).0), "a");
    // u1 again, within the window: back to b.
    let (o, _) = s.apply(&weighed("u1", &["a", "b"], &[], 4));
    assert_eq!(o, Outcome::Placed(PlacedOutcome::Sticky("b".into())));
}

#[test]
fn servers_with_agents_of_ours_weigh_their_reports() {
    let mut s = State::default();
    s.apply(&Command::AgentReports {
        node: 1,
        at: 1,
        reports: vec![AgentReport {
            hostname: "a".into(),
            sessions: Some(SessionChange::Full(Vec::new())),
            load: Some(LoadRecord {
                loadavg_xx: 1,
                mem_avail: 1,
                num_cpu: 1,
                cpu_mhz: 1,
                load_factor: 5000,
                measured_at: 1,
            }),
            since: None,
        }],
    });
    // A stale check of "a" does not count: its agent reports 5000.
    s.apply(&checked(
        1,
        &[("p", "a", Factor(1)), ("p", "b", Factor(2000))],
    ));
    assert_eq!(
        host_of(s.apply(&weighed("u", &["a", "b"], &[("a", 9)], 2)).0),
        "a"
    );
}

#[test]
fn the_table_survives_snapshots_stored_pairs_and_retention() {
    let mut s = State::default();
    let mut store: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let cmds = [
        checked(
            1,
            &[
                ("p", "a", Factor(7)),
                ("p", "b", Unreachable),
                ("q", "a", Bogus),
            ],
        ),
        Command::RaiseFormat { format: 2 },
        Command::LoadChecksRetain {
            keep: vec![("p".into(), "a".into()), ("q".into(), "a".into())],
        },
        checked(5, &[("q", "a", Factor(3))]),
    ];
    for c in &cmds {
        for (k, v) in s.apply(c).1 {
            match v {
                Some(v) => store.insert(k, v),
                None => store.remove(&k),
            };
        }
    }
    assert!(s.load_check("p", "b").is_none());
    assert_eq!(
        s.load_check("q", "a"),
        Some(&LoadCheckRecord {
            load: Factor(3),
            at: 5
        })
    );
    assert_eq!(s.command_format(), 2);
    let from_pairs = State::from_pairs(store).unwrap();
    let from_snapshot = State::from_snapshot(&s.to_snapshot().unwrap()).unwrap();
    for restored in [from_pairs, from_snapshot] {
        assert_eq!(restored, s);
        assert_eq!(restored.digest(), s.digest());
    }
}

#[test]
fn the_format_floor_only_rises() {
    let mut s = State::default();
    assert_eq!(s.command_format(), 1);
    s.apply(&Command::RaiseFormat { format: 2 });
    let (_, writes) = s.apply(&Command::RaiseFormat { format: 1 });
    assert!(writes.is_empty());
    assert_eq!(s.command_format(), 2);
}

#[test]
fn commands_know_their_format() {
    assert_eq!(checked(1, &[]).format(), LOAD_CHECKS_FORMAT);
    let old = Command::Purge {
        now: 1,
        cookie_ttl_ms: 1,
        placement_window_ms: 1,
    };
    assert_eq!(old.format(), 1);
    assert_eq!(Command::Batch(vec![old.clone()]).format(), 1);
    assert_eq!(
        Command::Batch(vec![old, weighed("u", &[], &[], 1)]).format(),
        2
    );
    let wrapped = Command::Request {
        id: RequestId {
            node: 1,
            boot: 1,
            seq: 1,
        },
        at: 1,
        cmd: Box::new(Command::LoadChecksRetain { keep: Vec::new() }),
    };
    assert_eq!(wrapped.format(), 2);
}
