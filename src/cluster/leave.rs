//! A node leaving on shutdown, once its own requests are answered. A
//! leader hands its leadership over first: it proposes nothing more
//! (forwarded writes are answered "shutting down", and their followers
//! retry them on the next leader), waits until a voter has its whole log,
//! and asks that voter to start an election (`TakeOver`), which it wins at
//! once with this node's vote (a leader's own vote is not held by a lease
//! once it has led for `election_max_ms`; openraft 0.9 has no leadership
//! transfer of its own). Then Raft stops. When no voter catches up in time,
//! or the call fails (an older build), Raft simply stops and the others
//! elect a leader after one lease and election timeout. Everything
//! acknowledged is committed on a majority either way.

use super::{Node, NodeId};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long a leader waits for a voter to have its whole log.
const CATCH_UP_WITHIN: Duration = Duration::from_secs(1);
/// How long it waits for the successor's answer, and then for the election it asked for.
const ELECTED_WITHIN: Duration = Duration::from_secs(1);

impl Node {
    /// Stop Raft as the node shuts down, handing leadership over first.
    pub async fn leave(&self) {
        self.leaving.store(true, Ordering::Relaxed);
        if self.is_leader() {
            let began = Instant::now();
            match self.hand_over().await {
                Some(to) => tracing::info!(
                    to,
                    ms = began.elapsed().as_millis() as u64,
                    "handed leadership over"
                ),
                None => tracing::info!(
                    "stopping as leader without handing over; the others elect a new one"
                ),
            }
        }
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "stopping Raft");
        }
    }

    /// Ask a voter with this leader's whole log to take over; who did.
    async fn hand_over(&self) -> Option<NodeId> {
        let successor = self.caught_up_voter().await?;
        let member = self.member(successor)?;
        let asked = self.peers.take_over(successor, &member, self.id);
        match tokio::time::timeout(ELECTED_WITHIN, asked).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(node = successor, error = %e, "handing leadership over");
                return None;
            }
            Err(_) => {
                tracing::warn!(
                    node = successor,
                    "handing leadership over: no answer in time"
                );
                return None;
            }
        }
        let id = self.id;
        self.raft
            .wait(Some(ELECTED_WITHIN))
            .metrics(|m| m.current_leader != Some(id), "leadership handed over")
            .await
            .ok()
            .map(|_| successor)
    }

    /// A voter whose log matches this leader's last entry, once one does.
    async fn caught_up_voter(&self) -> Option<NodeId> {
        let deadline = Instant::now() + CATCH_UP_WITHIN;
        loop {
            let m = self.raft.metrics().borrow().clone();
            let last = m.last_log_index;
            let voters: Vec<NodeId> = m
                .membership_config
                .membership()
                .voter_ids()
                .filter(|id| *id != self.id)
                .collect();
            if voters.is_empty() {
                // The only voter: nobody to hand over to.
                return None;
            }
            let found = m.replication.as_ref().and_then(|r| {
                r.iter()
                    .filter(|(id, _)| voters.contains(id))
                    .find(|(_, matched)| matched.map(|l| l.index) == last)
                    .map(|(id, _)| *id)
            });
            if found.is_some() || Instant::now() >= deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
