//! Size caps of what a node proposes. Concurrent submissions are proposed
//! together as one log entry, at most `MAX_BATCH` commands and
//! `MAX_BATCH_BYTES` of encoded commands; a command alone may be larger
//! (a configuration), up to `MAX_COMMAND_BYTES`, and one over that is
//! refused before it reaches the log. So every log entry fits a
//! node-to-node message (`network::MAX_MESSAGE_BYTES`) with room to spare.

use super::network::MAX_MESSAGE_BYTES;
use crate::state::Command;

/// Commands proposed together at most.
pub const MAX_BATCH: usize = 256;
/// Encoded commands proposed together at most (bytes); client requests
/// are a few KiB at most (`api::fields`).
pub const MAX_BATCH_BYTES: u64 = 1 << 20;
/// The largest single command a node proposes (bytes): half a node-to-node message.
pub const MAX_COMMAND_BYTES: u64 = (MAX_MESSAGE_BYTES / 2) as u64;

// A batch is smaller than the largest command, which fits a message twice.
const _: () = assert!(
    MAX_BATCH_BYTES < MAX_COMMAND_BYTES && 2 * MAX_COMMAND_BYTES <= MAX_MESSAGE_BYTES as u64
);

/// A command's size in the log and on the wire (bincode).
pub fn encoded_size(cmd: &Command) -> u64 {
    bincode::serialized_size(cmd).unwrap_or(u64::MAX)
}

/// Add what `next` yields to `batch` (which holds its first item) while the
/// batch stays within `MAX_BATCH` items and `MAX_BATCH_BYTES`; the item
/// that did not fit is returned, to start the next batch.
pub fn fill<T>(
    batch: &mut Vec<T>,
    size: impl Fn(&T) -> u64,
    mut next: impl FnMut() -> Option<T>,
) -> Option<T> {
    let mut bytes: u64 = batch.iter().map(&size).sum();
    while batch.len() < MAX_BATCH {
        let item = next()?;
        let item_bytes = size(&item);
        if bytes.saturating_add(item_bytes) > MAX_BATCH_BYTES {
            return Some(item);
        }
        bytes += item_bytes;
        batch.push(item);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(sizes: &[u64]) -> Vec<Vec<u64>> {
        let mut queue = sizes.iter().copied();
        let mut batches = Vec::new();
        let mut carry = None;
        while let Some(first) = carry.take().or_else(|| queue.next()) {
            let mut batch = vec![first];
            carry = fill(&mut batch, |s| *s, || queue.next());
            batches.push(batch);
        }
        batches
    }

    #[test]
    fn batches_stay_within_count_and_bytes() {
        let kib = 1024;
        // Two large requests are never proposed together.
        assert_eq!(
            drain(&[700 * kib, 700 * kib]),
            vec![vec![700 * kib], vec![700 * kib]]
        );
        // A command larger than a batch goes alone.
        assert_eq!(
            drain(&[kib, 3 << 20, kib]),
            vec![vec![kib], vec![3 << 20], vec![kib]]
        );
        let small = vec![100u64; 1000];
        let batches = drain(&small);
        assert_eq!(batches.len(), 4);
        assert!(batches.iter().all(|b| b.len() <= MAX_BATCH));
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 1000);
        let many = vec![8 * kib; 300];
        for b in drain(&many) {
            assert!(b.iter().sum::<u64>() <= MAX_BATCH_BYTES);
        }
    }

    #[test]
    fn a_full_batch_of_the_largest_requests_fits_the_byte_cap() {
        let user = "u".repeat(256);
        let cmd = Command::RedeemCookie {
            user: user.clone(),
            cookie: "c".repeat(256),
            ip: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".into(),
            now: u64::MAX,
            verify_ip: true,
            timeout_ms: u64::MAX,
            next: "n".repeat(64),
        };
        let batch = Command::Batch(vec![cmd; MAX_BATCH]);
        assert!(encoded_size(&batch) < MAX_BATCH_BYTES);
    }
}
