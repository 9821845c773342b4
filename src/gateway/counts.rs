//! What `/status/agents` shows of the replicated server and session
//! tables as this node applied them: counts only (no hostnames, users or
//! session lines), the agents connected to this node, and how fresh the
//! reports were when this node applied them.

use crate::broker::Broker;
use crate::storage::visibility::VisibleSummary;
use serde::Serialize;

/// The server and session counts of the applied state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AgentCounts {
    /// X2Go servers whose agents ever reported.
    pub servers: usize,
    /// Of those, the ones not marked down.
    pub servers_up: usize,
    /// Sessions of all servers.
    pub sessions: usize,
    /// Agents connected to this node now.
    pub connected_here: usize,
    /// Report-to-visible latency on this node over the last 30 s (ms).
    pub visible_ms: VisibleSummary,
}

impl AgentCounts {
    pub fn of(broker: &Broker) -> Self {
        let (servers, servers_up, sessions) = broker.read_applied(|state| {
            let (servers, up) = state.server_counts();
            (servers, up, state.session_count())
        });
        AgentCounts {
            servers,
            servers_up,
            sessions,
            connected_here: broker.agents().links.connected(),
            visible_ms: broker.visible_summary(),
        }
    }
}
