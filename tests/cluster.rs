//! A three-node broker cluster of real processes on loopback: concurrent
//! selectsession requests on all nodes are serialised by the Raft log, every
//! acknowledged placement survives leader crashes and full restarts, a node
//! that missed many entries catches up through a snapshot, and a node
//! without a majority answers 503 instead of a stale answer.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::cluster::*;
use common::http::*;
use common::processes::*;
use common::site::*;
use common::wait_until;
use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CONF: &str = "[global]\nrequire-password = false\n";
const TIMING: &str = "heartbeat_ms = 50\nelection_min_ms = 300\nelection_max_ms = 600\nsnapshot_every = 40\ndeadline_ms = 2000\n";

/// Three live "X2Go servers" and a pool profile over them.
fn pool_site() -> (Site, Vec<TcpListener>) {
    let servers: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let hosts: Vec<String> = servers
        .iter()
        .enumerate()
        .map(|(i, l)| format!("h{i} (127.0.0.1:{})", l.local_addr().unwrap().port()))
        .collect();
    let profiles = format!("[pool]\nname=Pool\nhost={}\n", hosts.join(", "));
    (Site::new(CONF, &profiles), servers)
}

fn select(node: &ClusterNode, user: &str) -> Option<String> {
    let r = node.post(
        "/plain/",
        &form(&[("task", "selectsession"), ("user", user), ("sid", "pool")]),
    );
    if r.status != 200 {
        return None;
    }
    r.body
        .lines()
        .find_map(|l| l.strip_prefix("SERVER:"))
        .map(str::to_string)
}

/// Select until it succeeds on some running node (a leader change may take a moment).
fn select_anywhere(nodes: &[ClusterNode], user: &str) -> String {
    for _ in 0..100 {
        for n in nodes.iter().filter(|n| n.running.is_some()) {
            if let Some(s) = select(n, user) {
                return s;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no node placed {user}");
}

#[test]
fn concurrent_selects_on_all_nodes_never_place_a_user_twice() {
    let (site, _servers) = pool_site();
    let mut nodes = cluster_nodes(&site, 3, TIMING);
    start_all(&site, &mut nodes);
    let nodes = Arc::new(nodes);
    let answers: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>> = Arc::default();
    let mut threads = Vec::new();
    for round in 0..2 {
        for node in 0..3 {
            for user in 0..20 {
                let (nodes, answers) = (nodes.clone(), answers.clone());
                threads.push(std::thread::spawn(move || {
                    let user = format!("user{user}");
                    let server =
                        select(&nodes[(node + round) % 3], &user).expect("selectsession answered");
                    answers
                        .lock()
                        .unwrap()
                        .entry(user)
                        .or_default()
                        .insert(server);
                }));
            }
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    let answers = answers.lock().unwrap();
    assert_eq!(answers.len(), 20);
    for (user, servers) in answers.iter() {
        assert_eq!(servers.len(), 1, "{user} was placed on {servers:?}");
    }
    // Spread: three hosts, twenty users.
    let mut per_host: BTreeMap<&String, usize> = BTreeMap::new();
    for s in answers.values() {
        *per_host.entry(s.iter().next().unwrap()).or_default() += 1;
    }
    assert!(
        per_host.values().all(|n| (6..=7).contains(n)),
        "{per_host:?}"
    );
    wait_until(
        "all nodes to apply the same placements",
        Duration::from_secs(10),
        || converged(&nodes, 20),
    );
}

#[test]
fn leader_crash_loses_nothing_and_a_restarted_node_catches_up_by_snapshot() {
    let (site, _servers) = pool_site();
    let mut nodes = cluster_nodes(&site, 3, TIMING);
    start_all(&site, &mut nodes);
    let mut acked: BTreeMap<String, String> = BTreeMap::new();
    for u in 0..10 {
        let user = format!("a{u}");
        acked.insert(user.clone(), select_anywhere(&nodes, &user));
    }
    let leader = agreed_leader(&nodes).unwrap();
    let victim = nodes.iter().position(|n| n.id == leader).unwrap();
    nodes[victim].kill();
    // The survivors elect a new leader and keep placing; far more entries
    // than the snapshot threshold go by while the old leader is down.
    for u in 0..120 {
        let user = format!("b{u}");
        acked.insert(user.clone(), select_anywhere(&nodes, &user));
    }
    for (user, server) in acked.iter().take(10) {
        assert_eq!(
            &select_anywhere(&nodes, user),
            server,
            "placement of {user} survived the crash"
        );
    }
    nodes[victim].start(&site);
    wait_until(
        "the restarted node to catch up",
        Duration::from_secs(20),
        || converged(&nodes, acked.len()),
    );
    let log = nodes[victim].running.as_ref().unwrap().log_text();
    assert!(
        log.contains("installing a snapshot from the leader"),
        "caught up through a snapshot: {log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn full_cluster_crash_keeps_every_acknowledged_write() {
    let (site, _servers) = pool_site();
    let mut nodes = cluster_nodes(&site, 3, TIMING);
    start_all(&site, &mut nodes);
    let mut acked = BTreeMap::new();
    for u in 0..30 {
        let user = format!("c{u}");
        acked.insert(user.clone(), select_anywhere(&nodes, &user));
    }
    for n in nodes.iter_mut() {
        n.kill();
    }
    start_all(&site, &mut nodes);
    wait_until(
        "every node to replay the log",
        Duration::from_secs(20),
        || converged(&nodes, acked.len()),
    );
    for (user, server) in &acked {
        assert_eq!(&select_anywhere(&nodes, user), server, "{user}");
    }
}

#[test]
fn a_node_without_majority_answers_503() {
    let (site, _servers) = pool_site();
    let mut nodes = cluster_nodes(&site, 3, TIMING);
    start_all(&site, &mut nodes);
    assert!(select(&nodes[0], "before").is_some());
    nodes[1].kill();
    nodes[2].kill();
    for body in [
        "task=listsessions&user=u",
        "task=selectsession&user=u&sid=pool",
    ] {
        let r = nodes[0].post("/plain/", body);
        assert_eq!(r.status, 503, "{body}: {}", r.body);
        assert!(r.body.contains("cluster unavailable"), "{}", r.body);
    }
    // With one peer back, the majority serves again.
    nodes[1].start(&site);
    wait_until("the majority to serve", Duration::from_secs(20), || {
        select(&nodes[0], "after").is_some()
    });
}

#[test]
fn a_cookie_from_one_node_is_accepted_once_by_any_other() {
    let site = Site::new(
        "[global]\nrequire-password = true\ndefault-auth-mech = none\n",
        "[p]\nhost=127.0.0.9\n",
    );
    let mut nodes = cluster_nodes(&site, 3, TIMING);
    start_all(&site, &mut nodes);
    let login = nodes[0].post(
        "/plain/",
        &form(&[
            ("task", "listsessions"),
            ("user", "alice"),
            ("password", "pw"),
        ]),
    );
    assert_eq!(login.status, 200);
    let cookie = login.authid().unwrap();
    let with = |n: &ClusterNode, c: &str| {
        n.post(
            "/plain/",
            &form(&[("task", "listsessions"), ("user", "alice"), ("authid", c)]),
        )
    };
    let second = with(&nodes[1], &cookie);
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(with(&nodes[2], &cookie).status, 401, "used once");
    let next = second.authid().unwrap();
    assert_eq!(
        with(&nodes[2], &next).status,
        200,
        "the chained cookie works on a third node"
    );
}

/// A gRPC call to a node's node-to-node listener with the given TLS settings.
fn submit_as(
    node: &ClusterNode,
    tls: Option<tonic::transport::ClientTlsConfig>,
) -> Result<(), String> {
    use x2gobroker::cluster::proto::{raft_transport_client::RaftTransportClient, Payload};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut ep =
            tonic::transport::Endpoint::from_shared(format!("{scheme}://{}", node.raft)).unwrap();
        if let Some(tls) = tls {
            ep = ep.tls_config(tls).unwrap();
        }
        let channel = ep.connect().await.map_err(|e| e.to_string())?;
        let mut client = RaftTransportClient::new(channel);
        client
            .read_index(Payload::default())
            .await
            .map(|_| ())
            .map_err(|s| s.to_string())
    })
}

#[test]
fn node_to_node_needs_a_certificate_from_the_cluster_ca() {
    let (site, _servers) = pool_site();
    let mut nodes = cluster_nodes(&site, 3, TIMING);
    start_all(&site, &mut nodes);
    let read = |p: &str| std::fs::read(site.path("pki").join(p)).unwrap();
    let ca = tonic::transport::Certificate::from_pem(read("ca.pem"));
    let member = tonic::transport::Identity::from_pem(read("node1.pem"), read("node1-key.pem"));
    let good = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(ca.clone())
        .identity(member)
        .domain_name("x2gobroker-node");
    assert_eq!(
        submit_as(&nodes[1], Some(good)),
        Ok(()),
        "a member's certificate is accepted"
    );

    // No client certificate, plain HTTP/2, or a certificate of another cluster: refused.
    let anonymous = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(ca.clone())
        .domain_name("x2gobroker-node");
    assert!(submit_as(&nodes[1], Some(anonymous)).is_err());
    assert!(submit_as(&nodes[1], None).is_err());
    let other = site.path("other-pki");
    let out = std::process::Command::new(ours_bin())
        .args(["keygen", "--out"])
        .arg(&other)
        .args(["--nodes", "1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let foreign = tonic::transport::Identity::from_pem(
        std::fs::read(other.join("node1.pem")).unwrap(),
        std::fs::read(other.join("node1-key.pem")).unwrap(),
    );
    let stranger = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(ca)
        .identity(foreign)
        .domain_name("x2gobroker-node");
    assert!(
        submit_as(&nodes[1], Some(stranger)).is_err(),
        "another cluster's node is refused"
    );
}

#[test]
fn every_node_serves_the_replicated_profiles_version() {
    let site = Site::new(CONF, "[from-node1]\nhost=127.0.0.9\n");
    let mut nodes = cluster_nodes(&site, 3, TIMING);
    // Each node reads its own copy of the profiles file; they differ on purpose.
    for n in &nodes {
        let own = site.path(&format!("profiles-{}.conf", n.id));
        std::fs::write(&own, format!("[from-node{}]\nhost=127.0.0.9\n", n.id)).unwrap();
        let toml = std::fs::read_to_string(&n.toml).unwrap();
        std::fs::write(
            &n.toml,
            toml.replace(
                &site.profiles().display().to_string(),
                &own.display().to_string(),
            ),
        )
        .unwrap();
    }
    start_all(&site, &mut nodes);
    let listed = |n: &ClusterNode| n.post("/plain/", "task=listsessions&user=u").body;
    let leader = agreed_leader(&nodes).unwrap();
    let first = format!("[from-node{leader}]");
    wait_until(
        "all nodes to serve the first proposer's files",
        Duration::from_secs(10),
        || nodes.iter().all(|n| listed(n).contains(&first)),
    );

    // Node 2's files become the cluster's next version, on every node.
    let (ok, out) = ctl(&site, &nodes[1], &["reload"]);
    assert!(ok, "{out}");
    wait_until(
        "every node to serve node 2's version",
        Duration::from_secs(10),
        || {
            nodes
                .iter()
                .all(|n| listed(n).contains("[from-node2]") && !listed(n).contains(&first))
        },
    );
    let versions: Vec<_> = nodes
        .iter()
        .map(|n| n.status().unwrap()["config_version"].clone())
        .collect();
    assert!(versions.windows(2).all(|w| w[0] == w[1]), "{versions:?}");

    // A broken file is refused by the node that reads it; nothing changes.
    std::fs::write(site.path("profiles-3.conf"), "[x]\nwidth=broad\n").unwrap();
    let (ok, out) = ctl(&site, &nodes[2], &["reload"]);
    assert!(!ok && out.contains("width"), "{out}");
    assert!(nodes.iter().all(|n| listed(n).contains("[from-node2]")));
}

#[test]
fn leader_killed_while_load_runs_loses_no_acknowledged_placement() {
    let (site, _servers) = pool_site();
    let mut nodes = cluster_nodes(&site, 3, TIMING);
    start_all(&site, &mut nodes);
    let addrs: Vec<std::net::SocketAddr> = nodes.iter().map(|n| n.http).collect();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let mut load = Vec::new();
    for t in 0..4 {
        let (addrs, stop, acked) = (addrs.clone(), stop.clone(), acked.clone());
        load.push(std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let user = format!("t{t}u{i}");
                let body = form(&[("task", "selectsession"), ("user", &user), ("sid", "pool")]);
                // A client that fails over to another node (DNS round-robin), a few times.
                for attempt in 0..30 {
                    let r = try_request(
                        addrs[(i + attempt) % 3],
                        "POST",
                        "/plain/",
                        &[("Content-Type", "application/x-www-form-urlencoded")],
                        body.as_bytes(),
                    );
                    if let Some(r) = r.ok().filter(|r| r.status == 200) {
                        let server = r
                            .body
                            .lines()
                            .find_map(|l| l.strip_prefix("SERVER:"))
                            .unwrap()
                            .to_string();
                        acked.lock().unwrap().insert(user, server);
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(700));
    let leader = agreed_leader(&nodes).unwrap();
    let victim = nodes.iter().position(|n| n.id == leader).unwrap();
    nodes[victim].kill();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "load ran: {}", acked.len());
    nodes[victim].start(&site);
    wait_until(
        "all three to hold every acknowledged placement",
        Duration::from_secs(20),
        || {
            let s: Vec<_> = nodes.iter().map(|n| n.status()).collect();
            s.iter().all(|x| {
                x.as_ref()
                    .is_some_and(|x| x["placements"].as_u64().unwrap_or(0) as usize >= acked.len())
            }) && s
                .windows(2)
                .all(|w| w[0].as_ref().map(|x| &x["digest"]) == w[1].as_ref().map(|x| &x["digest"]))
        },
    );
    // Every acknowledged placement is still there: the same user goes back to the same host.
    for (user, server) in acked.iter().step_by(7) {
        assert_eq!(&select_anywhere(&nodes, user), server, "{user}");
    }
}
