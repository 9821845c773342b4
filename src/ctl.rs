//! `x2gobrokerctl`: the cluster administration client. It talks to a node's
//! `Admin` gRPC service, always over mutual TLS with an admin certificate of
//! the cluster CA (`x2gobroker keygen --clients admin`; node certificates
//! are refused by the nodes), and follows the answer to the leader for
//! membership changes.

mod ttl;

use crate::cluster::admin::{
    AddNode, AdminError, AdminResult, Drain, ServerRow, SessionRow, SessionsQuery,
};
use crate::cluster::agent_admin::{AgentTokenGranted, AgentTokenRequest, RevokeAgent};
use crate::cluster::network::{decode, encode};
use crate::cluster::proto::admin_client::AdminClient;
use crate::cluster::proto::Payload;
use crate::cluster::{Member, Status, TransportError};
use crate::keygen::NODE_NAME;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// The admin calls that change something.
#[derive(Debug, Clone, Copy)]
enum Op {
    AddNode,
    RemoveNode,
    Reload,
    Snapshot,
    Drain,
    RevokeAgent,
}

/// Global options may stand before or after the subcommand.
#[derive(Parser, Debug)]
#[command(
    name = "x2gobrokerctl",
    version,
    about = "Administer an x2gobroker cluster"
)]
pub struct Ctl {
    /// A node's node-to-node address (its `raft` setting).
    #[arg(long, global = true, default_value = "127.0.0.1:19081")]
    pub node: String,
    /// The directory `x2gobroker keygen` wrote: its ca.pem, admin.pem and
    /// admin-key.pem stand in for --ca, --cert and --key not given.
    #[arg(long, global = true, value_name = "DIR")]
    pub pki: Option<PathBuf>,
    /// The cluster CA.
    #[arg(long, global = true)]
    pub ca: Option<PathBuf>,
    /// An admin certificate signed by the cluster CA (`x2gobroker keygen --clients admin`).
    #[arg(long, global = true)]
    pub cert: Option<PathBuf>,
    /// The key of --cert.
    #[arg(long, global = true)]
    pub key: Option<PathBuf>,
    /// Print JSON for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Subcommand, Debug)]
pub enum CtlCommand {
    /// Each member: id, role, term, leader, last log and applied index.
    Status,
    /// Add a node (learner first, voter once caught up).
    AddNode {
        id: u64,
        /// Its node-to-node address (IP:port, as its `raft` setting).
        #[arg(long)]
        raft: SocketAddr,
        /// Its HTTP(S) frontend.
        #[arg(long)]
        http: String,
    },
    /// Remove a node from the voters.
    RemoveNode { id: u64 },
    /// Build a snapshot on the node now.
    Snapshot,
    /// Have the node read its configuration files and propose them to the cluster.
    Reload,
    /// The X2Go servers the agents report: state, load factor, sessions, the node they report through, the last report.
    Servers,
    /// The sessions the agents report: server, session id, user, status, display, client, start and last use.
    Sessions {
        /// Only this user's sessions.
        #[arg(long)]
        user: Option<String>,
    },
    /// Give a server no new sessions (its users' existing sessions still resume).
    Drain {
        /// The server's host name, as its agent reports it.
        hostname: String,
    },
    /// Give a drained server new sessions again.
    Undrain { hostname: String },
    /// Print a single-use join token for `x2gobroker-agent enroll` (any node redeems it).
    AgentToken {
        /// How long it is valid (s, m, h, d; at most 30d).
        #[arg(long, default_value = "1h", value_parser = ttl::parse)]
        ttl: std::time::Duration,
        /// Only this server may enroll with it.
        #[arg(long)]
        hostname: Option<String>,
    },
    /// Refuse a server's agent certificates on every node (its connections
    /// close within 2 s); a later enrollment gives it one that works.
    RevokeAgent {
        /// The server's host name, as its agent certificate names it.
        hostname: String,
    },
}

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error("x2gobrokerctl talks to the nodes over mutual TLS only: give --pki DIR (from `x2gobroker keygen --clients admin`), or --ca, --cert and --key")]
    NoTls,
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{addr}: {source}")]
    Endpoint {
        addr: String,
        source: tonic::transport::Error,
    },
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        source: tonic::transport::Error,
    },
    /// The node refused the call at the gRPC level (e.g. a certificate it does not accept).
    #[error("{}", .0.message())]
    Rpc(#[from] tonic::Status),
    #[error(transparent)]
    Payload(#[from] TransportError),
    #[error("printing JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The node's own answer: why it did not do what was asked.
    #[error("{0}")]
    Refused(String),
    #[error("the leader moved while asking")]
    LeaderMoved,
}

impl Ctl {
    /// `--ca`, `--cert` and `--key`, each defaulting to its file in `--pki`.
    fn tls_files(&self) -> Result<[PathBuf; 3], CtlError> {
        let pick = |given: &Option<PathBuf>, file: &str| {
            given
                .clone()
                .or_else(|| self.pki.as_deref().map(|d: &Path| d.join(file)))
        };
        match (
            pick(&self.ca, "ca.pem"),
            pick(&self.cert, "admin.pem"),
            pick(&self.key, "admin-key.pem"),
        ) {
            (Some(ca), Some(cert), Some(key)) => Ok([ca, cert, key]),
            _ => Err(CtlError::NoTls),
        }
    }

    fn tls(&self) -> Result<ClientTlsConfig, CtlError> {
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|source| CtlError::Read {
                path: p.clone(),
                source,
            })
        };
        let [ca, cert, key] = self.tls_files()?;
        Ok(ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&ca)?))
            .identity(Identity::from_pem(read(&cert)?, read(&key)?))
            .domain_name(NODE_NAME))
    }

    async fn connect(&self, addr: &str) -> Result<AdminClient<Channel>, CtlError> {
        let tls = self.tls()?;
        let endpoint = |source| CtlError::Endpoint {
            addr: addr.to_string(),
            source,
        };
        let channel = Endpoint::from_shared(format!("https://{addr}"))
            .map_err(endpoint)?
            .tls_config(tls)
            .map_err(endpoint)?
            .connect_timeout(std::time::Duration::from_secs(3))
            .connect()
            .await
            .map_err(|source| CtlError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        Ok(AdminClient::new(channel))
    }

    async fn status_of(&self, addr: &str) -> Result<Status, CtlError> {
        let reply = self.connect(addr).await?.status(Payload::default()).await?;
        Ok(decode(reply.get_ref())?)
    }

    /// One admin call on the node at `addr`: transport errors outside, the node's answer inside.
    async fn call(
        &self,
        addr: &str,
        op: Op,
        payload: Payload,
    ) -> Result<AdminResult<()>, CtlError> {
        let mut c = self.connect(addr).await?;
        let reply = match op {
            Op::AddNode => c.add_node(payload).await,
            Op::RemoveNode => c.remove_node(payload).await,
            Op::Reload => c.reload(payload).await,
            Op::Snapshot => c.snapshot(payload).await,
            Op::Drain => c.drain(payload).await,
            Op::RevokeAgent => c.revoke_agent(payload).await,
        }?;
        Ok(decode(reply.get_ref())?)
    }

    /// Run a leader-only request, following the redirect to the leader.
    async fn on_leader(&self, op: Op, payload: Payload) -> Result<(), CtlError> {
        let mut addr = self.node.clone();
        for _ in 0..3 {
            match self.call(&addr, op, payload.clone()).await? {
                Ok(()) => return Ok(()),
                Err(AdminError {
                    leader: Some((_, leader)),
                    ..
                }) if leader != addr => addr = leader,
                Err(e) => return Err(CtlError::Refused(e.message)),
            }
        }
        Err(CtlError::LeaderMoved)
    }

    /// Run the command; the text to print.
    pub async fn run(&self) -> Result<String, CtlError> {
        match &self.command {
            CtlCommand::Status => {
                let first = self.status_of(&self.node).await?;
                let mut rows = Vec::new();
                for (id, addr) in &first.members {
                    rows.push(match self.status_of(addr).await {
                        Ok(s) => serde_json::to_value(&s)?,
                        Err(e) => {
                            serde_json::json!({ "id": id, "error": e.to_string(), "address": addr })
                        }
                    });
                }
                if self.json {
                    return Ok(serde_json::to_string_pretty(&rows)?);
                }
                let mut out = format!(
                    "{:<4} {:<10} {:>6} {:>7} {:>9} {:>9}  {}\n",
                    "ID", "ROLE", "TERM", "LEADER", "LAST LOG", "APPLIED", "ADDRESS"
                );
                for (row, (_, addr)) in rows.iter().zip(&first.members) {
                    let f = |k: &str| {
                        row.get(k)
                            .map(|v| v.to_string().trim_matches('"').to_string())
                            .unwrap_or_default()
                    };
                    if row.get("error").is_some() {
                        out.push_str(&format!(
                            "{:<4} {:<10} {}  ({})\n",
                            f("id"),
                            "DOWN",
                            addr,
                            f("error")
                        ));
                    } else {
                        out.push_str(&format!(
                            "{:<4} {:<10} {:>6} {:>7} {:>9} {:>9}  {}\n",
                            f("id"),
                            f("role"),
                            f("term"),
                            f("leader"),
                            f("last_log_index"),
                            f("applied_index"),
                            addr
                        ));
                    }
                }
                Ok(out)
            }
            CtlCommand::AddNode { id, raft, http } => {
                let add = AddNode {
                    id: *id,
                    member: Member {
                        raft: raft.to_string(),
                        http: http.clone(),
                    },
                };
                self.on_leader(Op::AddNode, encode(&add)?).await?;
                Ok(self.done(&format!("node {id} added")))
            }
            CtlCommand::RemoveNode { id } => {
                self.on_leader(Op::RemoveNode, encode(id)?).await?;
                Ok(self.done(&format!("node {id} removed")))
            }
            CtlCommand::Reload => {
                self.call(&self.node, Op::Reload, Payload::default())
                    .await?
                    .map_err(|e| CtlError::Refused(e.message))?;
                Ok(self.done("configuration proposed"))
            }
            CtlCommand::Snapshot => {
                self.call(&self.node, Op::Snapshot, Payload::default())
                    .await?
                    .map_err(|e| CtlError::Refused(e.message))?;
                Ok(self.done("snapshot started"))
            }
            CtlCommand::AgentToken { ttl, hostname } => {
                self.agent_token(ttl.as_millis() as u64, hostname.clone())
                    .await
            }
            CtlCommand::RevokeAgent { hostname } => {
                let revoke = RevokeAgent {
                    hostname: hostname.clone(),
                };
                self.call(&self.node, Op::RevokeAgent, encode(&revoke)?)
                    .await?
                    .map_err(|e| CtlError::Refused(e.message))?;
                Ok(self.done(&format!(
                    "agent certificates of {hostname} revoked (enroll it again to give it a new one)"
                )))
            }
            CtlCommand::Servers => self.servers().await,
            CtlCommand::Sessions { user } => self.sessions(user.clone()).await,
            CtlCommand::Drain { hostname } | CtlCommand::Undrain { hostname } => {
                let drained = matches!(self.command, CtlCommand::Drain { .. });
                let drain = Drain {
                    hostname: hostname.clone(),
                    drained,
                };
                self.call(&self.node, Op::Drain, encode(&drain)?)
                    .await?
                    .map_err(|e| CtlError::Refused(e.message))?;
                let what = if drained { "drained" } else { "undrained" };
                Ok(self.done(&format!("server {hostname} {what}")))
            }
        }
    }

    /// `agent-token`: the token alone on a line (JSON with its expiry for --json).
    async fn agent_token(&self, ttl_ms: u64, hostname: Option<String>) -> Result<String, CtlError> {
        let ask = AgentTokenRequest { ttl_ms, hostname };
        let reply = self
            .connect(&self.node)
            .await?
            .agent_token(encode(&ask)?)
            .await?;
        let granted: AgentTokenGranted = decode::<AdminResult<AgentTokenGranted>>(reply.get_ref())?
            .map_err(|e| CtlError::Refused(e.message))?;
        if self.json {
            return Ok(serde_json::to_string_pretty(&granted)?);
        }
        Ok(format!("{}\n", granted.token))
    }

    /// `servers`: a table, or JSON rows.
    async fn servers(&self) -> Result<String, CtlError> {
        let reply = self
            .connect(&self.node)
            .await?
            .servers(Payload::default())
            .await?;
        let rows: Vec<ServerRow> = decode::<AdminResult<Vec<ServerRow>>>(reply.get_ref())?
            .map_err(|e| CtlError::Refused(e.message))?;
        if self.json {
            return Ok(serde_json::to_string_pretty(&rows)?);
        }
        let mut out = format!(
            "{:<24} {:<8} {:>12} {:>8} {:>5}  {}\n",
            "HOSTNAME", "STATE", "LOAD FACTOR", "SESSIONS", "NODE", "LAST REPORT (ms)"
        );
        for r in rows {
            let state = match (r.up, r.drained) {
                (false, _) => "down",
                (true, true) => "drained",
                (true, false) => "up",
            };
            let load = r
                .load_factor
                .map(|l| l.to_string())
                .unwrap_or_else(|| "-".into());
            out.push_str(&format!(
                "{:<24} {:<8} {:>12} {:>8} {:>5}  {}\n",
                r.hostname, state, load, r.sessions, r.node, r.last_report_ms
            ));
        }
        Ok(out)
    }

    /// `sessions`: a table, or JSON rows.
    async fn sessions(&self, user: Option<String>) -> Result<String, CtlError> {
        let reply = self
            .connect(&self.node)
            .await?
            .sessions(encode(&SessionsQuery { user })?)
            .await?;
        let rows: Vec<SessionRow> = decode::<AdminResult<Vec<SessionRow>>>(reply.get_ref())?
            .map_err(|e| CtlError::Refused(e.message))?;
        if self.json {
            return Ok(serde_json::to_string_pretty(&rows)?);
        }
        let mut out = format!(
            "{:<20} {:<44} {:<16} {:<6} {:>7} {:<15} {:<19} {}\n",
            "SERVER", "SESSION", "USER", "STATUS", "DISPLAY", "CLIENT", "STARTED", "LAST USED"
        );
        for r in rows {
            out.push_str(&format!(
                "{:<20} {:<44} {:<16} {:<6} {:>7} {:<15} {:<19} {}\n",
                r.server,
                r.session_id,
                r.user,
                r.status,
                r.display,
                r.client,
                r.started,
                r.last_used
            ));
        }
        Ok(out)
    }

    fn done(&self, what: &str) -> String {
        if self.json {
            serde_json::json!({ "ok": true, "message": what }).to_string()
        } else {
            format!("{what}\n")
        }
    }
}

#[cfg(test)]
mod tests;
