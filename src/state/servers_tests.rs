//! Tests of the server and session tables: full lists replace, deltas
//! apply, reports keep the drained flag and the last load, servers whose
//! reports stop go down and come back, and both tables survive the stored
//! pairs and a snapshot.

use super::*;

fn session(id: &str, user: &str, status: char) -> SessionRecord {
    SessionRecord {
        id: id.into(),
        user: user.into(),
        status,
        line: format!("1|{id}|50|x2go1|{status}|...|{user}"),
    }
}

fn load(factor: u64) -> LoadRecord {
    LoadRecord {
        loadavg_xx: 10,
        mem_avail: 2000,
        num_cpu: 2,
        cpu_mhz: 2400,
        load_factor: factor,
        measured_at: 5,
    }
}

fn report(host: &str, sessions: Option<SessionChange>, l: Option<LoadRecord>) -> AgentReport {
    AgentReport {
        hostname: host.into(),
        sessions,
        load: l,
        since: None,
    }
}

fn reports(node: u64, at: Millis, reports: Vec<AgentReport>) -> Command {
    Command::AgentReports { node, at, reports }
}

fn ids(s: &State, host: &str) -> Vec<(String, char)> {
    s.sessions_on(host)
        .map(|r| (r.id.clone(), r.status))
        .collect()
}

/// Replays `cmds` on a fresh state, and on a state rebuilt from the writes.
fn replay(cmds: &[Command]) -> (State, State) {
    let mut s = State::default();
    let mut store = std::collections::BTreeMap::new();
    for c in cmds {
        let (_, writes) = s.apply(c);
        for (k, v) in writes {
            match v {
                Some(v) => store.insert(k, v),
                None => store.remove(&k),
            };
        }
    }
    (s, State::from_pairs(store).unwrap())
}

#[test]
fn a_full_list_replaces_and_deltas_apply() {
    let full = SessionChange::Full(vec![session("a", "u1", 'R'), session("b", "u2", 'S')]);
    let delta = SessionChange::Delta {
        upsert: vec![session("a", "u1", 'S'), session("c", "u3", 'R')],
        removed: vec!["b".into()],
    };
    let other = SessionChange::Full(vec![session("z", "u9", 'R')]);
    let (s, rebuilt) = replay(&[
        reports(
            1,
            100,
            vec![
                report("x2go1", Some(full), Some(load(7))),
                report("x2go2", Some(other), None),
            ],
        ),
        reports(1, 200, vec![report("x2go1", Some(delta), None)]),
    ]);
    assert_eq!(ids(&s, "x2go1"), vec![("a".into(), 'S'), ("c".into(), 'R')]);
    assert_eq!(ids(&s, "x2go2"), vec![("z".into(), 'R')]);
    assert_eq!(s.session_count(), 3);
    // A report without load keeps the last one.
    let rec = s.server("x2go1").unwrap();
    assert_eq!((rec.last_report, rec.node, rec.up), (200, 1, true));
    assert_eq!(rec.load, Some(load(7)));
    assert_eq!(rebuilt, s);
    // On reconnect a full list replaces whatever was known.
    let (s, rebuilt) = replay(&[
        reports(
            1,
            100,
            vec![report(
                "x2go1",
                Some(SessionChange::Full(vec![session("a", "u1", 'R')])),
                None,
            )],
        ),
        reports(
            2,
            300,
            vec![report(
                "x2go1",
                Some(SessionChange::Full(vec![session("d", "u4", 'S')])),
                None,
            )],
        ),
    ]);
    assert_eq!(ids(&s, "x2go1"), vec![("d".into(), 'S')]);
    assert_eq!(s.server("x2go1").unwrap().node, 2);
    assert_eq!(rebuilt, s);
}

#[test]
fn servers_whose_reports_stop_go_down_and_come_back() {
    let mut s = State::default();
    s.apply(&reports(1, 1_000, vec![report("x2go1", None, None)]));
    s.apply(&reports(1, 5_000, vec![report("x2go2", None, None)]));
    let (_, writes) = s.apply(&Command::ServersDown {
        at: 11_000,
        timeout_ms: 10_000,
    });
    assert!(writes.is_empty(), "the boundary itself is not older");
    s.apply(&Command::ServersDown {
        at: 11_001,
        timeout_ms: 10_000,
    });
    assert!(!s.server("x2go1").unwrap().up);
    assert!(s.server("x2go2").unwrap().up);
    assert_eq!(s.server_counts(), (2, 1));
    s.apply(&reports(2, 12_000, vec![report("x2go1", None, None)]));
    assert!(s.server("x2go1").unwrap().up);
    assert_eq!(s.server_counts(), (2, 2));
}

#[test]
fn draining_survives_reports_and_needs_a_known_server() {
    let mut s = State::default();
    let drain = |h: &str, d| Command::DrainServer {
        hostname: h.into(),
        drained: d,
    };
    assert_eq!(s.apply(&drain("x2go1", true)).0, Outcome::UnknownServer);
    s.apply(&reports(1, 1, vec![report("x2go1", None, None)]));
    assert_eq!(s.apply(&drain("x2go1", true)).0, Outcome::Done);
    s.apply(&reports(1, 2, vec![report("x2go1", None, Some(load(3)))]));
    assert!(s.server("x2go1").unwrap().drained);
    s.apply(&drain("x2go1", false));
    assert!(!s.server("x2go1").unwrap().drained);
}

#[test]
fn the_tables_survive_a_snapshot_and_old_snapshots_still_load() {
    let mut s = State::default();
    s.apply(&reports(
        3,
        9,
        vec![report(
            "x2go1",
            Some(SessionChange::Full(vec![session("a", "u1", 'S')])),
            Some(load(1)),
        )],
    ));
    let before = s.digest();
    let back = State::from_snapshot(&s.to_snapshot().unwrap()).unwrap();
    assert_eq!(back, s);
    assert_eq!(back.digest(), before);
    assert_ne!(State::default().digest(), before);
    let old = br#"{"cookies":[],"placements":[],"config":null,"requests":[]}"#;
    let s = State::from_snapshot(old).unwrap();
    assert_eq!((s.server_counts(), s.session_count()), ((0, 0), 0));
}

#[test]
fn an_unchanged_session_writes_nothing() {
    let mut s = State::default();
    let full = || Some(SessionChange::Full(vec![session("a", "u1", 'S')]));
    s.apply(&reports(1, 1, vec![report("x2go1", full(), None)]));
    let (_, writes) = s.apply(&reports(1, 2, vec![report("x2go1", full(), None)]));
    // The server's record (last report) only.
    assert_eq!(writes.len(), 1);
}
