//! Raising the command format floor. A build that brings a new command
//! (a newer `COMMAND_FORMAT`) may propose it only once every member reads
//! it, or an older member would be sent entries it refuses and fall
//! behind. Each node says in every node-to-node request and answer which
//! formats it reads (`network::READS_HEADER`); the leader, which hears
//! from every member with each heartbeat, proposes `RaiseFormat` once all
//! of them read its own newest format. Proposers then read the floor from
//! the state (`State::command_format`), the same on every node. During a
//! rolling upgrade the floor rises when the last member runs the new build.

use super::Node;
use crate::state::{Command, COMMAND_FORMAT};
use std::sync::Weak;
use std::time::Duration;

/// How often the leader looks (right after start-up, while members have
/// just answered their first heartbeats, so that the raise is one of the
/// start-up writes).
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// As leader, raise the floor to this build's format once every member
/// reads it; ends once it is raised (on any node: it is in the state), or
/// with the node.
pub async fn raise_when_read(node: Weak<Node>) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_behind = Vec::new();
    loop {
        tick.tick().await;
        let Some(node) = node.upgrade() else { return };
        if node.read_state(|s| s.command_format()) >= COMMAND_FORMAT {
            return;
        }
        if !node.is_leader() {
            continue;
        }
        let members: Vec<_> = node
            .raft
            .metrics()
            .borrow()
            .membership_config
            .nodes()
            .map(|(id, _)| *id)
            .collect();
        let behind: Vec<_> = members
            .into_iter()
            .filter(|id| *id != node.id && node.peers.reads(*id) < COMMAND_FORMAT)
            .collect();
        if !behind.is_empty() {
            if behind != last_behind {
                tracing::debug!(
                    ?behind,
                    format = COMMAND_FORMAT,
                    "members that do not read this build's command format yet"
                );
                last_behind = behind;
            }
            continue;
        }
        match node
            .submit(Command::RaiseFormat {
                format: COMMAND_FORMAT,
            })
            .await
        {
            Ok(_) => tracing::info!(
                format = COMMAND_FORMAT,
                "every member reads this command format: its commands may be proposed"
            ),
            Err(e) => tracing::warn!(error = %e, "raising the command format failed"),
        }
    }
}

#[cfg(test)]
impl Node {
    /// Wait (up to 20 s) until the floor is this build's format: a test
    /// that compares states or counts entries starts after that write.
    pub(super) async fn format_raised(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.read_state(|s| s.command_format()) < COMMAND_FORMAT {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the command format was not raised"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
