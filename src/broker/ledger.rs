//! Where state commands go: this node's own store, or the Raft cluster
//! (through the leader). Reads of the applied state are only for the
//! broker's own entry points, which wait for the read barrier first.

use super::{now_ms, Broker};
use crate::cluster::{self, ClusterError};
use crate::state::{Command, Outcome, State};
use crate::storage::visibility::VisibleSummary;
use crate::storage::{StorageError, Store};
use std::sync::Arc;

/// The state store or the cluster could not serve a command or a read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LedgerError {
    /// Nothing was decided and retrying later may succeed: no majority
    /// reachable, a deadline passed, the node is shutting down.
    #[error("cluster unavailable: {0}")]
    Unavailable(#[from] cluster::Unavailable),
    /// The state could not be written or read durably (or Raft refused
    /// its configuration, which leaves it as unusable).
    #[error("state storage failed: {0}")]
    Storage(#[source] Arc<dyn std::error::Error + Send + Sync>),
}

impl LedgerError {
    /// The reason a client may be told (no internal detail), if any.
    pub fn public_reason(&self) -> Option<&'static str> {
        match self {
            LedgerError::Unavailable(_) => Some("cluster unavailable"),
            LedgerError::Storage(_) => None,
        }
    }
}

impl From<ClusterError> for LedgerError {
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::Unavailable(why) => LedgerError::Unavailable(why),
            ClusterError::Storage(e) => LedgerError::Storage(e),
            ClusterError::Config(e) => LedgerError::Storage(e),
        }
    }
}

impl From<StorageError> for LedgerError {
    fn from(e: StorageError) -> Self {
        LedgerError::Storage(Arc::new(e))
    }
}

/// Where state commands go: this node's own store, or the Raft cluster.
pub enum Ledger {
    Local(Store),
    Cluster(Arc<cluster::Node>),
}

impl Ledger {
    /// Apply `cmd` durably (through the leader in a cluster).
    pub async fn submit(&self, cmd: Command) -> Result<Outcome, LedgerError> {
        match self {
            Ledger::Local(store) => Ok(store.submit(cmd).await?),
            Ledger::Cluster(node) => Ok(node.submit(cmd).await?),
        }
    }

    /// Return once this node may answer reads linearizably (at once when alone).
    pub(super) async fn read_barrier(&self) -> Result<(), LedgerError> {
        match self {
            Ledger::Local(_) => Ok(()),
            Ledger::Cluster(node) => Ok(node.read_barrier().await?),
        }
    }

    /// How fresh the agent reports this node applied were.
    pub(super) fn visible_summary(&self) -> VisibleSummary {
        match self {
            Ledger::Local(store) => store.visibility().summary(),
            Ledger::Cluster(node) => node.visible_summary(),
        }
    }

    /// Read the applied state (after `read_barrier` for a linearizable read).
    pub(super) fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        match self {
            Ledger::Local(store) => store.read(f),
            Ledger::Cluster(node) => node.read_state(f),
        }
    }
}

impl Broker {
    /// Apply `cmd` for another part of this node (the agent gateway).
    pub async fn submit(&self, cmd: Command) -> Result<Outcome, LedgerError> {
        self.ledger.submit(cmd).await
    }

    /// How fresh the agent reports this node applied were (`/status/agents`).
    pub fn visible_summary(&self) -> VisibleSummary {
        self.ledger.visible_summary()
    }

    /// Read this node's applied state without the read barrier (status
    /// counts, the agent gateway's check for silent servers).
    pub fn read_applied<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        self.ledger.read(f)
    }

    /// Read the applied state after the read barrier (linearizable).
    pub async fn read_fresh<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T, LedgerError> {
        self.ledger.read_barrier().await?;
        Ok(self.ledger.read(f))
    }

    /// `user`'s sessions as the X2Go servers' agents report them, with
    /// their servers' hostnames (after the read barrier).
    pub async fn live_sessions_of(
        &self,
        user: &str,
    ) -> Result<Vec<(String, crate::state::SessionRecord)>, LedgerError> {
        self.ledger.read_barrier().await?;
        Ok(self.ledger.read(|state| {
            state
                .all_sessions()
                .filter(|(_, s)| s.user == user)
                .map(|(host, s)| (host.to_string(), s.clone()))
                .collect()
        }))
    }

    /// Drop expired cookies and placements (proposed periodically).
    pub async fn purge(&self) -> Result<(), LedgerError> {
        let loaded = self.current();
        let ttl = loaded.conf.int("global", "auth-timeout").max(0) as u64;
        self.ledger
            .submit(Command::Purge {
                now: now_ms(),
                cookie_ttl_ms: ttl.saturating_mul(1000),
                placement_window_ms: self.settings.placement_window.as_millis() as u64,
            })
            .await
            .map(|_| ())
    }
}
