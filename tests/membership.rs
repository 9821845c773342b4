//! Membership changes under load, through `x2gobrokerctl`: a fourth node
//! joins as learner and becomes a voter, another node is removed, while
//! clients keep selecting sessions on every node; nothing is lost.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::cluster::*;
use common::http::*;
use common::site::*;
use common::wait_until;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TIMING: &str = "heartbeat_ms = 50\nelection_min_ms = 300\nelection_max_ms = 600\nsnapshot_every = 50\ndeadline_ms = 3000\n";

#[test]
fn add_a_fourth_node_and_remove_another_under_load() {
    let site = Site::new(
        "[global]\nrequire-password = false\n",
        "[pool]\nhost=a (127.0.0.1:1), b (127.0.0.1:2)\nbroker-portscan-x2goservers = false\n",
    );
    let mut nodes = cluster_nodes_with(&site, 3, 4, TIMING);
    for n in nodes.iter_mut().take(3) {
        n.start(&site);
    }
    wait_until("a leader", Duration::from_secs(20), || {
        agreed_leader(&nodes[..3]).is_some()
    });

    // Load: distinct users round-robin over the serving nodes; a client retries on another node.
    let serving: Arc<Mutex<Vec<std::net::SocketAddr>>> =
        Arc::new(Mutex::new(nodes[..3].iter().map(|n| n.http).collect()));
    let stop = Arc::new(AtomicBool::new(false));
    let (acked, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = {
        let (serving, stop, acked, failed) =
            (serving.clone(), stop.clone(), acked.clone(), failed.clone());
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let body = form(&[
                    ("task", "selectsession"),
                    ("user", &format!("load{i}")),
                    ("sid", "pool"),
                ]);
                let ok = (0..6).any(|attempt| {
                    let addrs = serving.lock().unwrap().clone();
                    let addr = addrs[(i + attempt) % addrs.len()];
                    let r = request(
                        addr,
                        "POST",
                        "/plain/",
                        &[("Content-Type", "application/x-www-form-urlencoded")],
                        body.as_bytes(),
                    );
                    r.status == 200
                });
                if ok {
                    acked.fetch_add(1, Ordering::Relaxed)
                } else {
                    failed.fetch_add(1, Ordering::Relaxed)
                };
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));

    nodes[3].start(&site);
    let (raft4, http4) = (nodes[3].raft.to_string(), nodes[3].http.to_string());
    let (ok, out) = ctl(
        &site,
        &nodes[1],
        &["add-node", "4", "--raft", &raft4, "--http", &http4],
    );
    assert!(ok, "add-node: {out}");
    serving.lock().unwrap().push(nodes[3].http);
    wait_until("node 4 to follow", Duration::from_secs(20), || {
        nodes[3].status().is_some_and(|s| {
            s["members"].as_object().is_some_and(|m| m.len() == 4) && s["leader"].is_u64()
        })
    });
    std::thread::sleep(Duration::from_millis(500));

    // Remove a node that does not lead.
    let leader = agreed_leader(&nodes).unwrap();
    let victim = nodes
        .iter()
        .position(|n| n.id != leader && n.id != 4)
        .unwrap();
    serving.lock().unwrap().retain(|a| *a != nodes[victim].http);
    let victim_id = nodes[victim].id.to_string();
    let (ok, out) = ctl(&site, &nodes[3], &["remove-node", &victim_id]);
    assert!(ok, "remove-node: {out}");
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    nodes[victim].kill();

    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "every request succeeded (with client retries)"
    );
    let acked = acked.load(Ordering::Relaxed);
    assert!(acked > 20, "load ran: {acked}");
    let remaining: Vec<&ClusterNode> = nodes.iter().filter(|n| n.running.is_some()).collect();
    wait_until(
        "the remaining three to agree",
        Duration::from_secs(20),
        || {
            let s: Vec<_> = remaining.iter().map(|n| n.status()).collect();
            s.iter().all(|x| {
                x.as_ref().is_some_and(|x| {
                    x["placements"] == acked
                        && x["members"].as_object().is_some_and(|m| m.len() == 3)
                })
            }) && s
                .windows(2)
                .all(|w| w[0].as_ref().map(|x| &x["digest"]) == w[1].as_ref().map(|x| &x["digest"]))
        },
    );

    let (ok, out) = ctl(&site, remaining[0], &["status"]);
    assert!(ok, "{out}");
    assert_eq!(out.lines().count(), 4, "a header and three members: {out}");
    assert!(out.contains("Leader"), "{out}");
    let (ok, out) = ctl(&site, remaining[0], &["--json", "status"]);
    assert!(ok);
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 3);
    let (ok, out) = ctl(&site, remaining[0], &["snapshot"]);
    assert!(ok, "{out}");
}
