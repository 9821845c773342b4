//! The broker cluster: openraft over the broker's state commands, with the
//! log and snapshots in sled (`store`), node-to-node gRPC (`network`,
//! `service`), the admin service (`admin`, with enrollment's calls in
//! `agent_admin`), and `Node`, the handle the broker submits commands through:
//! on the leader they go into the log, on a follower they are forwarded to
//! the leader; reads wait for a linearizable read index. Each submitted
//! command is stamped with a request id first (`request_ids`), so that
//! retrying it after a leader change cannot apply it twice. `error` says why
//! a request failed: unavailable (retry later) or a storage failure;
//! `batch` caps what is proposed together; `summary` is what `/status`
//! says of the applied state; `leave` stops a node's Raft on shutdown,
//! handing a leader's leadership over first.

pub mod admin;
pub mod agent_admin;
pub mod agent_orders;
pub mod batch;
pub mod error;
mod formats;
pub mod identity;
mod leave;
pub mod login_limits;
pub mod network;
pub mod request_ids;
#[cfg(test)]
mod retry_tests;
pub mod service;
mod snapshots;
#[cfg(test)]
mod status_tests;
pub mod store;
#[cfg(test)]
mod store_tests;
mod summary;
pub mod tls;
mod view;

pub use error::{ClusterError, ReloadError, TransportError, Unavailable};
pub use view::Status;

use crate::auth::ratelimit::RateLimiter;
use crate::config::node::RaftTiming;
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

/// Log entries per AppendEntries message (openraft's default: 300).
pub const MAX_PAYLOAD_ENTRIES: u64 = 64;

/// Timing of the Raft group.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    /// Build a snapshot (and purge the log before it) after this many entries.
    pub snapshot_every: u64,
    /// ... or after this many bytes of log (see `snapshots`).
    pub snapshot_log_bytes: u64,
    /// How long a write or a read barrier may take before the node answers 503.
    pub deadline: Duration,
}

impl From<&RaftTiming> for Tuning {
    fn from(t: &RaftTiming) -> Self {
        Tuning {
            heartbeat_ms: t.heartbeat_ms,
            election_min_ms: t.election_min_ms,
            election_max_ms: t.election_max_ms,
            snapshot_every: t.snapshot_every,
            snapshot_log_bytes: t.snapshot_log_bytes,
            deadline: Duration::from_millis(t.deadline_ms),
        }
    }
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning::from(&RaftTiming::default())
    }
}

/// One running member of the cluster.
pub struct Node {
    pub id: NodeId,
    pub raft: Raft,
    pub machine: store::SharedState,
    peers: network::Peers,
    tuning: Tuning,
    proposals: tokio::sync::mpsc::Sender<Proposal>,
    /// Commands forwarded here by followers: proposed only if this node leads.
    forwarded: tokio::sync::mpsc::Sender<Proposal>,
    /// Reads this node's configuration files and proposes them (set by the broker).
    reloader: std::sync::OnceLock<Reloader>,
    /// The failed-login counters this node keeps (set by the broker); the
    /// leader's serve the whole cluster (see `login_limits`).
    login_limiter: std::sync::OnceLock<Arc<RateLimiter>>,
    /// The agents connected to this node (set by the broker; see `agent_orders`).
    agent_links: std::sync::OnceLock<Arc<crate::gateway::Links>>,
    /// Stamps submitted commands with this node's request ids.
    request_ids: request_ids::RequestIds,
    /// What `/status` reports of the applied state, per applied entry.
    summary: summary::SummaryCache,
    /// Set when the node shuts down: it proposes nothing more (see `leave`).
    leaving: std::sync::atomic::AtomicBool,
}

/// What a `Reloader` answers: done, or why not.
pub type ReloadResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Proposes the node's configuration files as the cluster's next version.
pub type Reloader = Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ReloadResult> + Send>>
        + Send
        + Sync,
>;

/// A command waiting to be proposed, and where its outcome goes.
type Proposal = (
    Command,
    tokio::sync::oneshot::Sender<Result<Outcome, ClusterError>>,
);

/// Batches in flight at once.
const MAX_IN_FLIGHT: usize = 4;

impl Node {
    /// Open storage under `data_dir` and start Raft. When the store is fresh and
    /// this node has the smallest id of `members`, it initialises the cluster.
    pub async fn start(
        id: NodeId,
        members: BTreeMap<NodeId, Member>,
        data_dir: &Path,
        tuning: Tuning,
        tls: tls::NodeTls,
    ) -> Result<Arc<Node>, ClusterError> {
        let config = openraft::Config {
            cluster_name: "x2gobroker".into(),
            heartbeat_interval: tuning.heartbeat_ms,
            election_timeout_min: tuning.election_min_ms,
            election_timeout_max: tuning.election_max_ms,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(tuning.snapshot_every),
            max_in_snapshot_log_to_keep: (tuning.snapshot_every / 10).max(1),
            // Entries of agent reports run to tens of kilobytes, and openraft
            // gives each AppendEntries one heartbeat interval: small payloads
            // let a follower that fell behind catch up instead of timing out.
            max_payload_entries: MAX_PAYLOAD_ENTRIES,
            ..Default::default()
        }
        .validate()?;
        let (log, sm) = store::open(data_dir)?;
        let log_bytes = log.bytes_since_snapshot();
        let machine = sm.shared();
        let peers = network::Peers::new(tls.client);
        let raft = Raft::new(id, Arc::new(config), peers.clone(), log, sm).await?;
        let (proposals, queue) = tokio::sync::mpsc::channel(16 * batch::MAX_BATCH);
        let (forwarded, forwarded_queue) = tokio::sync::mpsc::channel(16 * batch::MAX_BATCH);
        let node = Arc::new(Node {
            id,
            raft,
            machine,
            peers,
            tuning,
            proposals,
            forwarded,
            reloader: std::sync::OnceLock::new(),
            login_limiter: std::sync::OnceLock::new(),
            agent_links: std::sync::OnceLock::new(),
            request_ids: request_ids::RequestIds::new(id),
            summary: summary::SummaryCache::default(),
            leaving: std::sync::atomic::AtomicBool::new(false),
        });
        tokio::spawn(propose_batches(Arc::downgrade(&node), queue, true));
        tokio::spawn(propose_batches(
            Arc::downgrade(&node),
            forwarded_queue,
            false,
        ));
        tokio::spawn(formats::raise_when_read(Arc::downgrade(&node)));
        tokio::spawn(snapshots::by_log_size(
            Arc::downgrade(&node),
            log_bytes,
            tuning.snapshot_log_bytes,
        ));
        let first = members.keys().next().copied();
        let initialised = node.raft.is_initialized().await?;
        if !initialised && first == Some(id) {
            tracing::info!(members = members.len(), "initialising a fresh cluster");
            if let Err(e) = node.raft.initialize(members).await {
                tracing::warn!(error = %e, "cluster initialisation");
            }
        }
        Ok(node)
    }

    /// Apply `cmd` through the leader; the outcome once it is committed and applied.
    /// Concurrent submissions are proposed together as one log entry. The
    /// command is stamped with a request id before its first attempt, so the
    /// retries after a leader change apply it at most once.
    pub async fn submit(&self, cmd: Command) -> Result<Outcome, ClusterError> {
        Self::enqueue(&self.proposals, self.request_ids.stamp(cmd)).await
    }

    /// Install the function `reload` requests call.
    pub fn set_reloader(&self, reloader: Reloader) {
        let _ = self.reloader.set(reloader);
    }

    /// Propose this node's configuration files (see `set_reloader`).
    pub async fn reload(&self) -> Result<(), ReloadError> {
        match self.reloader.get() {
            Some(r) => r().await.map_err(ReloadError::Failed),
            None => Err(ReloadError::NotReady),
        }
    }

    /// Apply a command a follower forwarded (stamped there): batched with
    /// others, never forwarded again.
    pub async fn submit_forwarded(&self, cmd: Command) -> Result<Outcome, ClusterError> {
        Self::enqueue(&self.forwarded, cmd).await
    }

    async fn enqueue(
        queue: &tokio::sync::mpsc::Sender<Proposal>,
        cmd: Command,
    ) -> Result<Outcome, ClusterError> {
        let bytes = batch::encoded_size(&cmd);
        if bytes > batch::MAX_COMMAND_BYTES {
            return Err(Unavailable::TooLarge {
                bytes,
                max: batch::MAX_COMMAND_BYTES,
            }
            .into());
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let stopped = || ClusterError::from(Unavailable::ShuttingDown);
        queue.send((cmd, tx)).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// One attempt to apply `cmd` (possibly a batch): as leader, or forwarded to
    /// the leader when `may_forward`. `Err(true, ..)` is worth retrying.
    async fn attempt(
        &self,
        cmd: &Command,
        may_forward: bool,
        left: Duration,
    ) -> Result<Outcome, (bool, ClusterError)> {
        if self.leaving.load(std::sync::atomic::Ordering::Relaxed) {
            // A leader handing over proposes nothing more; a follower
            // forwarding here tries the next leader.
            return Err((false, Unavailable::ShuttingDown.into()));
        }
        // Another node leads, as far as this one knows: forward without asking the local core.
        let mut leader = self.leader_elsewhere().filter(|_| may_forward);
        if leader.is_none() {
            match tokio::time::timeout(left, self.raft.client_write(cmd.clone())).await {
                Ok(Ok(resp)) => return Ok(resp.data),
                Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))))
                    if may_forward =>
                {
                    leader = f
                        .leader_id
                        .zip(f.leader_node)
                        .filter(|(l, _)| *l != self.id);
                }
                Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {
                    return Err((false, Unavailable::NotLeader.into()));
                }
                // Raft stopped (the node is shutting down): answer at once, so
                // that a follower forwarding here tries the next leader.
                Ok(Err(RaftError::Fatal(f)))
                    if !matches!(f, openraft::error::Fatal::StorageError(_)) =>
                {
                    return Err((false, Unavailable::ShuttingDown.into()));
                }
                Ok(Err(e)) => {
                    // A storage failure stops Raft for good: retrying cannot help.
                    let e = ClusterError::from(e);
                    return Err((!e.is_storage(), e));
                }
                Err(_) => return Err((false, Unavailable::WriteDeadline.into())),
            }
        }
        let Some((id, member)) = leader else {
            return Err((true, Unavailable::NoLeader.into()));
        };
        match tokio::time::timeout(left, self.peers.submit(id, &member, cmd)).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(e)) => Err((
                true,
                Unavailable::Forward {
                    node: id,
                    source: Arc::new(e),
                }
                .into(),
            )),
            Err(_) => Err((false, Unavailable::ForwardDeadline(id).into())),
        }
    }

    /// The leader and its address when it is another node.
    fn leader_elsewhere(&self) -> Option<(NodeId, Member)> {
        let leader = self.raft.metrics().borrow().current_leader?;
        if leader == self.id {
            return None;
        }
        self.member(leader).map(|m| (leader, m))
    }

    /// Wait until this node has applied everything committed before the call,
    /// as confirmed by a leader that still holds a majority.
    pub async fn read_barrier(&self) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + self.tuning.deadline;
        let mut last_error = ClusterError::from(Unavailable::NoLeader);
        while tokio::time::Instant::now() < deadline {
            let left = deadline - tokio::time::Instant::now();
            let leader = self.raft.current_leader().await;
            let index = match leader {
                Some(l) if l == self.id => {
                    match tokio::time::timeout(left, self.raft.ensure_linearizable()).await {
                        Ok(Ok(_)) => return Ok(()),
                        Ok(Err(e)) => {
                            last_error = e.into();
                            if last_error.is_storage() {
                                return Err(last_error);
                            }
                            None
                        }
                        Err(_) => return Err(Unavailable::LeadershipDeadline.into()),
                    }
                }
                Some(l) => match self.member(l) {
                    Some(m) => match tokio::time::timeout(left, self.peers.read_index(l, &m)).await
                    {
                        Ok(Ok(i)) => Some(i),
                        Ok(Err(e)) => {
                            last_error = Unavailable::ReadIndex {
                                node: l,
                                source: Arc::new(e),
                            }
                            .into();
                            None
                        }
                        Err(_) => return Err(Unavailable::ReadIndexDeadline(l).into()),
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
                    Err(e) => Err(Unavailable::CatchingUp(Arc::new(e)).into()),
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(last_error)
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
}

/// Collect queued submissions into batches and propose them, a few batches
/// in flight at a time; each submitter gets its own outcome back.
async fn propose_batches(
    node: std::sync::Weak<Node>,
    mut queue: tokio::sync::mpsc::Receiver<Proposal>,
    may_forward: bool,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    // The proposal that did not fit the last batch starts the next one.
    let mut carried = None;
    loop {
        let first = match carried.take() {
            Some(p) => p,
            None => match queue.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        carried = batch::fill(
            &mut batch,
            |(cmd, _): &Proposal| batch::encoded_size(cmd),
            || queue.try_recv().ok(),
        );
        let Some(node) = node.upgrade() else { return };
        tokio::spawn(async move {
            let _slot = slot;
            run_batch(&node, batch, may_forward).await;
        });
    }
}

/// Apply one batch, retrying until the deadline while a leader is being
/// found; submitters that gave up (their request went away) are dropped
/// before each attempt, so they never hold up the queue.
async fn run_batch(node: &Node, mut batch: Vec<Proposal>, may_forward: bool) {
    let deadline = tokio::time::Instant::now() + node.tuning.deadline;
    let error = loop {
        batch.retain(|(_, reply)| !reply.is_closed());
        if batch.is_empty() {
            return;
        }
        let cmd = match batch.as_slice() {
            [(one, _)] => one.clone(),
            many => Command::Batch(many.iter().map(|(c, _)| c.clone()).collect()),
        };
        crate::metrics::METRICS.proposals.inc();
        crate::metrics::METRICS
            .proposal_batch
            .observe(batch.len() as f64);
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match node.attempt(&cmd, may_forward, left).await {
            Ok(outcome) => {
                let outcomes = match (outcome, batch.len()) {
                    (Outcome::Batch(all), n) if n > 1 && all.len() == n => all,
                    (one, 1) => vec![one],
                    (other, _) => break Unavailable::UnexpectedOutcome(Box::new(other)).into(),
                };
                for ((_, reply), outcome) in batch.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
                return;
            }
            Err((true, why))
                if tokio::time::Instant::now() + Duration::from_millis(50) < deadline =>
            {
                tracing::debug!(reason = %why, "proposal will be retried");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err((_, why)) => break why,
        }
    };
    for (_, reply) in batch {
        let _ = reply.send(Err(error.clone()));
    }
}
