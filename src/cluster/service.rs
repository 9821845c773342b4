//! The server side of node-to-node gRPC: hands openraft's RPCs to the local
//! Raft, applies commands forwarded by followers, answers read-index requests.
//! Every RPC here is for node certificates only (`identity`).

use super::error::RemoteFailure;
use super::identity::{authorize, Rpc};
use super::network::{decode, encode};
use super::proto::raft_transport_server::{RaftTransport, RaftTransportServer};
use super::proto::Payload;
use super::Node;
use crate::state::{Command, Outcome};
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
    Ok(decode(req.get_ref())?)
}

fn output<T: Serialize>(v: &T) -> Result<Response<Payload>, Status> {
    Ok(encode(v).map(Response::new)?)
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
        output(&self.node.raft.install_snapshot(input(&req)?).await)
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

    async fn read_index(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        authorize(&req, Rpc::ReadIndex)?;
        let answer: Result<u64, RemoteFailure> = match self.node.raft.ensure_linearizable().await {
            Ok(log_id) => Ok(log_id.map(|l| l.index).unwrap_or(0)),
            Err(e) => Err(RemoteFailure::of(&e)),
        };
        output(&answer)
    }
}
