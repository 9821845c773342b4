//! `/status` is unauthenticated: answering it must not hash the whole
//! state under the state lock on every request (finding 11 of issue 7).

use super::{tls, Member, Node, Tuning};
use crate::state::Command;
use std::collections::BTreeMap;
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_hashes_the_state_once_per_applied_index() {
    let dir = tempfile::tempdir().unwrap();
    let members = BTreeMap::from([(
        1,
        Member {
            raft: "127.0.0.1:1".into(),
            http: String::new(),
        },
    )]);
    let data = dir.path().join("data");
    let node = Node::start(1, members, &data, Tuning::default(), tls::for_tests(1))
        .await
        .unwrap();
    // The only member reads this build's commands: the floor rises by
    // itself (an entry applied now would change the digest below).
    node.format_raised().await;
    // A large state, as many anonymous logins leave behind.
    {
        let mut m = node.machine.write();
        for i in 0..100_000u64 {
            m.state.apply(&Command::IssueCookie {
                user: format!("user{i}"),
                cookie: format!("{i:032x}"),
                ip: "127.0.0.1".into(),
                at: 1,
            });
        }
    }
    let started = Instant::now();
    let one = node.machine.read().state.digest();
    let hash_once = started.elapsed();
    let started = Instant::now();
    let mut digests = Vec::new();
    for _ in 0..100 {
        digests.push(node.status().digest);
    }
    let hundred = started.elapsed();
    assert!(digests.iter().all(|d| *d == format!("{one:016x}")));
    assert!(
        hundred < hash_once * 20,
        "100 status answers took {hundred:?}; hashing the state once takes {hash_once:?}"
    );
    // A new applied entry is reflected.
    node.submit(Command::Purge {
        now: 2,
        cookie_ttl_ms: u64::MAX / 4,
        placement_window_ms: 1,
    })
    .await
    .unwrap();
    let after = node.status();
    assert_eq!(
        after.digest,
        format!("{:016x}", node.machine.read().state.digest())
    );
    node.raft.shutdown().await.unwrap();
}
