//! The agent gateway's QUIC transport on real brokers (real UDP, real TLS):
//! the library's QUIC agent transport (as `x2gobroker-agent` and the
//! simulator use it) reports sessions and load to a single node; a
//! certificate of another CA fails the handshake, node and admin
//! certificates and a Hello naming another server are refused with the
//! reason; a gRPC agent and a QUIC agent report to one cluster at once,
//! and the QUIC agent notices within seconds that its node was killed.
//! With root and x2goserver: the real `x2gobroker-agent run --transport
//! quic` reports real sessions to a single node and to a cluster, and
//! moves to the next broker when the node it uses is killed.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::cluster::*;
use common::processes::*;
use common::site::*;
use common::sockets::{addr_of, loopback_pair};
use common::wait_until;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use x2gobroker::agent::proto::agent_gateway_client::AgentGatewayClient;
use x2gobroker::agent::proto::agent_message::Body;
use x2gobroker::agent::proto::{
    AgentMessage, Hello, LoadReport, Session, SessionDelta, SessionList, SessionStatus,
};
use x2gobroker::agent::quic::QuicTransport;
use x2gobroker::agent::transport::{CommandStream, Transport};

const CONF: &str = "[global]\nrequire-password = true\ndefault-auth-mech = none\n";
const PROFILES: &str = "[p]\nname=P\nhost=127.0.0.9\nbroker-portscan-x2goservers = false\n";
const TIMING: &str = common::cluster::FAST_TIMING;
/// The second agent certificate the cluster tests add to the site's CA.
const QUIC_AGENT: &str = "x2go-quic";

/// A runtime that keeps driving the agent streams between `block_on`s.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn msg(body: Body) -> AgentMessage {
    AgentMessage { body: Some(body) }
}

fn hello(hostname: &str) -> AgentMessage {
    msg(Body::Hello(Hello {
        hostname: hostname.into(),
        version: "test".into(),
        ..Default::default()
    }))
}

fn session(server: &str, id: &str, user: &str) -> Session {
    Session {
        session_id: id.into(),
        user: user.into(),
        status: SessionStatus::Suspended as i32,
        server: server.into(),
        raw_line: format!("123|{id}|50|{server}|S|2026-11-30T00:00:00|c0ffee|127.0.0.1|30001|30002|2026-11-30T00:00:00|{user}|10|30003|-1|-1"),
        ..Default::default()
    }
}

/// The full list (two sessions), a delta (one more, one removed, so two)
/// and a load report of `server`.
async fn report(agent: &mpsc::Sender<AgentMessage>, server: &str) {
    let list = SessionList {
        sessions: vec![session(server, "s1", "alice"), session(server, "s2", "bob")],
        listed_at_unix_ms: 1,
    };
    let delta = SessionDelta {
        added: vec![session(server, "s3", "carol")],
        removed: vec!["s2".into()],
        listed_at_unix_ms: 2,
        ..Default::default()
    };
    let load = LoadReport {
        load_factor: 1234,
        num_cpu: 2,
        ..Default::default()
    };
    for body in [
        Body::SessionList(list),
        Body::SessionDelta(delta),
        Body::LoadReport(load),
    ] {
        agent.send(msg(body)).await.unwrap();
    }
}

type Agent = (mpsc::Sender<AgentMessage>, CommandStream);

/// Open a QUIC agent stream to `addr` with certificate `cert` of `pki`
/// (whatever its role) and send `first`.
async fn quic(pki: &Path, addr: SocketAddr, cert: &str, first: AgentMessage) -> Agent {
    let read = |f: String| std::fs::read(pki.join(f)).unwrap();
    let transport = QuicTransport::new(
        &read("ca.pem".into()),
        &read(format!("{cert}.pem")),
        &read(format!("{cert}-key.pem")),
    )
    .unwrap();
    open(Transport::Quic(transport), addr, first).await
}

async fn open(transport: Transport, addr: SocketAddr, first: AgentMessage) -> Agent {
    let (tx, rx) = mpsc::channel(16);
    tx.send(first).await.unwrap();
    let commands = transport.open(&addr.to_string(), rx).await.unwrap();
    (tx, commands)
}

/// How a QUIC stream to `addr` with `cert` of `pki` and a Hello for `host`
/// fails: the handshake's error, or the reason the gateway closed it with.
async fn quic_refusal(
    pki: &Path,
    cert_pki: &Path,
    addr: SocketAddr,
    cert: &str,
    host: &str,
) -> String {
    let read = |dir: &Path, f: String| std::fs::read(dir.join(f)).unwrap();
    let transport = QuicTransport::new(
        &read(pki, "ca.pem".into()),
        &read(cert_pki, format!("{cert}.pem")),
        &read(cert_pki, format!("{cert}-key.pem")),
    )
    .unwrap();
    let (tx, rx) = mpsc::channel(16);
    tx.send(hello(host)).await.unwrap();
    let mut commands = match Transport::Quic(transport).open(&addr.to_string(), rx).await {
        Ok(c) => c,
        Err(e) => return e.to_string(),
    };
    match tokio::time::timeout(Duration::from_secs(10), commands.message()).await {
        Ok(Err(e)) => e.to_string(),
        other => panic!("{cert} with a Hello for {host} was not refused: {other:?}"),
    }
}

/// Every refusal over QUIC, with its reason.
fn assert_quic_refusals(rt: &tokio::runtime::Runtime, pki: &Path, addr: SocketAddr) {
    let stranger = tempfile::tempdir().unwrap();
    x2gobroker::keygen::generate(stranger.path(), &[], &[], &[TEST_AGENT.into()]).unwrap();
    let agent_cert = format!("agent-{TEST_AGENT}");
    let other_ca = rt.block_on(quic_refusal(
        pki,
        stranger.path(),
        addr,
        &agent_cert,
        TEST_AGENT,
    ));
    assert!(other_ca.contains("handshake failed"), "{other_ca}");
    let cases = [
        (agent_cert.as_str(), "x2go-other", "not of \"x2go-other\""),
        ("node1", TEST_AGENT, "node 1 may not connect as an agent"),
        (
            "admin",
            TEST_AGENT,
            "admin \"admin\" may not connect as an agent",
        ),
    ];
    for (cert, host, reason) in cases {
        let why = rt.block_on(quic_refusal(pki, pki, addr, cert, host));
        assert!(
            why.contains(reason) && why.contains("code 1"),
            "{cert}: {why}"
        );
    }
}

/// A single node with an agent gateway on a fresh loopback address (QUIC
/// on its UDP port), with certificates in `pki` for `agents`.
fn single_node(site: &Site, agents: &[String]) -> (Running, SocketAddr) {
    let pki = site.path("pki");
    x2gobroker::keygen::generate(&pki, &[1], &["admin".into()], agents).unwrap();
    let (gateway, quic) = loopback_pair();
    let addr = addr_of(&gateway);
    let broker = Ours::new(site)
        .listen("--agents", gateway)
        .udp(quic)
        .node1_identity(&pki)
        .args(&["--agent-timeout-ms", "1500"])
        .start();
    (broker, addr)
}

#[test]
fn a_quic_agent_reports_to_a_single_node_and_refusals_say_why() {
    let site = Site::new(CONF, PROFILES);
    let (broker, addr) = single_node(&site, &[TEST_AGENT.into()]);
    let pki = site.path("pki");
    let rt = runtime();
    assert_quic_refusals(&rt, &pki, addr);
    assert_eq!(agent_counts(broker.addr), Some((0, 0, 0)));

    let agent = rt.block_on(quic(
        &pki,
        addr,
        &format!("agent-{TEST_AGENT}"),
        hello(TEST_AGENT),
    ));
    rt.block_on(report(&agent.0, TEST_AGENT));
    wait_until("the reports in the state", Duration::from_secs(2), || {
        agent_counts(broker.addr) == Some((1, 1, 2))
    });
    assert_eq!(connected_here(broker.addr), Some(1));
    assert!(
        broker.log_text().contains("transport=\"quic\""),
        "the gateway logs the transport"
    );
    // The agent closes its stream: after the timeout the server is down.
    drop(agent);
    wait_until("the agent gone", Duration::from_secs(2), || {
        connected_here(broker.addr) == Some(0)
    });
    wait_until("the server marked down", Duration::from_secs(5), || {
        agent_counts(broker.addr) == Some((1, 0, 2))
    });
}

/// Open a gRPC agent stream to `addr` with the site's certificate `cert`.
async fn grpc(
    site: &Site,
    addr: SocketAddr,
    cert: &str,
    first: AgentMessage,
) -> mpsc::Sender<AgentMessage> {
    let channel = tonic::transport::Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(client_tls(site, cert))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let (tx, rx) = mpsc::channel(16);
    tx.send(first).await.unwrap();
    let replies = AgentGatewayClient::new(channel)
        .connect(ReceiverStream::new(rx))
        .await
        .unwrap();
    // Keep the reply stream read for as long as the runtime runs.
    tokio::spawn(async move {
        let mut replies = replies.into_inner();
        while let Ok(Some(_)) = replies.message().await {}
    });
    tx
}

#[test]
fn grpc_and_quic_agents_report_to_one_cluster_at_once() {
    let site = Site::new(CONF, PROFILES);
    let mut nodes = cluster_nodes(&site, 3, TIMING);
    start_all(&site, &mut nodes);
    let pki = site.path("pki");
    x2gobroker::keygen::generate(&pki, &[], &[], &[QUIC_AGENT.into()]).unwrap();
    let rt = runtime();
    let gateways: Vec<SocketAddr> = nodes.iter().map(|n| n.agents.unwrap()).collect();
    let gateway = |i: usize| gateways[i];
    let _grpc = rt.block_on(async {
        let tx = grpc(
            &site,
            gateway(0),
            &format!("agent-{TEST_AGENT}"),
            hello(TEST_AGENT),
        )
        .await;
        report(&tx, TEST_AGENT).await;
        tx
    });
    let (tx, mut commands) = rt.block_on(quic(
        &pki,
        gateway(1),
        &format!("agent-{QUIC_AGENT}"),
        hello(QUIC_AGENT),
    ));
    rt.block_on(report(&tx, QUIC_AGENT));
    wait_until("both servers on every node", Duration::from_secs(3), || {
        nodes
            .iter()
            .all(|n| agent_counts(n.http) == Some((2, 2, 4)))
    });
    let here: Vec<_> = nodes.iter().map(|n| connected_here(n.http)).collect();
    assert_eq!(here, vec![Some(1), Some(1), Some(0)]);

    // The QUIC agent's node dies: no FIN, no RST on UDP; the stream fails
    // within the idle timeout and the agent reports to the next node.
    nodes[1].kill();
    let killed = Instant::now();
    let end = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), commands.message()).await
    });
    assert!(
        matches!(end, Ok(Err(ref e)) if e.to_string().contains("timed out")),
        "{end:?}"
    );
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "{:?}",
        killed.elapsed()
    );
    drop((tx, commands));
    let (tx, _commands) = rt.block_on(quic(
        &pki,
        gateway(2),
        &format!("agent-{QUIC_AGENT}"),
        hello(QUIC_AGENT),
    ));
    rt.block_on(report(&tx, QUIC_AGENT));
    let alive = [&nodes[0], &nodes[2]];
    wait_until(
        "the QUIC agent on the third node",
        Duration::from_secs(3),
        || {
            alive.iter().all(|n| {
                connected_here(n.http) == Some(1) && agent_counts(n.http) == Some((2, 2, 4))
            })
        },
    );
    for n in nodes.iter_mut() {
        n.kill();
    }
}
