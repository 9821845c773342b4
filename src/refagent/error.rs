//! Why a call of the reference's agent (local or over SSH) failed.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum RefAgentError {
    #[error("{0:?} is not a user name the agent may be asked about")]
    BadUser(String),
    #[error("{0:?} is not a session id")]
    BadSession(String),
    #[error("a key or key file argument holds characters the agent's shell would read")]
    BadArgument,
    #[error("running {agent}: {source}")]
    Run {
        agent: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{agent} did not answer within {timeout:?}")]
    Timeout { agent: String, timeout: Duration },
    #[error("{agent} {task} failed: {said}")]
    Failed {
        agent: String,
        task: &'static str,
        said: String,
    },
    #[error(
        "no SSH private key of the broker (id_rsa, id_ecdsa, id_ed25519) readable in {dir}: {why}"
    )]
    NoKey { dir: String, why: String },
    #[error("{agent} is not reachable: {why}")]
    Unreachable { agent: String, why: String },
    #[error("{agent} is skipped: it was unreachable less than {retry:?} ago")]
    RecentlyDown { agent: String, retry: Duration },
    #[error("{agent}: host key refused: {why}")]
    HostKey { agent: String, why: String },
    #[error("{agent}: the broker's key was not accepted for user {user}")]
    Auth { agent: String, user: String },
    #[error("{agent}: SSH: {why}")]
    Ssh { agent: String, why: String },
}

impl RefAgentError {
    /// Whether the failure says the agent's host cannot be used now (as
    /// opposed to an answer or a request it refused).
    pub fn host_down(&self) -> bool {
        matches!(
            self,
            RefAgentError::Timeout { .. }
                | RefAgentError::Unreachable { .. }
                | RefAgentError::HostKey { .. }
                | RefAgentError::Auth { .. }
                | RefAgentError::Ssh { .. }
        )
    }
}
