//! What `/status/agents` shows of the replicated server and session
//! tables as this node applied them: counts only (no hostnames, users or
//! session lines).

use crate::state::State;
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
}

impl AgentCounts {
    pub fn of(state: &State) -> Self {
        let (servers, servers_up) = state.server_counts();
        AgentCounts {
            servers,
            servers_up,
            sessions: state.session_count(),
        }
    }
}
