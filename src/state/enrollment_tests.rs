//! Tests of agent join tokens and agent trust in the state machine: single
//! use, expiry by the proposer's stamp, host binding, revocation and
//! re-enrollment, forgetting, snapshots and stored pairs, determinism.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn issue(hash: &str, host: Option<&str>, at: Millis, ttl: Millis) -> Command {
    Command::IssueAgentToken {
        hash: hash.into(),
        hostname: host.map(str::to_string),
        at,
        expires_at: at + ttl,
    }
}

fn cert(fingerprint: &str, at: Millis) -> EnrolledCert {
    EnrolledCert {
        fingerprint: fingerprint.into(),
        serial: format!("{at:x}"),
        at,
    }
}

fn redeem(hash: &str, host: &str, now: Millis, fingerprint: &str) -> Command {
    Command::RedeemAgentToken {
        hash: hash.into(),
        hostname: host.into(),
        now,
        cert: cert(fingerprint, now),
    }
}

fn revoke(host: &str, at: Millis) -> Command {
    Command::RevokeAgent {
        hostname: host.into(),
        at,
    }
}

fn refused(r: TokenRefusal) -> Outcome {
    Outcome::TokenRefused(r)
}

#[test]
fn a_token_is_used_once() {
    let mut s = State::default();
    assert_eq!(s.apply(&issue("h1", None, 100, 1000)).0, Outcome::Done);
    assert_eq!(
        s.apply(&redeem("h1", "x2go1", 200, "f1")).0,
        Outcome::TokenRedeemed
    );
    assert_eq!(
        s.apply(&redeem("h1", "x2go2", 300, "f2")).0,
        refused(TokenRefusal::Used)
    );
    assert_eq!(
        s.apply(&redeem("forged", "x2go1", 300, "f3")).0,
        refused(TokenRefusal::Unknown)
    );
    let t = s.agent_token("h1").unwrap();
    assert_eq!(t.redeemed, Some((200, "x2go1".into())));
    assert_eq!(
        s.host_trust("x2go1").unwrap().enrolled,
        vec![cert("f1", 200)]
    );
    assert!(
        s.host_trust("x2go2").is_none(),
        "a refused redeem enrolls nothing"
    );
}

#[test]
fn expiry_is_the_proposers_stamp_and_binding_the_hostname() {
    let mut s = State::default();
    s.apply(&issue("h1", Some("x2go1"), 100, 1000));
    assert_eq!(
        s.apply(&redeem("h1", "x2go2", 500, "f")).0,
        refused(TokenRefusal::OtherHost)
    );
    // A wrong name does not burn the token: its server may still use it.
    assert_eq!(
        s.apply(&redeem("h1", "x2go1", 1099, "f")).0,
        Outcome::TokenRedeemed
    );
    s.apply(&issue("h2", None, 100, 1000));
    assert_eq!(
        s.apply(&redeem("h2", "x2go1", 1100, "f")).0,
        refused(TokenRefusal::Expired)
    );
}

#[test]
fn token_records_are_kept_a_while_after_expiry_then_forgotten() {
    let mut s = State::default();
    s.apply(&issue("h1", None, 0, 1000));
    s.apply(&Command::Purge {
        now: 1000 + TOKEN_KEEP_MS - 1,
        cookie_ttl_ms: 1,
        placement_window_ms: 1,
    });
    assert!(s.agent_token("h1").is_some());
    s.apply(&Command::Purge {
        now: 1000 + TOKEN_KEEP_MS,
        cookie_ttl_ms: 1,
        placement_window_ms: 1,
    });
    assert_eq!(s.agent_token_count(), 0);
    assert_eq!(
        s.apply(&redeem("h1", "x2go1", 2 * TOKEN_KEEP_MS, "f")).0,
        refused(TokenRefusal::Unknown)
    );
}

#[test]
fn issuing_is_capped_and_a_duplicate_hash_refused() {
    let mut s = State::default();
    assert_eq!(s.apply(&issue("same", None, 0, 10)).0, Outcome::Done);
    assert_eq!(
        s.apply(&issue("same", None, 1, 10)).0,
        refused(TokenRefusal::Duplicate)
    );
    for i in 1..MAX_TOKENS {
        s.apply(&issue(&format!("t{i}"), None, 2, 10));
    }
    assert_eq!(
        s.apply(&issue("one-more", None, 3, 10)).0,
        refused(TokenRefusal::TooMany)
    );
    // Once the old records are forgotten, there is room again.
    assert_eq!(
        s.apply(&issue("later", None, 20 + TOKEN_KEEP_MS, 10)).0,
        Outcome::Done
    );
    assert_eq!(s.agent_token_count(), 1);
}

#[test]
fn revocation_refuses_old_certificates_and_trusts_later_enrollments() {
    let mut s = State::default();
    // Never revoked: any certificate of the server (keygen's too) is fine.
    assert!(!s.agent_certificate_refused("x2go1", "keygen"));
    s.apply(&issue("h1", None, 0, 10_000));
    s.apply(&redeem("h1", "x2go1", 10, "old"));
    s.apply(&revoke("x2go1", 20));
    for fp in ["keygen", "old", "unknown"] {
        assert!(s.agent_certificate_refused("x2go1", fp), "{fp}");
    }
    assert!(
        !s.agent_certificate_refused("x2go2", "old"),
        "only that server"
    );
    s.apply(&issue("h2", Some("x2go1"), 30, 10_000));
    s.apply(&redeem("h2", "x2go1", 40, "new"));
    assert!(!s.agent_certificate_refused("x2go1", "new"));
    assert!(s.agent_certificate_refused("x2go1", "old"));
    // Revoking again refuses the re-enrolled one too.
    s.apply(&revoke("x2go1", 50));
    assert!(s.agent_certificate_refused("x2go1", "new"));
}

#[test]
fn enrolled_certificates_per_server_are_capped_oldest_first() {
    let mut s = State::default();
    s.apply(&revoke("x2go1", 0));
    for i in 0..=MAX_ENROLLED_PER_HOST as u64 {
        s.apply(&issue(&format!("h{i}"), None, 1, 10_000));
        s.apply(&redeem(&format!("h{i}"), "x2go1", 2 + i, &format!("f{i}")));
    }
    let trust = s.host_trust("x2go1").unwrap();
    assert_eq!(trust.enrolled.len(), MAX_ENROLLED_PER_HOST);
    assert!(s.agent_certificate_refused("x2go1", "f0"));
    assert!(!s.agent_certificate_refused("x2go1", "f1"));
}

/// Apply `cmds` to a fresh state and to a store of its writes.
fn applied(cmds: &[Command]) -> (State, BTreeMap<Vec<u8>, Vec<u8>>, Vec<Outcome>) {
    let mut s = State::default();
    let mut store = BTreeMap::new();
    let mut outcomes = Vec::new();
    for c in cmds {
        let (o, writes) = s.apply(c);
        outcomes.push(o);
        for (k, v) in writes {
            match v {
                Some(v) => store.insert(k, v),
                None => store.remove(&k),
            };
        }
    }
    (s, store, outcomes)
}

#[test]
fn snapshots_and_stored_pairs_keep_tokens_and_trust() {
    let (s, store, _) = applied(&[
        issue("h1", Some("x2go1"), 0, 1000),
        issue("h2", None, 0, 1000),
        redeem("h1", "x2go1", 5, "f1"),
        revoke("x2go2", 6),
    ]);
    let back = State::from_snapshot(&s.to_snapshot().unwrap()).unwrap();
    assert_eq!(back, s);
    assert_eq!(back.digest(), s.digest());
    let rebuilt = State::from_pairs(store).unwrap();
    assert_eq!(rebuilt.agent_tokens, s.agent_tokens);
    assert_eq!(rebuilt.agent_hosts, s.agent_hosts);
    // A snapshot of an older version (no such fields) still loads.
    let old = br#"{"cookies":[],"placements":[]}"#;
    assert_eq!(State::from_snapshot(old).unwrap().agent_token_count(), 0);
}

#[test]
fn a_retried_redeem_answers_its_first_outcome() {
    let mut s = State::default();
    s.apply(&issue("h1", None, 0, 1000));
    let first = Command::Request {
        id: RequestId {
            node: 2,
            boot: 1,
            seq: 1,
        },
        at: 5,
        cmd: Box::new(redeem("h1", "x2go1", 5, "f1")),
    };
    assert_eq!(s.apply(&first).0, Outcome::TokenRedeemed);
    assert_eq!(s.apply(&first).0, Outcome::TokenRedeemed, "the retry");
    assert_eq!(s.host_trust("x2go1").unwrap().enrolled.len(), 1);
}

/// One of a few token and trust commands, over few names so they collide.
fn any_command() -> impl Strategy<Value = Command> {
    let hash = (0u8..4).prop_map(|i| format!("h{i}"));
    let host = (0u8..3).prop_map(|i| format!("x2go{i}"));
    let at = 0u64..5_000;
    prop_oneof![
        (
            hash.clone(),
            proptest::option::of(host.clone()),
            at.clone(),
            1u64..3_000
        )
            .prop_map(|(h, host, at, ttl)| issue(&h, host.as_deref(), at, ttl)),
        (hash, host.clone(), at.clone(), 0u8..3).prop_map(|(h, host, at, f)| redeem(
            &h,
            &host,
            at,
            &format!("f{f}")
        )),
        (host, at.clone()).prop_map(|(host, at)| revoke(&host, at)),
        at.prop_map(|now| Command::Purge {
            now,
            cookie_ttl_ms: 1,
            placement_window_ms: 1
        }),
    ]
}

proptest! {
    /// Replicas applying the same commands agree on every outcome and on
    /// the state, which its stored pairs and its snapshot rebuild; a token
    /// is redeemed at most once whatever the order.
    #[test]
    fn token_commands_are_deterministic(cmds in proptest::collection::vec(any_command(), 1..60)) {
        let (one, store, outcomes) = applied(&cmds);
        let (two, _, again) = applied(&cmds);
        prop_assert_eq!(&outcomes, &again);
        prop_assert_eq!(one.digest(), two.digest());
        let rebuilt = State::from_pairs(store).unwrap();
        prop_assert_eq!(&rebuilt.agent_tokens, &one.agent_tokens);
        prop_assert_eq!(&rebuilt.agent_hosts, &one.agent_hosts);
        prop_assert_eq!(State::from_snapshot(&one.to_snapshot().unwrap()).unwrap(), one);
        let mut issued_since: BTreeMap<String, usize> = BTreeMap::new();
        for (c, o) in cmds.iter().zip(&outcomes) {
            match (c, o) {
                (Command::IssueAgentToken { hash, .. }, Outcome::Done) => {
                    issued_since.insert(hash.clone(), 0);
                }
                (Command::RedeemAgentToken { hash, .. }, Outcome::TokenRedeemed) => {
                    let n = issued_since.get_mut(hash).expect("redeemed only after issued");
                    *n += 1;
                    prop_assert_eq!(*n, 1, "token {} redeemed twice", hash);
                }
                _ => {}
            }
        }
    }
}
