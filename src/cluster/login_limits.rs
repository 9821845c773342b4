//! Failed-login limits that hold across the cluster without touching the
//! Raft log. The leader's counters are the cluster's: before a password is
//! tried a follower asks the leader whether the user or client address is
//! blocked, and afterwards tells it the result. Every node also counts what
//! it sees itself, and a node is refused when either count says so. When no
//! leader answers in time, a node goes on with its own counts alone.
//!
//! Across a leader change the new leader starts from the failures it saw
//! itself (as a follower it counted the attempts made on it), so an attacker
//! gains at most one further round of attempts per leader change.
//!
//! Attempts in flight count: a `Check` with an attempt id is a reservation
//! (the leader counts it as a failure at once, if the limits allow it), and
//! the follower's `Settle` with the same id releases it as the attempt
//! ended (a success gives the client's place back and clears the user, an
//! attempt the mechanism never tried gives both back). A reservation never
//! settled stays a failure until it leaves the window; a `Settle` the
//! leader holds no reservation for (it did not lead at the `Check`) is
//! counted as the attempt ended.
//!
//! Unknown authid cookies count against the client address alone
//! (`CheckClient`, `ClientFailure`), so guesses naming a user cannot lock
//! that user out of their cookies.

use super::{Node, NodeId};
use crate::auth::ratelimit::{RateLimiter, Settled};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How long a follower waits for the leader before counting alone.
pub const ASK_LEADER_TIMEOUT: Duration = Duration::from_millis(500);

/// What a follower asks or tells the leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LimitRequest {
    /// Is a password attempt for `user` from `client` blocked now? With an
    /// attempt id, reserve it when it is not.
    Check {
        user: String,
        client: String,
        attempt: Option<u64>,
    },
    /// The reserved password attempt `attempt` ended with `outcome`.
    Settle {
        user: String,
        client: String,
        attempt: u64,
        outcome: Settled,
    },
    /// A login without a password check succeeded (clears the user's count).
    Success { user: String },
    /// Is an authid cookie attempt from `client` blocked now (the address alone)?
    CheckClient { client: String },
    /// An unknown authid cookie was presented: counts against `client` only.
    ClientFailure { client: String },
}

/// The leader's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LimitAnswer {
    Allowed,
    Blocked {
        wait_ms: u64,
    },
    Recorded,
    /// The asked node does not lead (any more), or keeps no counters yet.
    NotLeader,
}

/// Why the leader's counters could not be consulted.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("no leader known")]
    NoLeader,
    #[error("node {0} did not answer in time")]
    Timeout(NodeId),
    #[error("node {0} does not lead")]
    NotLeader(NodeId),
    #[error("node {node}: {source}")]
    Transport {
        node: NodeId,
        source: super::TransportError,
    },
}

impl Node {
    /// Keep the failed-login counters in `limiter` (the broker's).
    pub fn set_login_limiter(&self, limiter: Arc<RateLimiter>) {
        let _ = self.login_limiter.set(limiter);
    }

    /// Whether another node leads, as far as this one knows.
    pub fn leads_elsewhere(&self) -> bool {
        self.leader_elsewhere().is_some()
    }

    /// Ask the leader (another node) about a login attempt.
    pub async fn ask_leader_limit(
        &self,
        request: &LimitRequest,
    ) -> Result<LimitAnswer, LimitError> {
        let (leader, member) = self.leader_elsewhere().ok_or(LimitError::NoLeader)?;
        let call = self.peers.login_limit(leader, &member, request);
        match tokio::time::timeout(ASK_LEADER_TIMEOUT, call).await {
            Err(_) => Err(LimitError::Timeout(leader)),
            Ok(Err(source)) => Err(LimitError::Transport {
                node: leader,
                source,
            }),
            Ok(Ok(LimitAnswer::NotLeader)) => Err(LimitError::NotLeader(leader)),
            Ok(Ok(answer)) => Ok(answer),
        }
    }

    /// Answer a follower, from this node's counters, if it leads.
    pub fn answer_login_limit(&self, request: LimitRequest) -> LimitAnswer {
        let leads = self.raft.metrics().borrow().current_leader == Some(self.id);
        let Some(limiter) = self.login_limiter.get().filter(|_| leads) else {
            return LimitAnswer::NotLeader;
        };
        match request {
            LimitRequest::Check {
                user,
                client,
                attempt,
            } => blocked(match attempt {
                Some(id) => limiter.reserve_for(id, &user, &client).err(),
                None => limiter.blocked_for(&user, &client),
            }),
            LimitRequest::Settle {
                user,
                client,
                attempt,
                outcome,
            } => {
                limiter.settle_for(attempt, &user, &client, outcome);
                LimitAnswer::Recorded
            }
            LimitRequest::Success { user } => {
                limiter.success(&user);
                LimitAnswer::Recorded
            }
            LimitRequest::CheckClient { client } => blocked(limiter.client_blocked_for(&client)),
            LimitRequest::ClientFailure { client } => {
                limiter.client_failure(&client);
                LimitAnswer::Recorded
            }
        }
    }
}

/// The answer for a check that found `wait` (None: not blocked).
fn blocked(wait: Option<Duration>) -> LimitAnswer {
    match wait {
        Some(wait) => LimitAnswer::Blocked {
            wait_ms: wait.as_millis().min(u64::MAX as u128) as u64,
        },
        None => LimitAnswer::Allowed,
    }
}
