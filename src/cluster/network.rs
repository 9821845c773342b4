//! The client side of node-to-node gRPC: openraft's `RaftNetwork` over the
//! `RaftTransport` service, plus forwarding of commands and read-index
//! requests to the leader. Channels are created lazily and reused.
//!
//! Every node-to-node message is at most `MAX_MESSAGE_BYTES` (both sides
//! decode up to that): a log entry is at most half of it (`batch`), and an
//! AppendEntries request that would be larger is answered here with
//! openraft's `PayloadTooLarge`, so that openraft sends fewer entries.
//!
//! Every request carries the command format of what it holds in the
//! `FORMAT_HEADER` metadata (1 unless it holds a newer command, see
//! `Command::format`); a receiver that does not read that format refuses
//! the request by name (`check_format`) rather than misdecode it. Requests
//! without the header come from builds older than the header: format 1.
//! Requests and answers also carry the newest format their sender reads
//! (`READS_HEADER`, absent: 1); each node remembers it per peer
//! (`Peers::reads`), so that the leader knows when every member reads a
//! newer format (`cluster::formats`).

use super::agent_orders::OrderRequest;
use super::error::{RemoteFailure, TransportError};
use super::login_limits::{LimitAnswer, LimitRequest};
use super::proto::raft_transport_client::RaftTransportClient;
use super::proto::Payload;
use super::{Member, NodeId, TypeConfig};
use crate::gateway::orders::OrderAnswer;
use crate::state::{Command, Outcome};
use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

type Client = RaftTransportClient<Channel>;

/// The largest node-to-node message sent or decoded (bytes); openraft's
/// snapshot chunks (3 MiB by default) and the largest log entry
/// (`batch::MAX_COMMAND_BYTES`) fit with room to spare.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;
/// Room left in a message for the protobuf framing of its payload.
const FRAMING: usize = 1024;

/// gRPC channels to the other members, by node id and address.
#[derive(Clone)]
pub struct Peers {
    channels: Arc<Mutex<HashMap<(NodeId, String), Client>>>,
    /// The newest command format each member said it reads.
    reads: Reads,
    /// Mutual TLS towards the other nodes (always: there is no plain mode).
    tls: ClientTlsConfig,
}

/// The gRPC metadata naming the command format of a request's content.
pub const FORMAT_HEADER: &str = "x2gobroker-format";
/// The gRPC metadata naming the newest command format the sender reads.
pub const READS_HEADER: &str = "x2gobroker-reads";

/// `payload` (of command format 1) as a request.
pub fn request(payload: Payload) -> tonic::Request<Payload> {
    request_in(payload, 1)
}

/// `payload`, holding commands of format `format`, as a request.
pub fn request_in(payload: Payload, format: u32) -> tonic::Request<Payload> {
    let mut request = tonic::Request::new(payload);
    request
        .metadata_mut()
        .insert(FORMAT_HEADER, tonic::metadata::MetadataValue::from(format));
    stamp_reads(request.metadata_mut());
    request
}

/// Say in `metadata` which command formats this build reads.
pub fn stamp_reads(metadata: &mut tonic::metadata::MetadataMap) {
    metadata.insert(
        READS_HEADER,
        tonic::metadata::MetadataValue::from(crate::state::COMMAND_FORMAT),
    );
}

/// The newest command format the sender of `metadata` reads (1 for builds
/// that do not say).
pub fn reads_of(metadata: &tonic::metadata::MetadataMap) -> u32 {
    metadata
        .get(READS_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// The command format a request was sent in, when this build reads it.
pub fn check_format<T>(req: &tonic::Request<T>) -> Result<u32, tonic::Status> {
    let found = match req.metadata().get(FORMAT_HEADER) {
        None => return Ok(1),
        Some(v) => v.to_str().ok().and_then(|v| v.parse::<u32>().ok()),
    };
    match found {
        Some(f) if (1..=crate::state::COMMAND_FORMAT).contains(&f) => Ok(f),
        _ => {
            let shown = req
                .metadata()
                .get(FORMAT_HEADER)
                .map(|v| {
                    String::from_utf8_lossy(v.as_bytes())
                        .chars()
                        .take(20)
                        .collect::<String>()
                })
                .unwrap_or_default();
            Err(tonic::Status::failed_precondition(format!(
                "the sender writes node-to-node command format {shown}; this x2gobroker ({}) reads formats 1 to {}: upgrade this node",
                env!("CARGO_PKG_VERSION"),
                crate::state::COMMAND_FORMAT
            )))
        }
    }
}

/// Node-to-node payloads are bincode: compact, and byte strings (snapshot
/// chunks) stay byte strings.
pub fn encode<T: Serialize>(v: &T) -> Result<Payload, TransportError> {
    bincode::serialize(v)
        .map(|data| Payload { data })
        .map_err(TransportError::Encode)
}

pub fn decode<T: DeserializeOwned>(p: &Payload) -> Result<T, TransportError> {
    bincode::deserialize(&p.data).map_err(TransportError::Decode)
}

impl Peers {
    pub fn new(tls: ClientTlsConfig) -> Self {
        Peers {
            channels: Arc::default(),
            reads: Reads::default(),
            tls,
        }
    }

    /// The newest command format `node` said it reads (1 until it said).
    pub fn reads(&self, node: NodeId) -> u32 {
        self.reads.of(node)
    }

    fn client(&self, id: NodeId, member: &Member) -> Result<Client, TransportError> {
        let key = (id, member.raft.clone());
        if let Some(c) = self.channels.lock().get(&key) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(format!("https://{}", member.raft))
            .map_err(|source| TransportError::Address {
                addr: member.raft.clone(),
                source,
            })?
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .tls_config(self.tls.clone())
            .map_err(|source| TransportError::Tls {
                addr: member.raft.clone(),
                source,
            })?;
        let client = RaftTransportClient::new(endpoint.connect_lazy())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        self.channels.lock().insert(key, client.clone());
        Ok(client)
    }

    /// Ask `leader` to apply `cmd`.
    pub async fn submit(
        &self,
        leader: NodeId,
        member: &Member,
        cmd: &Command,
    ) -> Result<Outcome, TransportError> {
        let mut c = self.client(leader, member)?;
        let reply = c
            .submit(request_in(encode(cmd)?, cmd.format()))
            .await
            .map_err(TransportError::Call)?;
        self.reads.heard(leader, reply.metadata());
        Ok(decode::<Result<Outcome, RemoteFailure>>(reply.get_ref())??)
    }

    /// Ask `leader` for a confirmed read index.
    pub async fn read_index(&self, leader: NodeId, member: &Member) -> Result<u64, TransportError> {
        let mut c = self.client(leader, member)?;
        let reply = c
            .read_index(request(Payload::default()))
            .await
            .map_err(TransportError::Call)?;
        Ok(decode::<Result<u64, RemoteFailure>>(reply.get_ref())??)
    }
}

impl Peers {
    /// Ask `leader` about a login attempt's limits (see `login_limits`).
    pub async fn login_limit(
        &self,
        leader: NodeId,
        member: &Member,
        request: &LimitRequest,
    ) -> Result<LimitAnswer, TransportError> {
        let mut c = self.client(leader, member)?;
        let reply = c
            .login_limit(self::request(encode(request)?))
            .await
            .map_err(TransportError::Call)?;
        decode(reply.get_ref())
    }
}

impl Peers {
    /// Ask `node` to carry out an order through an agent connected to it.
    pub async fn agent_order(
        &self,
        node: NodeId,
        member: &Member,
        request: &OrderRequest,
    ) -> Result<OrderAnswer, TransportError> {
        let mut c = self.client(node, member)?;
        let reply = c
            .agent_order(self::request(encode(request)?))
            .await
            .map_err(TransportError::Call)?;
        decode(reply.get_ref())
    }
}

impl Peers {
    /// Ask `node`, which has this leader's whole log, to take over from
    /// `leader` (see `Node::leave`).
    pub async fn take_over(
        &self,
        node: NodeId,
        member: &Member,
        leader: NodeId,
    ) -> Result<(), TransportError> {
        let mut c = self.client(node, member)?;
        let reply = c
            .take_over(request(encode(&leader)?))
            .await
            .map_err(TransportError::Call)?;
        Ok(decode::<Result<(), RemoteFailure>>(reply.get_ref())??)
    }
}

impl RaftNetworkFactory<TypeConfig> for Peers {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &Member) -> Connection {
        Connection {
            target,
            client: self.client(target, node),
            reads: self.reads.clone(),
        }
    }
}

/// The openraft RPCs sent over `RaftTransport`.
#[derive(Clone, Copy)]
enum Rpc {
    AppendEntries,
    Vote,
    InstallSnapshot,
}

/// openraft's connection to one member.
pub struct Connection {
    target: NodeId,
    client: Result<Client, TransportError>,
    reads: Reads,
}

/// What each member said it reads, by node id.
#[derive(Clone, Default)]
struct Reads(Arc<Mutex<HashMap<NodeId, u32>>>);

impl Reads {
    fn of(&self, node: NodeId) -> u32 {
        self.0.lock().get(&node).copied().unwrap_or(1)
    }

    fn heard(&self, node: NodeId, metadata: &tonic::metadata::MetadataMap) {
        self.0.lock().insert(node, reads_of(metadata));
    }
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, Member, RaftError<NodeId, E>>>;

impl Connection {
    async fn call<Req, Resp, E>(
        &mut self,
        rpc_kind: Rpc,
        req: &Req,
        timeout: Duration,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let payload = encode(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        self.send(rpc_kind, payload, 1, timeout).await
    }

    /// Send an encoded request and decode the answer.
    async fn send<Resp, E>(
        &mut self,
        rpc_kind: Rpc,
        payload: Payload,
        format: u32,
        timeout: Duration,
    ) -> RpcResult<Resp, E>
    where
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let target = self.target;
        let client = self
            .client
            .as_mut()
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&*e)))?;
        let mut request = request_in(payload, format);
        request.set_timeout(timeout);
        let reply = match rpc_kind {
            Rpc::AppendEntries => client.append_entries(request).await,
            Rpc::Vote => client.vote(request).await,
            Rpc::InstallSnapshot => client.install_snapshot(request).await,
        }
        .map_err(|s| {
            let why = std::io::Error::other(format!("node {target}: {}", s.message()));
            RPCError::Unreachable(Unreachable::new(&why))
        })?;
        self.reads.heard(target, reply.metadata());
        let answer: Result<Resp, RaftError<NodeId, E>> =
            decode(reply.get_ref()).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        answer.map_err(|e| RPCError::RemoteError(openraft::error::RemoteError::new(target, e)))
    }
}

/// While a member is unreachable, the leader tries it again every
/// `RETRY_SOON` at first (a restart takes a fraction of a second, and the
/// restarted node's requests wait for what it missed), every `RETRY_LATER`
/// after `RETRY_SOON_FOR`.
const RETRY_SOON: Duration = Duration::from_millis(100);
const RETRY_SOON_FOR: usize = 20;
const RETRY_LATER: Duration = Duration::from_millis(500);

impl RaftNetwork<TypeConfig> for Connection {
    fn backoff(&self) -> openraft::network::Backoff {
        openraft::network::Backoff::new(
            std::iter::repeat_n(RETRY_SOON, RETRY_SOON_FOR).chain(std::iter::repeat(RETRY_LATER)),
        )
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        let payload = encode(&rpc).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        if let Some(fewer) = entries_that_fit(rpc.entries.len(), payload.data.len()) {
            return Err(PayloadTooLarge::new_entries_hint(fewer).into());
        }
        let format = rpc
            .entries
            .iter()
            .map(|e| match &e.payload {
                openraft::EntryPayload::Normal(cmd) => cmd.format(),
                _ => 1,
            })
            .max()
            .unwrap_or(1);
        self.send(Rpc::AppendEntries, payload, format, option.hard_ttl())
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.call(Rpc::InstallSnapshot, &rpc, option.hard_ttl())
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        self.call(Rpc::Vote, &rpc, option.hard_ttl()).await
    }
}

/// When `entries` entries encode to more than a message may carry: how
/// many to send instead (at least one; a single entry always fits, see
/// `batch::MAX_COMMAND_BYTES`).
fn entries_that_fit(entries: usize, encoded: usize) -> Option<u64> {
    let room = MAX_MESSAGE_BYTES - FRAMING;
    if encoded <= room || entries <= 1 {
        return None;
    }
    let fit = (entries as u128 * room as u128 / encoded as u128) as usize;
    Some(fit.clamp(1, entries - 1) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_the_command_format_and_newer_ones_are_refused() {
        // Content of format 1 is sent as format 1 (older builds take it).
        let stamped = request(Payload::default());
        assert_eq!(check_format(&stamped).unwrap(), 1);
        let newest = request_in(Payload::default(), crate::state::COMMAND_FORMAT);
        assert_eq!(check_format(&newest).unwrap(), crate::state::COMMAND_FORMAT);
        // Every request says what its sender reads; builds that do not say read 1.
        assert_eq!(reads_of(stamped.metadata()), crate::state::COMMAND_FORMAT);
        assert_eq!(reads_of(tonic::Request::new(()).metadata()), 1);
        // Builds older than the header: format 1.
        assert_eq!(check_format(&tonic::Request::new(())).unwrap(), 1);
        let newer = (crate::state::COMMAND_FORMAT + 1).to_string();
        for newer in [newer.as_str(), "x", "0"] {
            let mut r = tonic::Request::new(());
            r.metadata_mut()
                .insert(FORMAT_HEADER, newer.parse().unwrap());
            let e = check_format(&r).unwrap_err();
            assert_eq!(e.code(), tonic::Code::FailedPrecondition);
            assert!(e.message().contains("upgrade this node"), "{}", e.message());
        }
    }

    #[test]
    fn oversized_appends_are_split() {
        assert_eq!(entries_that_fit(300, 1 << 20), None);
        assert_eq!(entries_that_fit(1, 3 * MAX_MESSAGE_BYTES), None);
        // Twice the room: about half the entries.
        let hint = entries_that_fit(100, 2 * MAX_MESSAGE_BYTES).unwrap();
        assert!((45..50).contains(&hint), "{hint}");
        // Always fewer than asked, never zero.
        assert_eq!(entries_that_fit(2, MAX_MESSAGE_BYTES), Some(1));
        assert_eq!(entries_that_fit(3, 100 * MAX_MESSAGE_BYTES), Some(1));
    }
}
