//! The agent gateway's QUIC transport: a quinn endpoint on the UDP port of
//! the gateway's address (mutual TLS from the cluster CA, ALPN
//! `x2gobroker-agent/1`, see `agent::quic_tls`), the transport-neutral
//! checks and message handling of `connection` over one bidirectional
//! stream of length-delimited frames (`agent::frames`) per connection.
//! Refusals close the connection with `CloseCode::Refused` and the refusal
//! as the reason. At most `max_connections` connections (further ones are
//! refused with CONNECTION_REFUSED), a handshake deadline, a 5 s idle
//! timeout (the agents ping every 2 s), and on shutdown every connection
//! is closed with `CloseCode::ShuttingDown`.

use super::connection::{self, Agents, Refusal, HELLO_TIMEOUT};
use super::links::Attached;
use super::proto::AgentMessage;
use crate::agent::frames::{write_frame, CloseCode, FrameError, FrameReader};
use crate::logsafe::escaped;
use crate::server::ListenerLimits;
use quinn::crypto::rustls::QuicServerConfig;
use quinn::{Connection, ConnectionError, Endpoint, IdleTimeout, RecvStream, SendStream, VarInt};
use rustls::pki_types::CertificateDer;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;

/// A connection is lost when nothing came from the agent for this long.
pub const IDLE_TIMEOUT_MS: u32 = 3_000;

/// The endpoint's QUIC settings: `crypto` (from `gateway::tls`), one
/// stream per connection, no datagrams, handshakes bounded by the limits.
pub fn server_config(
    crypto: Arc<QuicServerConfig>,
    limits: &ListenerLimits,
) -> quinn::ServerConfig {
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_idle_timeout(Some(IdleTimeout::from(VarInt::from_u32(IDLE_TIMEOUT_MS))))
        .max_concurrent_bidi_streams(VarInt::from_u32(1))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .datagram_receive_buffer_size(None);
    let mut config = quinn::ServerConfig::with_crypto(crypto);
    config
        .transport_config(Arc::new(transport))
        .max_incoming(limits.max_connections.max(1));
    config
}

/// A QUIC endpoint on the bound `socket` (the gateway's address, UDP).
pub fn endpoint(
    socket: std::net::UdpSocket,
    config: quinn::ServerConfig,
) -> std::io::Result<Endpoint> {
    let runtime = quinn::default_runtime()
        .ok_or_else(|| std::io::Error::other("no async runtime for the QUIC endpoint"))?;
    Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(config),
        socket,
        runtime,
    )
}

/// Serve agents on `endpoint` until `stop` turns true; then close every
/// connection and wait for their tasks.
pub async fn serve(
    endpoint: Endpoint,
    agents: Agents,
    limits: ListenerLimits,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let connections = TaskTracker::new();
    loop {
        let incoming = tokio::select! {
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => incoming,
                None => break,
            },
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(client = %incoming.remote_address(), "agent gateway (QUIC) at its connection limit; refusing a connection");
            incoming.refuse();
            continue;
        };
        let peer = incoming.remote_address();
        let connecting = match incoming.accept() {
            Ok(connecting) => connecting,
            Err(e) => {
                tracing::debug!(client = %peer, error = %e, "QUIC connection failed");
                continue;
            }
        };
        let agents = agents.clone();
        let deadline = limits.handshake_timeout;
        connections.spawn(async move {
            match tokio::time::timeout(deadline, connecting).await {
                Ok(Ok(conn)) => handle(conn, agents, slot).await,
                Ok(Err(e)) => {
                    tracing::debug!(client = %peer, error = %e, "QUIC handshake failed")
                }
                Err(_) => tracing::debug!(client = %peer, "no QUIC handshake in time; closing"),
            }
        });
    }
    endpoint.close(
        CloseCode::ShuttingDown.varint(),
        b"the broker node is shutting down",
    );
    connections.close();
    connections.wait().await;
    endpoint.wait_idle().await;
}

/// The first certificate the peer presented (verified against the CA).
fn peer_certificate(conn: &Connection) -> Option<CertificateDer<'static>> {
    let chain = conn
        .peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()?;
    chain.into_iter().next()
}

/// Close `conn` because of `refusal`, which is the reason the agent reads.
fn refuse(conn: &Connection, refusal: &Refusal) {
    tracing::debug!(client = %conn.remote_address(), reason = %refusal, "refused an agent connection (QUIC)");
    conn.close(CloseCode::Refused.varint(), refusal.to_string().as_bytes());
}

/// Why the stream of a connection that said Hello ended: None for a
/// normal end, else what went wrong. A frame error closes the connection
/// with its code.
fn ended(conn: &Connection, error: FrameError) -> Option<String> {
    if let Some(reason) = conn.close_reason() {
        return match reason {
            ConnectionError::ApplicationClosed(c) if c.error_code == CloseCode::Done.varint() => {
                None
            }
            ConnectionError::LocallyClosed => None,
            other => Some(other.to_string()),
        };
    }
    conn.close(error.close_code().varint(), error.to_string().as_bytes());
    Some(error.to_string())
}

/// One agent connection: the certificate, the Hello, then the messages
/// both ways until either side ends it.
async fn handle(conn: Connection, agents: Agents, _slot: OwnedSemaphorePermit) {
    let peer: SocketAddr = conn.remote_address();
    let agent = match agents.admit(peer_certificate(&conn).as_ref()).await {
        Ok(agent) => agent,
        Err(refusal) => return refuse(&conn, &refusal),
    };
    let host = agent.host.clone();
    let first = tokio::time::timeout(HELLO_TIMEOUT, async {
        let (send, recv) = conn
            .accept_bi()
            .await
            .map_err(|lost| FrameError::Io(lost.into()))?;
        let mut reader = FrameReader::new(recv);
        let first = reader.next::<AgentMessage>().await?;
        Ok::<_, FrameError>((send, reader, first))
    })
    .await;
    let (send, reader, first) = match first {
        Err(_) => return refuse(&conn, &Refusal::HelloTimeout),
        Ok(Err(e)) => {
            let why = ended(&conn, e);
            tracing::debug!(client = %peer, server = %escaped(&host), error = ?why, "agent connection ended before its Hello");
            return;
        }
        Ok(Ok(opened)) => opened,
    };
    let hello = match connection::check_hello(first, &host) {
        Ok(hello) => hello,
        Err(refusal) => return refuse(&conn, &refusal),
    };
    let attached = agents.connected(&agent, &hello, "quic");
    let conn_id = attached.conn;
    let why = pump(&conn, &agents, &host, send, reader, attached).await;
    agents.disconnected(&host, conn_id, why.as_deref());
}

/// Hand every message from the agent to `agents` and write every command
/// for it as a frame, until the connection ends (or its certificate is
/// revoked: then it is closed as refused, with the reason).
async fn pump(
    conn: &Connection,
    agents: &Agents,
    host: &str,
    mut send: SendStream,
    mut reader: FrameReader<RecvStream>,
    attached: Attached,
) -> Option<String> {
    let (mut commands, revoked) = (attached.commands, attached.revoked);
    loop {
        tokio::select! {
            biased;
            _ = revoked.cancelled() => {
                let refusal = Refusal::Revoked(host.to_string());
                refuse(conn, &refusal);
                return Some(refusal.to_string());
            },
            frame = reader.next::<AgentMessage>() => match frame {
                Ok(Some(msg)) => agents.receive(host, msg),
                Ok(None) => {
                    conn.close(CloseCode::Done.varint(), b"the agent finished its stream");
                    return None;
                }
                Err(e) => return ended(conn, e),
            },
            command = commands.recv() => match command {
                Some(command) => {
                    if let Err(e) = write_frame(&mut send, &command).await {
                        return ended(conn, e);
                    }
                }
                None => {
                    conn.close(
                        CloseCode::Replaced.varint(),
                        b"a newer connection of this server took over",
                    );
                    return None;
                }
            },
        }
    }
}

#[cfg(test)]
#[path = "quic_tests.rs"]
mod tests;
