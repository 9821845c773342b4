//! What `/status` says about the applied state (counts and a digest),
//! computed once per applied log entry: `/status` is unauthenticated, and
//! hashing the whole state on every request would let anyone keep the
//! state lock busy.

use super::store::Machine;
use super::NodeId;
use openraft::LogId;
use parking_lot::Mutex;

/// The applied state's counts and digest.
#[derive(Debug, Clone)]
pub struct Summary {
    applied: Option<LogId<NodeId>>,
    pub placements: usize,
    pub cookies: usize,
    pub config_version: Option<u64>,
    pub digest: String,
}

/// The summary of the last applied entry a caller asked about.
#[derive(Default)]
pub struct SummaryCache(Mutex<Option<Summary>>);

impl SummaryCache {
    /// The summary of `machine` (read-locked by the caller), computed only
    /// when an entry was applied since the last call.
    pub fn of(&self, machine: &Machine) -> Summary {
        let mut cached = self.0.lock();
        if let Some(s) = cached
            .as_ref()
            .filter(|s| s.applied == machine.last_applied)
        {
            return s.clone();
        }
        let s = Summary {
            applied: machine.last_applied,
            placements: machine.state.placement_count(),
            cookies: machine.state.cookie_count(),
            config_version: machine.state.config().map(|(v, _)| *v),
            digest: format!("{:016x}", machine.state.digest()),
        };
        *cached = Some(s.clone());
        s
    }
}
