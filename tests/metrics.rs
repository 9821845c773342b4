//! `/metrics` on the `--metrics` listener: the Prometheus text format as
//! `promtool check metrics` accepts it, and each family moving when its
//! event happens: requests by frontend, task and status, failed logins
//! (PAM) and rate-limit refusals, placements by reason, the Raft role, and
//! in a cluster the proposals with their batch sizes and every node's Raft
//! numbers. The agent families (servers, sessions, load factors, agents by
//! transport, report latency) are checked in `agent_cluster.rs`'s farm.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::cluster::*;
use common::http::get_within;
use common::metrics::*;
use common::processes::*;
use common::site::Site;
use common::sockets::{addr_of, loopback};
use std::net::SocketAddr;
use std::time::Duration;

/// inifile without authentication; zeroconf through PAM (failures).
const CONF: &str = "[global]\ndefault-auth-mech = pam\n[broker_inifile]\nenable = true\nauth-mech = none\n[broker_zeroconf]\nenable = true\n";
const PROFILES: &str = "[pool]\nname=Pool\nhost=a (127.0.0.71), b (127.0.0.72)\nbroker-portscan-x2goservers = false\n\n[one]\nname=One\nhost=c (127.0.0.73)\n";

#[test]
fn each_family_moves_with_its_event_and_promtool_accepts_the_page() {
    let site = Site::new(CONF, PROFILES);
    let metrics = loopback();
    let metrics_addr = addr_of(&metrics);
    let node = Ours::new(&site)
        .listen("--metrics", metrics)
        .args(&["--max-failed-logins-per-user", "2"])
        .start();
    let before = scrape(metrics_addr);
    assert_eq!(
        sample(&before, "x2gobroker_raft_role{name=\"standalone\"}"),
        1.0
    );

    // Requests by frontend, task and status.
    let listed = node.post("/plain/", "task=listsessions&user=alice");
    assert_eq!(listed.status, 200);
    let series =
        "x2gobroker_requests_total{frontend=\"plain\",task=\"listsessions\",status=\"200\"}";
    let page = scrape(metrics_addr);
    assert_eq!(sample(&page, series), sample(&before, series) + 1.0);
    assert!(
        sample(
            &page,
            "x2gobroker_request_duration_seconds_count{frontend=\"plain\",task=\"listsessions\"}"
        ) >= 1.0
    );

    // Placements by reason: by placement counts, sticky, the sole host.
    for (profile, user) in [("pool", "bob"), ("pool", "bob"), ("one", "bob")] {
        let r = node.post(
            "/plain/",
            &format!("task=selectsession&user={user}&sid={profile}"),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let page = scrape(metrics_addr);
    for reason in ["count", "sticky", "sole"] {
        let series = format!("x2gobroker_placements_total{{reason=\"{reason}\"}}");
        assert_eq!(sample(&page, &series), 1.0, "{series}");
    }

    // Failed logins through PAM, then the rate limit.
    for _ in 0..3 {
        node.post(
            "/plain/zeroconf/",
            "task=listsessions&user=nosuchuser&password=wrong",
        );
    }
    let page = scrape(metrics_addr);
    assert_eq!(sample(&page, "x2gobroker_login_failures_total"), 2.0);
    assert_eq!(
        sample(
            &page,
            "x2gobroker_login_refusals_total{reason=\"rate_limited\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &page,
            "x2gobroker_requests_total{frontend=\"plain\",task=\"listsessions\",status=\"401\"}"
        ),
        2.0
    );
    promtool_accepts(&page);

    // Only /metrics there, and never on the public listeners.
    let other = get_within(
        metrics_addr,
        "/plain/",
        Duration::from_secs(2),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(other.status, 404);
    assert_eq!(node.get("/metrics").status, 404);
}

#[test]
fn a_cluster_counts_its_proposals_and_shows_each_nodes_raft_numbers() {
    let site = Site::new(CONF, PROFILES);
    let mut nodes = cluster_nodes(
        &site,
        3,
        "heartbeat_ms = 50\nelection_min_ms = 300\nelection_max_ms = 600\ndeadline_ms = 2000\n",
    );
    let addrs: Vec<SocketAddr> = nodes.iter_mut().map(|n| n.with_metrics()).collect();
    let leader = start_all(&site, &mut nodes);
    let follower = nodes.iter().find(|n| n.id != leader).unwrap();
    let at = addrs[follower.id as usize - 1];
    let before = scrape(at);
    for i in 0..5 {
        let r = follower.post("/plain/", &format!("task=selectsession&user=u{i}&sid=pool"));
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let page = scrape(at);
    assert!(
        sample(&page, "x2gobroker_proposals_total")
            >= sample(&before, "x2gobroker_proposals_total") + 1.0,
        "{page}"
    );
    assert!(sample(&page, "x2gobroker_proposal_batch_size_count") >= 1.0);
    common::wait_until(
        "every node applied the placements",
        Duration::from_secs(5),
        || {
            let applied: Vec<f64> = addrs
                .iter()
                .map(|a| sample(&scrape(*a), "x2gobroker_raft_applied_index"))
                .collect();
            applied.iter().all(|a| *a > 0.0 && *a == applied[0])
        },
    );
    for (n, a) in nodes.iter().zip(&addrs) {
        let page = scrape(*a);
        let role = if n.id == leader { "leader" } else { "follower" };
        assert_eq!(
            sample(&page, &format!("x2gobroker_raft_role{{name=\"{role}\"}}")),
            1.0,
            "node {}",
            n.id
        );
        assert!(sample(&page, "x2gobroker_raft_term") >= 1.0);
        promtool_accepts(&page);
    }
}
