//! Serving a node: every listener's accept loop and connection task is
//! tracked, and on shutdown the node stops accepting, lets requests in
//! flight finish, and waits for them up to `SHUTDOWN_GRACE`. A cluster
//! member keeps Raft and its node-to-node listener until then (requests
//! in flight may still need them, and followers keep forwarding to a
//! leader that is leaving), then leaves (`Node::leave`: a leader hands its
//! leadership over, and Raft stops) before it closes that listener. Every
//! listener enforces the `ListenerLimits`. The agent gateway, when
//! configured, serves gRPC on its TCP listener and QUIC on the UDP socket
//! of the same address, and proposes its agents' reports in the
//! background.

use super::limits::{ListenerLimits, NODE_MAX_STREAMS};
use super::{announce::announce, grpc, signals, ServerError};
use crate::broker::{Broker, Ledger, Settings};
use crate::cluster;
use crate::gateway;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

/// How long shutdown waits for connections to finish their requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How often expired cookies and placements are purged.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// The node's bound listeners.
#[derive(Debug, Default)]
pub struct Listeners {
    pub http: Vec<TcpListener>,
    pub https: Vec<TcpListener>,
    /// The public gRPC API.
    pub grpc: Option<TcpListener>,
    /// Prometheus metrics (plain HTTP).
    pub metrics: Option<TcpListener>,
    /// Node-to-node and admin gRPC (a cluster member only).
    pub raft: Option<TcpListener>,
    /// The agent gateway (gRPC).
    pub agents: Option<TcpListener>,
    /// The agent gateway's QUIC socket, at the same address (UDP).
    pub agents_udp: Option<std::net::UdpSocket>,
    /// SSH broker mode's Unix socket.
    pub unix: Option<tokio::net::UnixListener>,
}

/// TLS for the listeners that have it.
#[derive(Default)]
pub struct TlsConfigs {
    pub https: Option<Arc<rustls::ServerConfig>>,
    /// The public gRPC API's (its listener does the handshake itself).
    pub grpc: Option<Arc<rustls::ServerConfig>>,
    pub raft: Option<tonic::transport::ServerTlsConfig>,
    /// The agent gateway's, for gRPC and QUIC.
    pub agents: Option<gateway::tls::GatewayTls>,
    /// The agent-signing CA, when this node enrolls agents (`POST /enroll/`).
    pub agent_ca: Option<crate::enroll::ca::AgentCa>,
}

/// Serve `listeners` over `ledger`, within `limits`, until `shutdown` resolves.
pub async fn run(
    settings: Settings,
    ledger: Ledger,
    listeners: Listeners,
    tls: TlsConfigs,
    limits: ListenerLimits,
    agent_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let (stop_tx, stop) = watch::channel(false);
    let tracker = TaskTracker::new();
    // Node-to-node: stopped after the frontends (see the module comment).
    let (stop_raft_tx, stop_raft) = watch::channel(false);
    let raft_tracker = TaskTracker::new();
    // Raft first: the other members may be waiting for this node's vote.
    if let (Ledger::Cluster(node), Some(listener)) = (&ledger, listeners.raft) {
        let transport = cluster::service::server(node.clone())
            .max_decoding_message_size(cluster::network::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(cluster::network::MAX_MESSAGE_BYTES);
        let router = grpc::builder(tls.raft, &limits, NODE_MAX_STREAMS)?
            .add_service(transport)
            .add_service(cluster::admin::server(node.clone()));
        raft_tracker.spawn(grpc::serve(
            router,
            listener,
            limits,
            stop_raft,
            "node-to-node",
            None,
        ));
    }
    let broker = Arc::new(Broker::new(settings, ledger)?);
    let public: Vec<_> = (listeners.http.iter().chain(&listeners.https))
        .chain(&listeners.grpc)
        .filter_map(|l| l.local_addr().ok())
        .collect();
    announce(&broker, &public);
    let mut background = Vec::new();
    if let Some(node) = broker.cluster_node() {
        background.push(tokio::spawn(
            broker.clone().follow_replicated_config(node.clone()),
        ));
        let b = broker.clone();
        node.set_reloader(Arc::new(move || {
            let b = b.clone();
            Box::pin(async move { b.reload().await.map_err(Into::into) })
        }));
    }
    background.push(tokio::spawn(purge_periodically(broker.clone())));
    background.push(tokio::spawn(broker.clone().check_loads_periodically()));
    if let Some(listener) = listeners.grpc {
        log_listening(&listener, "grpc");
        let router = grpc::builder(None, &limits, limits.grpc_max_streams)?
            .add_service(crate::api::grpc::server(broker.clone()))
            .add_service(crate::api::grpc::reflection()?);
        tracker.spawn(grpc::serve(
            router,
            listener,
            limits,
            stop.clone(),
            "public gRPC API",
            tls.grpc,
        ));
    }
    if let Some(listener) = listeners.agents {
        log_listening(&listener, "agents");
        let agents = broker.agents().clone();
        // Revoked certificates are known before the first agent connects.
        agents.trust.refresh(&broker);
        agents
            .trust
            .set_source(gateway::trust::Trust::source_of(&broker));
        background.push(tokio::spawn(gateway::trust::enforce_periodically(
            broker.clone(),
            agents.clone(),
        )));
        background.push(tokio::spawn(gateway::propose_periodically(
            broker.clone(),
            Arc::clone(&agents.pending),
            agent_timeout,
        )));
        let limits = limits.for_agents();
        let (agents_grpc, agents_quic) = match tls.agents {
            Some(t) => (Some(t.grpc), Some(t.quic)),
            None => (None, None),
        };
        if let (Some(socket), Some(crypto)) = (listeners.agents_udp, agents_quic) {
            let config = gateway::quic::server_config(crypto, &limits);
            let endpoint =
                gateway::quic::endpoint(socket, config).map_err(ServerError::QuicEndpoint)?;
            match endpoint.local_addr() {
                Ok(addr) => tracing::info!(address = %addr, scheme = "agents-quic", "listening"),
                Err(e) => {
                    tracing::warn!(error = %e, scheme = "agents-quic", "listening on an unknown address")
                }
            }
            tracker.spawn(gateway::quic::serve(
                endpoint,
                agents.clone(),
                limits,
                stop.clone(),
            ));
        }
        let router = grpc::builder(agents_grpc, &limits, limits.grpc_max_streams)?
            .add_service(gateway::server(agents));
        tracker.spawn(grpc::serve(
            router,
            listener,
            limits,
            stop.clone(),
            "agent gateway",
            None,
        ));
    }
    let enrollment = tls
        .agent_ca
        .map(|ca| Arc::new(crate::enroll::redeem::Enrollment::new(ca, broker.clone())));
    let ctx = crate::api::http::Context::new(broker.clone(), enrollment);
    let plain = listeners.http.into_iter().map(|l| (l, None));
    let secure = listeners.https.into_iter().map(|l| (l, tls.https.clone()));
    for (listener, tls) in plain.chain(secure) {
        log_listening(&listener, if tls.is_some() { "https" } else { "http" });
        tracker.spawn(crate::api::http::serve(
            ctx.clone(),
            listener,
            tls,
            limits,
            stop.clone(),
            tracker.clone(),
        ));
    }
    if let Some(listener) = listeners.unix {
        match listener
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
        {
            Some(path) => tracing::info!(path = %path, scheme = "ssh-mode", "listening"),
            None => tracing::info!(scheme = "ssh-mode", "listening"),
        }
        tracker.spawn(crate::sshmode::node::serve(
            broker.clone(),
            listener,
            stop.clone(),
            tracker.clone(),
        ));
    }
    if let Some(listener) = listeners.metrics {
        log_listening(&listener, "metrics");
        tracker.spawn(crate::api::http::serve(
            crate::api::http::Context::metrics_only(broker.clone()),
            listener,
            None,
            limits,
            stop.clone(),
            tracker.clone(),
        ));
    }
    reload_until(&broker, shutdown).await?;
    tracing::info!("shutting down");
    for task in background {
        task.abort();
    }
    let _ = stop_tx.send(true);
    drain(&tracker, "connections").await;
    if let Some(node) = broker.cluster_node() {
        node.leave().await;
    }
    let _ = stop_raft_tx.send(true);
    drain(&raft_tracker, "node-to-node connections").await;
    Ok(())
}

/// Wait for `tracker`'s tasks (connections) up to `SHUTDOWN_GRACE`.
async fn drain(tracker: &TaskTracker, what: &'static str) {
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = tracker.len(),
            what,
            "still open after the shutdown grace period; closing them"
        );
    }
}

fn log_listening(listener: &TcpListener, scheme: &'static str) {
    match listener.local_addr() {
        Ok(addr) => tracing::info!(address = %addr, scheme, "listening"),
        Err(e) => tracing::warn!(error = %e, scheme, "listening on an unknown address"),
    }
}

/// Reload the configuration files on every SIGHUP until `shutdown`.
async fn reload_until(
    broker: &Broker,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let mut hup = signals::reloads()?;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = hup.recv() => match broker.reload().await {
                Ok(()) => tracing::info!(profiles = broker.current().profiles.profiles.len(), "configuration reloaded"),
                Err(e) => tracing::error!(error = %e, "reload failed; keeping the running configuration"),
            },
            _ = &mut shutdown => return Ok(()),
        }
    }
}

async fn purge_periodically(broker: Arc<Broker>) {
    let mut tick = tokio::time::interval(PURGE_EVERY);
    loop {
        tick.tick().await;
        if let Err(e) = broker.purge().await {
            tracing::error!(error = %e, "purging expired cookies and placements failed");
        }
    }
}
