//! The `x2gobroker` command line: `serve` runs a broker node, `check-config`
//! validates the two configuration files, `keygen` makes certificates. This
//! module parses and resolves arguments; `server` starts the node.

use crate::auth::ratelimit::Limit;
use crate::broker::{self, Settings};
use crate::config::node::NodeConfig;
use crate::server::{self, listen::Inherited, ListenerLimits};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "x2gobroker",
    version,
    about = "X2Go session broker (drop-in successor of the Python x2gobroker)",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// None: SSH broker mode (`--task`).
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub task: crate::sshmode::client::TaskArgs,
    /// Log lines as text or as one JSON object each (for log shippers).
    #[arg(long, global = true, value_enum, default_value_t)]
    pub log_format: crate::logging::LogFormat,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a broker node: HTTP(S) frontends over the durable state in --data-dir.
    Serve(Box<ServeArgs>),
    /// Read both configuration files, report the first error (file, line, key) and exit.
    CheckConfig(ConfigArgs),
    /// Create the cluster CA (once) and certificates for nodes, admins and agents (mutual TLS), the agent-signing CA (--agent-ca), or the broker's SSH key pair (--ssh).
    Keygen(KeygenArgs),
    /// Write the manual pages (man8/) and shell completions (completions/) of all three binaries.
    #[command(hide = true)]
    Docs {
        /// The directory to write into.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Args, Debug, Clone)]
pub struct KeygenArgs {
    /// Directory for ca.pem, ca-key.pem, node<ID>.pem, node<ID>-key.pem (the CA is reused when present).
    #[arg(long, required_unless_present = "ssh")]
    pub out: Option<PathBuf>,
    /// Node ids to create certificates for, e.g. --nodes 1,2,3.
    #[arg(long, value_delimiter = ',', requires = "out")]
    pub nodes: Vec<u64>,
    /// Agent certificates to create, one per X2Go server by its host name
    /// (as in its /etc/hostname), e.g. --agents x2go1,x2go2: agent-x2go1.pem, agent-x2go1-key.pem.
    #[arg(long, value_delimiter = ',', requires = "out")]
    pub agents: Vec<String>,
    /// Client certificates to create (for x2gobrokerctl), e.g. --clients admin.
    #[arg(long, value_delimiter = ',', requires = "out")]
    pub clients: Vec<String>,
    /// Also create the agent-signing CA (agent-ca.pem, agent-ca-key.pem; reused when present) for enrollment: give it to the brokers as agent_ca/agent_ca_key; the cluster CA's key stays here.
    #[arg(long, requires = "out")]
    pub agent_ca: bool,
    /// Make the broker's SSH key pair as x2gobroker-keygen does (RSA 2048: ~x2gobroker/.ssh/id_rsa and id_rsa.pub, served on /pubkeys/).
    #[arg(long)]
    pub ssh: bool,
    /// With --ssh: replace an existing key pair.
    #[arg(long, requires = "ssh")]
    pub force: bool,
    /// With --ssh: the home directory to use instead of the broker user's (as root, ~x2gobroker).
    #[arg(long, value_name = "DIR", requires = "ssh")]
    pub home: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct ConfigArgs {
    /// The reference's global configuration file, read unchanged [default: /etc/x2go/x2gobroker.conf].
    #[arg(long, env = "X2GOBROKER_CONFIG")]
    pub x2gobroker_conf: Option<PathBuf>,
    /// The session profiles file [default: $X2GOBROKER_SESSIONPROFILES, else [broker_inifile] session-profiles].
    #[arg(long)]
    pub session_profiles: Option<PathBuf>,
}

/// `serve`. Where a setting comes both from a flag (or its environment
/// variable) and from the node file of `--config`, the flag wins.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Run as a member of a broker cluster described by this node TOML file
    /// (see cluster-config/local-3/). Flags given here take precedence over
    /// the file's settings of the same name.
    #[arg(long, value_name = "TOML")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub files: ConfigArgs,
    /// Directory of the node's durable state (created if missing) [default: ./data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Plain-HTTP listener; loopback addresses only unless --allow-insecure-http [default: 127.0.0.1:8080 when no listener is given].
    #[arg(long, value_name = "ADDR")]
    pub http: Vec<SocketAddr>,
    /// HTTPS listener (needs --tls-cert and --tls-key).
    #[arg(long, value_name = "ADDR")]
    pub https: Vec<SocketAddr>,
    /// Public gRPC API listener (TLS with --tls-cert/--tls-key; plain only on loopback).
    #[arg(long, value_name = "ADDR")]
    pub grpc: Option<SocketAddr>,
    /// Prometheus metrics listener (plain HTTP, `GET /metrics`; keep it on a private address).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// PEM certificate chain for --https and --grpc.
    #[arg(long, value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --https and --grpc.
    #[arg(long, value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// HTTPS and the public gRPC API accept TLS 1.3 only (by default TLS 1.2 and 1.3, AEAD cipher suites only).
    #[arg(long)]
    pub tls13_only: bool,
    /// Accepted for old command lines: TLS 1.2 is allowed by default now.
    #[arg(long, hide = true)]
    pub allow_tls12: bool,
    /// Permit plain HTTP on non-loopback addresses (passwords travel in clear text).
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// Honour GET (query-string credentials) on /plain/ and /json/, as the packaged reference does.
    #[arg(long)]
    pub allow_get: bool,
    /// Seconds a placement counts for its host and brings the same user back to it.
    #[arg(long, default_value_t = 3600)]
    pub placement_window: u64,
    /// Seconds a server port probe result is reused.
    #[arg(long, default_value_t = 5)]
    pub probe_cache: u64,
    /// PAM service used by the `pam` mechanism.
    #[arg(long, default_value = "x2gobroker")]
    pub pam_service: String,
    /// Failed logins per user name within --failed-login-window before further attempts are refused.
    #[arg(long, default_value_t = 5)]
    pub max_failed_logins_per_user: usize,
    /// Failed logins per client address within --failed-login-window before further attempts are refused.
    #[arg(long, default_value_t = 20)]
    pub max_failed_logins_per_client: usize,
    /// Seconds over which failed logins are counted.
    #[arg(long, default_value_t = 300)]
    pub failed_login_window: u64,
    /// Home of the broker's SSH key pair served on /pubkeys/ [default: home of $X2GOBROKER_DAEMON_USER, else of user x2gobroker].
    #[arg(long)]
    pub broker_home: Option<PathBuf>,
    /// Seconds a session autologin key stays in the user's authorized keys on the server (the agent removes it).
    #[arg(long, default_value_t = 20)]
    pub autologin_key_ttl: u64,
    /// Seconds one call of the reference's agent over SSH (agent query mode SSH) may take, connection included.
    #[arg(long, default_value_t = 5)]
    pub ssh_agent_timeout: u64,
    /// Seconds a server whose agent did not answer over SSH is skipped before it is tried again (0: always try).
    #[arg(long, default_value_t = 60)]
    pub ssh_agent_retry: u64,
    /// Open connections per listener (HTTP, HTTPS, gRPC, node-to-node); further clients wait.
    #[arg(long, default_value_t = ListenerLimits::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Open connections on the agent gateway, over TCP and over QUIC each (one per X2Go server); further TCP agents wait, further QUIC agents are refused. Needs as many file descriptors (LimitNOFILE).
    #[arg(long, default_value_t = ListenerLimits::DEFAULT_MAX_AGENT_CONNECTIONS)]
    pub max_agent_connections: usize,
    /// Seconds for a TLS handshake (and for a plain gRPC client's first bytes) before the connection is closed.
    #[arg(long, default_value_t = ListenerLimits::DEFAULT_HANDSHAKE_TIMEOUT_SECS)]
    pub handshake_timeout: u64,
    /// Concurrent requests (HTTP/2 streams) per connection on the public gRPC API.
    #[arg(long, default_value_t = ListenerLimits::DEFAULT_GRPC_MAX_STREAMS)]
    pub grpc_max_streams: u32,
    /// Seconds any gRPC request (public or node-to-node) may take.
    #[arg(long, default_value_t = ListenerLimits::DEFAULT_GRPC_REQUEST_TIMEOUT_SECS)]
    pub grpc_request_timeout: u64,
    /// Agent gateway listener: the X2Go servers' agents stream their sessions and load here (gRPC on TCP and QUIC on UDP at this address, mutual TLS from the cluster CA).
    #[arg(long, value_name = "ADDR")]
    pub agents: Option<SocketAddr>,
    /// Milliseconds without a report after which an X2Go server is marked down.
    #[arg(long, default_value_t = crate::gateway::DEFAULT_AGENT_TIMEOUT.as_millis() as u64)]
    pub agent_timeout_ms: u64,
    /// The cluster CA, for the agent gateway of a single node (a cluster member's is in its node file).
    #[arg(long, value_name = "PEM")]
    pub cluster_ca: Option<PathBuf>,
    /// This node's certificate (`x2gobroker keygen --nodes`), for the agent gateway of a single node.
    #[arg(long, value_name = "PEM")]
    pub node_cert: Option<PathBuf>,
    /// Its key.
    #[arg(long, value_name = "PEM")]
    pub node_key: Option<PathBuf>,
    /// The agent-signing CA (`x2gobroker keygen --agent-ca`): agents enroll on POST /enroll/ and the agent gateway trusts it for agent certificates.
    #[arg(long, value_name = "PEM", requires = "agent_ca_key")]
    pub agent_ca: Option<PathBuf>,
    /// Its key.
    #[arg(long, value_name = "PEM", requires = "agent_ca")]
    pub agent_ca_key: Option<PathBuf>,
    /// Serve SSH broker mode on this Unix socket (mode 0666: callers are known by their peer credentials) [the node file's unix_socket; none by default; the command's default is /run/x2gobroker/broker.sock].
    #[arg(long, value_name = "PATH")]
    pub unix_socket: Option<PathBuf>,
    /// Members of this group log in to the status dashboard at /admin/ on the HTTPS listeners (with their password, as the frontends check it); without it the dashboard is off.
    #[arg(long, value_name = "GROUP")]
    pub admin_group: Option<String>,
}

/// Where the reference's global file lives unless told otherwise.
const DEFAULT_CONF: &str = "/etc/x2go/x2gobroker.conf";
const DEFAULT_DATA_DIR: &str = "./data";
const DEFAULT_HTTP: ([u8; 4], u16) = ([127, 0, 0, 1], 8080);
/// Where /pubkeys/ looks when the x2gobroker user does not exist.
const FALLBACK_BROKER_HOME: &str = "/var/lib/x2gobroker";

/// Why the command line could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Server(#[from] server::ServerError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Load(#[from] crate::broker::LoadError),
    #[error(transparent)]
    Keygen(#[from] crate::keygen::KeygenError),
    #[error(transparent)]
    Docs(#[from] crate::docs::DocsError),
    #[error(transparent)]
    SshKeygen(#[from] crate::ssh_keygen::SshKeygenError),
    #[error("no command given (serve, check-config, keygen; or --task)")]
    NoCommand,
}

/// Run the command line; the returned error is printed by the binary.
/// `inherited` holds the sockets passed by the service manager (see
/// `server::listen`), taken before the runtime started its threads.
pub async fn run(cli: Cli, inherited: Inherited) -> Result<(), CliError> {
    let Some(command) = cli.command else {
        return Err(CliError::NoCommand);
    };
    match command {
        Command::CheckConfig(files) => {
            let defaults = ServeArgs::parse_from(["serve"]);
            let loaded = broker::load_config(&settings(&files, None, &defaults))?;
            println!(
                "{}: ok; {}: {} profiles",
                loaded.conf.path,
                loaded.profiles.path,
                loaded.profiles.profiles.len()
            );
            Ok(())
        }
        Command::Serve(args) => {
            let node = match &args.config {
                Some(path) => Some(NodeConfig::load(path)?),
                None => None,
            };
            Ok(server::start(args.resolve(node), inherited).await?)
        }
        Command::Keygen(args) => keygen(&args),
        Command::Docs { out } => {
            for file in crate::docs::write_all(&out)? {
                println!("{}", file.display());
            }
            Ok(())
        }
    }
}

/// `keygen`: certificates into --out, the SSH key pair with --ssh.
fn keygen(args: &KeygenArgs) -> Result<(), CliError> {
    if let Some(out) = &args.out {
        let mut files = crate::keygen::generate(out, &args.nodes, &args.clients, &args.agents)?;
        if args.agent_ca {
            files.extend(crate::keygen::agent_ca(out)?);
        }
        for file in files {
            println!("{file}");
        }
    }
    if args.ssh {
        let keys = crate::ssh_keygen::generate(args.home.as_deref(), args.force)?;
        println!("{}", keys.private.display());
        println!("{}", keys.public.display());
        eprintln!("RSA key fingerprint {}", keys.fingerprint);
    }
    Ok(())
}

impl ServeArgs {
    /// The node's options: each flag given wins over the node file's
    /// setting of the same name, which wins over the default.
    pub fn resolve(&self, node: Option<NodeConfig>) -> server::Options {
        let file = node.as_ref();
        let files = ConfigArgs {
            x2gobroker_conf: self
                .files
                .x2gobroker_conf
                .clone()
                .or_else(|| file.and_then(|n| n.x2gobroker_conf.clone())),
            session_profiles: self
                .files
                .session_profiles
                .clone()
                .or_else(|| file.and_then(|n| n.session_profiles.clone())),
        };
        let data_dir = self
            .data_dir
            .clone()
            .or_else(|| file.map(|n| n.data_dir.clone()));
        let (mut http, https) = if !self.http.is_empty() || !self.https.is_empty() {
            (self.http.clone(), self.https.clone())
        } else if let Some(n) = file {
            (n.http.clone(), n.https.clone())
        } else {
            (Vec::new(), Vec::new())
        };
        if http.is_empty() && https.is_empty() {
            http.push(SocketAddr::from(DEFAULT_HTTP));
        }
        let (tls_cert, tls_key) = if self.tls_cert.is_some() || self.tls_key.is_some() {
            (self.tls_cert.clone(), self.tls_key.clone())
        } else {
            (
                file.and_then(|n| n.tls_cert.clone()),
                file.and_then(|n| n.tls_key.clone()),
            )
        };
        let agents = self.agents.or_else(|| file.and_then(|n| n.agents));
        let agent_tls = self.agent_tls_files(file);
        let agent_ca = match (&self.agent_ca, &self.agent_ca_key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            _ => file.and_then(|n| Some((n.agent_ca.clone()?, n.agent_ca_key.clone()?))),
        }
        .map(|(cert, key)| server::AgentCaFiles { cert, key });
        let unix_socket = self
            .unix_socket
            .clone()
            .or_else(|| file.and_then(|n| n.unix_socket.clone()));
        let mut settings = settings(&files, data_dir.as_deref(), self);
        settings.admin_group = self
            .admin_group
            .clone()
            .or_else(|| file.and_then(|n| n.admin_group.clone()))
            .filter(|g| !g.is_empty());
        server::Options {
            settings,
            http,
            https,
            grpc: self.grpc.or_else(|| file.and_then(|n| n.grpc)),
            metrics: self.metrics.or_else(|| file.and_then(|n| n.metrics)),
            tls_cert,
            tls_key,
            tls13_only: self.tls13_only,
            allow_insecure_http: self.allow_insecure_http,
            node,
            limits: ListenerLimits {
                max_connections: self.max_connections.max(1),
                max_agent_connections: self.max_agent_connections.max(1),
                handshake_timeout: Duration::from_secs(self.handshake_timeout.max(1)),
                grpc_max_streams: self.grpc_max_streams.max(1),
                grpc_request_timeout: Duration::from_secs(self.grpc_request_timeout.max(1)),
            },
            agents,
            agent_tls,
            agent_ca,
            agent_timeout: Duration::from_millis(self.agent_timeout_ms.max(1)),
            unix_socket,
        }
    }

    /// The agent gateway's TLS files: the flags when all three are given,
    /// else the node file's.
    fn agent_tls_files(&self, file: Option<&NodeConfig>) -> Option<server::AgentTlsFiles> {
        let files = |ca: &Option<PathBuf>, cert: &Option<PathBuf>, key: &Option<PathBuf>| {
            Some(server::AgentTlsFiles {
                ca: ca.clone()?,
                cert: cert.clone()?,
                key: key.clone()?,
            })
        };
        files(&self.cluster_ca, &self.node_cert, &self.node_key)
            .or_else(|| file.and_then(|n| files(&n.cluster_ca, &n.node_cert, &n.node_key)))
    }
}

/// The broker's settings from the resolved files and data directory and
/// `serve`'s other flags.
fn settings(files: &ConfigArgs, data_dir: Option<&Path>, serve: &ServeArgs) -> Settings {
    let window = Duration::from_secs(serve.failed_login_window.max(1));
    Settings {
        x2gobroker_conf: files
            .x2gobroker_conf
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONF)),
        session_profiles: files.session_profiles.clone(),
        data_dir: data_dir.map_or_else(|| PathBuf::from(DEFAULT_DATA_DIR), Path::to_path_buf),
        placement_window: Duration::from_secs(serve.placement_window),
        probe_ttl: Duration::from_secs(serve.probe_cache),
        pam_service: serve.pam_service.clone(),
        user_limit: Limit {
            max_failures: serve.max_failed_logins_per_user.max(1),
            window,
        },
        client_limit: Limit {
            max_failures: serve.max_failed_logins_per_client.max(1),
            window,
        },
        allow_get: serve.allow_get,
        broker_home: serve
            .broker_home
            .clone()
            .or_else(|| {
                crate::auth::nss::account(&crate::broker::pubkeys::daemon_user()).map(|a| a.home)
            })
            .unwrap_or_else(|| PathBuf::from(FALLBACK_BROKER_HOME)),
        autologin_key_ttl: Duration::from_secs(serve.autologin_key_ttl.max(1)),
        admin_group: serve.admin_group.clone(),
        ssh_agent_timeout: Duration::from_secs(serve.ssh_agent_timeout.max(1)),
        ssh_agent_retry: Duration::from_secs(serve.ssh_agent_retry),
    }
}

impl ServeArgs {
    /// Parse `serve`'s arguments alone (for its defaults and for tests).
    fn parse_from<I: IntoIterator<Item = &'static str>>(args: I) -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            serve: ServeArgs,
        }
        Only::parse_from(args).serve
    }
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
