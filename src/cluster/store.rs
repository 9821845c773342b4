//! openraft storage on sled: the Raft log, vote and committed index in one
//! tree (flushed before openraft is told they are durable), and the state
//! machine (the broker's `State`) applied in memory and persisted through
//! snapshots plus the log entries after them.

// openraft's storage traits fix the error type (`StorageError`, large); the helpers here return it too.
#![allow(clippy::result_large_err)]

use super::{Member, NodeId, TypeConfig};
use crate::state::{Outcome, State};
use crate::storage::{Db, StorageError as OpenError};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    AnyError, Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftLogReader,
    RaftSnapshotBuilder, SnapshotMeta, StorageError, StorageIOError, StoredMembership, Vote,
};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::io::Cursor;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

type StorageResult<T> = Result<T, StorageError<NodeId>>;

/// The file under the node's data directory.
const FILE: &str = "raft.sled";
const LOG_TREE: &str = "raft-log";
const SNAPSHOT_TREE: &str = "raft-snapshot";

const LOG_PREFIX: u8 = b'l';
const KEY_VOTE: &[u8] = b"m/vote";
const KEY_COMMITTED: &[u8] = b"m/committed";
const KEY_PURGED: &[u8] = b"m/purged";
const KEY_SNAPSHOT: &[u8] = b"s/current";

fn log_key(index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = LOG_PREFIX;
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

fn io_err(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    e: impl std::error::Error + 'static,
) -> StorageError<NodeId> {
    StorageError::IO {
        source: StorageIOError::new(subject, verb, AnyError::new(&e)),
    }
}

/// Open the node's Raft storage under `dir`: the log, and the state machine
/// as of its last snapshot.
pub fn open(dir: &Path) -> Result<(LogStore, StateMachineStore), OpenError> {
    let db = Db::open(dir, FILE)?;
    let log = LogStore::new(&db)?;
    let mut sm = StateMachineStore::new(&db)?;
    sm.log_bytes = log.bytes_since_snapshot();
    Ok((log, sm))
}

/// How much log was written since the last snapshot, and how large that
/// snapshot was (see `cluster::snapshots`).
#[derive(Debug, Default)]
pub struct LogGrowth {
    pub since_snapshot: AtomicU64,
    pub snapshot: AtomicU64,
}

/// The Raft log storage.
#[derive(Clone)]
pub struct LogStore {
    db: sled::Db,
    tree: sled::Tree,
    /// Bytes appended since the last snapshot began (see `cluster::snapshots`).
    bytes: Arc<LogGrowth>,
}

impl LogStore {
    pub fn new(db: &Db) -> Result<Self, OpenError> {
        Ok(Self {
            tree: db.tree(LOG_TREE)?,
            db: db.sled().clone(),
            bytes: Arc::default(),
        })
    }

    /// The count of bytes appended since the last snapshot began.
    pub fn bytes_since_snapshot(&self) -> Arc<LogGrowth> {
        self.bytes.clone()
    }

    fn get_json<T: for<'de> Deserialize<'de>>(&self, key: &[u8]) -> StorageResult<Option<T>> {
        match self
            .tree
            .get(key)
            .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Read, e))?
        {
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Read, e)),
            None => Ok(None),
        }
    }

    fn put_json<T: Serialize>(
        &self,
        key: &[u8],
        value: &T,
        subject: ErrorSubject<NodeId>,
    ) -> StorageResult<()> {
        let bytes =
            serde_json::to_vec(value).map_err(|e| io_err(subject.clone(), ErrorVerb::Write, e))?;
        self.tree
            .insert(key, bytes)
            .map_err(|e| io_err(subject.clone(), ErrorVerb::Write, e))?;
        self.db
            .flush()
            .map_err(|e| io_err(subject, ErrorVerb::Write, e))?;
        Ok(())
    }

    fn last_entry(&self) -> StorageResult<Option<Entry<TypeConfig>>> {
        let last = self
            .tree
            .range(log_key(0)..=log_key(u64::MAX))
            .next_back()
            .transpose()
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
        match last {
            Some((_, v)) => bincode::deserialize(&v)
                .map(Some)
                .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e)),
            None => Ok(None),
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry<TypeConfig>>> {
        let start = match range.start_bound() {
            Bound::Included(x) => *x,
            Bound::Excluded(x) => x.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let mut out = Vec::new();
        for item in self.tree.range(log_key(start)..=log_key(u64::MAX)) {
            let (k, v) = item.map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
            let index = u64::from_be_bytes(k[1..9].try_into().expect("9-byte log keys"));
            if !range.contains(&index) {
                break;
            }
            out.push(
                bincode::deserialize(&v)
                    .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?,
            );
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let last_purged_log_id: Option<LogId<NodeId>> = self.get_json(KEY_PURGED)?;
        let last_log_id = self.last_entry()?.map(|e| e.log_id).or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> StorageResult<()> {
        self.put_json(KEY_COMMITTED, &committed, ErrorSubject::Store)
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<NodeId>>> {
        Ok(self
            .get_json::<Option<LogId<NodeId>>>(KEY_COMMITTED)?
            .flatten())
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StorageResult<()> {
        self.put_json(KEY_VOTE, vote, ErrorSubject::Vote)
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<NodeId>>> {
        self.get_json(KEY_VOTE)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = sled::Batch::default();
        let mut written = 0;
        for entry in entries {
            let bytes = bincode::serialize(&entry)
                .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, e))?;
            written += bytes.len() as u64;
            batch.insert(&log_key(entry.log_id.index), bytes);
        }
        self.bytes
            .since_snapshot
            .fetch_add(written, Ordering::Relaxed);
        self.tree
            .apply_batch(batch)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, e))?;
        // Durable before openraft counts the entries as stored (and acknowledges them).
        let flushed = self
            .db
            .flush_async()
            .await
            .map(|_| ())
            .map_err(std::io::Error::from);
        callback.log_io_completed(flushed);
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        let mut batch = sled::Batch::default();
        for item in self.tree.range(log_key(log_id.index)..=log_key(u64::MAX)) {
            let (k, _) = item.map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
            batch.remove(k);
        }
        self.tree
            .apply_batch(batch)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
        self.db
            .flush_async()
            .await
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        self.put_json(KEY_PURGED, &log_id, ErrorSubject::Store)?;
        let mut batch = sled::Batch::default();
        for item in self.tree.range(log_key(0)..=log_key(log_id.index)) {
            let (k, _) = item.map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
            batch.remove(k);
        }
        self.tree
            .apply_batch(batch)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
        Ok(())
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }
}

/// A snapshot as stored: its metadata and the serialized state.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, Member>,
    data: Vec<u8>,
}

/// What the state machine holds; shared with readers through `SharedState`.
#[derive(Default)]
pub struct Machine {
    pub state: State,
    /// How fresh the applied agent reports were (an observation, not state).
    pub visibility: crate::storage::visibility::Visibility,
    pub last_applied: Option<LogId<NodeId>>,
    pub membership: StoredMembership<NodeId, Member>,
}

pub type SharedState = Arc<RwLock<Machine>>;

/// The Raft state machine storage.
#[derive(Clone)]
pub struct StateMachineStore {
    machine: SharedState,
    db: Db,
    tree: sled::Tree,
    snapshot_seq: u64,
    /// The log store's count of bytes since the last snapshot (reset here).
    log_bytes: Arc<LogGrowth>,
}

impl StateMachineStore {
    /// Load the last snapshot (entries after it are replayed by openraft).
    pub fn new(db: &Db) -> Result<Self, OpenError> {
        let store = Self {
            machine: SharedState::default(),
            tree: db.tree(SNAPSHOT_TREE)?,
            db: db.clone(),
            snapshot_seq: 0,
            log_bytes: Arc::default(),
        };
        if let Some(snap) = store.stored_snapshot()? {
            store.install(&snap)?;
        }
        Ok(store)
    }

    pub fn shared(&self) -> SharedState {
        self.machine.clone()
    }

    fn stored_snapshot(&self) -> Result<Option<StoredSnapshot>, OpenError> {
        match self
            .tree
            .get(KEY_SNAPSHOT)
            .map_err(|e| self.db.read_error(e))?
        {
            Some(v) => bincode::deserialize(&v)
                .map(Some)
                .map_err(|e| self.db.corrupt("stored snapshot", e)),
            None => Ok(None),
        }
    }

    fn save_snapshot(&self, snap: &StoredSnapshot) -> StorageResult<()> {
        let subject = ErrorSubject::Snapshot(Some(snap.meta.signature()));
        let bytes =
            bincode::serialize(snap).map_err(|e| io_err(subject.clone(), ErrorVerb::Write, e))?;
        self.tree
            .insert(KEY_SNAPSHOT, bytes)
            .map_err(|e| io_err(subject.clone(), ErrorVerb::Write, e))?;
        self.db
            .sled()
            .flush()
            .map_err(|e| io_err(subject, ErrorVerb::Write, e))?;
        Ok(())
    }

    fn install(&self, snap: &StoredSnapshot) -> Result<(), OpenError> {
        let what = format!("snapshot {}", snap.meta.snapshot_id);
        let state = State::from_snapshot(&snap.data).map_err(|e| match e {
            // Not corrupt: written by a newer build.
            e @ crate::state::DecodeError::SnapshotFormat { .. } => self.db.unreadable(what, e),
            e => self.db.corrupt(what, e),
        })?;
        let mut m = self.machine.write();
        m.state = state;
        m.last_applied = snap.meta.last_log_id;
        m.membership = snap.meta.last_membership.clone();
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        self.log_bytes.since_snapshot.store(0, Ordering::Relaxed);
        // Serialised under the read lock, off the async threads: applying
        // waits for it (tens of milliseconds for 50,000 sessions), but no
        // copy of the whole state is made first (it would double the
        // node's memory for the moment).
        let machine = self.machine.clone();
        let (data, last_applied, membership) = tokio::task::spawn_blocking(move || {
            let m = machine.read();
            m.state
                .to_snapshot()
                .map(|data| (data, m.last_applied, m.membership.clone()))
        })
        .await
        .map_err(|e| io_err(ErrorSubject::StateMachine, ErrorVerb::Read, e))?
        .map_err(|e| io_err(ErrorSubject::StateMachine, ErrorVerb::Read, e))?;
        let snapshot_id = match last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id, l.index, self.snapshot_seq),
            None => format!("--{}", self.snapshot_seq),
        };
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id,
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        self.save_snapshot(&stored)?;
        self.log_bytes
            .snapshot
            .store(stored.data.len() as u64, Ordering::Relaxed);
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> StorageResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, Member>)> {
        let m = self.machine.read();
        Ok((m.last_applied, m.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<Outcome>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut m = self.machine.write();
        let mut out = Vec::new();
        for entry in entries {
            m.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => out.push(Outcome::Done),
                EntryPayload::Normal(cmd) => {
                    out.push(m.state.apply(&cmd).0);
                    m.visibility.observe(&cmd);
                }
                EntryPayload::Membership(mem) => {
                    m.membership = StoredMembership::new(Some(entry.log_id), mem);
                    out.push(Outcome::Done);
                }
            }
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.snapshot_seq += 1;
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, Member>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: snapshot.into_inner(),
        };
        tracing::info!(snapshot = %meta.snapshot_id, bytes = stored.data.len(), "installing a snapshot from the leader");
        self.install(&stored).map_err(|e| {
            io_err(
                ErrorSubject::Snapshot(Some(meta.signature())),
                ErrorVerb::Read,
                e,
            )
        })?;
        self.save_snapshot(&stored)
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let stored = self
            .stored_snapshot()
            .map_err(|e| io_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, e))?;
        Ok(stored.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}
