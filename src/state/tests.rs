//! Tests of the state machine: cookie chains and refusals, placement
//! spreading and stickiness, batches, snapshots, the rebuild from stored
//! pairs, and determinism.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn issue(user: &str, cookie: &str, ip: &str, at: Millis) -> Command {
    Command::IssueCookie {
        user: user.into(),
        cookie: cookie.into(),
        ip: ip.into(),
        at,
    }
}

fn redeem(user: &str, cookie: &str, ip: &str, now: Millis, next: &str) -> Command {
    Command::RedeemCookie {
        user: user.into(),
        cookie: cookie.into(),
        ip: ip.into(),
        now,
        verify_ip: true,
        timeout_ms: 1000,
        next: next.into(),
    }
}

fn place(user: &str, hosts: &[(&str, bool)], now: Millis) -> Command {
    Command::Place {
        profile: "p".into(),
        user: user.into(),
        candidates: hosts
            .iter()
            .map(|(n, a)| Candidate {
                name: n.to_string(),
                alive: *a,
            })
            .collect(),
        now,
        window_ms: 10_000,
    }
}

#[test]
fn cookies_are_single_use_and_chain() {
    let mut s = State::default();
    s.apply(&issue("u", "c1", "127.0.0.1", 100));
    let (o, _) = s.apply(&redeem("u", "c1", "127.0.0.1", 200, "c2"));
    assert_eq!(o, Outcome::CookieAccepted { next: "c2".into() });
    let (o, _) = s.apply(&redeem("u", "c1", "127.0.0.1", 300, "c3"));
    assert_eq!(o, Outcome::CookieRefused(CookieRefusal::Unknown));
    // The chain keeps the original login time, so the timeout still counts from it.
    assert_eq!(s.cookie("u", "c2").unwrap().issued_at, 100);
    let (o, _) = s.apply(&redeem("u", "c2", "127.0.0.1", 1101, "c4"));
    assert_eq!(o, Outcome::CookieRefused(CookieRefusal::Expired));
}

#[test]
fn cookie_bound_to_ip_and_user() {
    let mut s = State::default();
    s.apply(&issue("u", "c1", "127.0.0.1", 0));
    let (o, _) = s.apply(&redeem("other", "c1", "127.0.0.1", 1, "x"));
    assert_eq!(o, Outcome::CookieRefused(CookieRefusal::Unknown));
    let (o, _) = s.apply(&redeem("u", "c1", "127.0.0.2", 1, "x"));
    assert_eq!(o, Outcome::CookieRefused(CookieRefusal::IpMismatch));
    // A refused attempt burns the cookie, as in the reference.
    assert!(s.cookie("u", "c1").is_none());
}

#[test]
fn placements_spread_and_stick() {
    let mut s = State::default();
    let hosts = [("a", true), ("b", true)];
    let (o1, _) = s.apply(&place("u1", &hosts, 0));
    let (o2, _) = s.apply(&place("u2", &hosts, 1));
    assert_eq!(o1, Outcome::Placed(PlacedOutcome::Host("a".into())));
    assert_eq!(o2, Outcome::Placed(PlacedOutcome::Host("b".into())));
    let (o, _) = s.apply(&place("u1", &hosts, 2));
    assert_eq!(o, Outcome::Placed(PlacedOutcome::Sticky("a".into())));
    let (o, _) = s.apply(&place("u3", &[("a", false), ("b", false)], 3));
    assert_eq!(o, Outcome::Placed(PlacedOutcome::NoneAvailable));
    s.apply(&Command::Purge {
        now: 20_000,
        cookie_ttl_ms: 1,
        placement_window_ms: 10_000,
    });
    assert_eq!(s.placements_on("a"), 0);
}

#[test]
fn a_single_candidate_is_chosen_even_when_down() {
    let mut s = State::default();
    let (o, _) = s.apply(&place("u", &[("only", false)], 0));
    assert_eq!(o, Outcome::Placed(PlacedOutcome::Host("only".into())));
    let (o, _) = s.apply(&place("u", &[("other", false)], 1));
    assert_eq!(o, Outcome::Placed(PlacedOutcome::Host("other".into())));
}

#[test]
fn a_batch_is_its_commands_in_order() {
    let cmds = vec![
        place("u1", &[("a", true), ("b", true)], 0),
        place("u2", &[("a", true), ("b", true)], 1),
    ];
    let mut one = State::default();
    let singly: Vec<Outcome> = cmds.iter().map(|c| one.apply(c).0).collect();
    let mut two = State::default();
    let (batched, _) = two.apply(&Command::Batch(cmds));
    assert_eq!(batched, Outcome::Batch(singly));
    assert_eq!(one, two);
}

#[test]
fn snapshots_roundtrip() {
    let mut s = State::default();
    s.apply(&issue("u", "c1", "127.0.0.1", 1));
    s.apply(&place("u", &[("a", true), ("b", true)], 3));
    let back = State::from_snapshot(&s.to_snapshot().unwrap()).unwrap();
    assert_eq!(back, s);
    assert_eq!(back.digest(), s.digest());
}

#[test]
fn writes_rebuild_the_same_state() {
    let mut s = State::default();
    let mut store: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let cmds = vec![
        issue("u", "c1", "127.0.0.1", 1),
        redeem("u", "c1", "127.0.0.1", 2, "c2"),
        place("u", &[("a", true), ("b", true)], 3),
        place("v", &[("a", true), ("b", true)], 4),
    ];
    for c in &cmds {
        for (k, v) in s.apply(c).1 {
            match v {
                Some(v) => store.insert(k, v),
                None => store.remove(&k),
            };
        }
    }
    let rebuilt = State::from_pairs(store).unwrap();
    assert_eq!(rebuilt.cookies, s.cookies);
    assert_eq!(rebuilt.placements, s.placements);
    assert_eq!(rebuilt.by_host, s.by_host);
}

proptest! {
    #[test]
    fn apply_is_deterministic(users in proptest::collection::vec(0u8..6, 1..40)) {
        let hosts = [("a", true), ("b", true), ("c", true)];
        let run = || {
            let mut s = State::default();
            users.iter().enumerate().map(|(i, u)| s.apply(&place(&format!("u{u}"), &hosts, i as u64)).0).collect::<Vec<_>>()
        };
        prop_assert_eq!(run(), run());
    }
}

/// `cmd` as a node proposes it: with a request id, so that a retry is
/// recognised.
fn proposed(cmd: Command, seq: u64, at: Millis) -> Command {
    Command::Request {
        id: RequestId {
            node: 1,
            boot: 7,
            seq,
        },
        at,
        cmd: Box::new(cmd),
    }
}

/// Finding 12: a proposal that committed but whose answer was lost is
/// proposed again (after a leader change) and applied twice: the retry
/// answers the first outcome, and the cookie chain goes on.
#[test]
fn finding12_a_retried_request_applies_once() {
    let mut s = State::default();
    s.apply(&issue("u", "c1", "127.0.0.1", 100));
    let first = proposed(redeem("u", "c1", "127.0.0.1", 200, "c2"), 1, 200);
    let (o1, _) = s.apply(&first);
    let (o2, _) = s.apply(&first);
    assert_eq!(o1, Outcome::CookieAccepted { next: "c2".into() });
    assert_eq!(o2, o1, "the retry answers the first outcome");
    assert!(s.cookie("u", "c2").is_some(), "the chained cookie is kept");
    // The next cookie of the chain is accepted, once.
    let next = proposed(redeem("u", "c2", "127.0.0.1", 300, "c3"), 2, 300);
    assert_eq!(
        s.apply(&next).0,
        Outcome::CookieAccepted { next: "c3".into() }
    );
    // The same command under a new request id is a new request.
    let again = proposed(redeem("u", "c2", "127.0.0.1", 300, "c3"), 3, 300);
    assert_eq!(
        s.apply(&again).0,
        Outcome::CookieRefused(CookieRefusal::Unknown)
    );
}

/// Finding 12: the remembered requests survive a snapshot and the rebuild
/// from stored pairs, so a retry applied after either still answers the
/// first outcome.
#[test]
fn finding12_request_ids_survive_snapshots_and_stored_pairs() {
    let mut s = State::default();
    let mut store: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let first = proposed(redeem("u", "c1", "127.0.0.1", 200, "c2"), 1, 200);
    for c in [&issue("u", "c1", "127.0.0.1", 100), &first] {
        for (k, v) in s.apply(c).1 {
            match v {
                Some(v) => store.insert(k, v),
                None => store.remove(&k),
            };
        }
    }
    let accepted = Outcome::CookieAccepted { next: "c2".into() };
    let mut from_snapshot = State::from_snapshot(&s.to_snapshot().unwrap()).unwrap();
    assert_eq!(from_snapshot, s);
    assert_eq!(from_snapshot.digest(), s.digest());
    let mut from_pairs = State::from_pairs(store).unwrap();
    assert_eq!(from_pairs.requests, s.requests);
    for restored in [&mut from_snapshot, &mut from_pairs] {
        assert_eq!(restored.apply(&first).0, accepted);
        assert!(restored.cookie("u", "c2").is_some());
    }
}

/// Request ids are forgotten by the proposers' clocks: after the TTL (at a
/// later request or a purge), and oldest first beyond the cap.
#[test]
fn request_ids_expire_deterministically() {
    let mut s = State::default();
    let done = |seq, at| {
        proposed(
            Command::RevokeCookie {
                user: "u".into(),
                cookie: "c".into(),
            },
            seq,
            at,
        )
    };
    s.apply(&done(1, 1_000));
    s.apply(&done(2, 2_000));
    assert_eq!(s.request_count(), 2);
    // A request stamped just past the first one's TTL forgets it alone.
    s.apply(&done(3, 1_001 + REQUEST_TTL_MS));
    assert_eq!(s.request_count(), 2);
    let id = |seq| RequestId {
        node: 1,
        boot: 7,
        seq,
    };
    assert!(s.request(&id(1)).is_none());
    assert!(s.request(&id(2)).is_some());
    // A purge forgets the rest once they are old enough.
    s.apply(&Command::Purge {
        now: 1_002 + 2 * REQUEST_TTL_MS,
        cookie_ttl_ms: 1,
        placement_window_ms: 1,
    });
    assert_eq!(s.request_count(), 0);
    // Beyond the cap the oldest go first.
    for seq in 0..MAX_REQUESTS as u64 + 2 {
        s.apply(&done(10 + seq, 5 * REQUEST_TTL_MS + seq));
    }
    assert_eq!(s.request_count(), MAX_REQUESTS);
    assert!(s.request(&id(10)).is_none() && s.request(&id(11)).is_none());
    assert!(s.request(&id(12)).is_some());
}
