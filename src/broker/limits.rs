//! The failed-login limiter as the access check sees it: this node's own
//! counts, and in a cluster the leader's, which count the attempts made on
//! every node (`cluster::login_limits`). Unknown authid cookies count
//! against the client address like failed passwords. Nothing here is
//! written to the log.

use super::Broker;
use crate::cluster::login_limits::{LimitAnswer, LimitRequest};
use std::time::Duration;

impl Broker {
    /// How long a password attempt for `user` from `client` must wait, if
    /// the cluster's counts or this node's block it now.
    pub(super) async fn login_blocked_for(&self, user: &str, client: &str) -> Option<Duration> {
        let local = self.limiter.blocked_for(user, client);
        let request = LimitRequest::Check {
            user: user.to_string(),
            client: client.to_string(),
        };
        local.max(self.leader_blocks_for(request).await)
    }

    /// A password attempt failed: counted here and by the leader.
    pub(super) async fn login_failed(&self, user: &str, client: &str) {
        self.limiter.failure(user, client);
        let request = LimitRequest::Failure {
            user: user.to_string(),
            client: client.to_string(),
        };
        self.tell_leader(request).await;
    }

    /// A password attempt succeeded: the user's count is cleared here and by the leader.
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
