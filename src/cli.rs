//! The `x2gobroker` command line: `serve` runs a broker node, `check-config`
//! validates the two configuration files.

use crate::auth::ratelimit::Limit;
use crate::broker::{self, Broker, Ledger, Settings};
use crate::cluster;
use crate::config::node::NodeConfig;
use crate::storage::Store;
use clap::{Args, FromArgMatches, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

#[derive(Parser, Debug)]
#[command(
    name = "x2gobroker",
    version,
    about = "X2Go session broker (drop-in successor of the Python x2gobroker)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a broker node: HTTP(S) frontends over the durable state in --data-dir.
    Serve(Box<ServeArgs>),
    /// Read both configuration files, report the first error (file, line, key) and exit.
    CheckConfig(ConfigArgs),
    /// Create the cluster CA (once) and node certificates for mutual TLS between nodes.
    Keygen(KeygenArgs),
}

#[derive(Args, Debug, Clone)]
pub struct KeygenArgs {
    /// Directory for ca.pem, ca-key.pem, node<ID>.pem, node<ID>-key.pem (the CA is reused when present).
    #[arg(long)]
    pub out: PathBuf,
    /// Node ids to create certificates for, e.g. --nodes 1,2,3.
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<u64>,
    /// Client certificates to create (for x2gobrokerctl), e.g. --clients admin.
    #[arg(long, value_delimiter = ',')]
    pub clients: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct ConfigArgs {
    /// The reference's global configuration file, read unchanged.
    #[arg(
        long,
        env = "X2GOBROKER_CONFIG",
        default_value = "/etc/x2go/x2gobroker.conf"
    )]
    pub x2gobroker_conf: PathBuf,
    /// The session profiles file [default: $X2GOBROKER_SESSIONPROFILES, else [broker_inifile] session-profiles].
    #[arg(long)]
    pub session_profiles: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Run as a member of a broker cluster described by this node TOML file
    /// (see cluster-config/local-3/); its settings override the flags below.
    #[arg(long, value_name = "TOML")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub files: ConfigArgs,
    /// Directory of the node's durable state (created if missing).
    #[arg(long, default_value = "./data")]
    pub data_dir: PathBuf,
    /// Plain-HTTP listener; loopback addresses only unless --allow-insecure-http [default: 127.0.0.1:8080 when no listener is given].
    #[arg(long, value_name = "ADDR")]
    pub http: Vec<SocketAddr>,
    /// HTTPS listener (needs --tls-cert and --tls-key).
    #[arg(long, value_name = "ADDR")]
    pub https: Vec<SocketAddr>,
    /// Public gRPC API listener (TLS with --tls-cert/--tls-key; plain only on loopback).
    #[arg(long, value_name = "ADDR")]
    pub grpc: Option<SocketAddr>,
    /// PEM certificate chain for --https.
    #[arg(long, value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --https.
    #[arg(long, value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// Also accept TLS 1.2 (for old clients); TLS 1.3 only otherwise.
    #[arg(long)]
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
    /// Home of the broker's legacy SSH key pair served on /pubkeys/ [default: home of user x2gobroker].
    #[arg(long)]
    pub broker_home: Option<PathBuf>,
}

fn home_of(user: &str) -> Option<PathBuf> {
    let name = std::ffi::CString::new(user).ok()?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: reentrant lookup into our own buffers.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut res: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut res,
        ) != 0
            || res.is_null()
        {
            return None;
        }
        let dir = std::ffi::CStr::from_ptr(pwd.pw_dir)
            .to_string_lossy()
            .into_owned();
        Some(PathBuf::from(dir))
    }
}

impl ServeArgs {
    pub fn settings(&self) -> Settings {
        let window = Duration::from_secs(self.failed_login_window.max(1));
        Settings {
            x2gobroker_conf: self.files.x2gobroker_conf.clone(),
            session_profiles: self.files.session_profiles.clone(),
            data_dir: self.data_dir.clone(),
            placement_window: Duration::from_secs(self.placement_window),
            probe_ttl: Duration::from_secs(self.probe_cache),
            pam_service: self.pam_service.clone(),
            user_limit: Limit {
                max_failures: self.max_failed_logins_per_user.max(1),
                window,
            },
            client_limit: Limit {
                max_failures: self.max_failed_logins_per_client.max(1),
                window,
            },
            allow_get: self.allow_get,
            broker_home: self
                .broker_home
                .clone()
                .or_else(|| home_of("x2gobroker"))
                .unwrap_or_else(|| PathBuf::from("/var/lib/x2gobroker")),
        }
    }
}

/// Run the command line; the returned error is printed by the binary.
pub async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::CheckConfig(args) => {
            let serve = ServeArgs::parse_from_config(args);
            let loaded = broker::load_config(&serve.settings())?;
            println!(
                "{}: ok; {}: {} profiles",
                loaded.conf.path,
                loaded.profiles.path,
                loaded.profiles.profiles.len()
            );
            Ok(())
        }
        Command::Serve(args) => serve(*args).await,
        Command::Keygen(args) => {
            for file in crate::keygen::generate(&args.out, &args.nodes, &args.clients)? {
                println!("{file}");
            }
            Ok(())
        }
    }
}

impl ServeArgs {
    /// The serve defaults with these configuration files.
    fn parse_from_config(config: ConfigArgs) -> Self {
        let cmd = <ServeArgs as Args>::augment_args(clap::Command::new("serve"));
        let mut args = ServeArgs::from_arg_matches(&cmd.get_matches_from(["serve"]))
            .expect("serve has defaults for all options");
        args.files = config;
        args
    }
}

/// Apply a node TOML file over the command line.
fn apply_node_config(args: &mut ServeArgs, node: &NodeConfig) {
    args.data_dir = node.data_dir.clone();
    if let Some(p) = &node.x2gobroker_conf {
        args.files.x2gobroker_conf = p.clone();
    }
    if node.session_profiles.is_some() {
        args.files.session_profiles = node.session_profiles.clone();
    }
    if !node.http.is_empty() || !node.https.is_empty() {
        args.http = node.http.clone();
        args.https = node.https.clone();
    }
    if node.tls_cert.is_some() {
        args.tls_cert = node.tls_cert.clone();
        args.tls_key = node.tls_key.clone();
    }
    if node.grpc.is_some() {
        args.grpc = node.grpc;
    }
}

/// Start this node's Raft member and its node-to-node listener.
async fn start_cluster_node(
    node_cfg: &NodeConfig,
    stop: watch::Receiver<bool>,
) -> Result<(Arc<cluster::Node>, tokio::task::JoinHandle<()>), String> {
    let members = node_cfg
        .members
        .iter()
        .map(|m| {
            (
                m.id,
                cluster::Member {
                    raft: m.raft.to_string(),
                    http: m.http.clone(),
                },
            )
        })
        .collect();
    let t = &node_cfg.timing;
    let tuning = cluster::Tuning {
        heartbeat_ms: t.heartbeat_ms,
        election_min_ms: t.election_min_ms,
        election_max_ms: t.election_max_ms,
        snapshot_every: t.snapshot_every,
        deadline: Duration::from_millis(t.deadline_ms),
    };
    let listener = TcpListener::bind(node_cfg.raft)
        .await
        .map_err(|e| format!("binding raft listener {}: {e}", node_cfg.raft))?;
    let tls = match (
        &node_cfg.cluster_ca,
        &node_cfg.node_cert,
        &node_cfg.node_key,
    ) {
        (Some(ca), Some(cert), Some(key)) => {
            Some(cluster::tls::NodeTls::load(ca, cert, key).map_err(|e| e.to_string())?)
        }
        _ => {
            tracing::warn!(raft = %node_cfg.raft, "node-to-node traffic is not encrypted (loopback only); configure cluster_ca, node_cert, node_key");
            None
        }
    };
    let server_tls = tls.as_ref().map(|t| t.server.clone());
    let node = cluster::Node::start(node_cfg.id, members, &node_cfg.data_dir, tuning, tls)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(id = node_cfg.id, raft = %node_cfg.raft, "cluster member started");
    let service = cluster::service::server(node.clone());
    let admin = cluster::admin::server(node.clone());
    let mut stop = stop;
    let task = tokio::spawn(async move {
        let incoming = nodelay_incoming(listener);
        let mut builder = tonic::transport::Server::builder().tcp_nodelay(true);
        if let Some(tls) = server_tls {
            builder = match builder.tls_config(tls) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "node-to-node TLS configuration");
                    return;
                }
            };
        }
        let result = builder
            .add_service(service)
            .add_service(admin)
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = stop.changed().await;
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "node-to-node listener failed");
        }
    });
    Ok((node, task))
}

/// Accepted connections with TCP_NODELAY: for small RPCs, Nagle and delayed
/// ACKs would add ~40 ms to each.
fn nodelay_incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    tokio_stream::StreamExt::map(
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        |s| {
            s.inspect(|s| {
                let _ = s.set_nodelay(true);
            })
        },
    )
}

/// Start the public gRPC API (with reflection) on `addr`.
async fn start_public_grpc(
    broker: Arc<Broker>,
    addr: SocketAddr,
    args: &ServeArgs,
    mut stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let mut builder = tonic::transport::Server::builder().tcp_nodelay(true);
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
            let identity = tonic::transport::Identity::from_pem(read(cert)?, read(key)?);
            builder = builder
                .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
                .map_err(|e| format!("gRPC TLS: {e}"))?;
        }
        _ if !addr.ip().is_loopback() && !args.allow_insecure_http => {
            return Err(format!("refusing the plain gRPC API on non-loopback address {addr}: give --tls-cert and --tls-key"));
        }
        _ => {}
    }
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("binding gRPC listener {addr}: {e}"))?;
    tracing::info!(address = %addr, "public gRPC API listening");
    let reflection = crate::api::grpc::reflection()?;
    let api = crate::api::grpc::server(broker);
    Ok(tokio::spawn(async move {
        let incoming = nodelay_incoming(listener);
        let result = builder
            .add_service(api)
            .add_service(reflection)
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = stop.changed().await;
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "public gRPC listener failed");
        }
    }))
}

async fn serve(mut args: ServeArgs) -> Result<(), String> {
    let node_cfg = match &args.config {
        Some(path) => {
            let cfg = NodeConfig::load(path)?;
            apply_node_config(&mut args, &cfg);
            Some(cfg)
        }
        None => None,
    };
    let mut http = args.http.clone();
    if http.is_empty() && args.https.is_empty() {
        http.push(SocketAddr::from(([127, 0, 0, 1], 8080)));
    }
    if let Some(a) = http.iter().find(|a| !a.ip().is_loopback()) {
        if !args.allow_insecure_http {
            return Err(format!(
                "refusing plain HTTP on non-loopback address {a}: use --https, or --allow-insecure-http"
            ));
        }
    }
    let tls = if args.https.is_empty() {
        None
    } else {
        let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
            return Err("--https needs --tls-cert and --tls-key".into());
        };
        Some(crate::api::http::tls::server_config(
            cert,
            key,
            args.allow_tls12,
        )?)
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let ledger = match &node_cfg {
        Some(cfg) => {
            let (node, task) = start_cluster_node(cfg, stop_rx.clone()).await?;
            tasks.push(task);
            Ledger::Cluster(node)
        }
        None => Ledger::Local(Store::open(&args.data_dir).map_err(|e| e.to_string())?),
    };
    let broker = Arc::new(Broker::new(args.settings(), ledger)?);
    let loaded = broker.current();
    tracing::info!(
        conf = %loaded.conf.path,
        profiles = %loaded.profiles.path,
        count = loaded.profiles.profiles.len(),
        data_dir = %args.data_dir.display(),
        "configuration loaded"
    );
    for key in [
        "pre_auth_scripts",
        "post_auth_scripts",
        "select_session_scripts",
    ] {
        let set = loaded
            .conf
            .get("global", key)
            .and_then(|v| v.as_list())
            .is_some_and(|l| l.iter().any(|s| !s.is_empty()));
        if set {
            tracing::warn!(
                key,
                "optional broker scripts are Python modules of the reference and are not run"
            );
        }
    }
    let mode = loaded.conf.agent_query_mode("inifile");
    if mode != "NONE" {
        tracing::warn!(mode = %mode, "agent query modes other than NONE need broker agents; sessions are not queried over SSH");
    }
    let mut background = Vec::new();
    if let Ledger::Cluster(node) = &broker.ledger {
        background.push(tokio::spawn(
            broker.clone().follow_replicated_config(node.clone()),
        ));
        let b = broker.clone();
        node.set_reloader(Arc::new(move || {
            let b = b.clone();
            Box::pin(async move { b.reload().await.map_err(Into::into) })
        }));
    }
    if let Some(addr) = args.grpc {
        tasks.push(start_public_grpc(broker.clone(), addr, &args, stop_rx.clone()).await?);
    }
    let ctx = crate::api::http::Context::new(broker.clone());
    for (addrs, tls) in [(http, None), (args.https.clone(), tls)] {
        for addr in addrs {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| format!("binding {addr}: {e}"))?;
            let scheme = if tls.is_some() { "https" } else { "http" };
            tracing::info!(address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), scheme, "listening");
            tasks.push(tokio::spawn(crate::api::http::serve(
                ctx.clone(),
                listener,
                tls.clone(),
                stop_rx.clone(),
            )));
        }
    }
    let purger = {
        let broker = broker.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                if let Err(e) = broker.purge().await {
                    tracing::error!(error = %e, "purging expired cookies and placements failed");
                }
            }
        })
    };
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            _ = hup.recv() => match broker.reload().await {
                Ok(()) => tracing::info!(profiles = broker.current().profiles.profiles.len(), "configuration reloaded"),
                Err(e) => tracing::error!(error = %e, "reload failed; keeping the running configuration"),
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!("shutting down");
    purger.abort();
    for t in background {
        t.abort();
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    Ok(())
}
