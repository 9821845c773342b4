//! What the node holds, read when `/metrics` is scraped: its Raft numbers,
//! the agents connected to it, and the replicated server and session tables
//! as it applied them.

use super::{One, ServerLabel, ServerStatus, METRICS};
use crate::broker::Broker;
use std::collections::BTreeMap;

const ROLES: [&str; 6] = [
    "leader",
    "follower",
    "candidate",
    "learner",
    "shutdown",
    "standalone",
];

fn one(name: &str) -> One {
    One {
        name: name.to_string(),
    }
}

/// The metrics page: the node's holdings read now, then every family.
pub fn page(broker: &Broker) -> String {
    refresh(broker);
    METRICS.encode()
}

fn refresh(broker: &Broker) {
    let m = &*METRICS;
    let role = match broker.cluster_node() {
        Some(node) => {
            let n = node.raft_numbers();
            m.raft_term.set(n.term as i64);
            m.raft_last_log_index.set(n.last_log_index as i64);
            m.raft_applied_index.set(n.applied_index as i64);
            m.raft_apply_lag
                .set(n.last_log_index.saturating_sub(n.applied_index) as i64);
            m.raft_entries_since_snapshot
                .set(n.last_log_index.saturating_sub(n.snapshot_index) as i64);
            n.role
        }
        None => "standalone".to_string(),
    };
    for r in ROLES {
        m.raft_role.get_or_create(&one(r)).set(i64::from(r == role));
    }
    for (transport, n) in broker.agents().links.connected_by_transport() {
        m.agents_connected
            .get_or_create(&one(transport))
            .set(n as i64);
    }
    let (servers, sessions, loads) = broker.read_applied(|s| {
        let mut states: BTreeMap<&'static str, i64> =
            [("up", 0), ("down", 0), ("drained", 0)].into();
        let mut loads = Vec::new();
        for (host, r) in s.servers() {
            let state = match (r.up, r.drained) {
                (false, _) => "down",
                (true, true) => "drained",
                (true, false) => "up",
            };
            *states.entry(state).or_default() += 1;
            if let Some(l) = &r.load {
                loads.push((host.clone(), l.load_factor));
            }
        }
        let mut sessions: BTreeMap<(String, char), i64> = BTreeMap::new();
        for (host, s) in s.all_sessions() {
            *sessions.entry((host.to_string(), s.status)).or_default() += 1;
        }
        (states, sessions, loads)
    });
    for (state, n) in servers {
        m.servers.get_or_create(&one(state)).set(n);
    }
    m.sessions.clear();
    for ((server, status), n) in sessions {
        let labels = ServerStatus {
            server,
            status: status.to_string(),
        };
        m.sessions.get_or_create(&labels).set(n);
    }
    m.load_factor.clear();
    for (server, factor) in loads {
        let factor = i64::try_from(factor).unwrap_or(i64::MAX);
        m.load_factor
            .get_or_create(&ServerLabel { server })
            .set(factor);
    }
    let visible = broker.visible_summary();
    for (q, ms) in [
        ("p50", visible.p50),
        ("p99", visible.p99),
        ("max", visible.max),
    ] {
        m.visible_seconds
            .get_or_create(&one(q))
            .set(ms as f64 / 1000.0);
    }
}
