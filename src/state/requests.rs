//! Request ids in the state: a command a cluster node proposes carries an
//! id that node stamped (`Command::Request`), and the state remembers the
//! outcome of every id it applied, so a command proposed again after a
//! leader change (it may have committed already) is applied once and the
//! repeat answers the first outcome.
//!
//! Ids are forgotten deterministically, by the proposers' timestamps: when
//! older than `REQUEST_TTL_MS` at the time a later request carries, and
//! oldest first beyond `MAX_REQUESTS`. A retry comes within the write
//! deadline (seconds), far inside both.

use super::command::{Command, Millis, Outcome};
use super::pairs::{self, Write};
use super::State;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How long an applied request id is remembered (by the proposers' clocks).
pub const REQUEST_TTL_MS: Millis = 10 * 60 * 1000;
/// Request ids remembered at most; beyond this the oldest are forgotten.
pub const MAX_REQUESTS: usize = 100_000;

/// A request as its proposing node named it: the node, a random number the
/// node drew when it started (so ids differ across restarts) and a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId {
    pub node: u64,
    pub boot: u64,
    pub seq: u64,
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}-{:016x}-{:x}", self.node, self.boot, self.seq)
    }
}

impl std::str::FromStr for RequestId {
    type Err = ();

    /// The `Display` form back.
    fn from_str(s: &str) -> Result<Self, ()> {
        let mut parts = s.split('-').map(|p| u64::from_str_radix(p, 16));
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Ok(node)), Some(Ok(boot)), Some(Ok(seq)), None) => {
                Ok(RequestId { node, boot, seq })
            }
            _ => Err(()),
        }
    }
}

/// What the state remembers of an applied request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// The time the proposer stamped on the request.
    pub at: Millis,
    pub outcome: Outcome,
}

impl State {
    /// The remembered outcome of request `id`, if it was applied and not yet forgotten.
    pub fn request(&self, id: &RequestId) -> Option<&RequestRecord> {
        self.requests.get(id)
    }

    pub fn request_count(&self) -> usize {
        self.requests.len()
    }

    /// Apply `cmd` as request `id` stamped at `at`: once; a repeat answers
    /// the first outcome and changes nothing.
    pub(super) fn apply_request(
        &mut self,
        id: RequestId,
        at: Millis,
        cmd: &Command,
        writes: &mut Vec<Write>,
    ) -> Outcome {
        self.forget_requests_before(at.saturating_sub(REQUEST_TTL_MS), writes);
        if let Some(seen) = self.requests.get(&id) {
            return seen.outcome.clone();
        }
        let (outcome, w) = self.apply(cmd);
        writes.extend(w);
        let rec = RequestRecord {
            at,
            outcome: outcome.clone(),
        };
        writes.push(pairs::request_put(&id, &rec));
        self.insert_request(id, rec);
        while self.requests.len() > MAX_REQUESTS {
            let Some(&(_, oldest)) = self.request_expiry.first() else {
                break;
            };
            self.forget_request(oldest, writes);
        }
        outcome
    }

    /// Forget the requests stamped before `limit`.
    pub(super) fn forget_requests_before(&mut self, limit: Millis, writes: &mut Vec<Write>) {
        while let Some(&(at, id)) = self.request_expiry.first() {
            if at >= limit {
                break;
            }
            self.forget_request(id, writes);
        }
    }

    /// Remember `rec` under `id` (also when loading).
    pub(super) fn insert_request(&mut self, id: RequestId, rec: RequestRecord) {
        if let Some(old) = self.requests.get(&id) {
            self.request_expiry.remove(&(old.at, id));
        }
        self.request_expiry.insert((rec.at, id));
        self.requests.insert(id, rec);
    }

    fn forget_request(&mut self, id: RequestId, writes: &mut Vec<Write>) {
        if let Some(rec) = self.requests.remove(&id) {
            self.request_expiry.remove(&(rec.at, id));
            writes.push(pairs::request_delete(&id));
        }
    }
}
