//! A network partition between broker nodes, with real network namespaces:
//! each node runs in its own namespace with its own address (127.x on veth
//! pairs joined by a bridge, `route_localnet` on). Cutting one node off
//! leaves it in the minority: it refuses writes and linearizable reads with
//! 503, the majority goes on, and after healing all nodes converge.
//! Needs root and network namespaces (`ip netns`): ignored unless asked
//! for (`--include-ignored`, as `scripts/test.sh` does where they work).

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::accounts::is_root;
use common::cluster::*;
use common::http::*;
use common::processes::*;
use common::site::*;
use common::wait_until;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn must(args: &[&str]) {
    assert!(sh(args), "command failed: {args:?}");
}

/// Three namespaces on one bridge; removed on drop.
struct Net {
    tag: String,
    prefix: String,
    procs: Vec<Option<Child>>,
    /// The host's `route_localnet` setting, restored on drop.
    route_localnet: String,
}

const ROUTE_LOCALNET: &str = "/proc/sys/net/ipv4/conf/all/route_localnet";

impl Net {
    fn ns(&self, n: usize) -> String {
        format!("{}n{n}", self.tag)
    }
    fn veth(&self, n: usize) -> String {
        format!("{}v{n}", self.tag)
    }
    fn bridge(&self) -> String {
        format!("{}br", self.tag)
    }
    fn addr(&self, n: usize) -> String {
        format!("{}.{n}", self.prefix)
    }

    fn create() -> Net {
        assert!(is_root(), "network namespaces need root");
        assert!(sh(&["ip", "-V"]), "needs iproute2 (`ip`)");
        let pid = std::process::id();
        let net = Net {
            tag: format!("x2g{:05x}", pid % 0xfffff),
            prefix: format!("127.{}.{}", 200 + pid % 50, (pid / 50) % 250),
            procs: Vec::new(),
            route_localnet: std::fs::read_to_string(ROUTE_LOCALNET).unwrap_or_else(|_| "0".into()),
        };
        let br = net.bridge();
        must(&["ip", "link", "add", &br, "type", "bridge"]);
        must(&["ip", "link", "set", &br, "up"]);
        must(&[
            "ip",
            "addr",
            "add",
            &format!("{}.254/24", net.prefix),
            "dev",
            &br,
        ]);
        must(&[
            "sysctl",
            "-qw",
            &format!("net.ipv4.conf.{br}.route_localnet=1"),
        ]);
        must(&["sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1"]);
        for n in 1..=3 {
            let (ns, v, peer) = (net.ns(n), net.veth(n), format!("{}p{n}", net.tag));
            must(&["ip", "netns", "add", &ns]);
            must(&[
                "ip", "link", "add", &v, "type", "veth", "peer", "name", &peer,
            ]);
            must(&["ip", "link", "set", &peer, "netns", &ns]);
            must(&["ip", "link", "set", &v, "master", &br]);
            must(&["ip", "link", "set", &v, "up"]);
            for cmd in [
                vec!["ip", "link", "set", "lo", "up"],
                vec![
                    "ip",
                    "addr",
                    "add",
                    &format!("{}/24", net.addr(n)),
                    "dev",
                    &peer,
                ],
                vec!["ip", "link", "set", &peer, "up"],
                vec!["sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1"],
            ] {
                let mut full = vec!["ip", "netns", "exec", &ns];
                full.extend(cmd);
                must(&full);
            }
            must(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "sysctl",
                "-qw",
                &format!("net.ipv4.conf.{peer}.route_localnet=1"),
            ]);
        }
        net
    }

    /// Cut node `n` off the bridge, or put it back.
    fn isolate(&self, n: usize, cut: bool) {
        if cut {
            must(&["ip", "link", "set", &self.veth(n), "nomaster"]);
        } else {
            must(&["ip", "link", "set", &self.veth(n), "master", &self.bridge()]);
        }
    }

    /// A form POST to node `n`, sent from inside its namespace.
    fn post_inside(&self, n: usize, body: &str) -> u16 {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(n),
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "10",
                "-d",
                body,
            ])
            .arg(format!("http://{}:8080/plain/", self.addr(n)))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for p in self.procs.iter_mut().flatten() {
            let _ = p.kill();
            let _ = p.wait();
        }
        for n in 1..=3 {
            sh(&["ip", "netns", "del", &self.ns(n)]);
            sh(&["ip", "link", "del", &self.veth(n)]);
        }
        sh(&["ip", "link", "del", &self.bridge()]);
        let _ = std::fs::write(ROUTE_LOCALNET, self.route_localnet.trim());
    }
}

#[test]
#[ignore = "needs root and ip netns (network namespaces)"]
fn minority_refuses_majority_goes_on_and_all_converge_after_healing() {
    let mut net = Net::create();
    let site = Site::new(
        "[global]\nrequire-password = false\n",
        "[pool]\nhost=a (127.0.0.1:1), b (127.0.0.1:2)\nbroker-portscan-x2goservers = false\n",
    );
    let out = Command::new(ours_bin())
        .args(["keygen", "--out"])
        .arg(site.path("pki"))
        .args(["--nodes", "1,2,3"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let members: String = (1..=3)
        .map(|n| {
            format!(
                "[[members]]\nid = {n}\nraft = \"{}:7000\"\nhttp = \"{}:8080\"\n\n",
                net.addr(n),
                net.addr(n)
            )
        })
        .collect();
    let mut nodes = Vec::new();
    for n in 1..=3 {
        let toml = site.path(&format!("node{n}.toml"));
        let pki = site.path("pki");
        std::fs::write(
            &toml,
            format!(
                "id = {n}\ndata_dir = \"{}\"\nraft = \"{addr}:7000\"\nhttp = [\"{addr}:8080\"]\nx2gobroker_conf = \"{}\"\nsession_profiles = \"{}\"\ncluster_ca = \"{p}/ca.pem\"\nnode_cert = \"{p}/node{n}.pem\"\nnode_key = \"{p}/node{n}-key.pem\"\n\n{members}[timing]\nheartbeat_ms = 50\nelection_min_ms = 300\nelection_max_ms = 600\ndeadline_ms = 2000\n",
                site.path(&format!("data{n}")).display(),
                site.conf().display(),
                site.profiles().display(),
                addr = net.addr(n),
                p = pki.display(),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(site.path(&format!("node{n}.log"))).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &net.ns(n), ours_bin(), "serve", "--config"])
            .arg(&toml)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        net.procs.push(Some(child));
        // Each node has a namespace of its own: fixed ports cannot collide.
        nodes.push(ClusterNode::at(
            n as u64,
            format!("{}:8080", net.addr(n)).parse().unwrap(),
            format!("{}:7000", net.addr(n)).parse().unwrap(),
            toml,
        ));
    }
    let up = |nodes: &[ClusterNode]| {
        nodes
            .iter()
            .all(|n| n.status().is_some_and(|s| s["leader"].is_u64()))
    };
    wait_until(
        "a leader seen by all three",
        Duration::from_secs(30),
        || up(&nodes),
    );
    let select = |n: &ClusterNode, user: &str| {
        n.post(
            "/plain/",
            &form(&[("task", "selectsession"), ("user", user), ("sid", "pool")]),
        )
        .status
    };
    for u in 0..5 {
        assert_eq!(select(&nodes[u % 3], &format!("before{u}")), 200);
    }

    net.isolate(3, true);
    for body in [
        "task=listsessions&user=x",
        "task=selectsession&user=cut&sid=pool",
    ] {
        assert_eq!(
            net.post_inside(3, body),
            503,
            "the minority refuses: {body}"
        );
    }
    let majority = &nodes[..2];
    wait_until("the majority to serve", Duration::from_secs(15), || {
        select(&majority[0], "probe") == 200
    });
    for u in 0..10 {
        assert_eq!(select(&majority[u % 2], &format!("during{u}")), 200);
    }

    net.isolate(3, false);
    let converged = || {
        let s: Vec<_> = nodes.iter().map(|n| n.status()).collect();
        s.iter()
            .all(|x| x.as_ref().is_some_and(|x| x["placements"] == 16))
            && s.windows(2)
                .all(|w| w[0].as_ref().map(|x| &x["digest"]) == w[1].as_ref().map(|x| &x["digest"]))
    };
    wait_until(
        "all three to converge after healing",
        Duration::from_secs(30),
        converged,
    );
    assert_eq!(
        select(&nodes[2], "after"),
        200,
        "the healed node serves again"
    );
}
