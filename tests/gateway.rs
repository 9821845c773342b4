//! The agent gateway on real brokers: a test agent (the generated gRPC
//! client, mutual TLS with `pki/agent-x2go-test.pem`) streams a full
//! session list, a delta and load to one node, and every node's
//! `/status/agents` counts show them within 2 s; a Hello naming another
//! server, and node or admin certificates, are refused; a server whose
//! stream stops is marked down after the timeout.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::cluster::*;
use common::processes::*;
use common::site::*;
use common::sockets::{addr_of, loopback};
use common::wait_until;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use x2gobroker::agent::proto::agent_gateway_client::AgentGatewayClient;
use x2gobroker::agent::proto::agent_message::Body;
use x2gobroker::agent::proto::{
    AgentMessage, Hello, LoadReport, Session, SessionDelta, SessionList, SessionStatus,
};
use x2gobroker::api::grpc::proto::{ListSessionsRequest, LiveSession};

const CONF: &str = "[global]\nrequire-password = true\ndefault-auth-mech = none\n";
const PROFILES: &str = "[p]\nname=P\nhost=127.0.0.9\nbroker-portscan-x2goservers = false\n";
const TIMING: &str = common::cluster::FAST_TIMING;

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

fn session(id: &str, user: &str, status: SessionStatus) -> Session {
    let letter = if status == SessionStatus::Running {
        'R'
    } else {
        'S'
    };
    Session {
        session_id: id.into(),
        user: user.into(),
        status: status as i32,
        server: TEST_AGENT.into(),
        raw_line: format!("123|{id}|50|{TEST_AGENT}|{letter}|2026-11-30T00:00:00|c0ffee|127.0.0.1|30001|30002|2026-11-30T00:00:00|{user}|10|30003|-1|-1"),
        ..Default::default()
    }
}

/// An open agent stream: the sender of its messages.
type Agent = mpsc::Sender<AgentMessage>;

/// Connect to the gateway at `addr` with certificate `cert` of the site's
/// CA and send `first`; the stream, or the status it was refused with.
async fn connect(
    site: &Site,
    addr: SocketAddr,
    cert: &str,
    first: AgentMessage,
) -> Result<
    (
        Agent,
        tonic::Streaming<x2gobroker::agent::proto::BrokerCommand>,
    ),
    tonic::Status,
> {
    let channel = tonic::transport::Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(client_tls(site, cert))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let (tx, rx) = mpsc::channel(16);
    tx.send(first).await.unwrap();
    let mut client = AgentGatewayClient::new(channel);
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        client.connect(ReceiverStream::new(rx)),
    )
    .await
    .expect("the gateway answers the Hello in time")?;
    Ok((tx, reply.into_inner()))
}

/// The full list (two sessions), then a delta (one changed, one added, one
/// removed) and a load report.
async fn report_sessions(agent: &Agent) {
    agent
        .send(msg(Body::SessionList(SessionList {
            sessions: vec![
                session("s1", "alice", SessionStatus::Running),
                session("s2", "bob", SessionStatus::Suspended),
            ],
            listed_at_unix_ms: 1,
        })))
        .await
        .unwrap();
    agent
        .send(msg(Body::SessionDelta(SessionDelta {
            added: vec![
                session("s3", "carol", SessionStatus::Running),
                session("s4", "dave", SessionStatus::Suspended),
            ],
            changed: vec![session("s1", "alice", SessionStatus::Suspended)],
            removed: vec!["s2".into()],
            listed_at_unix_ms: 2,
        })))
        .await
        .unwrap();
    agent
        .send(msg(Body::LoadReport(LoadReport {
            load_factor: 1234,
            num_cpu: 2,
            session_count: 3,
            ..Default::default()
        })))
        .await
        .unwrap();
}

/// A Hello naming another server than the agent certificate's, and node
/// and admin certificates, are refused with PermissionDenied.
fn assert_refusals(rt: &tokio::runtime::Runtime, site: &Site, addr: SocketAddr) {
    let agent_cert = format!("agent-{TEST_AGENT}");
    let attempts = [
        (agent_cert.as_str(), "x2go-other"),
        ("node1", TEST_AGENT),
        ("admin", TEST_AGENT),
    ];
    for (cert, host) in attempts {
        match rt.block_on(connect(site, addr, cert, hello(host))) {
            Ok(_) => panic!("{cert} with a Hello for {host} was accepted"),
            Err(refused) => assert_eq!(
                refused.code(),
                Code::PermissionDenied,
                "{cert} with a Hello for {host}: {refused:?}"
            ),
        }
    }
}

/// `user`'s live sessions from the public gRPC API at `addr`.
async fn live_sessions(addr: SocketAddr, user: &str) -> Vec<LiveSession> {
    let mut client = common::grpc::client(addr).await;
    client
        .list_sessions(ListSessionsRequest {
            credentials: common::grpc::creds(user, "pw", ""),
        })
        .await
        .unwrap()
        .into_inner()
        .live_sessions
}

fn keygen(pki: &Path) {
    ours_keygen(
        pki,
        &["--nodes", "1", "--clients", "admin", "--agents", TEST_AGENT],
    );
}

#[test]
fn a_single_node_takes_reports_refuses_others_and_marks_silent_servers_down() {
    let site = Site::new(CONF, PROFILES);
    let pki = site.path("pki");
    keygen(&pki);
    let agents = loopback();
    let addr = addr_of(&agents);
    let grpc = loopback();
    let grpc_addr = addr_of(&grpc);
    let broker = Ours::new(&site)
        .listen("--agents", agents)
        .listen("--grpc", grpc)
        .node1_identity(&pki)
        .args(&[
            "--agent-timeout-ms",
            "1500",
            // An agent's stream outlives the per-request deadline.
            "--grpc-request-timeout",
            "1",
        ])
        .start();
    assert_eq!(agent_counts(broker.addr), Some((0, 0, 0)));
    let rt = runtime();
    let agent_cert = format!("agent-{TEST_AGENT}");
    // Another server's name in the Hello, and certificates that are not agents'.
    assert_refusals(&rt, &site, addr);
    assert_eq!(agent_counts(broker.addr), Some((0, 0, 0)));

    let (agent, replies) = rt
        .block_on(connect(&site, addr, &agent_cert, hello(TEST_AGENT)))
        .expect("the agent's own Hello is accepted");
    std::thread::sleep(Duration::from_millis(1500));
    rt.block_on(report_sessions(&agent));
    wait_until("the reports in the state", Duration::from_secs(2), || {
        agent_counts(broker.addr) == Some((1, 1, 3))
    });
    // The public API lists the user's live sessions.
    let live = rt.block_on(live_sessions(grpc_addr, "alice"));
    assert_eq!(live.len(), 1, "{live:?}");
    let s1 = &live[0];
    assert_eq!(
        (
            s1.server.as_str(),
            s1.session_id.as_str(),
            s1.status.as_str()
        ),
        (TEST_AGENT, "s1", "S")
    );
    assert!(
        s1.session_info.starts_with("123|s1|50|x2go-test|S|"),
        "{}",
        s1.session_info
    );
    assert!(
        rt.block_on(live_sessions(grpc_addr, "bob")).is_empty(),
        "s2 was removed"
    );
    // The stream stops: after the timeout the server is down, its sessions kept.
    drop(agent);
    drop(replies);
    wait_until(
        "the silent server marked down",
        Duration::from_secs(5),
        || agent_counts(broker.addr) == Some((1, 0, 3)),
    );
    // It comes back with a full list that replaces the old one.
    let (agent, _replies) = rt
        .block_on(connect(&site, addr, &agent_cert, hello(TEST_AGENT)))
        .unwrap();
    rt.block_on(agent.send(msg(Body::SessionList(SessionList {
        sessions: vec![session("s9", "erin", SessionStatus::Suspended)],
        listed_at_unix_ms: 3,
    }))))
    .unwrap();
    wait_until(
        "the server up with its new list",
        Duration::from_secs(2),
        || agent_counts(broker.addr) == Some((1, 1, 1)),
    );
}

#[test]
fn reports_to_one_node_reach_every_node_of_a_cluster() {
    let site = Site::new(CONF, PROFILES);
    let mut nodes = cluster_nodes(&site, 3, TIMING);
    let leader = start_all(&site, &mut nodes);
    // A follower's gateway: its batches go through the leader.
    let follower = nodes.iter().find(|n| n.id != leader).unwrap();
    let addr = follower.agents.unwrap();
    let rt = runtime();
    let agent_cert = format!("agent-{TEST_AGENT}");
    assert_refusals(&rt, &site, addr);

    let (agent, _replies) = rt
        .block_on(connect(&site, addr, &agent_cert, hello(TEST_AGENT)))
        .expect("the agent's own Hello is accepted");
    rt.block_on(report_sessions(&agent));
    wait_until("the reports on every node", Duration::from_secs(2), || {
        nodes
            .iter()
            .all(|n| agent_counts(n.http) == Some((1, 1, 3)))
    });

    // Operators see the server and drain it through any node.
    let servers = |node: &ClusterNode| -> serde_json::Value {
        let (ok, out) = ctl(&site, node, &["servers", "--json"]);
        assert!(ok, "x2gobrokerctl servers: {out}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let rows = servers(&nodes[0]);
    assert_eq!(rows[0]["hostname"], TEST_AGENT, "{rows}");
    assert_eq!(
        (
            rows[0]["up"].clone(),
            rows[0]["drained"].clone(),
            rows[0]["sessions"].clone()
        ),
        (true.into(), false.into(), 3.into()),
        "{rows}"
    );
    let (ok, table) = ctl(&site, &nodes[1], &["servers"]);
    assert!(
        ok && table.contains(TEST_AGENT) && table.contains(" up "),
        "{table}"
    );
    let (ok, out) = ctl(&site, follower, &["drain", TEST_AGENT]);
    assert!(ok, "drain: {out}");
    for n in &nodes {
        wait_until("the drain on every node", Duration::from_secs(2), || {
            servers(n)[0]["drained"] == true
        });
    }
    let (ok, out) = ctl(&site, &nodes[0], &["drain", "no-such-server"]);
    assert!(!ok && out.contains("no-such-server"), "{out}");
    let (ok, out) = ctl(&site, &nodes[2], &["undrain", TEST_AGENT]);
    assert!(ok, "undrain: {out}");
    wait_until("the undrain", Duration::from_secs(2), || {
        servers(&nodes[0])[0]["drained"] == false
    });
    for n in nodes.iter_mut() {
        n.kill();
    }
}
