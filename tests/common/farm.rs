//! A farm for the end-to-end agent tests: a three-node cluster, two real
//! agents on this machine's X2Go session database (`x2go1` over gRPC with
//! load factor 100, `x2go2` over QUIC with 900), the profile `pool` over
//! both (their SSH ports are listeners held here), and helpers to ask the
//! nodes and the reference broker the same requests and compare answers.

use super::agents::{keygen_agents, start_agent, AgentProcess};
use super::cluster::*;
use super::http::Reply;
use super::processes::Running;
use super::site::Site;
use std::net::TcpListener;
use std::time::Duration;

/// A test site for servers x2go1 and x2go2 (their SSH ports are listeners
/// held by the returned sockets, so that both brokers' port scans pass).
fn site(extra_profiles: &str) -> (Site, Vec<TcpListener>) {
    let x2go1 = TcpListener::bind("127.0.0.61:0").unwrap();
    let x2go2 = TcpListener::bind("127.0.0.62:0").unwrap();
    let port = |l: &TcpListener| l.local_addr().unwrap().port();
    let profiles = format!(
        "[pool]\nname=Pool\nhost=x2go1 (127.0.0.61:{p1}), x2go2 (127.0.0.62:{p2})\ncommand=XFCE\n{}",
        extra_profiles
            .replace("{p1}", &port(&x2go1).to_string())
            .replace("{p2}", &port(&x2go2).to_string()),
        p1 = port(&x2go1),
        p2 = port(&x2go2)
    );
    let conf = "[global]\nrequire-password = false\ndefault-agent-query-mode = LOCAL\n\
                [broker_inifile]\nenable = true\n";
    (Site::new(conf, &profiles), vec![x2go1, x2go2])
}

/// Three nodes (agents marked down after 3 s of silence) and the two agents.
pub struct Farm {
    pub site: Site,
    pub nodes: Vec<ClusterNode>,
    pub agents: Vec<AgentProcess>,
    /// The SSH ports of x2go1 and x2go2 (listening; the tests may accept on them).
    pub ports: Vec<TcpListener>,
}

impl Farm {
    /// The farm with profile `pool` over both servers, plus `extra_profiles`
    /// (`{p1}` and `{p2}` stand for the servers' SSH ports).
    pub fn start(agent_timeout_ms: &str, extra_profiles: &str) -> Farm {
        Farm::start_with(agent_timeout_ms, extra_profiles, &[])
    }

    /// `start`, with more `serve` flags for every node.
    pub fn start_with(agent_timeout_ms: &str, extra_profiles: &str, node_args: &[&str]) -> Farm {
        let (site, ports) = site(extra_profiles);
        let mut nodes = cluster_nodes(&site, 3, FAST_TIMING);
        for n in nodes.iter_mut() {
            n.args = vec!["--agent-timeout-ms".into(), agent_timeout_ms.into()];
            n.args.extend(node_args.iter().map(|a| a.to_string()));
            n.with_metrics();
        }
        start_all(&site, &mut nodes);
        let pki = site.path("pki");
        keygen_agents(&pki, &["x2go1", "x2go2"]);
        let gateways: Vec<String> = nodes
            .iter()
            .map(|n| n.agents.unwrap().to_string())
            .collect();
        // x2go2 is the less loaded server; x2go1 streams over gRPC starting
        // on node 1, x2go2 over QUIC starting on node 2.
        let mut to_x2go2 = gateways.clone();
        to_x2go2.rotate_left(1);
        let agents = vec![
            start_agent(&pki, "x2go1", &gateways, &["--load-factor", "100"]),
            start_agent(
                &pki,
                "x2go2",
                &to_x2go2,
                &["--load-factor", "900", "--transport", "quic"],
            ),
        ];
        let farm = Farm {
            site,
            nodes,
            agents,
            ports,
        };
        super::wait_until(
            "both servers up on every node",
            Duration::from_secs(15),
            || {
                farm.nodes
                    .iter()
                    .all(|n| agent_counts(n.http).is_some_and(|(s, up, _)| s == 2 && up == 2))
            },
        );
        farm
    }

    pub fn node(&self, id: u64) -> &ClusterNode {
        &self.nodes[id as usize - 1]
    }

    /// The metrics page of node `id`.
    pub fn metrics(&self, id: u64) -> String {
        super::metrics::scrape(self.node(id).metrics.expect("a metrics listener"))
    }

    /// The SSH port of server `i` (0: x2go1, 1: x2go2).
    pub fn port(&self, i: usize) -> u16 {
        self.ports[i].local_addr().unwrap().port()
    }

    /// The node `host`'s agent reports through, as `x2gobrokerctl servers` says.
    pub fn reporting_node(&self, via: u64, host: &str) -> Option<u64> {
        let (ok, out) = ctl(&self.site, self.node(via), &["servers", "--json"]);
        assert!(ok, "x2gobrokerctl servers: {out}");
        let rows: serde_json::Value = serde_json::from_str(&out).ok()?;
        rows.as_array()?
            .iter()
            .find(|r| r["hostname"] == host)
            .and_then(|r| r["node"].as_u64())
    }
}

pub fn list(dialect: &str, user: &str) -> String {
    format!("/{dialect}/?task=listsessions&user={user}")
}

/// selectsession of profile `pool`.
pub fn select(dialect: &str, user: &str) -> String {
    select_in(dialect, user, "pool", "")
}

/// selectsession of `profile`, with `extra` form fields (`&k=v...`, encoded).
pub fn select_in(dialect: &str, user: &str, profile: &str, extra: &str) -> String {
    let id = if dialect == "plain" {
        "sid"
    } else {
        "profile-id"
    };
    format!("/{dialect}/?task=selectsession&user={user}&{id}={profile}{extra}")
}

/// `value` percent-encoded for a form body.
pub fn form_encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// POST the query part of `request` to `path`.
pub fn body_of(request: &str) -> (&str, &str) {
    request.split_once('?').expect("path?form")
}

pub fn ask_node(node: &ClusterNode, request: &str) -> Reply {
    let (path, form) = body_of(request);
    node.post(path, form)
}

pub fn ask_reference(reference: &Running, request: &str) -> Reply {
    let (path, form) = body_of(request);
    reference.post(path, form)
}

/// An answer as compared: no AUTHID lines, the session line's age field
/// (the 13th) blanked, JSON re-serialised (keys sorted).
pub fn comparable(reply: &Reply) -> String {
    masked(reply, &[12])
}

/// `comparable`, with these fields of the session line blanked.
pub fn masked(reply: &Reply, fields: &[usize]) -> String {
    let age_masked = |line: &str| -> String {
        let mut f: Vec<&str> = line.split('|').collect();
        if f.len() == 16 {
            for i in fields {
                f[*i] = "MASKED";
            }
        }
        f.join("|")
    };
    if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&reply.body) {
        if let Some(obj) = v.as_object_mut() {
            obj.remove("next-authid");
        }
        if let Some(info) = v["selected_session"]["session_info"].as_str() {
            let masked = age_masked(info);
            v["selected_session"]["session_info"] = serde_json::Value::String(masked);
        }
        return format!("{} {}", reply.status, v);
    }
    let lines: Vec<String> = reply
        .body
        .lines()
        .filter(|l| !l.starts_with("AUTHID:"))
        .map(|l| match l.strip_prefix("SESSION_INFO:") {
            Some(info) => format!("SESSION_INFO:{}", age_masked(info)),
            None => l.to_string(),
        })
        .collect();
    format!("{} {}", reply.status, lines.join("\n"))
}

/// The listing's `status=` and `host=` of the pool profile (plain).
pub fn live_status(reply: &Reply) -> (Option<String>, Option<String>) {
    let value = |key: &str| {
        reply
            .body
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
    };
    (value("status"), value("host"))
}

pub fn server_of(reply: &Reply) -> String {
    reply
        .body
        .lines()
        .find_map(|l| l.strip_prefix("SERVER:"))
        .unwrap_or_else(|| panic!("no SERVER line in {:?}", reply.body))
        .to_string()
}

pub fn every_node_shows(farm: &Farm, user: &str, want: (Option<&str>, Option<&str>)) -> bool {
    farm.nodes.iter().all(|n| {
        let (status, host) = live_status(&ask_node(n, &list("plain", user)));
        let same = (status.as_deref(), host.as_deref()) == want;
        if !same {
            eprintln!("node {} shows {status:?} {host:?}, want {want:?}", n.id);
        }
        same
    })
}
