//! The cluster's errors: `ClusterError` for what the broker submits and
//! reads (unavailable versus a storage failure), `TransportError` for the
//! node-to-node network, `ReloadError` for configuration reloads, and the
//! one mapping of these to `tonic::Status` for the cluster services.

use super::{Member, NodeId};
use crate::state::Outcome;
use crate::storage::StorageError;
use openraft::error::{CheckIsLeaderError, ClientWriteError, Fatal, RaftError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// Why the cluster could not serve a request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
    /// No majority, a deadline passed, the node is stopping, forwarding failed:
    /// worth trying again later or elsewhere.
    #[error("cluster unavailable: {0}")]
    Unavailable(#[from] Unavailable),
    /// This node's storage failed (opening it, or the Raft log or state machine).
    #[error("cluster storage failure: {0}")]
    Storage(Arc<StorageError>),
    /// The Raft timing settings were refused.
    #[error("raft configuration: {0}")]
    Config(Arc<openraft::ConfigError>),
}

/// Why no leader could apply or confirm a request in time.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unavailable {
    #[error("node shutting down")]
    ShuttingDown,
    #[error("not the leader")]
    NotLeader,
    #[error("no leader known")]
    NoLeader,
    #[error("write not committed in time")]
    WriteDeadline,
    #[error("leadership not confirmed in time")]
    LeadershipDeadline,
    #[error("node {0} did not confirm in time")]
    ReadIndexDeadline(NodeId),
    #[error("read index from node {node}: {source}")]
    ReadIndex {
        node: NodeId,
        #[source]
        source: Arc<TransportError>,
    },
    #[error("forwarding to node {0} timed out")]
    ForwardDeadline(NodeId),
    #[error("forwarding to node {node}: {source}")]
    Forward {
        node: NodeId,
        #[source]
        source: Arc<TransportError>,
    },
    #[error("catching up: {0}")]
    CatchingUp(#[source] Arc<openraft::metrics::WaitError>),
    /// Raft stopped or panicked.
    #[error(transparent)]
    Raft(Box<Fatal<NodeId>>),
    #[error(transparent)]
    Write(Box<ClientWriteError<NodeId, Member>>),
    #[error(transparent)]
    Leadership(Box<CheckIsLeaderError<NodeId, Member>>),
    /// A command larger than any node proposes (see `batch`); not retried.
    #[error("command of {bytes} bytes is over the {max}-byte limit")]
    TooLarge { bytes: u64, max: u64 },
    /// The leader answered a batch with outcomes that do not match it.
    #[error("unexpected outcome {0:?}")]
    UnexpectedOutcome(Box<Outcome>),
}

impl ClusterError {
    /// Whether this is a storage failure (not worth retrying).
    pub fn is_storage(&self) -> bool {
        matches!(self, ClusterError::Storage(_))
    }
}

impl From<StorageError> for ClusterError {
    fn from(e: StorageError) -> Self {
        ClusterError::Storage(Arc::new(e))
    }
}

impl From<openraft::ConfigError> for ClusterError {
    fn from(e: openraft::ConfigError) -> Self {
        ClusterError::Config(Arc::new(e))
    }
}

impl From<Fatal<NodeId>> for ClusterError {
    fn from(e: Fatal<NodeId>) -> Self {
        match e {
            Fatal::StorageError(e) => StorageError::from(e).into(),
            other => Unavailable::Raft(Box::new(other)).into(),
        }
    }
}

impl From<RaftError<NodeId, ClientWriteError<NodeId, Member>>> for ClusterError {
    fn from(e: RaftError<NodeId, ClientWriteError<NodeId, Member>>) -> Self {
        match e {
            RaftError::APIError(e) => Unavailable::Write(Box::new(e)).into(),
            RaftError::Fatal(f) => f.into(),
        }
    }
}

impl From<RaftError<NodeId, CheckIsLeaderError<NodeId, Member>>> for ClusterError {
    fn from(e: RaftError<NodeId, CheckIsLeaderError<NodeId, Member>>) -> Self {
        match e {
            RaftError::APIError(e) => Unavailable::Leadership(Box::new(e)).into(),
            RaftError::Fatal(f) => f.into(),
        }
    }
}

/// Why a configuration reload was not proposed.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("this node cannot reload yet")]
    NotReady,
    /// The broker's reload failed (reading or validating the files, or proposing them).
    #[error(transparent)]
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

/// A failure of the node-to-node network.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("bad address {addr}: {source}")]
    Address {
        addr: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("TLS towards {addr}: {source}")]
    Tls {
        addr: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("{}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The configured node certificate is another node's, an admin's, or has no role.
    #[error("{}: not the certificate of node {node}: {found} (see `x2gobroker keygen`)", path.display())]
    NotThisNode {
        path: PathBuf,
        node: NodeId,
        found: String,
    },
    #[error("encoding: {0}")]
    Encode(#[source] bincode::Error),
    #[error("decoding: {0}")]
    Decode(#[source] bincode::Error),
    /// The call failed (connection, timeout, or the other side refused it).
    #[error("{}", .0.message())]
    Call(#[source] tonic::Status),
    /// The other node carried the call out and answered with this error.
    #[error("{0}")]
    Remote(String),
}

/// An error as one node answers it to another: its text. On the wire it is
/// the bare string (bincode), as it always was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RemoteFailure(pub String);

impl RemoteFailure {
    /// The text of `e` for the calling node.
    pub fn of(e: &impl std::fmt::Display) -> Self {
        RemoteFailure(e.to_string())
    }
}

impl From<RemoteFailure> for TransportError {
    fn from(e: RemoteFailure) -> Self {
        TransportError::Remote(e.0)
    }
}

/// The cluster services' answer when a request cannot be handled at all:
/// a payload that does not decode is the caller's fault, anything else ours.
impl From<TransportError> for tonic::Status {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Decode(_) => tonic::Status::invalid_argument(e.to_string()),
            TransportError::Call(status) => status,
            other => tonic::Status::internal(other.to_string()),
        }
    }
}
