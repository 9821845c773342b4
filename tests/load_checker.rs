//! The load checker in agent query mode `SSH`: for a profile of two or
//! more hosts with the load checker on (`default-use-load-checker`), the
//! broker asks the reference's Perl agent on every host for its load
//! factor (`checkload`) over SSH every `load-checker-intervals` seconds,
//! and a new user (no session) is placed on the host with the lowest
//! (sessions + 1) / load factor. The servers are sshds on loopback
//! addresses of their own, each in a mount namespace whose `/proc/loadavg`
//! is a file of the test, so the agents report the loads the test wrote
//! (not this machine's), and the loads can be swapped while the brokers
//! run. The reference broker, with its load checker daemon
//! (`x2gobroker-loadchecker`) on the same site, answers alike. A host
//! whose agent cannot be reached is left out; in a cluster one node (the
//! leader) polls, and every node places alike.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::cluster::*;
use common::farm::{ask_node, ask_reference as ask, comparable, select};
use common::http::Reply;
use common::loadchecker::{factor, RefLoadChecker};
use common::processes::*;
use common::site::Site;
use common::ssh_mode::{authorize_home, keygen_ssh, write_known_hosts};
use common::sshd::{AgentAccount, Sshd};
use common::wait_until;
use common::x2go::*;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

/// A loaded server: load average 9 (the agent's loadavgXX 901).
const HIGH: &str = "9.00 9.00 9.00 1/100 1234";
/// An idle server: load average 0.05 (loadavgXX 6), 150 times the factor of `HIGH`.
const LOW: &str = "0.05 0.05 0.05 1/100 1234";

/// Seconds between two load checks of a server.
const INTERVAL: u64 = 4;

/// One X2Go server of the site: a name in the profile, a loopback
/// address, its SSH port, and the sshd there (None: nobody listens).
struct Server {
    name: &'static str,
    addr: &'static str,
    port: u16,
    sshd: Option<Sshd>,
    /// The sshd's files (dropped after it).
    _dir: tempfile::TempDir,
}

impl Server {
    /// `name:port` as the brokers answer it (`SERVER:` and JSON).
    fn placed(&self) -> String {
        format!("{}:{}", self.addr, self.port)
    }

    fn sshd(&self) -> &Sshd {
        self.sshd.as_ref().expect("a server with an sshd")
    }
}

/// The agent account, the servers, and the site in SSH mode with the load
/// checker on for profile `pool` over all servers (in the given order);
/// the site's directory is the brokers' home: the broker key (installed
/// for the agent account before any broker runs) and known_hosts.
struct LoadSite {
    servers: Vec<Server>,
    account: AgentAccount,
    site: Site,
}

impl LoadSite {
    /// Servers `(name, address, Some(loadavg))` with an sshd whose agent
    /// sees that load, or `None`: an address and port nobody listens on.
    fn start(servers: &[(&'static str, &'static str, Option<&str>)]) -> LoadSite {
        let account = AgentAccount::create("lcag");
        let servers: Vec<Server> = servers
            .iter()
            .map(|(name, addr, load)| {
                let dir = tempfile::tempdir().unwrap();
                let (port, sshd) = match load {
                    Some(load) => {
                        let sshd =
                            Sshd::start_with_loadavg(dir.path(), &[addr], &account.name, load);
                        (sshd.port, Some(sshd))
                    }
                    None => {
                        let free = TcpListener::bind((*addr, 0)).unwrap();
                        (free.local_addr().unwrap().port(), None)
                    }
                };
                Server {
                    name,
                    addr,
                    port,
                    sshd,
                    _dir: dir,
                }
            })
            .collect();
        let hosts: Vec<String> = servers
            .iter()
            .map(|s| format!("{} ({}:{})", s.name, s.addr, s.port))
            .collect();
        let site = Site::new(
            &format!(
                "[global]\nrequire-password = false\ndefault-agent-query-mode = SSH\n\
                 default-use-load-checker = true\nload-checker-intervals = {INTERVAL}\n\
                 [broker_inifile]\nenable = true\n"
            ),
            // The reference checks a profile's load only when the profile
            // has some `broker-` key (any: here the default of one).
            &format!(
                "[pool]\nname=Pool\nhost={}\ncommand=XFCE\nbroker-portscan-x2goservers = true\n",
                hosts.join(", ")
            ),
        );
        let home = site.dir.path();
        keygen_ssh(home);
        let known: String = servers
            .iter()
            .filter_map(|s| {
                let sshd = s.sshd.as_ref()?;
                Some(sshd.known_hosts_line(&[s.addr], &sshd.host_key))
            })
            .collect();
        write_known_hosts(home, &known);
        authorize_home(home, &account);
        LoadSite {
            servers,
            account,
            site,
        }
    }

    fn home(&self) -> &Path {
        self.site.dir.path()
    }

    fn server(&self, name: &str) -> &Server {
        self.servers.iter().find(|s| s.name == name).unwrap()
    }

    /// Our broker, single node.
    fn ours(&self) -> Running {
        Ours::new(&self.site)
            .args(&["--broker-home", self.home().to_str().unwrap()])
            .env("X2GOBROKER_AGENT_USER", &self.account.name)
            .start()
    }

    /// The reference's load checker daemon on the site.
    fn load_checker(&self) -> RefLoadChecker {
        RefLoadChecker::start(&self.site, &self.account.name)
    }

    /// The reference broker, asking `checker`.
    fn reference(&self, checker: &RefLoadChecker) -> Running {
        let env = [
            ("X2GOBROKER_AGENT_USER", self.account.name.as_str()),
            checker.socket_env(),
        ];
        start_reference_with_home(&self.site, &env, self.home())
    }
}

/// The value of `key=` in a log line (quotes stripped).
fn field(line: &str, key: &str) -> Option<String> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .map(|v| v.trim_matches('"').to_string())
}

/// Every `load checked` line of a log: (host, load factor), in order.
fn checked(log: &str) -> Vec<(String, i64)> {
    log.lines()
        .filter(|l| l.contains("load checked"))
        .filter_map(|l| Some((field(l, "host")?, field(l, "load_factor")?.parse().ok()?)))
        .collect()
}

/// The latest load factor per host in a log.
fn latest(log: &str) -> BTreeMap<String, i64> {
    checked(log).into_iter().collect()
}

/// Every `load checker cycle done` line of a log: (queries, failed).
fn cycles(log: &str) -> Vec<(u64, u64)> {
    log.lines()
        .filter(|l| l.contains("load checker cycle done"))
        .filter_map(|l| {
            Some((
                field(l, "queries")?.parse().ok()?,
                field(l, "failed")?.parse().ok()?,
            ))
        })
        .collect()
}

/// Wait until `log()` holds a cycle after the `done` first ones (and
/// `good` holds of the whole log then); the number of cycles then.
fn next_cycle(
    what: &str,
    log: impl Fn() -> String,
    done: usize,
    good: impl Fn(&str) -> bool,
) -> usize {
    let deadline = Instant::now() + Duration::from_secs(6 * INTERVAL + 30);
    loop {
        let text = log();
        let n = cycles(&text).len();
        if n > done && good(&text) {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until our broker's first load checker cycle is done, with
/// `(queries, failed)`; the number of cycles done then.
fn first_cycle(ours: &Running, want: (u64, u64)) -> usize {
    next_cycle(
        "our first load check",
        || ours.log_text(),
        0,
        |log| cycles(log).last() == Some(&want),
    )
}

/// The host:port a selectsession answer sends the client to (plain or JSON).
fn placed(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "{}", reply.body);
    match serde_json::from_str::<serde_json::Value>(&reply.body) {
        Ok(v) => {
            let s = &v["selected_session"];
            format!(
                "{}:{}",
                s["server"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}", reply.body)),
                s["port"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}", reply.body))
            )
        }
        Err(_) => common::farm::server_of(reply),
    }
}

/// Whether `a`'s factor exceeds ten times `b`'s.
fn far_above(factors: &BTreeMap<String, i64>, a: &str, b: &str) -> bool {
    matches!((factors.get(a), factors.get(b)), (Some(x), Some(y)) if *x > 10 * *y)
}

/// The reference's factors as numbers (failure words left out).
fn numbers(factors: &BTreeMap<String, String>) -> BTreeMap<String, i64> {
    factors
        .keys()
        .filter_map(|h| Some((h.clone(), factor(factors, h)?)))
        .collect()
}

/// `users` fresh users (no sessions) selecting `pool` on ours and the
/// reference, plain and JSON: both send every one to `want`, in equal answers.
fn new_users_go_to(ours: &Running, reference: &Running, want: &Server, users: usize) {
    for _ in 0..users {
        let user = X2goUser::create("lcu");
        for dialect in ["plain", "json"] {
            let request = select(dialect, user.name());
            let theirs = ask(reference, &request);
            assert_eq!(placed(&theirs), want.placed(), "reference: {}", theirs.body);
            let mine = ask(ours, &request);
            assert_eq!(
                placed(&mine),
                want.placed(),
                "ours: {}\n{}",
                mine.body,
                ours.log_text()
            );
            assert_eq!(comparable(&mine), comparable(&theirs), "{request}");
        }
    }
}

#[test]
#[ignore = "needs root (sshd in mount namespaces, x2goserver session database, test accounts) and the reference broker with its agent and load checker (x2gobroker-daemon, x2gobroker-agent, x2gobroker-loadchecker, openssh-server, sudo)"]
fn new_users_go_to_the_least_loaded_server_like_the_reference() {
    // The selection lists the users' sessions: not while another test makes the database anew.
    let _db = session_db_blocking();
    // The idle server second: a broker that takes the first host fails.
    let s = LoadSite::start(&[
        ("lc1", "127.0.0.81", Some(HIGH)),
        ("lc2", "127.0.0.82", Some(LOW)),
    ]);
    let (lc1, lc2) = (s.server("lc1"), s.server("lc2"));
    // The reference's daemon sees the loads the test wrote.
    let mut checker = s.load_checker();
    let factors = checker.wait_for("pool", Duration::from_secs(60), |f| numbers(f).len() == 2);
    assert!(far_above(&numbers(&factors), "lc2", "lc1"), "{factors:?}");
    let reference = s.reference(&checker);
    // Ours: its first cycle checked both.
    let ours = s.ours();
    let done = first_cycle(&ours, (2, 0));
    let log = ours.log_text();
    assert!(far_above(&latest(&log), "lc2", "lc1"), "{log}");
    new_users_go_to(&ours, &reference, lc2, 3);

    // Swapped loads: after the next checks, new users go to lc1.
    lc1.sshd().set_loadavg(LOW);
    lc2.sshd().set_loadavg(HIGH);
    checker.wait_for("pool", Duration::from_secs(6 * INTERVAL + 30), |f| {
        far_above(&numbers(f), "lc1", "lc2")
    });
    let swapped = next_cycle(
        "our checks of the swapped loads",
        || ours.log_text(),
        done,
        |log| far_above(&latest(log), "lc1", "lc2"),
    );
    // One more cycle: the swapped factors are the ones placing.
    next_cycle("one more cycle", || ours.log_text(), swapped, |_| true);
    new_users_go_to(&ours, &reference, lc1, 3);
}

#[test]
#[ignore = "needs root (sshd in mount namespaces, x2goserver session database, test accounts) and the reference broker with its agent and load checker (x2gobroker-daemon, x2gobroker-agent, x2gobroker-loadchecker, openssh-server, sudo)"]
fn a_server_whose_agent_is_unreachable_is_left_out() {
    let _db = session_db_blocking();
    // lc3 first, nobody listening there; lc4 loaded but reachable.
    let s = LoadSite::start(&[
        ("lc3", "127.0.0.83", None),
        ("lc4", "127.0.0.84", Some(HIGH)),
    ]);
    let (lc3, lc4) = (s.server("lc3"), s.server("lc4"));
    let mut checker = s.load_checker();
    let factors = checker.wait_for("pool", Duration::from_secs(60), |f| f.len() == 2);
    assert_eq!(
        factors.get("lc3").map(String::as_str),
        Some("HOST-UNREACHABLE"),
        "{factors:?}"
    );
    assert!(
        factor(&factors, "lc4").is_some_and(|f| f > 0),
        "{factors:?}"
    );
    let reference = s.reference(&checker);
    let ours = s.ours();
    first_cycle(&ours, (2, 1));
    let log = ours.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("load check failed")
                && field(l, "host").as_deref() == Some(lc3.name)),
        "{log}"
    );
    assert!(latest(&log).get("lc4").is_some_and(|f| *f > 0), "{log}");
    assert!(!latest(&log).contains_key("lc3"), "{log}");
    new_users_go_to(&ours, &reference, lc4, 3);
}

/// Whether `node`'s log has checked a load.
fn polls(node: &ClusterNode) -> bool {
    node.running
        .as_ref()
        .is_some_and(|r| r.log_text().contains("load checked"))
}

fn node_log(node: &ClusterNode) -> String {
    node.running
        .as_ref()
        .map(Running::log_text)
        .unwrap_or_default()
}

#[test]
#[ignore = "needs root (sshd in mount namespaces, x2goserver session database, test accounts) and the reference broker's agent (x2gobroker-agent, openssh-server, sudo, x2gobroker-daemon for the pubkeyauthorizer)"]
fn in_a_cluster_the_leader_polls_and_every_node_places_alike() {
    let _db = session_db_blocking();
    let s = LoadSite::start(&[
        ("lc5", "127.0.0.85", Some(HIGH)),
        ("lc6", "127.0.0.86", Some(LOW)),
    ]);
    let (lc5, lc6) = (s.server("lc5"), s.server("lc6"));
    let mut nodes = cluster_nodes(&s.site, 3, FAST_TIMING);
    for n in nodes.iter_mut() {
        n.args = vec!["--broker-home".into(), s.home().display().to_string()];
        n.env = vec![("X2GOBROKER_AGENT_USER".into(), s.account.name.clone())];
    }
    let leader = start_all(&s.site, &mut nodes);
    let leader_log = || node_log(&nodes[leader as usize - 1]);
    let done = next_cycle("the leader's first load check", leader_log, 0, |log| {
        cycles(log).last() == Some(&(2, 0))
    });
    assert!(
        far_above(&latest(&leader_log()), "lc6", "lc5"),
        "{}",
        leader_log()
    );

    // Two more cycles: each server is asked by the leader alone, on the
    // connection its first check made (kept between checks 4 s apart), so
    // each sshd has let in one login, not one per node (or per check).
    // (sshd logs a kept connection's sessions only later: logins count.)
    let first = next_cycle("a cycle", leader_log, done, |_| true);
    next_cycle("another cycle", leader_log, first, |_| true);
    for host in ["lc5", "lc6"] {
        let checks = checked(&leader_log())
            .iter()
            .filter(|(h, _)| h == host)
            .count();
        assert!(checks >= 3, "{host}: {checks} checks: {}", leader_log());
    }
    for server in [lc5, lc6] {
        let logins = server.sshd().logins();
        eprintln!("{}: {logins} logins after three cycles", server.name);
        // One; two if the kept connection had to be made anew.
        assert!(
            (1..=2).contains(&logins),
            "{}: {logins} logins: {}",
            server.name,
            server.sshd().log_text()
        );
    }
    for n in nodes.iter().filter(|n| n.id != leader) {
        assert!(!polls(n), "node {} polls: {}", n.id, node_log(n));
        assert!(
            !node_log(n).contains("load checker cycle done"),
            "{}",
            node_log(n)
        );
    }

    // Every node sends new users to the idle server.
    let every_node_places = |nodes: &[ClusterNode], want: &Server| {
        for n in nodes.iter().filter(|n| n.running.is_some()) {
            let user = X2goUser::create("lcc");
            for dialect in ["plain", "json"] {
                let reply = ask_node(n, &select(dialect, user.name()));
                assert_eq!(
                    placed(&reply),
                    want.placed(),
                    "node {}: {}\n{}",
                    n.id,
                    reply.body,
                    node_log(n)
                );
            }
        }
    };
    every_node_places(&nodes, lc6);

    // The leader gone, the new one polls; answers stay right.
    nodes[leader as usize - 1].kill();
    let mut new_leader = None;
    wait_until("a new leader", Duration::from_secs(20), || {
        new_leader = agreed_leader(&nodes).filter(|l| *l != leader);
        new_leader.is_some()
    });
    let new_leader = new_leader.unwrap();
    let new_log = || node_log(&nodes[new_leader as usize - 1]);
    let done = next_cycle("the new leader's load check", new_log, 0, |log| {
        cycles(log).last() == Some(&(2, 0)) && far_above(&latest(log), "lc6", "lc5")
    });
    every_node_places(&nodes, lc6);

    // Swapped loads reach every node through the new leader's checks.
    lc5.sshd().set_loadavg(LOW);
    lc6.sshd().set_loadavg(HIGH);
    let swapped = next_cycle("the swapped loads", new_log, done, |log| {
        far_above(&latest(log), "lc5", "lc6")
    });
    next_cycle("one more cycle", new_log, swapped, |_| true);
    every_node_places(&nodes, lc5);
    for n in nodes
        .iter()
        .filter(|n| n.running.is_some() && n.id != new_leader)
    {
        assert!(!polls(n), "node {} polls: {}", n.id, node_log(n));
    }
}

/// A busy server (load average 1: loadavgXX 101) and one half as busy
/// (0.5: loadavgXX 51, about twice the factor).
const BUSY: &str = "1.00 1.00 1.00 1/100 1234";
const HALF: &str = "0.50 0.50 0.50 1/100 1234";

/// The session counts are `getservers`' as the reference reads them: with
/// x2goserver's SQLite session database `x2gogetservers` names the servers
/// that have sessions but counts none, so the reference sees no sessions
/// anywhere and places by load factor alone: three sessions on the less
/// busy server (which, counted, would make it the worse choice: 4/2 > 1/1)
/// do not turn new users away from it.
#[test]
#[ignore = "needs root (sshd in mount namespaces, x2goserver session database, test accounts) and the reference broker with its agent and load checker (x2gobroker-daemon, x2gobroker-agent, x2gobroker-loadchecker, openssh-server, sudo)"]
fn sessions_count_as_getservers_reports_them() {
    let _db = session_db_blocking();
    let s = LoadSite::start(&[
        ("lc7", "127.0.0.87", Some(BUSY)),
        ("lc8", "127.0.0.88", Some(HALF)),
    ]);
    let lc8 = s.server("lc8");
    let others: Vec<X2goUser> = (0..3).map(|_| X2goUser::create("lcs")).collect();
    for user in &others {
        new_session(user.name(), "lc8", true);
    }
    // What the agent answers: lc8 named, no count.
    let said = run(std::process::Command::new("/usr/lib/x2go/x2gobroker-agent")
        .args([others[0].name(), "getservers"]));
    assert!(said.lines().any(|l| l == "lc8"), "{said}");
    assert!(!said.lines().any(|l| l.starts_with("lc8 ")), "{said}");
    let mut checker = s.load_checker();
    let factors = checker.wait_for("pool", Duration::from_secs(60), |f| numbers(f).len() == 2);
    let f = numbers(&factors);
    // About twice: lc8 wins on its factor, would lose with its sessions counted.
    assert!(
        2 * f["lc8"] > 3 * f["lc7"] && f["lc8"] < 3 * f["lc7"],
        "{factors:?}"
    );
    let reference = s.reference(&checker);
    let ours = s.ours();
    first_cycle(&ours, (2, 0));
    // One new user: ours also counts its own recent placements (a
    // documented difference), which would tip the second new user over.
    new_users_go_to(&ours, &reference, lc8, 1);
}
