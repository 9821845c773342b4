//! Host placements in the state: choosing a host for a user among a
//! profile's candidates (the sole candidate, else a recent placement on a
//! live host, else the least loaded live host), the per-host count that
//! choice reads, and expiry on purge.

use super::command::{Candidate, Millis, PlacedOutcome};
use super::loadchecks::CheckedLoad;
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

    /// The placements on `host` (a profile host name).
    pub fn placements_on(&self, host: &str) -> u32 {
        self.placed_on(host).count() as u32
    }

    /// (profile, user) of every placement on `host`.
    fn placed_on<'a>(&'a self, host: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.by_host
            .range((host.to_string(), String::new(), String::new())..)
            .take_while(move |(h, _, _)| h == host)
            .map(|(_, p, u)| (p.as_str(), u.as_str()))
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
        let views: Vec<HostView> = candidates.iter().map(|c| self.host_view(c)).collect();
        self.place_among(profile, user, &views, now, window_ms, writes)
    }

    /// `place` for a profile the load checker weighs (see `weighed_views`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn place_weighed(
        &mut self,
        profile: &str,
        user: &str,
        candidates: &[Candidate],
        sessions: &[(String, u32)],
        now: Millis,
        window_ms: Millis,
        writes: &mut Vec<Write>,
    ) -> PlacedOutcome {
        let views = self.weighed_views(profile, candidates, sessions);
        self.place_among(profile, user, &views, now, window_ms, writes)
    }

    /// Choose among `views` (the sole candidate, else a recent placement
    /// on a usable host, else the policy's best) and record the placement.
    fn place_among(
        &mut self,
        profile: &str,
        user: &str,
        views: &[HostView],
        now: Millis,
        window_ms: Millis,
        writes: &mut Vec<Write>,
    ) -> PlacedOutcome {
        // A user placed recently on a host that is still usable goes back there.
        let sticky = match placement::sole_host(views) {
            Some(_) => None,
            None => self
                .placement(profile, user)
                .filter(|r| now.saturating_sub(r.at) <= window_ms)
                .and_then(|r| views.iter().find(|v| v.name == r.host))
                .filter(|v| v.alive && !v.drained)
                .map(|v| v.name.clone()),
        };
        let chosen = match placement::sole_host(views) {
            Some(only) => Some(only.name.clone()),
            None => sticky.clone().or_else(|| best_of(views)),
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
                match sticky {
                    Some(_) => PlacedOutcome::Sticky(host),
                    None => PlacedOutcome::Host(host),
                }
            }
            None => PlacedOutcome::NoneAvailable,
        }
    }

    /// What placement weighs of one candidate. A server whose agent
    /// reported is usable only while up and not drained; its placements
    /// count only until they show as sessions of their users there.
    fn host_view(&self, c: &Candidate) -> HostView {
        match self.server_for(&c.name) {
            Some((host, rec)) => HostView {
                alive: c.alive && rec.up,
                drained: rec.drained,
                load_factor: rec.load.as_ref().map(|l| l.load_factor as f64),
                sessions: self.live_sessions_on(host),
                recent_placements: self
                    .placed_on(&c.name)
                    .filter(|(_, user)| !self.has_live_session(user, host))
                    .count() as u32,
                ..HostView::new(c.name.clone())
            },
            None => HostView {
                alive: c.alive,
                recent_placements: self.placements_on(&c.name),
                ..HostView::new(c.name.clone())
            },
        }
    }

    /// The candidates of a load-checked profile as the reference's load
    /// checker sees them: a host without an agent of ours weighs its load
    /// factor and the sessions the reference's agent counted there; one
    /// whose check failed is left out, as long as another one has a load
    /// factor (when none has, the checks are ignored: placement goes as
    /// without the load checker, never to no server at all).
    fn weighed_views(
        &self,
        profile: &str,
        candidates: &[Candidate],
        sessions: &[(String, u32)],
    ) -> Vec<HostView> {
        // None: a server with an agent of ours (its reports weigh);
        // Some(check): a host the load checker asks.
        let checks: Vec<Option<Option<CheckedLoad>>> = candidates
            .iter()
            .map(|c| match self.server_for(&c.name) {
                Some(_) => None,
                None => Some(self.load_check(profile, &c.name).map(|r| r.load)),
            })
            .collect();
        let any_factor = checks
            .iter()
            .flatten()
            .flatten()
            .any(|l| l.factor().is_some());
        candidates
            .iter()
            .zip(checks)
            .map(|(c, check)| {
                let mut view = self.host_view(c);
                let Some(check) = check else { return view };
                view.sessions = sessions
                    .iter()
                    .filter(|(h, _)| *h == c.name)
                    .map(|(_, n)| *n)
                    .sum();
                match check {
                    Some(CheckedLoad::Factor(f)) => view.load_factor = Some(f as f64),
                    Some(_) if any_factor => view.alive = false,
                    _ => {}
                }
                view
            })
            .collect()
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
        if let Some(old) = self.placements.get(&id) {
            self.by_host
                .remove(&(old.host.clone(), id.0.clone(), id.1.clone()));
        }
        self.by_host
            .insert((rec.host.clone(), id.0.clone(), id.1.clone()));
        self.placements.insert(id, rec);
    }

    fn del_placement(&mut self, profile: &str, user: &str, writes: &mut Vec<Write>) {
        if let Some(old) = self
            .placements
            .remove(&(profile.to_string(), user.to_string()))
        {
            self.by_host
                .remove(&(old.host, profile.to_string(), user.to_string()));
            writes.push(pairs::placement_delete(profile, user));
        }
    }
}

/// The placement policy's choice among `views`: by the load and sessions
/// reported where every usable host has a load, by sessions and
/// placements otherwise.
fn best_of(views: &[HostView]) -> Option<String> {
    match placement::decide(views, &[]) {
        Decision::New { host }
        | Decision::Resume { host, .. }
        | Decision::TakeOver { host, .. } => Some(host),
        Decision::NoneAvailable => None,
    }
}
