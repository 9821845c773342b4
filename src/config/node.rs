//! A cluster node's own configuration (TOML): its id, listeners, data
//! directory, the paths of the reference-compatible files, and the initial
//! members of the cluster.

use super::ConfigError;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// One initial member of the cluster.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MemberConfig {
    pub id: u64,
    /// Node-to-node gRPC address.
    pub raft: SocketAddr,
    /// The member's HTTP(S) frontend, for operators.
    pub http: String,
}

/// Raft timing (milliseconds) and snapshot threshold.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RaftTiming {
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    pub snapshot_every: u64,
    /// Also build a snapshot once the log written since the last one holds
    /// this many bytes, and more than that snapshot (agent reports make
    /// large entries).
    pub snapshot_log_bytes: u64,
    pub deadline_ms: u64,
}

/// The defaults: a heartbeat every 40 ms, elections after 200-400 ms of
/// silence, a snapshot every 10,000 entries or 16 MiB of log, 3 s for a
/// write or read barrier.
impl Default for RaftTiming {
    fn default() -> Self {
        RaftTiming {
            heartbeat_ms: 40,
            election_min_ms: 200,
            election_max_ms: 400,
            snapshot_every: 10_000,
            snapshot_log_bytes: 16 << 20,
            deadline_ms: 3_000,
        }
    }
}

/// `nodeN.toml`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub id: u64,
    pub data_dir: PathBuf,
    /// This node's node-to-node gRPC listener.
    pub raft: SocketAddr,
    pub x2gobroker_conf: Option<PathBuf>,
    pub session_profiles: Option<PathBuf>,
    #[serde(default)]
    pub http: Vec<SocketAddr>,
    #[serde(default)]
    pub https: Vec<SocketAddr>,
    /// The public gRPC API listener.
    pub grpc: Option<SocketAddr>,
    /// The Prometheus metrics listener (plain HTTP).
    pub metrics: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS between nodes and towards `x2gobrokerctl` (`x2gobroker
    /// keygen`): the cluster CA, this node's certificate and key. Required,
    /// on loopback addresses too (any local user could talk to a plain port).
    pub cluster_ca: Option<PathBuf>,
    pub node_cert: Option<PathBuf>,
    pub node_key: Option<PathBuf>,
    /// The agent gateway listener (gRPC, mutual TLS with the files above).
    pub agents: Option<SocketAddr>,
    /// The agent-signing CA (`x2gobroker keygen --agent-ca`): enrollment
    /// (`POST /enroll/`) signs agent certificates with it, and the agent
    /// gateway trusts it for agent certificates only.
    pub agent_ca: Option<PathBuf>,
    pub agent_ca_key: Option<PathBuf>,
    /// Members of this group may use the status dashboard (`/admin/` on
    /// the HTTPS listeners); absent, the dashboard is off.
    pub admin_group: Option<String>,
    /// SSH broker mode's Unix socket (`--unix-socket`).
    #[serde(default)]
    pub unix_socket: Option<PathBuf>,
    /// The members a fresh cluster starts with (the smallest id initialises it).
    pub members: Vec<MemberConfig>,
    #[serde(default)]
    pub timing: RaftTiming,
}

impl NodeConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::file(&name, e))?;
        Self::parse(&name, &text)
    }

    pub fn parse(name: &str, text: &str) -> Result<Self, ConfigError> {
        let cfg: NodeConfig = toml::from_str(text).map_err(|e| toml_error(name, text, &e))?;
        let refuse = |message: String| Err(ConfigError::file(name, message));
        if !cfg.members.iter().any(|m| m.id == cfg.id) {
            return refuse(format!("node id {} is not among [[members]]", cfg.id));
        }
        let mut ids: Vec<u64> = cfg.members.iter().map(|m| m.id).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != cfg.members.len() {
            return refuse("a member id appears twice".into());
        }
        let tls_parts = [&cfg.cluster_ca, &cfg.node_cert, &cfg.node_key]
            .iter()
            .filter(|p| p.is_some())
            .count();
        if tls_parts != 0 && tls_parts != 3 {
            return refuse("cluster_ca, node_cert and node_key go together".into());
        }
        if cfg.agent_ca.is_some() != cfg.agent_ca_key.is_some() {
            return refuse("agent_ca and agent_ca_key go together".into());
        }
        if tls_parts == 0 {
            return refuse(format!(
                "node-to-node traffic on {} needs mutual TLS (cluster_ca, node_cert, node_key; see `x2gobroker keygen`)",
                cfg.raft
            ));
        }
        Ok(cfg)
    }
}

/// A TOML error with the line it points at (the TOML crate's message keeps
/// its own excerpt of the text).
fn toml_error(name: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            ConfigError::at(name, line, e.message())
        }
        None => ConfigError::file(name, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: &str = r#"
id = 2
data_dir = "data/node2"
raft = "127.0.0.1:19082"
http = ["127.0.0.1:18082"]
cluster_ca = "pki/ca.pem"
node_cert = "pki/node2.pem"
node_key = "pki/node2-key.pem"
[[members]]
id = 1
raft = "127.0.0.1:19081"
http = "127.0.0.1:18081"
[[members]]
id = 2
raft = "127.0.0.1:19082"
http = "127.0.0.1:18082"
"#;

    #[test]
    fn shipped_local_cluster_files_are_valid() {
        for n in 1..=3 {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("cluster-config/local-3/node{n}.toml"));
            let c = NodeConfig::load(&path).unwrap();
            assert_eq!((c.id, c.members.len()), (n, 3));
            assert!(c.grpc.is_some() && !c.http.is_empty());
        }
    }

    #[test]
    fn parses_and_checks_membership() {
        let c = NodeConfig::parse("n", NODE).unwrap();
        assert_eq!(c.id, 2);
        assert_eq!(c.members.len(), 2);
        assert_eq!(c.timing, RaftTiming::default());
        let e = NodeConfig::parse("n", &NODE.replace("id = 2\ndata_dir", "id = 7\ndata_dir"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not among"), "{e}");
        let e = NodeConfig::parse("n", &format!("{NODE}\nbogus = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
        let e = NodeConfig::parse(
            "n",
            &without_tls(NODE).replace(
                "raft = \"127.0.0.1:19082\"\nhttp = [",
                "raft = \"0.0.0.0:19082\"\nhttp = [",
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("needs mutual TLS"), "{e}");
        let e = NodeConfig::parse("n", &NODE.replace("node_key = \"pki/node2-key.pem\"\n", ""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("go together"), "{e}");
        let agent_ca = NODE.replacen(
            "[[members]]",
            "agent_ca = \"pki/agent-ca.pem\"\n[[members]]",
            1,
        );
        let e = NodeConfig::parse("n", &agent_ca).unwrap_err().to_string();
        assert!(e.contains("agent_ca and agent_ca_key go together"), "{e}");
        let both = agent_ca.replacen(
            "[[members]]",
            "agent_ca_key = \"pki/agent-ca-key.pem\"\n[[members]]",
            1,
        );
        let c = NodeConfig::parse("n", &both).unwrap();
        assert_eq!(c.agent_ca_key, Some(PathBuf::from("pki/agent-ca-key.pem")));
        let e = NodeConfig::parse("n.toml", &format!("{NODE}\nbogus = 1\n")).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("n.toml", Some(18)), "{e}");
    }

    /// `text` without its three TLS settings.
    fn without_tls(text: &str) -> String {
        text.lines()
            .filter(|l| !l.starts_with("cluster_ca") && !l.starts_with("node_"))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    #[test]
    fn finding8_mutual_tls_is_required_on_loopback_too() {
        let e = NodeConfig::parse("n", &without_tls(NODE))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("127.0.0.1:19082 needs mutual TLS") && e.contains("x2gobroker keygen"),
            "{e}"
        );
    }
}
