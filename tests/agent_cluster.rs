//! Placement on live data, end to end: two real agents (`--hostname x2go1`
//! and `x2go2`) on this machine's X2Go session database stream to a real
//! three-node cluster; sessions are made and changed with X2Go's own tools
//! as their user. Every node must answer `listsessions` and `selectsession`
//! exactly as the reference broker does with its own agent in
//! `default-agent-query-mode = LOCAL` on the same database (the session
//! line's age field aside): a suspended session shows and resumes, a
//! running one is suspended through its agent and handed out, an ended one
//! disappears; new users go to the less loaded server, never to a drained
//! one or to one whose agent died; and killing the node an agent streams
//! to moves it to another node within 5 s with no gap in what the cluster
//! answers. x2go1's agent uses gRPC, x2go2's QUIC.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::cluster::*;
use common::farm::*;
use common::metrics::{promtool_accepts, sample};
use common::processes::start_reference;
use common::x2go::*;
use std::time::{Duration, Instant};

#[test]
#[ignore = "needs root (x2goserver session database, test accounts) and the reference broker with its agent (x2gobroker-daemon, x2gobroker-agent, sudo)"]
fn sessions_and_load_place_users_as_the_reference_on_every_node() {
    let _db = session_db_blocking();
    let farm = Farm::start("3000", "");
    let reference = start_reference(&farm.site);
    let user = X2goUser::create("agplc");
    let name = user.name();

    // A new user goes to the less loaded server (x2go2: factor 900 against 100).
    let newcomer = format!("{name}new");
    let port2 = farm.port(1);
    let port1 = farm.port(0);
    assert_eq!(
        server_of(&ask_node(farm.node(3), &select("plain", &newcomer))),
        format!("127.0.0.62:{port2}")
    );

    // A suspended session appears on every node within 2 s.
    let sid = new_session(name, "x2go2", true);
    let made = Instant::now();
    change_status(name, "S", &sid);
    common::wait_until(
        "status=S host=x2go2 on every node",
        Duration::from_secs(2),
        || every_node_shows(&farm, name, (Some("S"), Some("x2go2"))),
    );
    eprintln!(
        "suspended session visible on every node after {:?}",
        made.elapsed()
    );
    // ... and every node answers exactly what the reference answers.
    for request in [
        list("plain", name),
        list("json", name),
        select("plain", name),
        select("json", name),
    ] {
        let theirs = comparable(&ask_reference(&reference, &request));
        for n in &farm.nodes {
            assert_eq!(
                comparable(&ask_node(n, &request)),
                theirs,
                "{request} on node {}",
                n.id
            );
        }
    }
    let resumed = ask_node(farm.node(1), &select("plain", name));
    assert!(
        resumed.body.contains(&format!("|{sid}|")),
        "{}",
        resumed.body
    );

    // The metrics show the servers, sessions, load factors and agents.
    let page = farm.metrics(1);
    assert_eq!(
        sample(&page, "x2gobroker_servers{name=\"up\"}"),
        2.0,
        "{page}"
    );
    // (other tests' sessions on x2go2 may still be in the shared database)
    assert!(sample(&page, "x2gobroker_sessions{server=\"x2go2\",status=\"S\"}") >= 1.0);
    assert_eq!(
        sample(&page, "x2gobroker_load_factor{server=\"x2go1\"}"),
        100.0
    );
    assert_eq!(
        sample(&page, "x2gobroker_load_factor{server=\"x2go2\"}"),
        900.0
    );
    assert!(sample(&page, "x2gobroker_placements_total{reason=\"resume\"}") >= 1.0);
    promtool_accepts(&page);
    let connected = |transport: &str| -> f64 {
        let series = format!("x2gobroker_agents_connected{{name=\"{transport}\"}}");
        (1..=3).map(|id| sample(&farm.metrics(id), &series)).sum()
    };
    assert_eq!((connected("grpc"), connected("quic")), (1.0, 1.0));
    let reported: f64 = (1..=3)
        .map(|id| sample(&farm.metrics(id), "x2gobroker_agent_reports_total"))
        .sum();
    assert!(reported >= 2.0, "agent reports proposed: {reported}");

    // A running session shows as R, is suspended through its agent and handed out.
    change_status(name, "R", &sid);
    common::wait_until("status=R on every node", Duration::from_secs(2), || {
        every_node_shows(&farm, name, (Some("R"), Some("x2go2")))
    });
    let listed_theirs = comparable(&ask_reference(&reference, &list("plain", name)));
    assert_eq!(
        comparable(&ask_node(farm.node(2), &list("plain", name))),
        listed_theirs
    );
    let ours = ask_node(farm.node(1), &select("plain", name));
    assert_eq!(
        status_of("x2go2", &sid).as_deref(),
        Some("S"),
        "suspended in the database"
    );
    assert!(ours.body.contains("|S|"), "{}", ours.body);
    // The reference does the same (its agent runs x2gochangestatus as the
    // user). Each status change stamps the line's last-use time (11th field).
    change_status(name, "R", &sid);
    let theirs = ask_reference(&reference, &select("plain", name));
    assert_eq!(masked(&ours, &[10, 12]), masked(&theirs, &[10, 12]));
    assert_eq!(status_of("x2go2", &sid).as_deref(), Some("S"));

    // An ended session disappears from every node.
    change_status(name, "F", &sid);
    common::wait_until(
        "the ended session gone on every node",
        Duration::from_secs(3),
        || every_node_shows(&farm, name, (None, Some("x2go1"))),
    );
    for request in [list("plain", name), list("json", name)] {
        let theirs = comparable(&ask_reference(&reference, &request));
        assert_eq!(
            comparable(&ask_node(farm.node(3), &request)),
            theirs,
            "{request}"
        );
    }

    // Drained: new users go elsewhere; undrained: back to the better score.
    let (ok, out) = ctl(&farm.site, farm.node(2), &["drain", "x2go2"]);
    assert!(ok, "{out}");
    let drained_user = format!("{name}dr");
    assert_eq!(
        server_of(&ask_node(farm.node(1), &select("plain", &drained_user))),
        format!("127.0.0.61:{port1}")
    );
    let (ok, out) = ctl(&farm.site, farm.node(3), &["undrain", "x2go2"]);
    assert!(ok, "{out}");
    let later = format!("{name}ud");
    assert_eq!(
        server_of(&ask_node(farm.node(2), &select("plain", &later))),
        format!("127.0.0.62:{port2}")
    );
}

#[test]
#[ignore = "needs root (x2goserver session database, test accounts)"]
fn an_agent_moves_to_another_node_without_a_gap_and_a_dead_agent_takes_its_server_out() {
    let _db = session_db_blocking();
    // The default agent timeout (10 s): a QUIC agent notices a killed node
    // only by its 3 s idle timeout, well within it.
    let mut farm = Farm::start("10000", "");
    let user = X2goUser::create("agplf");
    let name = user.name();
    let sid = new_session(name, "x2go2", true);
    change_status(name, "S", &sid);
    common::wait_until("status=S on every node", Duration::from_secs(2), || {
        every_node_shows(&farm, name, (Some("S"), Some("x2go2")))
    });
    let port1 = farm.port(0);

    // Kill the node x2go2's agent streams to (node 2 first in its list).
    let before = farm.reporting_node(1, "x2go2").expect("x2go2 reports");
    let survivor = if before == 1 { 3 } else { 1 };
    farm.nodes[before as usize - 1].kill();
    let killed = Instant::now();
    let mut moved = None;
    while killed.elapsed() < Duration::from_secs(5) {
        // No gap: the surviving nodes keep answering with the session.
        let shown = live_status(&ask_node(farm.node(survivor), &list("plain", name)));
        assert_eq!(
            (shown.0.as_deref(), shown.1.as_deref()),
            (Some("S"), Some("x2go2")),
            "after {:?}",
            killed.elapsed()
        );
        if let Some(now) = farm
            .reporting_node(survivor, "x2go2")
            .filter(|n| *n != before)
        {
            moved = Some((now, killed.elapsed()));
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (now, took) = moved.expect("the agent moved to another node within 5 s");
    eprintln!("x2go2's agent moved from node {before} to node {now} in {took:?}");
    let up = agent_counts(farm.node(survivor).http).expect("counts");
    assert_eq!((up.0, up.1), (2, 2), "no server was marked down meanwhile");

    // Kill x2go2's agent: marked down within the timeout, placement avoids it.
    farm.agents[1].kill();
    let died = Instant::now();
    common::wait_until("x2go2 marked down", Duration::from_secs(13), || {
        agent_counts(farm.node(survivor).http).is_some_and(|(s, up, _)| s == 2 && up == 1)
    });
    eprintln!(
        "x2go2 marked down {:?} after its agent died",
        died.elapsed()
    );
    let newcomer = format!("{name}new");
    assert_eq!(
        server_of(&ask_node(farm.node(survivor), &select("plain", &newcomer))),
        format!("127.0.0.61:{port1}")
    );
    // Its user's session is on a server that is down: not offered any more.
    assert_eq!(
        live_status(&ask_node(farm.node(survivor), &list("plain", name))).0,
        None
    );
}
