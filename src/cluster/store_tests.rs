//! openraft's own storage test suite (`openraft::testing::Suite`) against
//! the sled log and state machine, each case over a fresh temporary
//! directory, plus a reopen test for what the suite does not cover.

use super::store::{self, LogStore, StateMachineStore};
use super::{NodeId, TypeConfig};
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::testing::{blank_ent, membership_ent, StoreBuilder, Suite};
use openraft::{RaftSnapshotBuilder, StorageError, Vote};
use std::collections::BTreeSet;
use tempfile::TempDir;

/// Opens the node's storage in a new temporary directory (removed with the guard).
struct SledBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for SledBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError<NodeId>> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (log, sm) = store::open(&dir.path().join("data")).expect("opening the sled store");
        Ok((dir, log, sm))
    }
}

// The suite fixes the error type (openraft's `StorageError`, large).
#[allow(clippy::result_large_err)]
#[test]
fn openraft_storage_suite() -> Result<(), StorageError<NodeId>> {
    Suite::test_all(SledBuilder)
}

/// What the suite does not check: that a reopened store still has the vote,
/// the committed id and the last snapshot, with the state machine restored
/// from it. (The log's own durability needs openraft's flush callback, which
/// only openraft can build; the cluster restart tests cover it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vote_committed_and_snapshot_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let entries = vec![
        membership_ent::<TypeConfig>(1, 1, 1, vec![BTreeSet::from([1])]),
        blank_ent::<TypeConfig>(1, 1, 2),
    ];
    let committed = Some(entries[1].log_id);
    let snapshot_id = {
        let (mut log, mut sm) = store::open(&dir.path().join("data")).unwrap();
        log.save_vote(&Vote::new(3, 1)).await.unwrap();
        log.save_committed(committed).await.unwrap();
        sm.apply(entries).await.unwrap();
        let mut builder = sm.get_snapshot_builder().await;
        builder.build_snapshot().await.unwrap().meta.snapshot_id
    };
    // The stores hold the database only while they are alive: reopen at once.
    let (mut log, mut sm) = store::open(&dir.path().join("data")).unwrap();
    assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(3, 1)));
    assert_eq!(log.read_committed().await.unwrap(), committed);
    let (applied, membership) = sm.applied_state().await.unwrap();
    assert_eq!(applied, committed);
    assert_eq!(membership.log_id().map(|l| l.index), Some(1));
    let current = sm
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("a snapshot");
    assert_eq!(current.meta.snapshot_id, snapshot_id);
}

/// A snapshot of a newer format handed to the state machine is refused
/// with the format named, and the state machine keeps what it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_a_newer_format_is_not_installed() {
    use openraft::{SnapshotMeta, StoredMembership};
    let dir = tempfile::tempdir().unwrap();
    let (_log, mut sm) = store::open(&dir.path().join("data")).unwrap();
    let entries = vec![membership_ent::<TypeConfig>(
        1,
        1,
        1,
        vec![BTreeSet::from([1])],
    )];
    sm.apply(entries).await.unwrap();
    let before = sm.applied_state().await.unwrap();
    let meta = SnapshotMeta {
        last_log_id: Some(openraft::LogId::new(
            openraft::CommittedLeaderId::new(2, 1),
            50,
        )),
        last_membership: StoredMembership::default(),
        snapshot_id: "future".into(),
    };
    let data = b"{\"format\":2,\"cookies\":[]}".to_vec();
    let e = sm
        .install_snapshot(&meta, Box::new(std::io::Cursor::new(data)))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("format 2"), "{e}");
    assert_eq!(sm.applied_state().await.unwrap(), before);
    assert!(sm.get_current_snapshot().await.unwrap().is_none());
}

/// A stored snapshot of a newer format keeps the store from opening, with
/// the format named (and not called corrupt).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_snapshot_of_a_newer_format_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let (_log, mut sm) = store::open(&data).unwrap();
        let mut builder = sm.get_snapshot_builder().await;
        builder.build_snapshot().await.unwrap();
    }
    {
        // Rewrite the stored snapshot's document as a newer build would.
        let db = sled::open(data.join("raft.sled")).unwrap();
        let tree = db.open_tree("raft-snapshot").unwrap();
        let (key, value) = tree.iter().next().unwrap().unwrap();
        let from = value
            .windows(12)
            .position(|w| w == b"{\"format\":1,")
            .expect("the snapshot document");
        let mut newer = value.to_vec();
        newer[from + 10] = b'2';
        tree.insert(key, newer).unwrap();
        db.flush().unwrap();
    }
    let e = store::open(&data).err().expect("refused").to_string();
    assert!(
        e.contains("state snapshot of format 2") && !e.contains("corrupt"),
        "{e}"
    );
}
