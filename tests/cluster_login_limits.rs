//! Failed-login limits hold across a three-node cluster: failures spread
//! over the nodes count together (the leader keeps the counters), every
//! node then refuses the user, even with the right password, until the
//! window passes, and none of it is written to the Raft log.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::accounts::*;
use common::cluster::*;
use common::http::*;
use common::site::*;
use common::wait_until;
use std::time::{Duration, Instant};

const PAM_CONF: &str =
    "[global]\nrequire-password = true\ndefault-auth-mech = pam\n[broker_inifile]\nenable = true\n";
const PROFILES: &str = "[p]\nname=P\nhost=127.0.0.9\n";
const TIMING: &str = common::cluster::FAST_TIMING;
/// Failures per user before the limit, and the window they count in.
const LIMIT: usize = 5;
const WINDOW_S: u64 = 8;

fn login(node: &ClusterNode, user: &str, password: &str) -> Reply {
    node.post(
        "/plain/",
        &form(&[
            ("task", "listsessions"),
            ("user", user),
            ("password", password),
        ]),
    )
}

#[test]
#[ignore = "needs root (PAM test accounts)"]
fn failed_logins_count_across_the_cluster() {
    let user = TestUser::create("x2gocl");
    let site = Site::new(PAM_CONF, PROFILES);
    let mut nodes = cluster_nodes(&site, 3, TIMING);
    for n in nodes.iter_mut() {
        n.args = vec![
            "--max-failed-logins-per-user".into(),
            LIMIT.to_string(),
            "--failed-login-window".into(),
            WINDOW_S.to_string(),
        ];
    }
    start_all(&site, &mut nodes);
    // The configuration is replicated and start-up purges are applied: the log is quiet.
    wait_until(
        "every node to serve the profile",
        Duration::from_secs(20),
        || {
            nodes.iter().all(|n| {
                let r = login(n, "check-credentials", "FALSE");
                r.status == 401
            }) && {
                let before = log_index(&nodes);
                std::thread::sleep(Duration::from_millis(500));
                before == log_index(&nodes)
            }
        },
    );
    let before = log_index(&nodes);

    // LIMIT wrong passwords at once, spread over the three nodes.
    let started = Instant::now();
    std::thread::scope(|s| {
        for i in 0..LIMIT {
            let node = &nodes[i % 3];
            let name = user.name.clone();
            s.spawn(move || {
                let r = login(node, &name, "wrong-guess");
                assert_eq!(r.status, 401, "node {}: {}", node.id, r.body);
            });
        }
    });
    // Every node now refuses even the right password.
    for n in &nodes {
        let r = login(n, &user.name, &user.password);
        assert_eq!(r.status, 429, "node {}: {}", n.id, r.body);
        assert!(r.header("retry-after").is_some());
    }
    assert!(
        started.elapsed() < Duration::from_secs(WINDOW_S),
        "the checks ran within the window"
    );
    assert_eq!(
        log_index(&nodes),
        before,
        "failed logins and limit checks write nothing to the Raft log"
    );

    // Once the window has passed, the right password is accepted on every node.
    std::thread::sleep(Duration::from_secs(WINDOW_S).saturating_sub(started.elapsed()));
    for n in &nodes {
        wait_until("the window to pass", Duration::from_secs(5), || {
            login(n, &user.name, &user.password).status == 200
        });
    }
}
