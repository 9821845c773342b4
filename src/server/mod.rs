//! Start-up and shutdown of a broker node. `start` turns resolved options
//! into bound listeners (inherited from the service manager or bound here)
//! and an open ledger (the local store, or this node's Raft member), then
//! hands them to `run`, which serves every listener until the shutdown
//! future resolves and waits, within a bound, for every connection task.

pub mod accept;
mod announce;
pub mod grpc;
pub mod limits;
pub mod listen;
mod run;
pub mod signals;

pub use limits::ListenerLimits;
pub use run::{run, Listeners, TlsConfigs, SHUTDOWN_GRACE};

use crate::broker::{Ledger, Settings};
use crate::cluster;
use crate::config::node::NodeConfig;
use crate::storage::Store;
use listen::Inherited;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Why a node could not start (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Refused(String),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("binding the Unix socket {}: {source}", path.display())]
    BindUnix {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("binding UDP {addr}: {source}")]
    BindUdp {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("inherited sockets: {0}")]
    Inherited(String),
    #[error("{0}")]
    Tls(String),
    #[error("installing the {name} handler: {source}")]
    Signal {
        name: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Cluster(#[from] cluster::ClusterError),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error(transparent)]
    NodeTls(#[from] cluster::TransportError),
    #[error(transparent)]
    Config(#[from] crate::broker::LoadError),
    #[error("gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error(transparent)]
    HttpsTls(#[from] crate::api::http::tls::TlsConfigError),
    #[error("agent gateway: {0}")]
    GatewayTls(#[from] crate::gateway::tls::GatewayTlsError),
    #[error("the agent gateway's QUIC endpoint: {0}")]
    QuicEndpoint(std::io::Error),
    #[error("agent enrollment: {0}")]
    AgentCa(#[from] crate::enroll::ca::AgentCaError),
}

/// A listener's TLS server configuration.
type Tls = Arc<rustls::ServerConfig>;

/// What a node serves, resolved from the command line and the node file.
#[derive(Debug, Clone)]
pub struct Options {
    pub settings: Settings,
    /// Plain-HTTP listeners (loopback only unless `allow_insecure_http`).
    pub http: Vec<SocketAddr>,
    pub https: Vec<SocketAddr>,
    /// The public gRPC API.
    pub grpc: Option<SocketAddr>,
    /// Prometheus metrics (plain HTTP).
    pub metrics: Option<SocketAddr>,
    /// Certificate chain and key for HTTPS and the public gRPC API.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// HTTPS and the public gRPC API accept TLS 1.3 only (else 1.2 and 1.3).
    pub tls13_only: bool,
    pub allow_insecure_http: bool,
    /// This node's cluster file; None for a single node on its local store.
    pub node: Option<NodeConfig>,
    /// Connection, handshake, stream and request limits of every listener.
    pub limits: ListenerLimits,
    /// The agent gateway (gRPC on TCP and QUIC on UDP at this address,
    /// mutual TLS from the cluster CA).
    pub agents: Option<SocketAddr>,
    /// The cluster CA, this node's certificate and key, for the agent
    /// gateway (the node file's, or `--cluster-ca` etc. for a single node).
    pub agent_tls: Option<AgentTlsFiles>,
    /// The agent-signing CA: enrollment on the HTTP(S) listeners, and a
    /// second root of the agent gateway (for agent certificates only).
    pub agent_ca: Option<AgentCaFiles>,
    /// A server whose agent is silent this long is marked down.
    pub agent_timeout: std::time::Duration,
    /// SSH broker mode's Unix socket.
    pub unix_socket: Option<PathBuf>,
}

/// The agent-signing CA's certificate and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCaFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The files of the agent gateway's mutual TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentTlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Options {
    /// Refuse listener settings that would expose credentials.
    fn check(&self) -> Result<(), ServerError> {
        if !self.allow_insecure_http {
            if let Some(a) = self.http.iter().find(|a| !a.ip().is_loopback()) {
                return Err(ServerError::Refused(format!(
                    "refusing plain HTTP on non-loopback address {a}: use --https, or --allow-insecure-http"
                )));
            }
            if let Some(a) = self.grpc.filter(|a| !a.ip().is_loopback()) {
                if self.tls_cert.is_none() || self.tls_key.is_none() {
                    return Err(ServerError::Refused(format!(
                        "refusing the plain gRPC API on non-loopback address {a}: give --tls-cert and --tls-key"
                    )));
                }
            }
        }
        if !self.https.is_empty() && (self.tls_cert.is_none() || self.tls_key.is_none()) {
            return Err(ServerError::Refused(
                "--https needs --tls-cert and --tls-key".into(),
            ));
        }
        Ok(())
    }

    /// The TLS configurations of the frontends: HTTPS, the public gRPC API.
    fn tls(&self) -> Result<(Option<Tls>, Option<Tls>), ServerError> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok((None, None));
        };
        use crate::api::http::tls::{server_config, Alpn};
        let https = if self.https.is_empty() {
            None
        } else {
            Some(server_config(cert, key, self.tls13_only, Alpn::Http1)?)
        };
        let grpc = match self.grpc {
            Some(_) => Some(server_config(cert, key, self.tls13_only, Alpn::H2)?),
            None => None,
        };
        Ok((https, grpc))
    }
}

/// Bind, open the ledger, and serve until SIGTERM or SIGINT.
pub async fn start(opts: Options, mut inherited: Inherited) -> Result<(), ServerError> {
    opts.check()?;
    let (https_tls, grpc_tls) = opts.tls()?;
    let agent_ca = match (&opts.agent_ca, &opts.agent_tls) {
        (None, _) => None,
        (Some(a), Some(t)) => Some(crate::enroll::ca::AgentCa::load(&a.cert, &a.key, &t.ca)?),
        (Some(_), None) => {
            return Err(ServerError::Refused(
                "agent enrollment (agent_ca) needs the cluster CA the agents must trust: cluster_ca in the node file, or --cluster-ca, --node-cert and --node-key for a single node".into(),
            ))
        }
    };
    let agents_tls = match (&opts.agents, &opts.agent_tls) {
        (None, _) => None,
        (Some(_), Some(f)) => Some(crate::gateway::tls::server_config(
            &f.ca,
            &f.cert,
            &f.key,
            opts.agent_ca.as_ref().map(|a| a.cert.as_path()),
        )?),
        (Some(a), None) => {
            return Err(ServerError::Refused(format!(
                "the agent gateway on {a} needs mutual TLS: give --cluster-ca, --node-cert and --node-key (or a cluster file with them)"
            )))
        }
    };
    let agents = opts.agents.map(|a| inherited.tcp(a)).transpose()?;
    // QUIC on the UDP port of the same address (the TCP listener's own, so
    // that port 0 means the port TCP got).
    let agents_udp = match (opts.agents, &agents) {
        (Some(wanted), Some(l)) => {
            let addr = l.local_addr().map_err(|source| ServerError::Bind {
                addr: wanted,
                source,
            })?;
            Some(inherited.udp(addr)?)
        }
        _ => None,
    };
    let listeners = Listeners {
        http: bind_all(&mut inherited, &opts.http)?,
        https: bind_all(&mut inherited, &opts.https)?,
        grpc: opts.grpc.map(|a| inherited.tcp(a)).transpose()?,
        metrics: opts.metrics.map(|a| inherited.tcp(a)).transpose()?,
        raft: opts
            .node
            .as_ref()
            .map(|n| inherited.tcp(n.raft))
            .transpose()?,
        agents,
        agents_udp,
        unix: opts
            .unix_socket
            .as_deref()
            .map(|path| {
                crate::sshmode::node::bind(path).map_err(|source| ServerError::BindUnix {
                    path: path.to_path_buf(),
                    source,
                })
            })
            .transpose()?,
    };
    inherited.close_unclaimed();
    // Cookies, the Raft log and snapshots: nobody else's to read.
    crate::storage::private::restrict_new_files();
    let (ledger, raft_tls) = open_ledger(&opts).await?;
    let tls = TlsConfigs {
        https: https_tls,
        grpc: grpc_tls,
        raft: raft_tls,
        agents: agents_tls,
        agent_ca,
    };
    run(
        opts.settings,
        ledger,
        listeners,
        tls,
        opts.limits,
        opts.agent_timeout,
        signals::shutdown()?,
    )
    .await
}

fn bind_all(
    inherited: &mut Inherited,
    addrs: &[SocketAddr],
) -> Result<Vec<tokio::net::TcpListener>, ServerError> {
    addrs.iter().map(|a| inherited.tcp(*a)).collect()
}

/// The local store, or this node's Raft member (with its node-to-node TLS).
async fn open_ledger(
    opts: &Options,
) -> Result<(Ledger, Option<tonic::transport::ServerTlsConfig>), ServerError> {
    let Some(node_cfg) = &opts.node else {
        let store = Store::open(&opts.settings.data_dir)?;
        return Ok((Ledger::Local(store), None));
    };
    let members = node_cfg
        .members
        .iter()
        .map(|m| {
            let member = cluster::Member {
                raft: m.raft.to_string(),
                http: m.http.clone(),
            };
            (m.id, member)
        })
        .collect();
    let (Some(ca), Some(cert), Some(key)) = (
        &node_cfg.cluster_ca,
        &node_cfg.node_cert,
        &node_cfg.node_key,
    ) else {
        return Err(ServerError::Refused(
            "node-to-node traffic needs mutual TLS: set cluster_ca, node_cert and node_key (see `x2gobroker keygen`)".into(),
        ));
    };
    let tls = cluster::tls::NodeTls::load(node_cfg.id, ca, cert, key)?;
    let server_tls = Some(tls.server.clone());
    let tuning = cluster::Tuning::from(&node_cfg.timing);
    let node =
        cluster::Node::start(node_cfg.id, members, &opts.settings.data_dir, tuning, tls).await?;
    tracing::info!(id = node_cfg.id, raft = %node_cfg.raft, "cluster member started");
    Ok((Ledger::Cluster(node), server_tls))
}
