//! Test clusters of our broker: node files on loopback sockets bound by the
//! test, one CA per cluster, starting and killing nodes, the leader they
//! agree on, and `x2gobrokerctl` with the site's admin certificate; agent
//! enrollment (HTTPS and the agent-signing CA) when a test asks for it.

use super::http::{get_within, post_form, Reply};
use super::processes::{ours_bin, start_node, Running};
use super::site::{self_signed, Site};
use super::sockets::{addr_of, loopback, loopback_pair, rebind, rebind_udp};
use super::unique;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The X2Go server whose agent certificate every test cluster's CA signs
/// too (`pki/agent-x2go-test.pem`).
pub const TEST_AGENT: &str = "x2go-test";

/// Raft timing for test clusters: fast heartbeats and elections, a 2 s deadline.
pub const FAST_TIMING: &str =
    "heartbeat_ms = 50\nelection_min_ms = 300\nelection_max_ms = 600\ndeadline_ms = 2000\n";

/// One member of a test cluster: its addresses and, while it runs, its process.
pub struct ClusterNode {
    pub id: u64,
    pub http: SocketAddr,
    pub raft: SocketAddr,
    /// The agent gateway, when the node file has one.
    pub agents: Option<SocketAddr>,
    /// The metrics listener, when `with_metrics` added one.
    pub metrics: Option<SocketAddr>,
    /// The HTTPS listener, when the node has one (`enable_enrollment`).
    pub https: Option<SocketAddr>,
    pub toml: PathBuf,
    pub running: Option<Running>,
    /// Extra `serve` flags.
    pub args: Vec<String>,
    /// Extra environment variables of the node's process.
    pub env: Vec<(String, String)>,
    /// `RUST_LOG` for the node; None leaves the broker's default filter.
    pub rust_log: Option<String>,
    /// The executable to start; None: the one Cargo built.
    pub bin: Option<PathBuf>,
    /// The public gRPC API, when `with_grpc` added one.
    pub grpc: Option<SocketAddr>,
    /// The node's HTTP, Raft and agent gateway (TCP and UDP) sockets, bound
    /// when its file was written and held until its first start; a restart
    /// binds the same addresses again.
    reserved: Vec<OwnedFd>,
}

impl ClusterNode {
    /// A node whose process the test starts on its own (no sockets reserved).
    pub fn at(id: u64, http: SocketAddr, raft: SocketAddr, toml: PathBuf) -> Self {
        ClusterNode {
            id,
            http,
            raft,
            agents: None,
            metrics: None,
            https: None,
            toml,
            running: None,
            args: Vec::new(),
            env: Vec::new(),
            rust_log: Some("x2gobroker=debug,openraft=warn".into()),
            bin: None,
            grpc: None,
            reserved: Vec::new(),
        }
    }

    /// Give the node a `--metrics` listener (before its first start).
    pub fn with_metrics(&mut self) -> SocketAddr {
        let listener = loopback();
        let addr = addr_of(&listener);
        self.reserved.push(listener.into());
        self.args
            .extend(["--metrics".to_string(), addr.to_string()]);
        self.metrics = Some(addr);
        addr
    }

    /// Give the node a plain `--grpc` API listener (before its first start).
    pub fn with_grpc(&mut self) -> SocketAddr {
        let listener = loopback();
        let addr = addr_of(&listener);
        self.reserved.push(listener.into());
        self.args.extend(["--grpc".to_string(), addr.to_string()]);
        self.grpc = Some(addr);
        addr
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    pub fn post(&self, path: &str, body: &str) -> Reply {
        post_form(self.http, path, body)
    }

    /// `/status` as JSON (None when the node does not answer).
    pub fn status(&self) -> Option<serde_json::Value> {
        let reply = get_within(
            self.http,
            "/status",
            Duration::from_millis(300),
            Duration::from_secs(5),
        )
        .ok()?;
        serde_json::from_str(&reply.body).ok()
    }

    /// Start (or restart) the node's process on its addresses.
    pub fn start(&mut self, site: &Site) {
        let sockets = if self.reserved.is_empty() {
            let mut sockets: Vec<OwnedFd> =
                vec![rebind(self.http).into(), rebind(self.raft).into()];
            if let Some(agents) = self.agents {
                sockets.push(rebind(agents).into());
                sockets.push(rebind_udp(agents).into());
            }
            if let Some(metrics) = self.metrics {
                sockets.push(rebind(metrics).into());
            }
            if let Some(grpc) = self.grpc {
                sockets.push(rebind(grpc).into());
            }
            if let Some(https) = self.https {
                sockets.push(rebind(https).into());
            }
            sockets
        } else {
            std::mem::take(&mut self.reserved)
        };
        let log = site.path(&format!("node{}-{}.log", self.id, unique()));
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let bin = self.bin.clone().unwrap_or_else(|| ours_bin().into());
        self.running = Some(start_node(
            &bin,
            &self.toml,
            &args,
            &self.env,
            self.rust_log.as_deref(),
            sockets,
            self.http,
            log,
        ));
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut r) = self.running.take() {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}

/// Write `n` node files for one cluster on loopback sockets (state under the site).
pub fn cluster_nodes(site: &Site, n: u64, timing: &str) -> Vec<ClusterNode> {
    cluster_nodes_with(site, n, n, timing)
}

/// Node files for a cluster of `initial` members plus `total - initial` nodes
/// that wait to be added (their files list every node, themselves included).
pub fn cluster_nodes_with(site: &Site, initial: u64, total: u64, timing: &str) -> Vec<ClusterNode> {
    let sockets: Vec<(u64, TcpListener, TcpListener)> =
        (1..=total).map(|id| (id, loopback(), loopback())).collect();
    // Every node runs an agent gateway too (gRPC on TCP, QUIC on UDP).
    let mut agents: Vec<(TcpListener, UdpSocket)> = (1..=total).map(|_| loopback_pair()).collect();
    let members_upto = |last: u64| -> String {
        sockets
            .iter()
            .filter(|(id, _, _)| *id <= last)
            .map(|(id, http, raft)| {
                format!(
                    "[[members]]\nid = {id}\nraft = \"{}\"\nhttp = \"{}\"\n\n",
                    addr_of(raft),
                    addr_of(http)
                )
            })
            .collect()
    };
    // Mutual TLS between the nodes, from a CA made for this cluster.
    let pki = site.path("pki");
    let ids: Vec<String> = sockets.iter().map(|(id, _, _)| id.to_string()).collect();
    let out = Command::new(ours_bin())
        .args(["keygen", "--out"])
        .arg(&pki)
        .args([
            "--nodes",
            &ids.join(","),
            "--clients",
            "admin",
            "--agents",
            TEST_AGENT,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files: Vec<(u64, PathBuf)> = sockets
        .iter()
        .map(|(id, http, raft)| {
            let toml = site.path(&format!("node{id}.toml"));
            let members = members_upto(if *id <= initial { initial } else { total });
            let text = format!(
                "id = {id}\ndata_dir = \"{}\"\nraft = \"{raft}\"\nhttp = [\"{http}\"]\nx2gobroker_conf = \"{}\"\nsession_profiles = \"{}\"\nagents = \"{agents}\"\ncluster_ca = \"{pki}/ca.pem\"\nnode_cert = \"{pki}/node{id}.pem\"\nnode_key = \"{pki}/node{id}-key.pem\"\n\n{members}[timing]\n{timing}\n",
                site.path(&format!("data{id}")).display(),
                site.conf().display(),
                site.profiles().display(),
                raft = addr_of(raft),
                http = addr_of(http),
                agents = addr_of(&agents[*id as usize - 1].0),
                pki = pki.display(),
            );
            std::fs::write(&toml, text).unwrap();
            (*id, toml)
        })
        .collect();
    sockets
        .into_iter()
        .zip(files)
        .zip(agents.drain(..))
        .map(|(((id, http, raft), (_, toml)), (agents, quic))| {
            let mut node = ClusterNode::at(id, addr_of(&http), addr_of(&raft), toml);
            node.agents = Some(addr_of(&agents));
            node.reserved = vec![http.into(), raft.into(), agents.into(), quic.into()];
            node
        })
        .collect()
}

/// Give every node (not started yet) an HTTPS listener with a certificate
/// for 127.0.0.1 and the agent-signing CA (`keygen --agent-ca` in the
/// site's `pki`), so that agents enroll on `/enroll/`. Returns the HTTPS
/// certificate, for the agents to verify the brokers with.
pub fn enable_enrollment(site: &Site, nodes: &mut [ClusterNode]) -> PathBuf {
    let pki = site.path("pki");
    let out = Command::new(ours_bin())
        .args(["keygen", "--agent-ca", "--out"])
        .arg(&pki)
        .output()
        .unwrap();
    assert!(out.status.success(), "keygen --agent-ca: {out:?}");
    let tls = site.path("https");
    std::fs::create_dir_all(&tls).unwrap();
    let (cert, key) = self_signed(&tls);
    for node in nodes.iter_mut() {
        assert!(node.running.is_none(), "enable enrollment before starting");
        let https = loopback();
        let addr = addr_of(&https);
        node.https = Some(addr);
        node.reserved.push(https.into());
        let settings = format!(
            "https = [\"{addr}\"]\ntls_cert = \"{}\"\ntls_key = \"{}\"\nagent_ca = \"{}\"\nagent_ca_key = \"{}\"\n",
            cert.display(),
            key.display(),
            pki.join("agent-ca.pem").display(),
            pki.join("agent-ca-key.pem").display(),
        );
        let text = std::fs::read_to_string(&node.toml).unwrap();
        let text = text.replacen("[[members]]", &format!("{settings}[[members]]"), 1);
        std::fs::write(&node.toml, text).unwrap();
    }
    cert
}

/// Start every node and wait until they agree on a leader; its id.
pub fn start_all(site: &Site, nodes: &mut [ClusterNode]) -> u64 {
    for n in nodes.iter_mut() {
        n.start(site);
    }
    let mut leader = None;
    super::wait_until("a leader", Duration::from_secs(20), || {
        leader = agreed_leader(nodes);
        leader.is_some()
    });
    leader.expect("an agreed leader")
}

/// The id of the leader all running nodes agree on, if any.
pub fn agreed_leader(nodes: &[ClusterNode]) -> Option<u64> {
    let mut leader = None;
    for n in nodes.iter().filter(|n| n.running.is_some()) {
        let l = n.status()?.get("leader")?.as_u64()?;
        if leader.is_some_and(|x| x != l) {
            return None;
        }
        leader = Some(l);
    }
    leader
}

/// Whether every running node has applied the same state (equal digests)
/// with `placements` placements.
pub fn converged(nodes: &[ClusterNode], placements: usize) -> bool {
    let statuses: Vec<_> = nodes
        .iter()
        .filter(|n| n.running.is_some())
        .map(|n| n.status())
        .collect();
    statuses
        .iter()
        .all(|s| s.as_ref().is_some_and(|s| s["placements"] == placements))
        && statuses
            .windows(2)
            .all(|w| w[0].as_ref().map(|s| &s["digest"]) == w[1].as_ref().map(|s| &s["digest"]))
}

/// The highest Raft log index any node reports on `/status` (0 when none answers).
pub fn log_index(nodes: &[ClusterNode]) -> u64 {
    nodes
        .iter()
        .filter_map(|n| n.status()?.get("last_log_index")?.as_u64())
        .max()
        .unwrap_or(0)
}

/// Run `x2gobrokerctl` against `node` with the site's admin certificate: (success, output).
pub fn ctl(site: &Site, node: &ClusterNode, args: &[&str]) -> (bool, String) {
    let pki = site.path("pki");
    let out = Command::new(env!("CARGO_BIN_EXE_x2gobrokerctl"))
        .args(["--node", &node.raft.to_string()])
        .arg("--ca")
        .arg(pki.join("ca.pem"))
        .arg("--cert")
        .arg(pki.join("admin.pem"))
        .arg("--key")
        .arg(pki.join("admin-key.pem"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Client TLS towards the cluster's node-to-node listeners with the site's
/// certificate `name` (`admin`, `node1`, ...) from the cluster CA.
pub fn client_tls(site: &Site, name: &str) -> tonic::transport::ClientTlsConfig {
    let pki = site.path("pki");
    let read = |file: String| std::fs::read(pki.join(file)).unwrap();
    tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(read(
            "ca.pem".into(),
        )))
        .identity(tonic::transport::Identity::from_pem(
            read(format!("{name}.pem")),
            read(format!("{name}-key.pem")),
        ))
        .domain_name("x2gobroker-node")
}

/// A connected gRPC channel to `node`'s node-to-node listener with `tls`.
pub async fn raft_channel(
    node: &ClusterNode,
    tls: tonic::transport::ClientTlsConfig,
) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("https://{}", node.raft))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// `/status/agents` of the node answering HTTP on `http`, as JSON.
pub fn agents_status(http: SocketAddr) -> Option<serde_json::Value> {
    let reply = get_within(
        http,
        "/status/agents",
        Duration::from_millis(300),
        Duration::from_secs(5),
    )
    .ok()?;
    serde_json::from_str(&reply.body).ok()
}

/// `/status/agents`' `connected_here` of the node answering HTTP on `http`.
pub fn connected_here(http: SocketAddr) -> Option<u64> {
    agents_status(http)?["connected_here"].as_u64()
}

/// `/status/agents` of the node answering HTTP on `http`: (servers,
/// servers up, sessions) in its replicated tables.
pub fn agent_counts(http: SocketAddr) -> Option<(u64, u64, u64)> {
    let v = agents_status(http)?;
    Some((
        v["servers"].as_u64()?,
        v["servers_up"].as_u64()?,
        v["sessions"].as_u64()?,
    ))
}
