//! One agent connection, whatever its transport (gRPC or QUIC): who may
//! connect (an agent certificate of the cluster CA or the agent CA, not
//! revoked), the Hello that must come first and name the certificate's
//! server, and what every later
//! message does (sessions and load fold into the pending reports, command
//! results go to their waiting command, anything counts as a sign of life).

use super::coalesce::Pending;
use super::links::{Attached, Links};
use super::proto::{self, agent_message::Body, AgentMessage};
use super::trust::Trust;
use crate::cluster::identity::Role;
use crate::logsafe::escaped;
use crate::state::{LoadRecord, SessionRecord};
use parking_lot::Mutex;
use rustls::pki_types::CertificateDer;
use std::sync::Arc;
use std::time::Duration;

/// How long a new stream may take to send its Hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection is refused before its first report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("an agent certificate of the cluster CA is required")]
    NoCertificate,
    #[error("{0}")]
    BadCertificate(String),
    #[error("{0} may not connect as an agent (only agent certificates)")]
    NotAnAgent(String),
    #[error("no Hello in time")]
    HelloTimeout,
    #[error("the first message must be a Hello")]
    NoHello,
    #[error("this certificate is the agent certificate of {certificate:?}, not of {hello:?}")]
    OtherServer { certificate: String, hello: String },
    #[error("the agent certificate of {0:?} is revoked (enroll the server again)")]
    Revoked(String),
}

/// Who connected: the server the certificate names, and its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCert {
    pub host: String,
    /// SHA-256 of the certificate's DER, hex.
    pub fingerprint: String,
}

/// The server named by the peer's (first) certificate.
pub fn agent_of(cert: Option<&CertificateDer<'_>>) -> Result<AgentCert, Refusal> {
    let cert = cert.ok_or(Refusal::NoCertificate)?;
    match Role::of_certificate(cert) {
        Ok(Role::Agent(host)) => Ok(AgentCert {
            host,
            fingerprint: crate::enroll::fingerprint(cert),
        }),
        Ok(other) => {
            tracing::warn!(peer = %other, "refused a non-agent certificate on the agent gateway");
            Err(Refusal::NotAnAgent(other.to_string()))
        }
        Err(e) => Err(Refusal::BadCertificate(e.to_string())),
    }
}

/// Check that a stream's first message is a Hello naming `host`.
pub fn check_hello(first: Option<AgentMessage>, host: &str) -> Result<proto::Hello, Refusal> {
    match first.and_then(|m| m.body) {
        Some(Body::Hello(h)) if h.hostname == host => Ok(h),
        Some(Body::Hello(h)) => {
            tracing::warn!(certificate = %escaped(host), hello = %escaped(&h.hostname), "refused an agent reporting for another server");
            Err(Refusal::OtherServer {
                certificate: host.to_string(),
                hello: h.hostname,
            })
        }
        _ => Err(Refusal::NoHello),
    }
}

/// The gateway of this node: the pending reports, the connected agents
/// and the revoked certificates.
#[derive(Clone, Default)]
pub struct Agents {
    pub pending: Arc<Mutex<Pending>>,
    pub links: Arc<Links>,
    pub trust: Arc<Trust>,
}

impl Agents {
    /// The agent the peer's certificate names, unless it may not connect.
    pub async fn admit(&self, cert: Option<&CertificateDer<'_>>) -> Result<AgentCert, Refusal> {
        let agent = agent_of(cert)?;
        if self
            .trust
            .refuses_now(&agent.host, &agent.fingerprint)
            .await
        {
            tracing::warn!(server = %escaped(&agent.host), fingerprint = %agent.fingerprint, "refused a revoked agent certificate");
            return Err(Refusal::Revoked(agent.host));
        }
        Ok(agent)
    }

    /// `agent` said Hello: commands for its server go to this connection.
    pub fn connected(
        &self,
        agent: &AgentCert,
        hello: &proto::Hello,
        transport: &'static str,
    ) -> Attached {
        let host = &agent.host;
        tracing::info!(server = %escaped(host), version = %escaped(&hello.version), transport, "agent connected");
        self.pending.lock().seen(host);
        self.links.attach(host, transport, &agent.fingerprint)
    }

    /// One message from `host`'s agent.
    pub fn receive(&self, host: &str, msg: AgentMessage) {
        if let Some(Body::CommandResult(r)) = msg.body {
            self.pending.lock().seen(host);
            self.links.result(host, r);
            return;
        }
        fold(&self.pending, host, msg);
    }

    /// Connection `conn` of `host` ended.
    pub fn disconnected(&self, host: &str, conn: u64, why: Option<&str>) {
        self.links.detach(host, conn);
        match why {
            Some(why) => {
                tracing::info!(server = %escaped(host), error = %why, "agent stream failed")
            }
            None => tracing::info!(server = %escaped(host), "agent disconnected"),
        }
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
        Some(Body::SessionList(l)) => {
            p.stamp(host, l.listed_at_unix_ms);
            p.full(host, sessions(l.sessions))
        }
        Some(Body::SessionDelta(d)) => {
            p.stamp(host, d.listed_at_unix_ms);
            let mut upsert = sessions(d.added);
            upsert.extend(sessions(d.changed));
            p.delta(host, upsert, d.removed);
        }
        Some(Body::LoadReport(l)) => {
            p.stamp(host, l.measured_at_unix_ms);
            p.load(host, load(l))
        }
        Some(Body::Hello(_) | Body::CommandResult(_) | Body::Heartbeat(_)) | None => p.seen(host),
    }
}
