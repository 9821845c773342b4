//! `x2gobroker-agent simulate` against real brokers: 20 simulated X2Go
//! servers with 100 sessions, each with an agent certificate made in memory
//! from the site's CA, connect to a single node's agent gateway; the node's
//! `/status/agents` shows 20 servers up and 100 sessions, and keeps showing
//! exactly that while every server changes a session every 500 ms (the
//! churn is visible in the sessions the public gRPC API lists, and in each
//! server's load factor), with the report-to-visible latency measured. On a three-node cluster the servers spread over
//! the three gateways (half over gRPC, half over QUIC), every node shows
//! all of them, and when a node dies its servers move on to the next
//! broker address. SIGTERM stops the
//! simulator with its totals written to `--stats-json`.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::cluster::*;
use common::processes::*;
use common::site::*;
use common::sockets::{addr_of, loopback};
use common::{unique, wait_until};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use x2gobroker::api::grpc::proto::ListSessionsRequest;

const CONF: &str = "[global]\nrequire-password = true\ndefault-auth-mech = none\n";
const PROFILES: &str = "[p]\nname=P\nhost=127.0.0.9\nbroker-portscan-x2goservers = false\n";
const TIMING: &str = common::cluster::FAST_TIMING;
const SERVERS: u64 = 20;
const SESSIONS: u64 = 100;

/// The simulator process, killed on drop.
struct Simulator {
    child: Child,
    log: PathBuf,
    stats: PathBuf,
}

impl Simulator {
    /// 20 servers, 100 sessions, a change and a load report every 500 ms
    /// on every server, to `brokers` over `transport` with the CA in `pki`.
    fn start(dir: &Path, pki: &Path, brokers: &[SocketAddr], transport: &str) -> Simulator {
        let n = unique();
        let log = dir.join(format!("simulate-{n}.log"));
        let stats = dir.join(format!("simulate-{n}.json"));
        let brokers: Vec<String> = brokers.iter().map(|b| b.to_string()).collect();
        let child = Command::new(env!("CARGO_BIN_EXE_x2gobroker-agent"))
            .arg("simulate")
            .args(["--brokers", &brokers.join(",")])
            .arg("--ca")
            .arg(pki.join("ca.pem"))
            .arg("--ca-key")
            .arg(pki.join("ca-key.pem"))
            .args(["--servers", &SERVERS.to_string()])
            .args(["--sessions", &SESSIONS.to_string()])
            .args(["--change-every-ms", "500", "--load-every-ms", "500"])
            .args(["--duration-s", "120", "--transport", transport])
            .arg("--stats-json")
            .arg(&stats)
            .env("RUST_LOG", "x2gobroker=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Simulator { child, log, stats }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM; the totals it wrote and its last line on stdout.
    fn stop(mut self) -> (serde_json::Value, String) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) },
            0
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the simulator ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "simulate: {status}: {}", self.log_text());
        let mut out = String::new();
        use std::io::Read;
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let text = std::fs::read_to_string(&self.stats).unwrap();
        (serde_json::from_str(&text).unwrap(), out)
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(pki: &Path) {
    ours_keygen(pki, &["--nodes", "1", "--clients", "admin"]);
}

/// Every simulated session the public gRPC API at `addr` lists for the
/// users simuser0..simuser99: session id -> (server, status).
fn listed_sessions(addr: SocketAddr) -> BTreeMap<String, (String, String)> {
    let rt = common::grpc::runtime();
    rt.block_on(async {
        let mut client = common::grpc::client(addr).await;
        let mut all = BTreeMap::new();
        for n in 0..SESSIONS {
            let user = format!("simuser{n}");
            let reply = client
                .list_sessions(ListSessionsRequest {
                    credentials: common::grpc::creds(&user, "pw", ""),
                })
                .await
                .unwrap()
                .into_inner();
            for s in reply.live_sessions {
                // The x2golistsessions line as the simulated server printed it.
                let fields: Vec<&str> = s.session_info.split('|').collect();
                assert_eq!(fields.len(), 16, "{}", s.session_info);
                assert_eq!(
                    (fields[1], fields[3], fields[4], fields[11]),
                    (
                        s.session_id.as_str(),
                        s.server.as_str(),
                        s.status.as_str(),
                        user.as_str()
                    )
                );
                all.insert(s.session_id, (s.server, s.status));
            }
        }
        all
    })
}

/// `x2gobrokerctl servers --json` on `node`: the rows.
fn server_rows(site: &Site, node: &ClusterNode) -> Vec<serde_json::Value> {
    let (ok, out) = ctl(site, node, &["servers", "--json"]);
    assert!(ok, "x2gobrokerctl servers: {out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn simulated_servers_report_to_a_node_and_the_counts_hold_through_churn() {
    let site = Site::new(CONF, PROFILES);
    let pki = site.path("pki");
    keygen(&pki);
    let (agents, grpc) = (loopback(), loopback());
    let (agents_addr, grpc_addr) = (addr_of(&agents), addr_of(&grpc));
    let broker = Ours::new(&site)
        .listen("--agents", agents)
        .listen("--grpc", grpc)
        .node1_identity(&pki)
        .start();
    let sim = Simulator::start(site.dir.path(), &pki, &[agents_addr], "grpc");
    wait_until(
        "20 servers and 100 sessions",
        Duration::from_secs(20),
        || agent_counts(broker.addr) == Some((SERVERS, SERVERS, SESSIONS)),
    );
    let before = listed_sessions(grpc_addr);
    // The users are asked one after the other while sessions end and start
    // (for other users), so a listing may miss or see twice a few of them;
    // the exact count is /status/agents'.
    let about = |n: usize| (90..=110).contains(&n);
    assert!(about(before.len()), "{before:?}");
    let servers: BTreeSet<&str> = before.values().map(|(s, _)| s.as_str()).collect();
    assert_eq!(servers.len(), SERVERS as usize, "{servers:?}");
    assert!(
        servers.iter().all(|s| s.starts_with("sim000")),
        "{servers:?}"
    );
    assert!(before.values().all(|(_, st)| st == "R" || st == "S"));
    // Every server changes a session every 500 ms: the counts stay exact.
    let until = Instant::now() + Duration::from_secs(3);
    let mut samples = 0;
    while Instant::now() < until {
        assert_eq!(
            agent_counts(broker.addr),
            Some((SERVERS, SERVERS, SESSIONS)),
            "during churn, after {samples} samples: {}",
            sim.log_text()
        );
        samples += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let visible = &agents_status(broker.addr).unwrap()["visible_ms"];
    assert!(visible["count"].as_u64().unwrap() > 100, "{visible}");
    assert!(visible["p99"].as_u64().unwrap() < 5_000, "{visible}");
    let after = listed_sessions(grpc_addr);
    assert!(about(after.len()), "{after:?}");
    let changed = before
        .iter()
        .filter(|(id, v)| after.get(*id) != Some(v))
        .count();
    assert!(changed >= 10, "only {changed} sessions changed in 3 s");
    let (totals, last_line) = sim.stop();
    assert_eq!(totals["servers"], SERVERS);
    assert_eq!(totals["connected"], SERVERS, "{totals}");
    assert_eq!(totals["sessions"], SESSIONS);
    assert_eq!(
        totals["session_lists"], SERVERS,
        "one full list each: {totals}"
    );
    assert_eq!(totals["reconnects"], 0, "{totals}");
    assert_eq!(totals["commands"], 0);
    assert!(
        totals["session_deltas"].as_u64().unwrap() >= 100,
        "{totals}"
    );
    assert!(totals["load_reports"].as_u64().unwrap() >= 100, "{totals}");
    assert!(last_line.contains("20/20 servers connected"), "{last_line}");
}

#[test]
fn simulated_servers_spread_over_a_cluster_and_move_on_when_a_node_dies() {
    let site = Site::new(CONF, PROFILES);
    let mut nodes = cluster_nodes(&site, 3, TIMING);
    let leader = start_all(&site, &mut nodes);
    let brokers: Vec<SocketAddr> = nodes.iter().map(|n| n.agents.unwrap()).collect();
    // Half of the servers over gRPC, half over QUIC.
    let sim = Simulator::start(site.dir.path(), &site.path("pki"), &brokers, "mixed");
    wait_until(
        "every node shows every server",
        Duration::from_secs(20),
        || {
            nodes
                .iter()
                .all(|n| agent_counts(n.http) == Some((SERVERS, SERVERS, SESSIONS)))
        },
    );
    // Every node measures how fresh the reports it applies are.
    for n in &nodes {
        let visible = &agents_status(n.http).unwrap()["visible_ms"];
        let count = visible["count"].as_u64().unwrap_or(0);
        assert!(count > 0, "node {}: {visible}", n.id);
        assert!(
            visible["p99"].as_u64().unwrap() < 5_000,
            "node {}: {visible}",
            n.id
        );
    }
    // Server i started at broker address i % 3: 7, 7 and 6 connected to
    // the three nodes, and its reports come through that node.
    for (k, n) in nodes.iter().enumerate() {
        let here = agents_status(n.http).unwrap()["connected_here"].as_u64();
        let want = (0..SERVERS as usize).filter(|i| i % 3 == k).count() as u64;
        assert_eq!(here, Some(want), "node {}", n.id);
    }
    let via = |row: &serde_json::Value| -> (usize, u64) {
        let host = row["hostname"].as_str().unwrap();
        let i: usize = host.strip_prefix("sim").unwrap().parse().unwrap();
        (i, row["node"].as_u64().unwrap())
    };
    wait_until(
        "the rows and loads of all 20 servers",
        Duration::from_secs(5),
        || {
            let rows = server_rows(&site, &nodes[0]);
            rows.len() == SERVERS as usize && rows.iter().all(|r| r["load_factor"].is_u64())
        },
    );
    let rows = server_rows(&site, &nodes[0]);
    for row in &rows {
        let (i, node) = via(row);
        assert_eq!(node, nodes[i % 3].id, "{row}");
        assert_eq!(row["sessions"], SESSIONS / SERVERS, "{row}");
        assert!(row["load_factor"].as_u64().unwrap() > 0, "{row}");
    }
    let factors: BTreeSet<u64> = rows
        .iter()
        .map(|r| r["load_factor"].as_u64().unwrap())
        .collect();
    assert!(
        factors.len() > 10,
        "each server has its own load: {factors:?}"
    );
    // A follower dies: its servers report through the next address.
    let victim = nodes.iter().position(|n| n.id != leader).unwrap();
    let dead = nodes[victim].id;
    nodes[victim].kill();
    let alive: Vec<&ClusterNode> = nodes.iter().filter(|n| n.id != dead).collect();
    wait_until(
        "no server reporting through the dead node",
        Duration::from_secs(10),
        || {
            let rows = server_rows(&site, alive[0]);
            rows.len() == SERVERS as usize && rows.iter().all(|r| via(r).1 != dead)
        },
    );
    for n in &alive {
        assert_eq!(agent_counts(n.http), Some((SERVERS, SERVERS, SESSIONS)));
    }
    let here: u64 = alive
        .iter()
        .map(|n| {
            agents_status(n.http).unwrap()["connected_here"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(here, SERVERS, "every server connected to a live node");
    let (totals, _) = sim.stop();
    let moved = (0..SERVERS as usize).filter(|i| i % 3 == victim).count() as u64;
    assert_eq!(totals["connected"], SERVERS, "{totals}");
    assert!(totals["reconnects"].as_u64().unwrap() >= moved, "{totals}");
    assert_eq!(
        totals["connects"].as_u64().unwrap(),
        SERVERS + moved,
        "{totals}"
    );
}
