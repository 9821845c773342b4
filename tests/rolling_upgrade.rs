//! Rolling upgrade of a three-node cluster (mutual TLS between the nodes)
//! of real processes, under load from round-robin X2Go clients
//! (`common::load`): the build is copied to an `old` and a `new` path, the
//! cluster starts from `old`, and each node in turn (followers first, the
//! leader last, as docs/upgrade.md says) is stopped with SIGTERM, started
//! from `new` and waited for until it has applied what the leader had.
//! No client request fails, every acknowledged placement is on every node
//! afterwards, and the time each node took is printed.
//!
//! And the format versions: a node whose Raft store names a format newer
//! than its build reads exits non-zero, naming the data directory, the
//! format found and the ones supported, and leaves the store as it was; a
//! node-to-node request of a newer command format is refused by name. A
//! cluster's only voter stops at once on SIGTERM (no handover to wait for).

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::cluster::*;
use common::grpc::{creds, runtime};
use common::http::form;
use common::load::{Load, PASSWORD};
use common::site::Site;
use common::wait_until;
use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use x2gobroker::api::grpc::proto::broker_client::BrokerClient;
use x2gobroker::api::grpc::proto::ListSessionsRequest;

/// Every user logs in with a password (any, mechanism `none`) and gets cookies.
const CONF: &str = "[global]\nrequire-password = true\ndefault-auth-mech = none\n";
/// The production timing (elections, deadline), with snapshots often
/// enough that the upgrade builds and ships some.
const TIMING: &str = "snapshot_every = 200\n";
/// How long a node may take to exit after SIGTERM.
const STOP_WITHIN: Duration = Duration::from_secs(15);

/// Three live "X2Go servers" (their names by port) and a pool profile over them.
fn pool_site() -> (Site, Vec<TcpListener>, BTreeMap<u16, String>) {
    let servers: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let names: BTreeMap<u16, String> = servers
        .iter()
        .enumerate()
        .map(|(i, l)| (l.local_addr().unwrap().port(), format!("h{i}")))
        .collect();
    let hosts: Vec<String> = names
        .iter()
        .map(|(port, name)| format!("{name} (127.0.0.1:{port})"))
        .collect();
    let profiles = format!("[pool]\nname=Pool\nhost={}\n", hosts.join(", "));
    (Site::new(CONF, &profiles), servers, names)
}

/// Copy the build to `dir/x2gobroker` (a separate executable file).
fn copy_build(site: &Site, dir: &str) -> PathBuf {
    let to = site.path(dir);
    std::fs::create_dir_all(&to).unwrap();
    let bin = to.join("x2gobroker");
    std::fs::copy(common::processes::ours_bin(), &bin).unwrap();
    bin
}

/// The executable a running node was started from.
fn executable(node: &ClusterNode) -> PathBuf {
    let pid = node.running.as_ref().unwrap().child.id();
    std::fs::read_link(format!("/proc/{pid}/exe")).unwrap()
}

/// `x2gobrokerctl status --json` through `node`: each member's applied
/// index, and the leader's id (as docs/upgrade.md checks catch-up).
fn ctl_applied(site: &Site, node: &ClusterNode) -> Option<(BTreeMap<u64, u64>, u64)> {
    let (ok, out) = ctl(site, node, &["status", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).ok().filter(|_| ok)?;
    let applied = rows
        .iter()
        .filter_map(|r| Some((r["id"].as_u64()?, r["applied_index"].as_u64()?)))
        .collect();
    let leader = rows.iter().find_map(|r| r["leader"].as_u64())?;
    Some((applied, leader))
}

/// What one node's upgrade took.
struct Step {
    id: u64,
    was_leader: bool,
    /// The log line of a leader that handed its leadership over.
    handed_over: Option<String>,
    stopped: Duration,
    serving: Duration,
    caught_up: Duration,
}

/// Stop `nodes[i]` with SIGTERM, start it from `bin`, and wait until it
/// has applied everything the others had applied when it answered again.
fn replace(site: &Site, nodes: &mut [ClusterNode], i: usize, bin: &Path) -> Step {
    let was_leader = agreed_leader(nodes) == Some(nodes[i].id);
    let began = Instant::now();
    let running = nodes[i].running.take().unwrap();
    let log = running.log.clone();
    let status = running.terminate(STOP_WITHIN);
    assert!(status.success(), "node {} exited {status}", nodes[i].id);
    let stopped = began.elapsed();
    let handed_over = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .find(|l| l.contains("handed leadership over"))
        .map(str::to_string);
    nodes[i].bin = Some(bin.to_path_buf());
    nodes[i].start(site);
    let serving = began.elapsed();
    // Caught up: the node has applied what the leader had applied when it
    // answered again (under load the leader keeps moving on).
    let id = nodes[i].id;
    let mut target = None;
    wait_until("the new node to catch up", Duration::from_secs(60), || {
        let Some((applied, leader)) = ctl_applied(site, &nodes[i]) else {
            return false;
        };
        let Some(&mine) = applied.get(&id) else {
            return false;
        };
        match target {
            None => {
                target = applied.get(&leader).copied();
                false
            }
            Some(t) => mine >= t,
        }
    });
    Step {
        id: nodes[i].id,
        was_leader,
        handed_over,
        stopped,
        serving,
        caught_up: began.elapsed(),
    }
}

#[test]
fn rolling_upgrade_under_load_fails_no_request_and_loses_no_placement() {
    let (site, _servers, names) = pool_site();
    let old = copy_build(&site, "old");
    let new = copy_build(&site, "new");
    let mut nodes = cluster_nodes(&site, 3, TIMING);
    for n in nodes.iter_mut() {
        n.with_grpc();
        n.bin = Some(old.clone());
        n.rust_log = Some("x2gobroker=info,openraft=warn".into());
    }
    start_all(&site, &mut nodes);
    let began = Instant::now();
    let (ok, out) = ctl(&site, &nodes[0], &["status"]);
    assert!(ok, "{out}");
    println!(
        "x2gobrokerctl status took {} ms",
        began.elapsed().as_millis()
    );

    let load = Load::start(nodes.iter().map(|n| n.http).collect(), 6, "pool");
    wait_until("the load to place users", Duration::from_secs(30), || {
        load.placed() >= 20
    });
    // Followers first, the leader last.
    let leader = agreed_leader(&nodes).unwrap();
    let mut order: Vec<usize> = (0..nodes.len())
        .filter(|i| nodes[*i].id != leader)
        .collect();
    order.extend((0..nodes.len()).filter(|i| nodes[*i].id == leader));
    let mut steps = Vec::new();
    let mut windows = Vec::new();
    let upgrade = Instant::now();
    for i in order {
        let from = Instant::now();
        println!(
            "node {} stopped {} ms into the upgrade",
            nodes[i].id,
            from.duration_since(upgrade).as_millis()
        );
        steps.push(replace(&site, &mut nodes, i, &new));
        windows.push((nodes[i].id, from, Instant::now()));
        assert_eq!(
            executable(&nodes[i]),
            new,
            "node {} runs the new build",
            nodes[i].id
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    std::thread::sleep(Duration::from_secs(2));
    let tally = load.finish();
    for (at, took, what) in tally.slowest(5) {
        let at = at.duration_since(upgrade).as_millis();
        println!("slow: {what} began {at} ms into the upgrade, took {took:?}");
    }

    let (p50, p99, max) = tally.percentiles();
    println!(
        "load: {} requests, {} failed, {} answered by the next address, {} placements; latency p50 {p50:?} p99 {p99:?} max {max:?}",
        tally.requests,
        tally.failures.len(),
        tally.failed_over,
        tally.placed.len()
    );
    for s in &steps {
        println!(
            "node {}{}: exited {} ms after SIGTERM, new build serving after {} ms, caught up after {} ms",
            s.id,
            if s.was_leader { " (leader)" } else { "" },
            s.stopped.as_millis(),
            s.serving.as_millis(),
            s.caught_up.as_millis()
        );
    }
    assert!(
        tally.failures.is_empty(),
        "{} failed requests: {:#?}",
        tally.failures.len(),
        tally.failures
    );
    let leader = steps
        .iter()
        .find(|s| s.was_leader)
        .expect("the leader was replaced too");
    let handed_over = leader
        .handed_over
        .as_deref()
        .expect("the leader handed over");
    println!("leader: {handed_over}");
    // The load ran throughout: placements were acknowledged while each node was being replaced.
    for (id, from, to) in &windows {
        let during = tally
            .placed
            .iter()
            .filter(|(_, _, at)| at > from && at < to)
            .count();
        assert!(during > 0, "no placement while node {id} was replaced");
    }

    // Every acknowledged placement is on every node.
    let placed: BTreeMap<String, String> = tally
        .placed
        .iter()
        .map(|(user, server, _)| (user.clone(), server.clone()))
        .collect();
    assert_eq!(placed.len(), tally.placed.len(), "one placement per user");
    wait_until(
        "every node to apply the same state",
        Duration::from_secs(30),
        || converged(&nodes, placed.len()),
    );
    let rt = runtime();
    for node in &nodes {
        let mut client: BrokerClient<_> = rt.block_on(common::grpc::client(node.grpc.unwrap()));
        for (user, server) in &placed {
            let port: u16 = server.rsplit(':').next().unwrap().parse().unwrap();
            let reply = rt
                .block_on(client.list_sessions(ListSessionsRequest {
                    credentials: creds(user, PASSWORD, ""),
                }))
                .unwrap_or_else(|e| panic!("node {}: {user}: {e}", node.id))
                .into_inner();
            let hosts: BTreeSet<(&str, &str)> = reply
                .sessions
                .iter()
                .map(|s| (s.profile_id.as_str(), s.host.as_str()))
                .collect();
            assert_eq!(
                hosts,
                BTreeSet::from([("pool", names[&port].as_str())]),
                "node {}: {user} was acknowledged on {server}",
                node.id
            );
        }
    }
    for n in &nodes {
        let log = n.running.as_ref().unwrap().log_text();
        assert!(!log.contains("panicked"), "{log}");
    }
}

/// Wait until no handle holds the sled database at `path` (sled's own
/// threads let it go a moment after the last handle is dropped).
fn released(path: &Path) {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path.join("db")).unwrap();
    wait_until(
        "sled to let the database go",
        Duration::from_secs(10),
        || {
            // SAFETY: flock(2) on a descriptor this function owns.
            let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            // Closing the descriptor (at the end) releases the probe's lock.
            locked == 0
        },
    );
}

/// Every key and value of every tree of the sled database at `path`.
fn contents(path: &Path) -> BTreeMap<(Vec<u8>, Vec<u8>), Vec<u8>> {
    released(path);
    let db = sled::open(path).unwrap();
    let mut all = BTreeMap::new();
    for name in db.tree_names() {
        let tree = db.open_tree(&name).unwrap();
        for kv in tree.iter() {
            let (k, v) = kv.unwrap();
            all.insert((name.to_vec(), k.to_vec()), v.to_vec());
        }
    }
    drop(db);
    released(path);
    all
}

/// Set the store format version of the (closed) database at `path`, the
/// documented way: ASCII decimal under `x2gobroker-format` in the default tree.
fn set_format(path: &Path, version: &str) {
    released(path);
    let db = sled::open(path).unwrap();
    db.insert("x2gobroker-format", version.as_bytes()).unwrap();
    db.flush().unwrap();
    drop(db);
    released(path);
}

#[test]
fn a_node_refuses_a_store_of_a_newer_format_and_leaves_it_as_it_was() {
    let (site, _servers, _) = pool_site();
    let mut nodes = cluster_nodes(&site, 3, FAST_TIMING);
    start_all(&site, &mut nodes);
    for u in 0..5 {
        let r = nodes[0].post(
            "/plain/",
            &form(&[
                ("task", "selectsession"),
                ("user", &format!("u{u}")),
                ("password", PASSWORD),
                ("sid", "pool"),
            ]),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let status = nodes[2].running.take().unwrap().terminate(STOP_WITHIN);
    assert!(status.success(), "{status}");
    let data_dir = site.path("data3");
    let store = data_dir.join("raft.sled");
    let before = contents(&store);
    let format_key = (b"__sled__default".to_vec(), b"x2gobroker-format".to_vec());
    assert_eq!(before.get(&format_key).map(Vec::as_slice), Some(&b"1"[..]));
    set_format(&store, "2");
    let bumped = contents(&store);

    // The node's own command line, but it binds its addresses itself.
    let log = site.path("refused.log");
    let mut child = Command::new(common::processes::ours_bin())
        .args(["serve", "--config"])
        .arg(&nodes[2].toml)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the node kept running");
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!exit.success(), "{text}");
    for part in [
        format!("data directory {}", data_dir.display()),
        "raft.sled is in store format 2".to_string(),
        "reads store formats 1 to 1".to_string(),
    ] {
        assert!(text.contains(&part), "{part:?} in {text}");
    }
    println!("refused: {}", text.trim());
    assert_eq!(
        contents(&store),
        bumped,
        "the refused store is left as it was"
    );

    // Back to the format it really is: the node starts and catches up.
    set_format(&store, "1");
    assert_eq!(contents(&store), before);
    nodes[2].start(&site);
    wait_until("the node to catch up", Duration::from_secs(30), || {
        converged(&nodes, 5)
    });
}

/// The only voter has nobody to hand its leadership to: it stops at once
/// (it does not wait the second a leader waits for a follower to catch up).
#[test]
fn a_one_member_cluster_stops_at_once_on_sigterm() {
    let (site, _servers, _) = pool_site();
    let mut nodes = cluster_nodes(&site, 1, FAST_TIMING);
    assert_eq!(start_all(&site, &mut nodes), 1);
    let running = nodes[0].running.take().unwrap();
    let log = running.log.clone();
    let began = Instant::now();
    let status = running.terminate(STOP_WITHIN);
    let took = began.elapsed();
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_millis(900), "took {took:?}");
    let log = std::fs::read_to_string(log).unwrap();
    assert!(
        log.contains("stopping as leader without handing over"),
        "{log}"
    );
}

/// A node-to-node request in a command format newer than the node reads is
/// refused by name; one without the header (an older build's) is served.
#[test]
fn a_request_of_a_newer_command_format_is_refused() {
    use x2gobroker::cluster::proto::{raft_transport_client::RaftTransportClient, Payload};
    let (site, _servers, _) = pool_site();
    let mut nodes = cluster_nodes(&site, 1, FAST_TIMING);
    start_all(&site, &mut nodes);
    let rt = runtime();
    rt.block_on(async {
        let channel = raft_channel(&nodes[0], client_tls(&site, "node1")).await;
        let mut client = RaftTransportClient::new(channel);
        let reads = x2gobroker::state::COMMAND_FORMAT;
        let mut newer = tonic::Request::new(Payload::default());
        newer.metadata_mut().insert(
            "x2gobroker-format",
            (reads + 1).to_string().parse().unwrap(),
        );
        let refused = client.read_index(newer).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
        assert!(
            refused
                .message()
                .contains(&format!("command format {}", reads + 1))
                && refused
                    .message()
                    .contains(&format!("reads formats 1 to {reads}")),
            "{}",
            refused.message()
        );
        let older = client.read_index(Payload::default()).await.unwrap();
        // The answer says which formats the node reads.
        assert_eq!(
            older
                .metadata()
                .get("x2gobroker-reads")
                .and_then(|v| v.to_str().ok()),
            Some(reads.to_string().as_str())
        );
        let index: Result<u64, x2gobroker::cluster::error::RemoteFailure> =
            x2gobroker::cluster::network::decode(older.get_ref()).unwrap();
        assert!(index.unwrap() > 0);
    });
}
