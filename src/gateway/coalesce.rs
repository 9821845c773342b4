//! Reports received since the last batch, one entry per X2Go server: a
//! full list absorbs the later deltas, deltas merge, the latest load wins,
//! and any message at all (a heartbeat too) counts as a report.

use crate::state::{AgentReport, LoadRecord, Millis, SessionChange, SessionRecord};
use std::collections::BTreeMap;

/// What each server reported since the last `take`.
#[derive(Debug, Default)]
pub struct Pending {
    servers: BTreeMap<String, Entry>,
}

#[derive(Debug, Default)]
struct Entry {
    sessions: Option<SessionChange>,
    load: Option<LoadRecord>,
    /// The agent's time stamp of the oldest news in this entry.
    since: Option<Millis>,
}

impl Pending {
    /// `host` reported (nothing but that it is alive).
    pub fn seen(&mut self, host: &str) {
        self.entry(host);
    }

    /// `host`'s agent stamped a message with `at` (its clock, ms since the
    /// epoch): the report's age counts from its oldest message.
    pub fn stamp(&mut self, host: &str, at: Millis) {
        if at == 0 {
            return;
        }
        let since = &mut self.entry(host).since;
        *since = Some(since.map_or(at, |s| s.min(at)));
    }

    /// `host`'s full session list: replaces whatever is pending.
    pub fn full(&mut self, host: &str, list: Vec<SessionRecord>) {
        self.entry(host).sessions = Some(SessionChange::Full(list));
    }

    /// `host`'s sessions changed: merged into what is pending.
    pub fn delta(&mut self, host: &str, upsert: Vec<SessionRecord>, removed: Vec<String>) {
        let entry = self.entry(host);
        let touched =
            |id: &str| removed.iter().any(|r| r == id) || upsert.iter().any(|u| u.id == id);
        entry.sessions = Some(match entry.sessions.take() {
            None => SessionChange::Delta { upsert, removed },
            Some(SessionChange::Full(mut list)) => {
                list.retain(|s| !touched(&s.id));
                list.extend(upsert);
                SessionChange::Full(list)
            }
            Some(SessionChange::Delta {
                upsert: mut up,
                removed: mut gone,
            }) => {
                up.retain(|s| !touched(&s.id));
                gone.retain(|id| !touched(id));
                up.extend(upsert);
                gone.extend(removed);
                SessionChange::Delta {
                    upsert: up,
                    removed: gone,
                }
            }
        });
    }

    /// `host`'s latest load.
    pub fn load(&mut self, host: &str, load: LoadRecord) {
        self.entry(host).load = Some(load);
    }

    /// Fold a report in as if it arrived now (to put back a batch that
    /// could not be proposed, before the reports that came since).
    pub fn absorb(&mut self, report: AgentReport) {
        let host = report.hostname;
        if let Some(at) = report.since {
            self.stamp(&host, at);
        }
        match report.sessions {
            Some(SessionChange::Full(list)) => self.full(&host, list),
            Some(SessionChange::Delta { upsert, removed }) => self.delta(&host, upsert, removed),
            None => self.seen(&host),
        }
        if let Some(load) = report.load {
            self.load(&host, load);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Everything pending, one report per server; leaves the buffer empty.
    pub fn take(&mut self) -> Vec<AgentReport> {
        std::mem::take(&mut self.servers)
            .into_iter()
            .map(|(hostname, e)| AgentReport {
                hostname,
                sessions: e.sessions,
                load: e.load,
                since: e.since,
            })
            .collect()
    }

    fn entry(&mut self, host: &str) -> &mut Entry {
        self.servers.entry(host.to_string()).or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Command, State};

    fn s(id: &str, status: char) -> SessionRecord {
        SessionRecord {
            id: id.into(),
            user: "u".into(),
            status,
            line: format!("{id}|{status}"),
        }
    }

    fn sessions(report: &AgentReport) -> &SessionChange {
        report.sessions.as_ref().unwrap()
    }

    #[test]
    fn deltas_after_a_full_list_fold_into_it() {
        let mut p = Pending::default();
        p.full("h", vec![s("a", 'R'), s("b", 'R')]);
        p.delta("h", vec![s("a", 'S'), s("c", 'R')], vec!["b".into()]);
        let r = p.take();
        assert_eq!(
            sessions(&r[0]),
            &SessionChange::Full(vec![s("a", 'S'), s("c", 'R')])
        );
        assert!(p.is_empty());
    }

    #[test]
    fn merged_deltas_apply_like_the_deltas_one_by_one() {
        let base = vec![s("a", 'R'), s("b", 'S')];
        let deltas: [(Vec<SessionRecord>, Vec<String>); 3] = [
            (vec![s("c", 'R')], vec!["a".into()]),
            (vec![s("a", 'S')], vec!["c".into()]),
            (vec![s("b", 'R')], vec!["a".into()]),
        ];
        let report = |sessions| Command::AgentReports {
            node: 1,
            at: 1,
            reports: vec![AgentReport {
                hostname: "h".into(),
                sessions: Some(sessions),
                load: None,
                since: None,
            }],
        };
        let mut one_by_one = State::default();
        let mut merged = State::default();
        one_by_one.apply(&report(SessionChange::Full(base.clone())));
        merged.apply(&report(SessionChange::Full(base)));
        let mut p = Pending::default();
        for (upsert, removed) in deltas {
            one_by_one.apply(&report(SessionChange::Delta {
                upsert: upsert.clone(),
                removed: removed.clone(),
            }));
            p.delta("h", upsert, removed);
        }
        let batch = p.take();
        assert!(matches!(sessions(&batch[0]), SessionChange::Delta { .. }));
        merged.apply(&Command::AgentReports {
            node: 1,
            at: 1,
            reports: batch,
        });
        assert_eq!(merged, one_by_one);
        let left: Vec<_> = merged.sessions_on("h").map(|r| r.id.clone()).collect();
        assert_eq!(left, vec!["b".to_string()]);
    }

    #[test]
    fn a_failed_batch_goes_back_under_newer_reports() {
        let mut p = Pending::default();
        p.full("h", vec![s("a", 'R')]);
        p.seen("quiet");
        let failed = p.take();
        p.delta("h", vec![s("a", 'S')], vec![]);
        let newer = p.take();
        for r in failed.into_iter().chain(newer) {
            p.absorb(r);
        }
        let r = p.take();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].hostname, "h");
        assert_eq!(sessions(&r[0]), &SessionChange::Full(vec![s("a", 'S')]));
        assert_eq!(
            (r[1].hostname.as_str(), r[1].sessions.is_none()),
            ("quiet", true)
        );
    }
}
