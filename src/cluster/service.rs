//! The server side of node-to-node gRPC: hands openraft's RPCs to the local
//! Raft, applies commands forwarded by followers, answers read-index requests.
//! Every RPC here is for node certificates only (`identity`), and in a
//! command format this build reads (`network::check_format`); a snapshot
//! whose first chunk names a newer snapshot format is refused before
//! openraft sees it, so that this node keeps running (behind) instead of
//! stopping on a snapshot it cannot read.

use super::error::RemoteFailure;
use super::identity::{authorize, Rpc};
use super::network::{check_format, decode, encode, stamp_reads};
use super::proto::raft_transport_server::{RaftTransport, RaftTransportServer};
use super::proto::Payload;
use super::{Node, TypeConfig};
use crate::state::{Command, Outcome};
use openraft::raft::InstallSnapshotRequest;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct Transport {
    node: Arc<Node>,
}

/// The gRPC service for `node`.
pub fn server(node: Arc<Node>) -> RaftTransportServer<Transport> {
    RaftTransportServer::new(Transport { node })
}

fn input<T: DeserializeOwned>(req: &Request<Payload>) -> Result<T, Status> {
    check_format(req)?;
    Ok(decode(req.get_ref())?)
}

/// Refuse the first chunk of a snapshot of a format this build does not read.
fn snapshot_readable(rpc: &InstallSnapshotRequest<TypeConfig>) -> Result<(), Status> {
    if rpc.offset != 0 {
        return Ok(());
    }
    let checked = crate::state::snapshot_format(&rpc.data)
        .and_then(|found| crate::state::check_snapshot_format(found).map(|_| found));
    checked.map(|_| ()).map_err(|e| {
        tracing::error!(snapshot = %rpc.meta.snapshot_id, error = %e, "refusing a snapshot from the leader");
        Status::failed_precondition(e.to_string())
    })
}

/// `v` as the answer, saying which command formats this node reads.
fn output<T: Serialize>(v: &T) -> Result<Response<Payload>, Status> {
    let mut response = encode(v).map(Response::new)?;
    stamp_reads(response.metadata_mut());
    Ok(response)
}

#[tonic::async_trait]
impl RaftTransport for Transport {
    async fn append_entries(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        authorize(&req, Rpc::AppendEntries)?;
        output(&self.node.raft.append_entries(input(&req)?).await)
    }

    async fn vote(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        authorize(&req, Rpc::Vote)?;
        output(&self.node.raft.vote(input(&req)?).await)
    }

    async fn install_snapshot(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        authorize(&req, Rpc::InstallSnapshot)?;
        let rpc: InstallSnapshotRequest<TypeConfig> = input(&req)?;
        snapshot_readable(&rpc)?;
        output(&self.node.raft.install_snapshot(rpc).await)
    }

    async fn submit(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        authorize(&req, Rpc::Submit)?;
        let cmd: Command = input(&req)?;
        // Only the leader applies forwarded commands (batched with its own); never forwarded again.
        let answer: Result<Outcome, RemoteFailure> = self
            .node
            .submit_forwarded(cmd)
            .await
            .map_err(|e| RemoteFailure::of(&e));
        output(&answer)
    }

    async fn login_limit(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        authorize(&req, Rpc::LoginLimit)?;
        output(&self.node.answer_login_limit(input(&req)?))
    }

    async fn agent_order(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        authorize(&req, Rpc::AgentOrder)?;
        output(&self.node.answer_agent_order(input(&req)?).await)
    }

    async fn take_over(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        authorize(&req, Rpc::TakeOver)?;
        let leader: super::NodeId = input(&req)?;
        tracing::info!(leader, "the leader is stopping: starting an election");
        let answer: Result<(), RemoteFailure> = self
            .node
            .raft
            .trigger()
            .elect()
            .await
            .map_err(|e| RemoteFailure::of(&e));
        output(&answer)
    }

    async fn read_index(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        authorize(&req, Rpc::ReadIndex)?;
        check_format(&req)?;
        let answer: Result<u64, RemoteFailure> = match self.node.raft.ensure_linearizable().await {
            Ok(log_id) => Ok(log_id.map(|l| l.index).unwrap_or(0)),
            Err(e) => Err(RemoteFailure::of(&e)),
        };
        output(&answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{SnapshotMeta, Vote};

    fn chunk(offset: u64, data: &[u8]) -> InstallSnapshotRequest<TypeConfig> {
        InstallSnapshotRequest {
            vote: Vote::new(1, 1),
            meta: SnapshotMeta {
                snapshot_id: "s".into(),
                ..Default::default()
            },
            offset,
            data: data.to_vec(),
            done: false,
        }
    }

    #[test]
    fn a_snapshot_of_a_newer_format_is_refused_at_its_first_chunk() {
        let current = crate::state::State::default().to_snapshot().unwrap();
        assert!(snapshot_readable(&chunk(0, &current)).is_ok());
        assert!(snapshot_readable(&chunk(0, b"{\"cookies\":[]")).is_ok());
        let e = snapshot_readable(&chunk(0, b"{\"format\":9,\"cookies\":[]")).unwrap_err();
        assert_eq!(e.code(), tonic::Code::FailedPrecondition);
        assert!(e.message().contains("format 9"), "{}", e.message());
        // Later chunks carry no header.
        assert!(snapshot_readable(&chunk(4, b"xyz")).is_ok());
    }
}
