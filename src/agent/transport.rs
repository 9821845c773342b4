//! How the agent reaches a broker, whatever the transport: `Transport`
//! opens the agent stream to one broker address (gRPC over TCP, or QUIC
//! over UDP at the same address) and gives back a `CommandStream` of the
//! broker's commands; `run` (and anything else that plays an agent) uses
//! only these two. Both transports carry the same `agent.proto` messages
//! with mutual TLS from the cluster CA.

use super::grpc::GrpcTransport;
use super::proto::{AgentMessage, BrokerCommand};
use super::quic::{QuicCommands, QuicTransport};
use crate::cluster::identity::Role;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// Which transport the agent uses (`--transport`, key `transport`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// A gRPC bidirectional stream over TCP (HTTP/2).
    #[default]
    Grpc,
    /// One bidirectional QUIC stream over UDP.
    Quic,
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportKind::Grpc => "grpc",
            TransportKind::Quic => "quic",
        })
    }
}

/// A broker could not be reached, refused the stream, or the stream ended.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("reading {}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} is not the agent certificate of {hostname:?}: {found}")]
    NotThisAgent {
        /// The certificate file, or "the certificate" when given as PEM.
        what: String,
        hostname: String,
        found: String,
    },
    #[error(transparent)]
    QuicTls(#[from] super::quic_tls::QuicTlsError),
    #[error("broker address {addr}: {source}")]
    Endpoint {
        addr: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("connecting to broker {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("broker {addr} refused the agent stream: {status}")]
    Refused {
        addr: String,
        status: Box<tonic::Status>,
    },
    #[error("broker {addr} ended the stream: {status}")]
    Ended {
        addr: String,
        status: Box<tonic::Status>,
    },
    #[error("broker address {addr}: {source}")]
    Resolve {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("a UDP socket for broker {addr}: {source}")]
    Socket {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("connecting to broker {addr}: {source}")]
    QuicConnect {
        addr: String,
        #[source]
        source: quinn::ConnectError,
    },
    #[error("no QUIC handshake with broker {addr} within {after:?}")]
    HandshakeTimeout { addr: String, after: Duration },
    #[error("broker {addr}: {source}")]
    QuicConnection {
        addr: String,
        #[source]
        source: quinn::ConnectionError,
    },
    #[error("broker {addr}: {source}")]
    Frame {
        addr: String,
        #[source]
        source: super::frames::FrameError,
    },
}

/// Read a file the transport needs.
pub(super) fn read(path: &Path) -> Result<Vec<u8>, TransportError> {
    std::fs::read(path).map_err(|source| TransportError::ReadFile {
        path: path.to_path_buf(),
        source,
    })
}

/// Refuse a certificate (`what`: its file) that is not `hostname`'s agent
/// certificate: the broker accepts reports only for that name.
pub(super) fn check_agent_certificate(
    what: &str,
    pem: &[u8],
    hostname: &str,
) -> Result<(), TransportError> {
    let refuse = |found: String| TransportError::NotThisAgent {
        what: what.to_string(),
        hostname: hostname.to_string(),
        found,
    };
    match Role::of_pem(pem) {
        Ok(Role::Agent(name)) if name == hostname => Ok(()),
        Ok(other) => Err(refuse(format!("it is the certificate of {other}"))),
        Err(e) => Err(refuse(e.to_string())),
    }
}

/// Opens agent streams with the agent's certificate, over one transport.
#[derive(Clone)]
pub enum Transport {
    Grpc(GrpcTransport),
    Quic(QuicTransport),
}

impl Transport {
    /// `kind` with the cluster CA, the agent's certificate (which must be
    /// `hostname`'s) and its key, from files.
    pub fn load(
        kind: TransportKind,
        hostname: &str,
        ca: &Path,
        cert: &Path,
        key: &Path,
    ) -> Result<Transport, TransportError> {
        Ok(match kind {
            TransportKind::Grpc => Transport::Grpc(GrpcTransport::load(hostname, ca, cert, key)?),
            TransportKind::Quic => Transport::Quic(QuicTransport::load(hostname, ca, cert, key)?),
        })
    }

    /// The same from PEM texts in memory (the simulator's certificates).
    pub fn from_pem(
        kind: TransportKind,
        hostname: &str,
        ca_pem: &[u8],
        cert_pem: Vec<u8>,
        key_pem: Vec<u8>,
    ) -> Result<Transport, TransportError> {
        Ok(match kind {
            TransportKind::Grpc => Transport::Grpc(GrpcTransport::from_pem(
                hostname, ca_pem, cert_pem, key_pem,
            )?),
            TransportKind::Quic => Transport::Quic(QuicTransport::from_pem(
                hostname, ca_pem, &cert_pem, &key_pem,
            )?),
        })
    }

    pub fn kind(&self) -> TransportKind {
        match self {
            Transport::Grpc(_) => TransportKind::Grpc,
            Transport::Quic(_) => TransportKind::Quic,
        }
    }

    /// Connect to the broker at `addr` (`HOST:PORT`) and open the agent
    /// stream: what `outbound` yields goes to the broker (a Hello first);
    /// the answer yields the broker's commands.
    pub async fn open(
        &self,
        addr: &str,
        outbound: mpsc::Receiver<AgentMessage>,
    ) -> Result<CommandStream, TransportError> {
        let inner = match self {
            Transport::Grpc(t) => Inner::Grpc {
                addr: addr.to_string(),
                stream: t.open(addr, outbound).await?,
            },
            Transport::Quic(t) => Inner::Quic(t.open(addr, outbound).await?),
        };
        Ok(CommandStream { inner })
    }
}

/// The broker's commands on one open agent stream. Dropping it closes the
/// stream.
pub struct CommandStream {
    inner: Inner,
}

enum Inner {
    Grpc {
        addr: String,
        stream: tonic::Streaming<BrokerCommand>,
    },
    Quic(QuicCommands),
}

impl CommandStream {
    /// The next command; None when the broker ended the stream cleanly, an
    /// error when it failed or was closed (a refusal says why). Cancel-safe.
    pub async fn message(&mut self) -> Result<Option<BrokerCommand>, TransportError> {
        match &mut self.inner {
            Inner::Grpc { addr, stream } => {
                stream
                    .message()
                    .await
                    .map_err(|status| TransportError::Ended {
                        addr: addr.clone(),
                        status: Box::new(status),
                    })
            }
            Inner::Quic(q) => q.message().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_from_toml_and_print_as_written() {
        #[derive(Deserialize)]
        struct T {
            transport: TransportKind,
        }
        let t: T = toml::from_str("transport = \"quic\"").unwrap();
        assert_eq!(t.transport, TransportKind::Quic);
        assert_eq!(t.transport.to_string(), "quic");
        assert_eq!(TransportKind::default().to_string(), "grpc");
        assert!(toml::from_str::<T>("transport = \"tcp\"").is_err());
    }

    #[test]
    fn both_transports_take_only_this_servers_agent_certificate() {
        let pki = tempfile::tempdir().unwrap();
        crate::keygen::generate(pki.path(), &[1], &[], &["x2go1".to_string()]).unwrap();
        let p = |f: &str| pki.path().join(f);
        for kind in [TransportKind::Grpc, TransportKind::Quic] {
            let load = |host: &str, cert: &str| {
                Transport::load(
                    kind,
                    host,
                    &p("ca.pem"),
                    &p(cert),
                    &p("agent-x2go1-key.pem"),
                )
            };
            assert_eq!(load("x2go1", "agent-x2go1.pem").unwrap().kind(), kind);
            let e = load("x2go2", "agent-x2go1.pem").err().unwrap();
            assert!(
                e.to_string()
                    .contains("not the agent certificate of \"x2go2\""),
                "{kind}: {e}"
            );
            let e = load("x2go1", "node1.pem").err().unwrap();
            assert!(matches!(e, TransportError::NotThisAgent { .. }), "{e}");
        }
    }
}
