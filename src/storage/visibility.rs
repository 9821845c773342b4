//! How fresh the agents' reports are when this node applies them: for
//! every applied `AgentReports` entry, the time from the agent's stamp on
//! the oldest news of each report to the moment it became visible here.
//! Kept for the last `WINDOW` (at most `MAX_SAMPLES`), summarised for
//! `/status/agents`. It is an observation next to the state machine, not
//! part of it: applying stays free of clocks.

use crate::state::Command;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The summary covers reports applied this recently.
pub const WINDOW: Duration = Duration::from_secs(30);
/// Samples kept at most (older ones go first).
const MAX_SAMPLES: usize = 200_000;
/// A report older than this when applied is a replay (a restart, a
/// snapshot catch-up), not news: it is not counted.
const REPLAY_AFTER_MS: u64 = 60_000;

/// Report-to-visible times of this node's recently applied agent reports.
#[derive(Debug, Default)]
pub struct Visibility {
    /// (applied at, latency), both in ms.
    samples: Mutex<VecDeque<(u64, u64)>>,
}

/// The latency summary (ms) over the last `WINDOW`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct VisibleSummary {
    pub count: usize,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Visibility {
    /// `cmd` was applied (and is readable) now.
    pub fn observe(&self, cmd: &Command) {
        self.observe_at(cmd, now_ms());
    }

    fn observe_at(&self, cmd: &Command, now: u64) {
        let reports = match cmd {
            Command::AgentReports { reports, .. } => reports,
            Command::Batch(cmds) => {
                cmds.iter().for_each(|c| self.observe_at(c, now));
                return;
            }
            // A cluster proposes every command wrapped with its request id.
            Command::Request { cmd, .. } => return self.observe_at(cmd, now),
            _ => return,
        };
        let mut samples = self.samples.lock();
        for since in reports.iter().filter_map(|r| r.since) {
            let latency = now.saturating_sub(since);
            if latency > REPLAY_AFTER_MS {
                continue;
            }
            if samples.len() == MAX_SAMPLES {
                samples.pop_front();
            }
            samples.push_back((now, latency));
        }
    }

    /// p50, p99 and max over the reports applied in the last `WINDOW`.
    pub fn summary(&self) -> VisibleSummary {
        self.summary_at(now_ms())
    }

    fn summary_at(&self, now: u64) -> VisibleSummary {
        let from = now.saturating_sub(WINDOW.as_millis() as u64);
        let mut recent: Vec<u64> = {
            let mut samples = self.samples.lock();
            while samples.front().is_some_and(|(at, _)| *at < from) {
                samples.pop_front();
            }
            samples.iter().map(|(_, l)| *l).collect()
        };
        if recent.is_empty() {
            return VisibleSummary::default();
        }
        recent.sort_unstable();
        let at = |q: f64| recent[((recent.len() - 1) as f64 * q).round() as usize];
        VisibleSummary {
            count: recent.len(),
            p50: at(0.50),
            p99: at(0.99),
            max: *recent.last().expect("not empty"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::AgentReport;

    fn reports(stamps: &[Option<u64>]) -> Command {
        Command::AgentReports {
            node: 1,
            at: 0,
            reports: stamps
                .iter()
                .map(|since| AgentReport {
                    hostname: "h".into(),
                    sessions: None,
                    load: None,
                    since: *since,
                })
                .collect(),
        }
    }

    #[test]
    fn percentiles_of_the_recent_reports() {
        let v = Visibility::default();
        let stamps: Vec<Option<u64>> = (1..=100).map(|i| Some(100_000 - i)).collect();
        v.observe_at(&reports(&stamps), 100_000);
        v.observe_at(&Command::Batch(vec![reports(&[None])]), 100_000);
        let s = v.summary_at(100_001);
        assert_eq!(s.count, 100);
        assert_eq!((s.p50, s.p99, s.max), (51, 99, 100));
    }

    #[test]
    fn reports_proposed_by_a_cluster_count_too() {
        // A cluster node wraps each proposal with its request id.
        let ids = crate::cluster::request_ids::RequestIds::new(1);
        let v = Visibility::default();
        let wrapped = Command::Batch(vec![ids.stamp(reports(&[Some(99_990), Some(99_980)]))]);
        v.observe_at(&wrapped, 100_000);
        let s = v.summary_at(100_001);
        assert_eq!((s.count, s.p50, s.max), (2, 20, 20));
    }

    #[test]
    fn old_samples_and_replays_are_left_out() {
        let v = Visibility::default();
        v.observe_at(&reports(&[Some(1_000)]), 1_010);
        v.observe_at(&reports(&[Some(1_000)]), 1_000 + REPLAY_AFTER_MS + 1);
        assert_eq!(v.summary_at(1_020).count, 1);
        let later = 1_010 + WINDOW.as_millis() as u64 + 1;
        assert_eq!(v.summary_at(later), VisibleSummary::default());
    }
}
