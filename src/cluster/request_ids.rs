//! The request ids this node stamps on the commands it proposes, so that a
//! command proposed again after a leader change is applied once (see
//! `state::RequestId`): the node id, a random number drawn when the node
//! starts (ids never repeat across restarts) and a counter. Stamped once,
//! before the first attempt, never inside `apply`.

use super::NodeId;
use crate::state::{Command, Millis, RequestId};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Hands out this node's request ids.
pub struct RequestIds {
    node: NodeId,
    boot: u64,
    next: AtomicU64,
}

impl RequestIds {
    pub fn new(node: NodeId) -> Self {
        let mut b = [0u8; 8];
        let boot = match getrandom::getrandom(&mut b) {
            Ok(()) => u64::from_le_bytes(b),
            // Without the OS random source, the start time still tells restarts apart.
            Err(_) => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0),
        };
        RequestIds {
            node,
            boot,
            next: AtomicU64::new(0),
        }
    }

    /// `cmd` as a new request of this node, stamped with the time now.
    pub fn stamp(&self, cmd: Command) -> Command {
        Command::Request {
            id: RequestId {
                node: self.node,
                boot: self.boot,
                seq: self.next.fetch_add(1, Ordering::Relaxed),
            },
            at: now_ms(),
            cmd: Box::new(cmd),
        }
    }
}

fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}
