//! What the broker and operators read of a node: the applied
//! configuration, leadership, the applied state (after the read barrier),
//! and `/status` (Raft status and a summary of the applied state), so that
//! nobody outside this module reaches into `raft` or `machine`.

use super::{Node, NodeId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

impl Node {
    /// Raft status and a digest of the applied state (computed once per applied entry).
    pub fn status(&self) -> Status {
        let m = self.raft.metrics().borrow().clone();
        let applied = self.summary.of(&self.machine.read());
        Status {
            id: self.id,
            role: format!("{:?}", m.state),
            term: m.current_term,
            leader: m.current_leader,
            last_log_index: m.last_log_index,
            applied_index: m.last_applied.map(|l| l.index),
            members: m
                .membership_config
                .nodes()
                .map(|(id, n)| (*id, n.raft.clone()))
                .collect(),
            placements: applied.placements,
            config_version: applied.config_version,
            cookies: applied.cookies,
            digest: applied.digest,
        }
    }
}

/// This node's Raft numbers for the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftNumbers {
    pub role: String,
    pub term: u64,
    pub last_log_index: u64,
    pub applied_index: u64,
    pub snapshot_index: u64,
}

impl Node {
    /// Role, term, last log, applied and snapshot index.
    pub fn raft_numbers(&self) -> RaftNumbers {
        let m = self.raft.metrics().borrow().clone();
        RaftNumbers {
            role: format!("{:?}", m.state).to_lowercase(),
            term: m.current_term,
            last_log_index: m.last_log_index.unwrap_or(0),
            applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
            snapshot_index: m.snapshot.map(|l| l.index).unwrap_or(0),
        }
    }
}

/// What the broker reads of its node, so it never reaches into `raft` or
/// `machine` itself.
impl Node {
    /// The replicated configuration this node has applied, with its version.
    pub fn applied_config(&self) -> Option<(u64, crate::state::ConfigTexts)> {
        self.machine.read().state.config().cloned()
    }

    /// Whether this node leads the cluster, as far as it knows.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.id)
    }

    /// Read the applied state (after `read_barrier` for a linearizable read).
    pub fn read_state<T>(&self, f: impl FnOnce(&crate::state::State) -> T) -> T {
        f(&self.machine.read().state)
    }

    /// How fresh the agent reports this node applied were.
    pub fn visible_summary(&self) -> crate::storage::visibility::VisibleSummary {
        self.machine.read().visibility.summary()
    }
}

/// What `/status` reports about a node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Status {
    pub id: NodeId,
    pub role: String,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub last_log_index: Option<u64>,
    pub applied_index: Option<u64>,
    /// Voters and learners with their node-to-node addresses.
    pub members: BTreeMap<NodeId, String>,
    pub placements: usize,
    pub cookies: usize,
    /// The replicated configuration version this node has applied.
    pub config_version: Option<u64>,
    pub digest: String,
}
