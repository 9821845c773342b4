//! How a simulated server reaches a broker (`--transport`): the agent's own
//! transports, chosen per server. Only gRPC exists today; a new transport
//! is a `TransportKind` value, a `Link` and a `Commands` variant.

use crate::agent::grpc::{GrpcTransport, TransportError};
use crate::agent::proto::{AgentMessage, BrokerCommand};
use serde::Serialize;
use tokio::sync::mpsc;

/// The transport the simulated servers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// `AgentGateway/Connect` over HTTP/2 with mutual TLS, as `run` does.
    Grpc,
}

/// A server's credentials: the cluster CA and its agent certificate and key (PEM).
pub struct Identity<'a> {
    pub ca_pem: &'a [u8],
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

/// One simulated server's way to the brokers.
pub enum Link {
    Grpc(GrpcTransport),
}

/// The broker's commands on an open connection.
pub enum Commands {
    Grpc(tonic::Streaming<BrokerCommand>),
}

impl Link {
    /// The link of the server `hostname` over `kind`.
    pub fn new(
        kind: TransportKind,
        hostname: &str,
        id: Identity<'_>,
    ) -> Result<Link, TransportError> {
        match kind {
            TransportKind::Grpc => Ok(Link::Grpc(GrpcTransport::from_pem(
                hostname,
                id.ca_pem,
                id.cert_pem,
                id.key_pem,
            )?)),
        }
    }

    /// Connect to the broker at `addr`: `outbound` goes to it, its commands come back.
    pub async fn open(
        &self,
        addr: &str,
        outbound: mpsc::Receiver<AgentMessage>,
    ) -> Result<Commands, TransportError> {
        match self {
            Link::Grpc(t) => Ok(Commands::Grpc(t.open(addr, outbound).await?)),
        }
    }
}

impl Commands {
    /// The next command; None when the broker closed the stream.
    pub async fn next(&mut self) -> Result<Option<BrokerCommand>, tonic::Status> {
        match self {
            Commands::Grpc(s) => s.message().await,
        }
    }
}
