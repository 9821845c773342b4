//! The failed-login limiter as the access check sees it: this node's own
//! counts, and in a cluster the leader's, which count the attempts made on
//! every node (`cluster::login_limits`). Unknown authid cookies count
//! against the client address like failed passwords. Nothing here is
//! written to the log.
//!
//! A password attempt is reserved before the mechanism is asked: first on
//! this node, then at the leader (a `Check` carrying an attempt id, which
//! the leader counts as a failure until it is settled), and settled on
//! both afterwards (`Settle` with the same id). An attempt whose request is
//! dropped before it settles stays counted as a failure, here and at the
//! leader, until it leaves the window.

use super::Broker;
use crate::auth::ratelimit::{Reservation, Settled};
use crate::cluster::login_limits::{LimitAnswer, LimitRequest};
use std::time::Duration;

/// A password attempt counted against the limits until it is settled.
#[must_use = "an attempt is settled with Broker::login_settled"]
pub(super) struct Attempt {
    local: Reservation,
    id: u64,
    user: String,
    client: String,
}

fn attempt_id() -> u64 {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).expect("the OS random source works");
    u64::from_le_bytes(b)
}

impl Broker {
    /// How long a login for `user` from `client` must wait, if the
    /// cluster's counts or this node's block it now (for a mechanism that
    /// checks no password: nothing is reserved).
    pub(super) async fn login_blocked_for(&self, user: &str, client: &str) -> Option<Duration> {
        let local = self.limiter.blocked_for(user, client);
        let request = LimitRequest::Check {
            user: user.to_string(),
            client: client.to_string(),
            attempt: None,
        };
        local.max(self.leader_blocks_for(request).await)
    }

    /// Reserve a password attempt for `user` from `client` here and at the
    /// leader; how long to wait when either count blocks it.
    pub(super) async fn login_attempt(
        &self,
        user: &str,
        client: &str,
    ) -> Result<Attempt, Duration> {
        let local = self.limiter.reserve(user, client)?;
        let id = attempt_id();
        let request = LimitRequest::Check {
            user: user.to_string(),
            client: client.to_string(),
            attempt: Some(id),
        };
        if let Some(LimitAnswer::Blocked { wait_ms }) = self.tell_leader(request).await {
            // The leader reserved nothing; neither does this node.
            self.limiter.settle(local, Settled::NotTried);
            return Err(Duration::from_millis(wait_ms));
        }
        Ok(Attempt {
            local,
            id,
            user: user.to_string(),
            client: client.to_string(),
        })
    }

    /// The attempt ended with `outcome`: settled here and at the leader.
    pub(super) async fn login_settled(&self, attempt: Attempt, outcome: Settled) {
        self.limiter.settle(attempt.local, outcome);
        let request = LimitRequest::Settle {
            user: attempt.user,
            client: attempt.client,
            attempt: attempt.id,
            outcome,
        };
        self.tell_leader(request).await;
    }

    /// A login succeeded without a password check: the user's count is
    /// cleared here and by the leader.
    pub(super) async fn login_succeeded(&self, user: &str) {
        self.limiter.success(user);
        let request = LimitRequest::Success {
            user: user.to_string(),
        };
        self.tell_leader(request).await;
    }

    /// How long an authid cookie attempt from `client` must wait, if the
    /// address is blocked here or by the leader. Cookie attempts look at the
    /// address alone: guesses for a user do not lock out their cookies.
    pub(super) async fn cookie_blocked_for(&self, client: &str) -> Option<Duration> {
        let local = self.limiter.client_blocked_for(client);
        let request = LimitRequest::CheckClient {
            client: client.to_string(),
        };
        local.max(self.leader_blocks_for(request).await)
    }

    /// An unknown authid cookie was presented: counted against the client
    /// address (not the user), here and by the leader.
    pub(super) async fn cookie_failed(&self, client: &str) {
        self.limiter.client_failure(client);
        let request = LimitRequest::ClientFailure {
            client: client.to_string(),
        };
        self.tell_leader(request).await;
    }

    /// How long a client address must wait before another attempt at a
    /// secret other than a password or a cookie (an agent join token):
    /// the same per-address counts as unknown cookies.
    pub async fn address_blocked_for(&self, client: &str) -> Option<Duration> {
        self.cookie_blocked_for(client).await
    }

    /// A refused secret (an agent join token) from `client`: counted like
    /// an unknown cookie, here and by the leader.
    pub async fn address_failed(&self, client: &str) {
        self.cookie_failed(client).await
    }

    /// How long the leader says to wait, when it answers a check with a block.
    async fn leader_blocks_for(&self, request: LimitRequest) -> Option<Duration> {
        match self.tell_leader(request).await {
            Some(LimitAnswer::Blocked { wait_ms }) => Some(Duration::from_millis(wait_ms)),
            _ => None,
        }
    }

    /// The leader's answer, when another node leads and answers in time;
    /// None on a single node, on the leader, or when counting alone.
    async fn tell_leader(&self, request: LimitRequest) -> Option<LimitAnswer> {
        let node = self.cluster_node().filter(|n| n.leads_elsewhere())?;
        match node.ask_leader_limit(&request).await {
            Ok(answer) => Some(answer),
            Err(e) => {
                tracing::warn!(error = %e, "failed-login limits: the leader did not answer; counting on this node alone");
                None
            }
        }
    }
}
