//! The broker cluster: openraft over the broker's state commands, with the
//! log and snapshots in sled (`store`), node-to-node gRPC (`network`,
//! `service`), and `Node`, the handle the broker submits commands through:
//! on the leader they go into the log, on a follower they are forwarded to
//! the leader; reads wait for a linearizable read index.

pub mod network;
pub mod service;
pub mod store;

use crate::state::{Command, Outcome};
use openraft::error::{ClientWriteError, RaftError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub type NodeId = u64;

/// The proto-generated gRPC code.
pub mod proto {
    tonic::include_proto!("x2gobroker.raft");
}

/// Where a cluster member listens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Node-to-node gRPC address (`host:port`).
    pub raft: String,
    /// The broker's HTTP address, for operators and redirects.
    pub http: String,
}

openraft::declare_raft_types!(
    /// openraft's types for the broker.
    pub TypeConfig:
        D = Command,
        R = Outcome,
        NodeId = NodeId,
        Node = Member,
);

pub type Raft = openraft::Raft<TypeConfig>;

/// Timing of the Raft group.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    /// Build a snapshot (and purge the log before it) after this many entries.
    pub snapshot_every: u64,
    /// How long a write or a read barrier may take before the node answers 503.
    pub deadline: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            heartbeat_ms: 100,
            election_min_ms: 400,
            election_max_ms: 800,
            snapshot_every: 10_000,
            deadline: Duration::from_secs(3),
        }
    }
}

/// Why the cluster could not serve a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterError {
    /// No leader reachable within the deadline (this node is cut off, or an election runs).
    Unavailable(String),
}

impl std::fmt::Display for ClusterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterError::Unavailable(why) => write!(f, "cluster unavailable: {why}"),
        }
    }
}

/// One running member of the cluster.
pub struct Node {
    pub id: NodeId,
    pub raft: Raft,
    pub machine: store::SharedState,
    peers: network::Peers,
    tuning: Tuning,
}

impl Node {
    /// Open storage under `data_dir` and start Raft. When the store is fresh and
    /// this node has the smallest id of `members`, it initialises the cluster.
    pub async fn start(
        id: NodeId,
        members: BTreeMap<NodeId, Member>,
        data_dir: &Path,
        tuning: Tuning,
    ) -> Result<Arc<Node>, String> {
        let config = openraft::Config {
            cluster_name: "x2gobroker".into(),
            heartbeat_interval: tuning.heartbeat_ms,
            election_timeout_min: tuning.election_min_ms,
            election_timeout_max: tuning.election_max_ms,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(tuning.snapshot_every),
            max_in_snapshot_log_to_keep: (tuning.snapshot_every / 10).max(1),
            ..Default::default()
        }
        .validate()
        .map_err(|e| format!("raft configuration: {e}"))?;
        let db = store::open_db(data_dir)?;
        let log = store::LogStore::new(db.clone())?;
        let sm = store::StateMachineStore::new(db)?;
        let machine = sm.shared();
        let peers = network::Peers::default();
        let raft = Raft::new(id, Arc::new(config), peers.clone(), log, sm)
            .await
            .map_err(|e| format!("starting raft: {e}"))?;
        let node = Arc::new(Node {
            id,
            raft,
            machine,
            peers,
            tuning,
        });
        let first = members.keys().next().copied();
        let initialised = node
            .raft
            .is_initialized()
            .await
            .map_err(|e| e.to_string())?;
        if !initialised && first == Some(id) {
            tracing::info!(members = members.len(), "initialising a fresh cluster");
            if let Err(e) = node.raft.initialize(members).await {
                tracing::warn!(error = %e, "cluster initialisation");
            }
        }
        Ok(node)
    }

    /// Apply `cmd` through the leader; the outcome once it is committed and applied.
    pub async fn submit(&self, cmd: Command) -> Result<Outcome, ClusterError> {
        let deadline = tokio::time::Instant::now() + self.tuning.deadline;
        let mut last_error = String::from("no leader");
        while tokio::time::Instant::now() < deadline {
            let left = deadline - tokio::time::Instant::now();
            match tokio::time::timeout(left, self.raft.client_write(cmd.clone())).await {
                Ok(Ok(resp)) => return Ok(resp.data),
                Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                    match (f.leader_id, f.leader_node) {
                        (Some(leader), Some(member)) if leader != self.id => {
                            match tokio::time::timeout(
                                left,
                                self.peers.submit(leader, &member, &cmd),
                            )
                            .await
                            {
                                Ok(Ok(outcome)) => return Ok(outcome),
                                Ok(Err(e)) => {
                                    last_error = format!("forwarding to node {leader}: {e}")
                                }
                                Err(_) => {
                                    last_error = format!("forwarding to node {leader} timed out")
                                }
                            }
                        }
                        _ => last_error = "no leader known".into(),
                    }
                }
                Ok(Err(e)) => last_error = e.to_string(),
                Err(_) => {
                    return Err(ClusterError::Unavailable(
                        "write not committed in time".into(),
                    ))
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(ClusterError::Unavailable(last_error))
    }

    /// Wait until this node has applied everything committed before the call,
    /// as confirmed by a leader that still holds a majority.
    pub async fn read_barrier(&self) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + self.tuning.deadline;
        let mut last_error = String::from("no leader");
        while tokio::time::Instant::now() < deadline {
            let left = deadline - tokio::time::Instant::now();
            let leader = self.raft.current_leader().await;
            let index = match leader {
                Some(l) if l == self.id => {
                    match tokio::time::timeout(left, self.raft.ensure_linearizable()).await {
                        Ok(Ok(_)) => return Ok(()),
                        Ok(Err(e)) => {
                            last_error = e.to_string();
                            None
                        }
                        Err(_) => {
                            return Err(ClusterError::Unavailable(
                                "leadership not confirmed in time".into(),
                            ))
                        }
                    }
                }
                Some(l) => match self.member(l) {
                    Some(m) => match tokio::time::timeout(left, self.peers.read_index(l, &m)).await
                    {
                        Ok(Ok(i)) => Some(i),
                        Ok(Err(e)) => {
                            last_error = format!("read index from node {l}: {e}");
                            None
                        }
                        Err(_) => {
                            return Err(ClusterError::Unavailable(format!(
                                "node {l} did not confirm in time"
                            )))
                        }
                    },
                    None => None,
                },
                None => None,
            };
            if let Some(index) = index {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                return match self
                    .raft
                    .wait(Some(left))
                    .applied_index_at_least(Some(index), "read barrier")
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(e) => Err(ClusterError::Unavailable(format!("catching up: {e}"))),
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(ClusterError::Unavailable(last_error))
    }

    /// The address book entry of `id` from the current membership.
    pub fn member(&self, id: NodeId) -> Option<Member> {
        let metrics = self.raft.metrics().borrow().clone();
        let found = metrics
            .membership_config
            .nodes()
            .find(|(n, _)| **n == id)
            .map(|(_, m)| m.clone());
        found
    }

    /// Raft status and a digest of the applied state.
    pub fn status(&self) -> Status {
        let m = self.raft.metrics().borrow().clone();
        let machine = self.machine.read();
        Status {
            id: self.id,
            role: format!("{:?}", m.state),
            term: m.current_term,
            leader: m.current_leader,
            last_log_index: m.last_log_index,
            applied_index: m.last_applied.map(|l| l.index),
            members: m.membership_config.nodes().map(|(id, _)| *id).collect(),
            placements: machine.state.placement_count(),
            cookies: machine.state.cookie_count(),
            digest: format!("{:016x}", machine.state.digest()),
        }
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
    pub members: Vec<NodeId>,
    pub placements: usize,
    pub cookies: usize,
    pub digest: String,
}
