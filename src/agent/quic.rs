//! The agent's QUIC transport: a QUIC connection (mutual TLS from the
//! cluster CA, ALPN `x2gobroker-agent/1`, the brokers' name
//! `x2gobroker-node`) to the UDP port of a broker's agent gateway, which
//! is the gateway's TCP address, and on it one bidirectional stream of
//! length-delimited frames (`frames`): the agent's messages out, the
//! broker's commands in. Keepalives every 2 s and a 5 s idle timeout notice
//! a vanished broker as fast as the gRPC transport's HTTP/2 keepalive.

use super::frames::{write_frame, CloseCode, FrameError, FrameReader};
use super::proto::{AgentMessage, BrokerCommand};
use super::quic_tls;
use super::transport::{check_agent_certificate, read, TransportError};
use crate::keygen::NODE_NAME;
use quinn::{Connection, Endpoint, IdleTimeout, RecvStream, SendStream, VarInt};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long the handshake with one broker may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A QUIC ping after this much silence...
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// ...and the connection is lost when nothing came back for this long.
pub const IDLE_TIMEOUT_MS: u32 = 3_000;

/// Connects to brokers over QUIC with the agent's certificate.
#[derive(Clone)]
pub struct QuicTransport {
    config: quinn::ClientConfig,
}

impl QuicTransport {
    /// The cluster CA, the agent's certificate (which must be `hostname`'s)
    /// and its key, from files.
    pub fn load(
        hostname: &str,
        ca: &Path,
        cert: &Path,
        key: &Path,
    ) -> Result<QuicTransport, TransportError> {
        let cert_pem = read(cert)?;
        check_agent_certificate(&cert.display().to_string(), &cert_pem, hostname)?;
        QuicTransport::new(&read(ca)?, &cert_pem, &read(key)?)
    }

    /// The same from PEM texts (the certificate must be `hostname`'s agent
    /// certificate).
    pub fn from_pem(
        hostname: &str,
        ca_pem: &[u8],
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<QuicTransport, TransportError> {
        check_agent_certificate("the certificate", cert_pem, hostname)?;
        QuicTransport::new(ca_pem, cert_pem, key_pem)
    }

    /// With any certificate and key (PEM) trusting the CA in `ca_pem`,
    /// unchecked: the broker decides whether it is an agent's.
    pub fn new(
        ca_pem: &[u8],
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<QuicTransport, TransportError> {
        let crypto = quic_tls::client(ca_pem, cert_pem, key_pem)?;
        let mut transport = quinn::TransportConfig::default();
        transport
            .keep_alive_interval(Some(KEEPALIVE_INTERVAL))
            .max_idle_timeout(Some(IdleTimeout::from(VarInt::from_u32(IDLE_TIMEOUT_MS))))
            // The broker opens no streams of its own.
            .max_concurrent_bidi_streams(VarInt::from_u32(0))
            .max_concurrent_uni_streams(VarInt::from_u32(0));
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        config.transport_config(Arc::new(transport));
        Ok(QuicTransport { config })
    }

    /// Connect to the broker at `addr` (`HOST:PORT`, the gateway's address;
    /// QUIC is on its UDP port) and open the agent stream: what `outbound`
    /// yields goes to the broker; the answer yields the broker's commands.
    pub async fn open(
        &self,
        addr: &str,
        outbound: mpsc::Receiver<AgentMessage>,
    ) -> Result<QuicCommands, TransportError> {
        let remote = resolve(addr).await?;
        let local: SocketAddr = match remote {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let endpoint = Endpoint::client(local).map_err(|source| TransportError::Socket {
            addr: addr.to_string(),
            source,
        })?;
        let connecting = endpoint
            .connect_with(self.config.clone(), remote, NODE_NAME)
            .map_err(|source| TransportError::QuicConnect {
                addr: addr.to_string(),
                source,
            })?;
        let lost = |source| TransportError::QuicConnection {
            addr: addr.to_string(),
            source,
        };
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| TransportError::HandshakeTimeout {
                addr: addr.to_string(),
                after: CONNECT_TIMEOUT,
            })?
            .map_err(lost)?;
        let (send, recv) = conn.open_bi().await.map_err(lost)?;
        let writer = tokio::spawn(send_all(conn.clone(), send, outbound));
        Ok(QuicCommands {
            addr: addr.to_string(),
            conn,
            reader: FrameReader::new(recv),
            writer,
            _endpoint: endpoint,
        })
    }
}

/// The first address `addr` resolves to.
async fn resolve(addr: &str) -> Result<SocketAddr, TransportError> {
    let failed = |source| TransportError::Resolve {
        addr: addr.to_string(),
        source,
    };
    tokio::net::lookup_host(addr)
        .await
        .map_err(failed)?
        .next()
        .ok_or_else(|| {
            failed(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "resolves to no address",
            ))
        })
}

/// Write every outbound message as a frame, in order. When writing fails
/// the connection is (being) closed: `outbound` stays open until it is, so
/// that the reader reports why rather than the agent's next send.
async fn send_all(
    conn: Connection,
    mut send: SendStream,
    mut outbound: mpsc::Receiver<AgentMessage>,
) {
    while let Some(msg) = outbound.recv().await {
        if let Err(e) = write_frame(&mut send, &msg).await {
            if let FrameError::TooLarge { .. } = e {
                conn.close(e.close_code().varint(), e.to_string().as_bytes());
            }
            conn.closed().await;
            return;
        }
    }
    let _ = send.finish();
}

/// The broker's commands on an open QUIC agent stream; dropping it closes
/// the connection.
pub struct QuicCommands {
    addr: String,
    conn: Connection,
    reader: FrameReader<RecvStream>,
    writer: JoinHandle<()>,
    /// Kept for as long as the connection is used.
    _endpoint: Endpoint,
}

impl QuicCommands {
    /// The next command; None when the broker finished its side, an error
    /// when the connection was lost or closed (the broker's reason and code
    /// when it closed it). Cancel-safe.
    pub async fn message(&mut self) -> Result<Option<BrokerCommand>, TransportError> {
        match self.reader.next::<BrokerCommand>().await {
            Ok(cmd) => Ok(cmd),
            Err(e) => Err(match (self.conn.close_reason(), e) {
                (Some(source), FrameError::Io(_)) => TransportError::QuicConnection {
                    addr: self.addr.clone(),
                    source,
                },
                (_, e) => {
                    self.conn
                        .close(e.close_code().varint(), e.to_string().as_bytes());
                    TransportError::Frame {
                        addr: self.addr.clone(),
                        source: e,
                    }
                }
            }),
        }
    }
}

impl Drop for QuicCommands {
    fn drop(&mut self) {
        self.writer.abort();
        self.conn
            .close(CloseCode::Done.varint(), b"the agent closed the stream");
    }
}
