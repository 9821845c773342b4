//! The `AgentGateway` gRPC service: only an agent certificate may connect,
//! its stream must open with a Hello naming the certificate's server, and
//! every later message is folded into the node's pending reports for that
//! server (sessions, load; heartbeats and command results count as signs
//! of life). The reply stream stays open while the agent is connected;
//! the broker sends no commands through it yet.

use super::coalesce::Pending;
use super::proto::agent_gateway_server::{AgentGateway, AgentGatewayServer};
use super::proto::{self, agent_message::Body, AgentMessage, BrokerCommand};
use crate::cluster::identity::Role;
use crate::logsafe::escaped;
use crate::state::{LoadRecord, SessionRecord};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// How long a new stream may take to send its Hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// The service, feeding `pending`.
pub struct Gateway {
    pending: Arc<Mutex<Pending>>,
}

/// The gRPC service over `pending`.
pub fn server(pending: Arc<Mutex<Pending>>) -> AgentGatewayServer<Gateway> {
    AgentGatewayServer::new(Gateway { pending })
}

/// The server named by the peer's agent certificate.
fn agent_of<T>(req: &Request<T>) -> Result<String, Status> {
    let certs = req.peer_certs();
    let Some(cert) = certs.as_deref().and_then(|c| c.first()) else {
        return Err(Status::unauthenticated(
            "an agent certificate of the cluster CA is required",
        ));
    };
    match Role::of_certificate(cert) {
        Ok(Role::Agent(host)) => Ok(host),
        Ok(other) => {
            tracing::warn!(peer = %other, "refused a non-agent certificate on the agent gateway");
            Err(Status::permission_denied(format!(
                "{other} may not connect as an agent (only agent certificates)"
            )))
        }
        Err(e) => Err(Status::unauthenticated(e.to_string())),
    }
}

/// Wait for the stream's Hello and check it names `host`.
async fn hello(stream: &mut Streaming<AgentMessage>, host: &str) -> Result<proto::Hello, Status> {
    let first = tokio::time::timeout(HELLO_TIMEOUT, stream.message())
        .await
        .map_err(|_| Status::deadline_exceeded("no Hello in time"))??;
    match first.and_then(|m| m.body) {
        Some(Body::Hello(h)) if h.hostname == host => Ok(h),
        Some(Body::Hello(h)) => {
            tracing::warn!(certificate = %escaped(host), hello = %escaped(&h.hostname), "refused an agent reporting for another server");
            Err(Status::permission_denied(format!(
                "this certificate is the agent certificate of {host:?}, not of {:?}",
                h.hostname
            )))
        }
        _ => Err(Status::invalid_argument(
            "the first message must be a Hello",
        )),
    }
}

/// A reported session as the state keeps it; None without a session id.
fn session(s: proto::Session) -> Option<SessionRecord> {
    use proto::SessionStatus as S;
    let status = match s.status() {
        S::Running => 'R',
        S::Suspended => 'S',
        S::Terminated => 'T',
        S::Finished => 'F',
        S::Unspecified => '?',
    };
    if s.session_id.is_empty() {
        return None;
    }
    Some(SessionRecord {
        id: s.session_id,
        user: s.user,
        status,
        line: s.raw_line,
    })
}

fn sessions(list: Vec<proto::Session>) -> Vec<SessionRecord> {
    list.into_iter().filter_map(session).collect()
}

fn load(l: proto::LoadReport) -> LoadRecord {
    LoadRecord {
        loadavg_xx: l.loadavg_xx,
        mem_avail: l.mem_avail,
        num_cpu: l.num_cpu,
        cpu_mhz: l.cpu_mhz,
        load_factor: l.load_factor,
        measured_at: l.measured_at_unix_ms,
    }
}

/// Fold one message from `host`'s agent into `pending`.
fn fold(pending: &Mutex<Pending>, host: &str, msg: AgentMessage) {
    let mut p = pending.lock();
    match msg.body {
        Some(Body::SessionList(l)) => p.full(host, sessions(l.sessions)),
        Some(Body::SessionDelta(d)) => {
            let mut upsert = sessions(d.added);
            upsert.extend(sessions(d.changed));
            p.delta(host, upsert, d.removed);
        }
        Some(Body::LoadReport(l)) => p.load(host, load(l)),
        Some(Body::Hello(_) | Body::CommandResult(_) | Body::Heartbeat(_)) | None => p.seen(host),
    }
}

#[tonic::async_trait]
impl AgentGateway for Gateway {
    type ConnectStream = ReceiverStream<Result<BrokerCommand, Status>>;

    async fn connect(
        &self,
        req: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let host = agent_of(&req)?;
        let mut stream = req.into_inner();
        let h = hello(&mut stream, &host).await?;
        tracing::info!(server = %escaped(&host), version = %escaped(&h.version), "agent connected");
        self.pending.lock().seen(&host);
        let (commands, rx) = mpsc::channel(16);
        let pending = self.pending.clone();
        tokio::spawn(async move {
            // Holding the sender keeps the reply stream open while the agent is connected.
            let _commands = commands;
            loop {
                match stream.message().await {
                    Ok(Some(msg)) => fold(&pending, &host, msg),
                    Ok(None) => break,
                    Err(e) => {
                        tracing::info!(server = %escaped(&host), error = %e, "agent stream failed");
                        break;
                    }
                }
            }
            tracing::info!(server = %escaped(&host), "agent disconnected");
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
