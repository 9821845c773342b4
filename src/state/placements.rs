//! Host placements in the state: choosing a host for a user among a
//! profile's candidates (the sole candidate, else a recent placement on a
//! live host, else the least loaded live host), the per-host count that
//! choice reads, and expiry on purge.

use super::command::{Candidate, Millis, PlacedOutcome};
use super::pairs::{self, Write};
use super::{older_than, State};
use crate::placement::{self, Decision, HostView};
use serde::{Deserialize, Serialize};

/// A placement decided by the broker and not yet expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementRecord {
    pub host: String,
    pub at: Millis,
}

impl State {
    pub fn placement_count(&self) -> usize {
        self.placements.len()
    }

    /// Every placement: (profile, user) -> host.
    pub fn placements(&self) -> impl Iterator<Item = (&(String, String), &PlacementRecord)> {
        self.placements.iter()
    }

    pub fn placement(&self, profile: &str, user: &str) -> Option<&PlacementRecord> {
        self.placements
            .get(&(profile.to_string(), user.to_string()))
    }

    pub fn placements_on(&self, host: &str) -> u32 {
        self.per_host.get(host).copied().unwrap_or(0)
    }

    /// Choose a host for `user` in `profile` and record the placement.
    pub(super) fn place(
        &mut self,
        profile: &str,
        user: &str,
        candidates: &[Candidate],
        now: Millis,
        window_ms: Millis,
        writes: &mut Vec<Write>,
    ) -> PlacedOutcome {
        let chosen = match placement::sole_host(candidates) {
            Some(only) => Some(only.name.clone()),
            // A user placed recently on a host that is still usable goes back there.
            None => self
                .placement(profile, user)
                .filter(|r| now.saturating_sub(r.at) <= window_ms)
                .and_then(|r| candidates.iter().find(|c| c.name == r.host && c.alive))
                .map(|c| c.name.clone())
                .or_else(|| self.least_loaded(candidates)),
        };
        match chosen {
            Some(host) => {
                self.del_placement(profile, user, writes);
                let rec = PlacementRecord {
                    host: host.clone(),
                    at: now,
                };
                writes.push(pairs::placement_put(profile, user, &rec));
                self.insert_placement((profile.to_string(), user.to_string()), rec);
                PlacedOutcome::Host(host)
            }
            None => PlacedOutcome::NoneAvailable,
        }
    }

    /// The placement policy's choice among `candidates`, given the
    /// placements each already has.
    fn least_loaded(&self, candidates: &[Candidate]) -> Option<String> {
        let view: Vec<HostView> = candidates
            .iter()
            .map(|c| HostView {
                alive: c.alive,
                recent_placements: self.placements_on(&c.name),
                ..HostView::new(c.name.clone())
            })
            .collect();
        match placement::decide(&view, &[]) {
            Decision::New { host }
            | Decision::Resume { host, .. }
            | Decision::TakeOver { host, .. } => Some(host),
            Decision::NoneAvailable => None,
        }
    }

    /// Drop the placements older than `window_ms` at `now`.
    pub(super) fn purge_placements(
        &mut self,
        now: Millis,
        window_ms: Millis,
        writes: &mut Vec<Write>,
    ) {
        for (p, u) in older_than(&self.placements, now, window_ms, |r| r.at) {
            self.del_placement(&p, &u, writes);
        }
    }

    /// Record a placement under (profile, user), counting it for its host.
    pub(super) fn insert_placement(&mut self, id: (String, String), rec: PlacementRecord) {
        *self.per_host.entry(rec.host.clone()).or_default() += 1;
        self.placements.insert(id, rec);
    }

    fn del_placement(&mut self, profile: &str, user: &str, writes: &mut Vec<Write>) {
        if let Some(old) = self
            .placements
            .remove(&(profile.to_string(), user.to_string()))
        {
            if let Some(n) = self.per_host.get_mut(&old.host) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_host.remove(&old.host);
                }
            }
            writes.push(pairs::placement_delete(profile, user));
        }
    }
}
