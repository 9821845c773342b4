//! Snapshots by log size. openraft builds a snapshot every `snapshot_every`
//! entries; agent reports make entries of tens of kilobytes, so at 10,000
//! entries the log (and the memory sled spends on it) would reach hundreds
//! of megabytes before the first snapshot. The log store counts the bytes
//! it appended since the last snapshot; past the limit this asks openraft
//! for a snapshot, after which it purges the log behind it.

use super::Node;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the count is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Ask for a snapshot whenever `bytes` (reset by each snapshot) passes
/// `limit`; ends with the node.
pub async fn by_log_size(node: Weak<Node>, bytes: Arc<AtomicU64>, limit: u64) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(node) = node.upgrade() else { return };
        let written = bytes.load(Ordering::Relaxed);
        if due(written, limit) {
            tracing::debug!(written, limit, "log past its size limit: snapshot");
            if let Err(e) = node.raft.trigger().snapshot().await {
                tracing::warn!(error = %e, "cannot ask for a snapshot");
            }
        }
    }
}

/// Whether `written` bytes of log call for a snapshot (a limit of 0: never).
fn due(written: u64, limit: u64) -> bool {
    limit > 0 && written >= limit
}

#[cfg(test)]
mod tests {
    use super::due;

    #[test]
    fn a_snapshot_is_due_at_the_limit_and_never_without_one() {
        assert!(!due(0, 16));
        assert!(!due(15, 16));
        assert!(due(16, 16));
        assert!(due(1 << 30, 16));
        assert!(!due(1 << 30, 0));
    }
}
