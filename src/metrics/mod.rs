//! Prometheus metrics of this node (`--metrics ADDR`, `GET /metrics`, the
//! Prometheus text format through `prometheus-client`). Events are counted
//! where they happen (requests, logins, placements, proposals) in the
//! process-wide `METRICS`; what the node holds (Raft, agents, servers,
//! sessions) is read when scraped (`snapshot`). One process is one node,
//! so one registry per process. The HTTP listener of `--metrics` answers
//! `snapshot::page`.

pub mod snapshot;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::LazyLock;

/// A request: the frontend (plain, json, uccs, grpc, other), the task and the status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub frontend: &'static str,
    pub task: &'static str,
    pub status: u16,
}

/// A request's frontend and task (for its latency).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabels {
    pub frontend: &'static str,
    pub task: &'static str,
}

/// Why a login was refused without asking the mechanism.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    pub reason: &'static str,
}

/// Why selectsession chose what it chose.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PlacementLabels {
    pub reason: &'static str,
}

/// A label set of one name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct One {
    pub name: String,
}

/// Per server, per status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerStatus {
    pub server: String,
    pub status: String,
}

/// Per server.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerLabel {
    pub server: String,
}

type FGauge = Gauge<f64, AtomicU64>;

/// Every metric family of the node.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_seconds: Family<TaskLabels, Histogram>,
    pub login_failures: Counter,
    pub login_refusals: Family<RefusalLabels, Counter>,
    pub placements: Family<PlacementLabels, Counter>,
    pub proposals: Counter,
    pub proposal_batch: Histogram,
    pub agent_reports: Counter,
    pub raft_role: Family<One, Gauge>,
    pub raft_term: Gauge,
    pub raft_last_log_index: Gauge,
    pub raft_applied_index: Gauge,
    pub raft_apply_lag: Gauge,
    pub raft_entries_since_snapshot: Gauge,
    pub agents_connected: Family<One, Gauge>,
    pub servers: Family<One, Gauge>,
    pub sessions: Family<ServerStatus, Gauge>,
    pub load_factor: Family<ServerLabel, Gauge>,
    pub visible_seconds: Family<One, FGauge>,
}

/// The process-wide metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Self {
        let m = Metrics {
            registry: Registry::with_prefix("x2gobroker"),
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0005, 2.5, 12))
            }),
            login_failures: Counter::default(),
            login_refusals: Family::default(),
            placements: Family::default(),
            proposals: Counter::default(),
            proposal_batch: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            agent_reports: Counter::default(),
            raft_role: Family::default(),
            raft_term: Gauge::default(),
            raft_last_log_index: Gauge::default(),
            raft_applied_index: Gauge::default(),
            raft_apply_lag: Gauge::default(),
            raft_entries_since_snapshot: Gauge::default(),
            agents_connected: Family::default(),
            servers: Family::default(),
            sessions: Family::default(),
            load_factor: Family::default(),
            visible_seconds: Family::default(),
        };
        m.register()
    }

    fn register(mut self) -> Self {
        let r = &mut self.registry;
        r.register(
            "requests",
            "Requests answered, by frontend, task and HTTP status",
            self.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time to answer a request, by frontend and task",
            self.request_seconds.clone(),
        );
        r.register(
            "login_failures",
            "Logins the authentication mechanism refused",
            self.login_failures.clone(),
        );
        r.register(
            "login_refusals",
            "Logins refused before the mechanism was asked (rate_limited, busy)",
            self.login_refusals.clone(),
        );
        r.register(
            "placements",
            "selectsession decisions by reason (resume, takeover, sole, sticky, load, count, none)",
            self.placements.clone(),
        );
        r.register(
            "proposals",
            "State commands proposed to Raft by this node (batched)",
            self.proposals.clone(),
        );
        r.register(
            "proposal_batch_size",
            "Commands per proposed batch",
            self.proposal_batch.clone(),
        );
        r.register(
            "agent_reports",
            "Agent reports (one per server) proposed by this node's gateway",
            self.agent_reports.clone(),
        );
        r.register(
            "raft_role",
            "1 for this node's Raft role (leader, follower, candidate, learner, shutdown, standalone)",
            self.raft_role.clone(),
        );
        r.register("raft_term", "This node's Raft term", self.raft_term.clone());
        r.register(
            "raft_last_log_index",
            "The last log index this node holds",
            self.raft_last_log_index.clone(),
        );
        r.register(
            "raft_applied_index",
            "The last log index applied to this node's state",
            self.raft_applied_index.clone(),
        );
        r.register(
            "raft_apply_lag",
            "Log entries held but not yet applied",
            self.raft_apply_lag.clone(),
        );
        r.register(
            "raft_entries_since_snapshot",
            "Log entries after the last snapshot",
            self.raft_entries_since_snapshot.clone(),
        );
        r.register(
            "agents_connected",
            "Agents connected to this node, by transport",
            self.agents_connected.clone(),
        );
        r.register(
            "servers",
            "X2Go servers known from agents, by state (up, down, drained)",
            self.servers.clone(),
        );
        r.register(
            "sessions",
            "Sessions per X2Go server and status (R, S, T, F)",
            self.sessions.clone(),
        );
        r.register(
            "load_factor",
            "Each X2Go server's load factor (higher is less loaded)",
            self.load_factor.clone(),
        );
        r.register(
            "agent_report_visible_seconds",
            "Report-to-visible latency on this node over the last 30 s (quantile p50, p99, max)",
            self.visible_seconds.clone(),
        );
        self
    }

    /// The Prometheus text exposition (0.0.4) of every family.
    pub fn encode(&self) -> String {
        let mut open_metrics = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut open_metrics, &self.registry);
        prometheus_text(&open_metrics)
    }

    /// A request was answered.
    pub fn request(&self, frontend: &'static str, task: &'static str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                frontend,
                task,
                status,
            })
            .inc();
        self.request_seconds
            .get_or_create(&TaskLabels { frontend, task })
            .observe(seconds);
    }

    /// A placement decision.
    pub fn placed(&self, reason: &'static str) {
        self.placements
            .get_or_create(&PlacementLabels { reason })
            .inc();
    }

    /// A login refused before the mechanism was asked.
    pub fn login_refused(&self, reason: &'static str) {
        self.login_refusals
            .get_or_create(&RefusalLabels { reason })
            .inc();
    }
}

/// OpenMetrics text (what `prometheus-client` writes) as the classic
/// Prometheus text format: a counter's HELP and TYPE lines name the
/// `_total` series, and there is no `# EOF` line.
fn prometheus_text(open_metrics: &str) -> String {
    let lines: Vec<&str> = open_metrics.lines().collect();
    let mut out = String::with_capacity(open_metrics.len() + 256);
    for (i, line) in lines.iter().enumerate() {
        if *line == "# EOF" {
            continue;
        }
        let counter_of = |l: &str| -> Option<String> {
            let name = l.strip_prefix("# TYPE ")?.strip_suffix(" counter")?;
            Some(name.to_string())
        };
        let renamed = if let Some(name) = counter_of(line) {
            format!("# TYPE {name}_total counter")
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default();
            match lines.get(i + 1).and_then(|next| counter_of(next)) {
                Some(counter) if counter == name => {
                    format!("# HELP {name}_total{}", &rest[name.len()..])
                }
                _ => line.to_string(),
            }
        } else {
            line.to_string()
        };
        out.push_str(&renamed);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_by_their_total_series_and_eof_goes() {
        let om = "# HELP x_requests Requests.\n# TYPE x_requests counter\nx_requests_total 3\n# HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n# EOF\n";
        assert_eq!(
            prometheus_text(om),
            "# HELP x_requests_total Requests.\n# TYPE x_requests_total counter\nx_requests_total 3\n# HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n"
        );
    }
}
