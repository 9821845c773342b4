//! Durable single-node application of state commands: one writer thread
//! applies commands in arrival order, writes their effects to sled in one
//! batch per group, flushes, and only then answers (group commit). A crash
//! loses no acknowledged command.

use super::{Command, Outcome, State};
use parking_lot::RwLock;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use tokio::sync::{mpsc, oneshot};

/// Commands applied per flush at most.
const MAX_GROUP: usize = 512;

type Reply = oneshot::Sender<Result<Outcome, String>>;

/// Handle to the writer; cheap to clone.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<(Command, Reply)>,
    /// The applied state, for readers (the writer holds the lock only while applying a group).
    state: Arc<RwLock<State>>,
}

impl Store {
    /// Open (or create) the store under `dir` and start its writer thread.
    pub fn open(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join("state.sled");
        let db = sled::Config::new()
            .path(&path)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|e| format!("opening {}: {e}", path.display()))?;
        let tree = db
            .open_tree("state")
            .map_err(|e| format!("opening state tree: {e}"))?;
        let pairs = tree
            .iter()
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let state = State::from_pairs(pairs)?;
        tracing::info!(path = %path.display(), cookies = state.cookie_count(), "state loaded");
        let (tx, rx) = mpsc::channel(4096);
        let state = Arc::new(RwLock::new(state));
        let shared = state.clone();
        thread::Builder::new()
            .name("state-writer".into())
            .spawn(move || writer(db, tree, shared, rx))
            .map_err(|e| format!("starting state writer: {e}"))?;
        Ok(Self { tx, state })
    }

    /// Read the applied state.
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.read())
    }

    /// Apply `cmd` durably and return its outcome.
    pub async fn submit(&self, cmd: Command) -> Result<Outcome, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((cmd, reply))
            .await
            .map_err(|_| "state writer stopped".to_string())?;
        rx.await.map_err(|_| "state writer stopped".to_string())?
    }
}

fn writer(
    db: sled::Db,
    tree: sled::Tree,
    state: Arc<RwLock<State>>,
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
        let result = tree
            .apply_batch(batch)
            .and_then(|_| db.flush().map(|_| ()))
            .map_err(|e| format!("writing state: {e}"));
        // Readers see a group only once it is durable.
        drop(applied);
        if let Err(e) = &result {
            tracing::error!(error = %e, "state write failed");
        }
        for ((_, reply), outcome) in group.drain(..).zip(outcomes) {
            let _ = reply.send(result.clone().map(|_| outcome));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Candidate, PlacedOutcome};

    #[tokio::test]
    async fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .submit(Command::IssueCookie {
                    user: "u".into(),
                    cookie: "c".into(),
                    ip: "127.0.0.1".into(),
                    at: 5,
                })
                .await
                .unwrap();
            let o = store
                .submit(Command::Place {
                    profile: "p".into(),
                    user: "u".into(),
                    candidates: vec![
                        Candidate {
                            name: "a".into(),
                            alive: true,
                        },
                        Candidate {
                            name: "b".into(),
                            alive: true,
                        },
                    ],
                    now: 1,
                    window_ms: 100,
                })
                .await
                .unwrap();
            assert_eq!(o, Outcome::Placed(PlacedOutcome::Host("a".into())));
        }
        // The writer thread holds the db until its channel closes; wait for the lock to go.
        let mut reopened = None;
        for _ in 0..100 {
            match Store::open(dir.path()) {
                Ok(s) => {
                    reopened = Some(s);
                    break;
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
        let store = reopened.expect("reopen");
        let o = store
            .submit(Command::RedeemCookie {
                user: "u".into(),
                cookie: "c".into(),
                ip: "127.0.0.1".into(),
                now: 6,
                verify_ip: true,
                timeout_ms: 100,
                next: "d".into(),
            })
            .await
            .unwrap();
        assert_eq!(o, Outcome::CookieAccepted { next: "d".into() });
    }
}
