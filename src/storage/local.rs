//! The single-node store: one writer thread applies state commands in
//! arrival order, writes their effects to sled in one batch per group,
//! flushes, and only then answers (group commit). A crash loses no
//! acknowledged command.

use super::visibility::Visibility;
use super::{Db, StorageError};
use crate::state::{Command, Outcome, State};
use parking_lot::RwLock;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use tokio::sync::{mpsc, oneshot};

/// Commands applied per flush at most.
const MAX_GROUP: usize = 512;

/// The file under the data directory.
const FILE: &str = "state.sled";
/// The tree holding the state's key/value pairs.
const TREE: &str = "state";

/// What the writer answers: the outcome, or the group's write failure.
type Reply = oneshot::Sender<Result<Outcome, sled::Error>>;

/// Handle to the writer; cheap to clone.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<(Command, Reply)>,
    /// The applied state, for readers (the writer holds the lock only while applying a group).
    state: Arc<RwLock<State>>,
    db: Db,
    visibility: Arc<Visibility>,
}

impl Store {
    /// Open (or create) the store under `dir` and start its writer thread.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        let db = Db::open(dir, FILE)?;
        let tree = db.tree(TREE)?;
        let pairs = tree
            .iter()
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| db.read_error(e))?;
        let state = State::from_pairs(pairs).map_err(|e| db.corrupt("state record", e))?;
        tracing::info!(path = %db.path().display(), cookies = state.cookie_count(), "state loaded");
        let (tx, rx) = mpsc::channel(4096);
        let state = Arc::new(RwLock::new(state));
        let shared = state.clone();
        let sled = db.sled().clone();
        let visibility = Arc::new(Visibility::default());
        let observer = visibility.clone();
        thread::Builder::new()
            .name("state-writer".into())
            .spawn(move || writer(sled, tree, shared, observer, rx))
            .map_err(StorageError::StartWriter)?;
        Ok(Self {
            tx,
            state,
            db,
            visibility,
        })
    }

    /// How fresh the applied agent reports were.
    pub fn visibility(&self) -> &Visibility {
        &self.visibility
    }

    /// Read the applied state.
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.read())
    }

    /// Apply `cmd` durably and return its outcome.
    pub async fn submit(&self, cmd: Command) -> Result<Outcome, StorageError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((cmd, reply))
            .await
            .map_err(|_| StorageError::WriterStopped)?;
        rx.await
            .map_err(|_| StorageError::WriterStopped)?
            .map_err(|e| self.db.write_error(e))
    }
}

fn writer(
    db: sled::Db,
    tree: sled::Tree,
    state: Arc<RwLock<State>>,
    visibility: Arc<Visibility>,
    mut rx: mpsc::Receiver<(Command, Reply)>,
) {
    let mut group: Vec<(Command, Reply)> = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = rx.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let mut batch = sled::Batch::default();
        let mut outcomes = Vec::with_capacity(group.len());
        let mut applied = state.write();
        for (cmd, _) in &group {
            let (outcome, writes) = applied.apply(cmd);
            for (k, v) in writes {
                match v {
                    Some(v) => batch.insert(k, v),
                    None => batch.remove(k),
                }
            }
            outcomes.push(outcome);
        }
        let result = tree.apply_batch(batch).and_then(|_| db.flush().map(|_| ()));
        // Readers see a group only once it is durable.
        drop(applied);
        match &result {
            Ok(()) => group.iter().for_each(|(cmd, _)| visibility.observe(cmd)),
            Err(e) => tracing::error!(error = %e, "state write failed"),
        }
        for ((_, reply), outcome) in group.drain(..).zip(outcomes) {
            let _ = reply.send(result.clone().map(|_| outcome));
        }
    }
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
