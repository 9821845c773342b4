//! `x2gobrokerctl`: the cluster administration client. It talks to a node's
//! `Admin` gRPC service (mutual TLS with a certificate from the cluster CA)
//! and follows the answer to the leader for membership changes.

use crate::cluster::admin::{AddNode, AdminError, AdminResult};
use crate::cluster::network::{decode, encode};
use crate::cluster::proto::admin_client::AdminClient;
use crate::cluster::proto::Payload;
use crate::cluster::{Member, Status};
use crate::keygen::NODE_NAME;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// The admin calls that change something.
#[derive(Debug, Clone, Copy)]
enum Op {
    AddNode,
    RemoveNode,
    Reload,
    Snapshot,
}

#[derive(Parser, Debug)]
#[command(
    name = "x2gobrokerctl",
    version,
    about = "Administer an x2gobroker cluster"
)]
pub struct Ctl {
    /// A node's node-to-node address (its `raft` setting).
    #[arg(long, default_value = "127.0.0.1:19081")]
    pub node: String,
    /// The cluster CA (with --cert and --key: mutual TLS; without: plain, loopback clusters only).
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// A certificate signed by the cluster CA (`x2gobroker keygen --clients admin`).
    #[arg(long)]
    pub cert: Option<PathBuf>,
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Print JSON for scripts.
    #[arg(long)]
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
        /// Its node-to-node address.
        #[arg(long)]
        raft: String,
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
}

impl Ctl {
    fn tls(&self) -> Result<Option<ClientTlsConfig>, String> {
        match (&self.ca, &self.cert, &self.key) {
            (None, None, None) => Ok(None),
            (Some(ca), Some(cert), Some(key)) => {
                let read =
                    |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
                Ok(Some(
                    ClientTlsConfig::new()
                        .ca_certificate(Certificate::from_pem(read(ca)?))
                        .identity(Identity::from_pem(read(cert)?, read(key)?))
                        .domain_name(NODE_NAME),
                ))
            }
            _ => Err("--ca, --cert and --key go together".into()),
        }
    }

    async fn connect(&self, addr: &str) -> Result<AdminClient<Channel>, String> {
        let tls = self.tls()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut ep = Endpoint::from_shared(format!("{scheme}://{addr}"))
            .map_err(|e| format!("{addr}: {e}"))?;
        if let Some(tls) = tls {
            ep = ep.tls_config(tls).map_err(|e| e.to_string())?;
        }
        let channel = ep
            .connect_timeout(std::time::Duration::from_secs(3))
            .connect()
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        Ok(AdminClient::new(channel))
    }

    async fn status_of(&self, addr: &str) -> Result<Status, String> {
        let reply = self
            .connect(addr)
            .await?
            .status(Payload::default())
            .await
            .map_err(|s| s.message().to_string())?;
        decode(reply.get_ref()).map_err(|e| e.to_string())
    }

    /// One admin call on the node at `addr`: transport errors outside, the node's answer inside.
    async fn call(&self, addr: &str, op: Op, payload: Payload) -> Result<AdminResult<()>, String> {
        let mut c = self.connect(addr).await?;
        let reply = match op {
            Op::AddNode => c.add_node(payload).await,
            Op::RemoveNode => c.remove_node(payload).await,
            Op::Reload => c.reload(payload).await,
            Op::Snapshot => c.snapshot(payload).await,
        }
        .map_err(|s| s.message().to_string())?;
        decode(reply.get_ref()).map_err(|e| e.to_string())
    }

    /// Run a leader-only request, following the redirect to the leader.
    async fn on_leader(&self, op: Op, payload: Payload) -> Result<(), String> {
        let mut addr = self.node.clone();
        for _ in 0..3 {
            match self.call(&addr, op, payload.clone()).await? {
                Ok(()) => return Ok(()),
                Err(AdminError {
                    leader: Some((_, leader)),
                    ..
                }) if leader != addr => addr = leader,
                Err(e) => return Err(e.message),
            }
        }
        Err("the leader moved while asking".into())
    }

    /// Run the command; the text to print.
    pub async fn run(&self) -> Result<String, String> {
        match &self.command {
            CtlCommand::Status => {
                let first = self.status_of(&self.node).await?;
                let mut rows = Vec::new();
                for (id, addr) in &first.members {
                    rows.push(match self.status_of(addr).await {
                        Ok(s) => serde_json::to_value(&s).map_err(|e| e.to_string())?,
                        Err(e) => serde_json::json!({ "id": id, "error": e, "address": addr }),
                    });
                }
                if self.json {
                    return serde_json::to_string_pretty(&rows).map_err(|e| e.to_string());
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
                        raft: raft.clone(),
                        http: http.clone(),
                    },
                };
                self.on_leader(Op::AddNode, encode(&add).map_err(|e| e.to_string())?)
                    .await?;
                Ok(self.done(&format!("node {id} added")))
            }
            CtlCommand::RemoveNode { id } => {
                self.on_leader(Op::RemoveNode, encode(id).map_err(|e| e.to_string())?)
                    .await?;
                Ok(self.done(&format!("node {id} removed")))
            }
            CtlCommand::Reload => {
                self.call(&self.node, Op::Reload, Payload::default())
                    .await?
                    .map_err(|e| e.message)?;
                Ok(self.done("configuration proposed"))
            }
            CtlCommand::Snapshot => {
                self.call(&self.node, Op::Snapshot, Payload::default())
                    .await?
                    .map_err(|e| e.message)?;
                Ok(self.done("snapshot started"))
            }
        }
    }

    fn done(&self, what: &str) -> String {
        if self.json {
            serde_json::json!({ "ok": true, "message": what }).to_string()
        } else {
            format!("{what}\n")
        }
    }
}
