//! The real `x2gobroker-agent run --transport quic` on this machine's X2Go
//! session database (root, x2goserver): its sessions, made with X2Go's own
//! tools, reach a single node's `/status/agents`, and every node of a
//! three-node cluster where a gRPC agent reports at the same time; when
//! the node the QUIC agent uses is killed, the agent moves to the next
//! broker address and new sessions still arrive.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::agents::{start_agent_logged, AgentProcess};
use common::cluster::*;
use common::processes::*;
use common::site::Site;
use common::sockets::{addr_of, loopback_pair};
use common::x2go::*;
use common::{unique, wait_until};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

const CONF: &str = "[global]\nrequire-password = false\n";
const PROFILES: &str = "[p]\nname=P\nhost=x2go-test (127.0.0.9)\n";
const TIMING: &str = common::cluster::FAST_TIMING;

/// A real agent for `host` over `transport`, its debug log in `log`.
fn start_agent(
    pki: &Path,
    host: &str,
    brokers: &[SocketAddr],
    transport: &str,
    log: &Path,
) -> AgentProcess {
    let brokers: Vec<String> = brokers.iter().map(|b| b.to_string()).collect();
    start_agent_logged(pki, host, &brokers, &["--transport", transport], Some(log))
}

/// A host name no other test uses (its sessions are this test's only).
fn host(prefix: &str) -> String {
    format!("{prefix}{}n{}", std::process::id(), unique())
}

/// A suspended session of `user` on `server`.
fn suspended(user: &str, server: &str) -> String {
    let sid = new_session(user, server, true);
    change_status(user, "S", &sid);
    sid
}

#[test]
#[ignore = "needs root (x2goserver session database, test accounts)"]
fn a_real_quic_agent_reports_real_sessions_to_a_single_node() {
    let _db = session_db_blocking();
    let site = Site::new(CONF, PROFILES);
    let server = host("aqs");
    let pki = site.path("pki");
    x2gobroker::keygen::generate(&pki, &[1], &[], std::slice::from_ref(&server)).unwrap();
    let (gateway, quic) = loopback_pair();
    let addr = addr_of(&gateway);
    let broker = Ours::new(&site)
        .listen("--agents", gateway)
        .udp(quic)
        .node1_identity(&pki)
        .start();
    let user = X2goUser::create("aqs");
    suspended(user.name(), &server);
    let log = site.path("agent.log");
    let _agent = start_agent(&pki, &server, &[addr], "quic", &log);
    wait_until("the agent's session", Duration::from_secs(10), || {
        agent_counts(broker.addr) == Some((1, 1, 1))
    });
    assert!(
        broker.log_text().contains("transport=\"quic\""),
        "{}",
        broker.log_text()
    );
    suspended(user.name(), &server);
    wait_until("the new session", Duration::from_secs(3), || {
        agent_counts(broker.addr) == Some((1, 1, 2))
    });
}

#[test]
#[ignore = "needs root (x2goserver session database, test accounts)"]
fn real_agents_on_both_transports_report_to_a_cluster_and_the_quic_one_moves_on() {
    let _db = session_db_blocking();
    let site = Site::new(CONF, PROFILES);
    let mut nodes = cluster_nodes(&site, 3, TIMING);
    start_all(&site, &mut nodes);
    let (over_quic, over_grpc) = (host("aqq"), host("aqg"));
    let pki = site.path("pki");
    let both = [over_quic.clone(), over_grpc.clone()];
    x2gobroker::keygen::generate(&pki, &[], &[], &both).unwrap();
    let user = X2goUser::create("aqc");
    suspended(user.name(), &over_quic);
    suspended(user.name(), &over_grpc);
    let gateways: Vec<SocketAddr> = nodes.iter().map(|n| n.agents.unwrap()).collect();
    let reversed: Vec<SocketAddr> = gateways.iter().rev().copied().collect();
    let _quic = start_agent(&pki, &over_quic, &gateways, "quic", &site.path("quic.log"));
    let _grpc = start_agent(&pki, &over_grpc, &reversed, "grpc", &site.path("grpc.log"));
    wait_until(
        "both servers and sessions on every node",
        Duration::from_secs(10),
        || {
            nodes
                .iter()
                .all(|n| agent_counts(n.http) == Some((2, 2, 2)))
        },
    );
    // Each agent on the first address of its list.
    let here: Vec<_> = nodes.iter().map(|n| connected_here(n.http)).collect();
    assert_eq!(here, vec![Some(1), Some(0), Some(1)]);

    // The QUIC agent's node dies: within the idle timeout (3 s) and the
    // backoff, the agent is on the next address.
    nodes[0].kill();
    wait_until(
        "the QUIC agent on the next broker",
        Duration::from_secs(10),
        || connected_here(nodes[1].http) == Some(1),
    );
    suspended(user.name(), &over_quic);
    wait_until(
        "the new session on the nodes alive",
        Duration::from_secs(3),
        || {
            nodes[1..]
                .iter()
                .all(|n| agent_counts(n.http) == Some((2, 2, 3)))
        },
    );
    let quic_log = std::fs::read_to_string(site.path("quic.log")).unwrap_or_default();
    assert!(quic_log.contains("transport=quic"), "{quic_log}");
    for n in nodes.iter_mut() {
        n.kill();
    }
}
