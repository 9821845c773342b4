//! Finding 12 through openraft and the sled store: a single-node cluster
//! gets the same stamped request twice (what a retry after a leader change
//! proposes when the first attempt had committed), before and after a
//! snapshot and across a restart, and applies it once.

use super::tls;
use super::{Member, Node, Tuning};
use crate::state::{Command, Outcome, State};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

async fn start(dir: &std::path::Path) -> Arc<Node> {
    start_with(dir, 1000, 16 << 20).await
}

async fn start_with(
    dir: &std::path::Path,
    snapshot_every: u64,
    snapshot_log_bytes: u64,
) -> Arc<Node> {
    let members = BTreeMap::from([(
        1,
        Member {
            raft: "127.0.0.1:1".into(),
            http: String::new(),
        },
    )]);
    let tuning = Tuning {
        heartbeat_ms: 50,
        election_min_ms: 150,
        election_max_ms: 300,
        snapshot_every,
        snapshot_log_bytes,
        deadline: WAIT,
    };
    // A node stopped just before may still hold the database for a moment.
    let mut tries = 0;
    let node = loop {
        match Node::start(1, members.clone(), dir, tuning, tls::for_tests(1)).await {
            Ok(node) => break node,
            Err(e) if tries < 50 => {
                tries += 1;
                tracing::debug!(error = %e, "store still held; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the node does not start: {e}"),
        }
    };
    node.raft
        .wait(Some(WAIT))
        .current_leader(1, "the node leads")
        .await
        .expect("a leader");
    // Its one start-up write (see `formats`) before the test's.
    node.format_raised().await;
    node
}

/// Propose `cmd` as it is, as a retry does (no new stamp).
async fn propose(node: &Node, cmd: &Command) -> Outcome {
    node.attempt(cmd, false, WAIT)
        .await
        .unwrap_or_else(|(_, e)| panic!("the write failed: {e}"))
}

fn cookie(node: &Node, name: &str) -> bool {
    node.read_state(|s: &State| s.cookie("u", name).is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding12_a_retried_write_applies_once_across_snapshot_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(&dir.path().join("data")).await;
    node.submit(Command::IssueCookie {
        user: "u".into(),
        cookie: "c1".into(),
        ip: "127.0.0.1".into(),
        at: 100,
    })
    .await
    .unwrap();
    let redeem = node.request_ids.stamp(Command::RedeemCookie {
        user: "u".into(),
        cookie: "c1".into(),
        ip: "127.0.0.1".into(),
        now: 200,
        verify_ip: true,
        timeout_ms: 60_000,
        next: "c2".into(),
    });
    let accepted = Outcome::CookieAccepted { next: "c2".into() };
    assert_eq!(propose(&node, &redeem).await, accepted);
    assert_eq!(propose(&node, &redeem).await, accepted, "the retry");
    assert!(cookie(&node, "c2"), "the chained cookie is not refused");

    // After a snapshot (which purges the log behind it).
    node.raft.trigger().snapshot().await.unwrap();
    node.raft
        .wait(Some(WAIT))
        .metrics(|m| m.snapshot.is_some(), "the snapshot")
        .await
        .unwrap();
    assert_eq!(propose(&node, &redeem).await, accepted);
    let digest = node.read_state(State::digest);
    node.raft.shutdown().await.unwrap();
    drop(node);

    // After a restart: the snapshot and the log after it are replayed.
    let node = start(&dir.path().join("data")).await;
    node.read_barrier().await.unwrap();
    assert_eq!(node.read_state(State::digest), digest);
    assert_eq!(propose(&node, &redeem).await, accepted);
    assert!(cookie(&node, "c2"));
    node.raft.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_past_its_size_limit_is_snapshotted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Never by entry count; by size after 4 KiB of log.
    let node = start_with(&data, 1_000_000, 4096).await;
    assert!(node.raft.metrics().borrow().snapshot.is_none());
    for i in 0..100 {
        node.submit(Command::IssueCookie {
            user: format!("user{i}"),
            cookie: format!("cookie-{i}-{}", "x".repeat(64)),
            ip: "127.0.0.1".into(),
            at: 100 + i,
        })
        .await
        .unwrap();
    }
    node.raft
        .wait(Some(WAIT))
        .metrics(|m| m.snapshot.is_some(), "a snapshot by size")
        .await
        .unwrap();
    let digest = node.read_state(State::digest);
    node.raft.shutdown().await.unwrap();
    drop(node);
    // The snapshot and the log after it give back the same state.
    let node = start_with(&data, 1_000_000, 4096).await;
    node.read_barrier().await.unwrap();
    assert_eq!(node.read_state(State::digest), digest);
    assert!(node.read_state(|s: &State| s
        .cookie("user99", &format!("cookie-99-{}", "x".repeat(64)))
        .is_some()));
    node.raft.shutdown().await.unwrap();
}
