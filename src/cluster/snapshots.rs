//! Snapshots by log size. openraft builds a snapshot every `snapshot_every`
//! entries; agent reports make entries of tens of kilobytes, so at 10,000
//! entries the log (and the memory sled spends on it) would reach hundreds
//! of megabytes before the first snapshot. The log store counts the bytes
//! it appended since the last snapshot; past the limit, and past the size
//! of the last snapshot (a log smaller than the state it would replace is
//! cheaper to keep than a new snapshot to write), this asks openraft for a
//! snapshot, after which it purges the log behind it.

use super::store::LogGrowth;
use super::Node;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the count is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Ask for a snapshot whenever the log since the last one passes `limit`
/// and that snapshot's size; ends with the node.
pub async fn by_log_size(node: Weak<Node>, growth: Arc<LogGrowth>, limit: u64) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(node) = node.upgrade() else { return };
        let written = growth.since_snapshot.load(Ordering::Relaxed);
        let snapshot = growth.snapshot.load(Ordering::Relaxed);
        if due(written, limit, snapshot) {
            tracing::debug!(written, limit, "log past its size limit: snapshot");
            if let Err(e) = node.raft.trigger().snapshot().await {
                tracing::warn!(error = %e, "cannot ask for a snapshot");
            }
        }
    }
}

/// Whether `written` bytes of log call for a snapshot, the last one
/// having `snapshot` bytes (a limit of 0: never).
fn due(written: u64, limit: u64, snapshot: u64) -> bool {
    limit > 0 && written >= limit.max(snapshot)
}

#[cfg(test)]
mod tests {
    use super::due;

    #[test]
    fn a_snapshot_is_due_at_the_limit_and_never_without_one() {
        assert!(!due(0, 16, 0));
        assert!(!due(15, 16, 0));
        assert!(due(16, 16, 0));
        assert!(due(1 << 30, 16, 0));
        assert!(!due(1 << 30, 0, 0));
    }

    #[test]
    fn a_log_smaller_than_the_last_snapshot_waits() {
        assert!(!due(20, 16, 40));
        assert!(due(40, 16, 40));
        assert!(due(16, 16, 8));
    }
}
