//! The broker's state as a deterministic state machine: commands carry
//! everything they need (times stamped by the proposer, cookies generated
//! by the proposer, request ids that make a retried command apply once),
//! `apply` reads no clock and draws no random number, and returns the
//! storage writes it implies. The cluster replicates the same
//! commands; a single node applies them directly.
//!
//! This file holds the `State` itself, the dispatch of each command to the
//! concern it touches, the digest nodes compare, and the age test purging
//! shares.

mod command;
mod config;
mod cookies;
mod enrollment;
#[cfg(test)]
mod enrollment_tests;
mod error;
mod loadchecks;
#[cfg(test)]
mod loadchecks_tests;
mod pairs;
mod placements;
mod requests;
mod servers;
#[cfg(test)]
mod servers_tests;
mod sessions;
mod snapshot;
#[cfg(test)]
mod tests;

pub use command::{
    AgentReport, Candidate, Command, CookieRefusal, EnrolledCert, Millis, Outcome, PlacedOutcome,
    SessionChange, TokenRefusal, COMMAND_FORMAT,
};
pub use config::ConfigTexts;
pub use cookies::CookieRecord;
pub use enrollment::{HostTrust, TokenRecord, MAX_ENROLLED_PER_HOST, MAX_TOKENS, TOKEN_KEEP_MS};
pub use error::{DecodeError, EncodeError};
pub use loadchecks::{CheckedLoad, LoadCheck, LoadCheckRecord, LOAD_CHECKS_FORMAT};
pub use pairs::Write;
pub use placements::PlacementRecord;
pub use requests::{RequestId, RequestRecord, MAX_REQUESTS, REQUEST_TTL_MS};
pub use servers::{LoadRecord, ServerRecord};
pub use sessions::SessionRecord;
pub use snapshot::{check_snapshot_format, snapshot_format, SNAPSHOT_FORMAT};

use cookies::Presented;
use std::collections::{BTreeMap, BTreeSet};

/// The whole state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    cookies: BTreeMap<(String, String), CookieRecord>,
    placements: BTreeMap<(String, String), PlacementRecord>,
    /// Derived: the placements by (host, profile, user).
    by_host: BTreeSet<(String, String, String)>,
    /// The replicated configuration and its version (1, 2, ...).
    config: Option<(u64, ConfigTexts)>,
    /// Applied request ids and their outcomes (see `requests`).
    requests: BTreeMap<RequestId, RequestRecord>,
    /// Derived: the request ids by the time they were stamped, oldest first.
    request_expiry: BTreeSet<(Millis, RequestId)>,
    /// The X2Go servers whose agents reported, by hostname.
    servers: BTreeMap<String, ServerRecord>,
    /// Their sessions by (hostname, session id).
    sessions: BTreeMap<(String, String), SessionRecord>,
    /// Derived: the sessions by (user, hostname, session id).
    by_user: BTreeSet<(String, String, String)>,
    /// Agent join tokens by the SHA-256 of their text (see `enrollment`).
    agent_tokens: BTreeMap<String, TokenRecord>,
    /// Revocations and enrolled certificates by server name.
    agent_hosts: BTreeMap<String, HostTrust>,
    /// The load checker's answers by (profile, profile host name).
    load_checks: BTreeMap<(String, String), LoadCheckRecord>,
    /// The newest command format every member reads (0: never raised, 1).
    command_format: u32,
}

impl State {
    /// The newest command format every member of the cluster reads, as
    /// the leader found (`RaiseFormat`): commands up to it may be proposed.
    pub fn command_format(&self) -> u32 {
        self.command_format.max(1)
    }

    /// A digest of the whole state, equal on nodes that applied the same commands.
    pub fn digest(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for ((u, c), r) in &self.cookies {
            (u, c, &r.ip, r.issued_at).hash(&mut h);
        }
        for ((p, u), r) in &self.placements {
            (p, u, &r.host, r.at).hash(&mut h);
        }
        self.config.hash(&mut h);
        for (id, r) in &self.requests {
            (id, r.at).hash(&mut h);
        }
        for (host, r) in &self.servers {
            (host, r.last_report, r.node, r.drained, r.up).hash(&mut h);
        }
        for ((host, id), r) in &self.sessions {
            (host, id, &r.user, r.status, &r.line).hash(&mut h);
        }
        for (hash, t) in &self.agent_tokens {
            (hash, t.issued_at, t.expires_at, &t.hostname, &t.redeemed).hash(&mut h);
        }
        for (host, t) in &self.agent_hosts {
            (host, t.revoked_at, &t.enrolled).hash(&mut h);
        }
        for (key, r) in &self.load_checks {
            (key, r).hash(&mut h);
        }
        self.command_format.hash(&mut h);
        h.finish()
    }

    /// Apply one command; returns the answer and the writes to persist.
    pub fn apply(&mut self, cmd: &Command) -> (Outcome, Vec<Write>) {
        let mut writes = Vec::new();
        let outcome = match cmd {
            Command::IssueCookie {
                user,
                cookie,
                ip,
                at,
            } => {
                self.issue_cookie(user, cookie, ip, *at, &mut writes);
                Outcome::Done
            }
            Command::RevokeCookie { user, cookie } => {
                self.revoke_cookie(user, cookie, &mut writes);
                Outcome::Done
            }
            Command::RedeemCookie {
                user,
                cookie,
                ip,
                now,
                verify_ip,
                timeout_ms,
                next,
            } => {
                let presented = Presented {
                    ip,
                    now: *now,
                    verify_ip: *verify_ip,
                    timeout_ms: *timeout_ms,
                };
                self.redeem_cookie(user, cookie, &presented, next, &mut writes)
            }
            Command::Place {
                profile,
                user,
                candidates,
                now,
                window_ms,
            } => Outcome::Placed(self.place(
                profile,
                user,
                candidates,
                *now,
                *window_ms,
                &mut writes,
            )),
            Command::Purge {
                now,
                cookie_ttl_ms,
                placement_window_ms,
            } => {
                self.purge_cookies(*now, *cookie_ttl_ms, &mut writes);
                self.purge_placements(*now, *placement_window_ms, &mut writes);
                self.forget_agent_tokens(*now, &mut writes);
                self.forget_requests_before(now.saturating_sub(REQUEST_TTL_MS), &mut writes);
                Outcome::Done
            }
            Command::SetConfig(texts) => Outcome::ConfigVersion(self.set_config(texts)),
            Command::Request { id, at, cmd } => self.apply_request(*id, *at, cmd, &mut writes),
            Command::Batch(cmds) => Outcome::Batch(
                cmds.iter()
                    .map(|c| {
                        let (o, w) = self.apply(c);
                        writes.extend(w);
                        o
                    })
                    .collect(),
            ),
            Command::AgentReports { node, at, reports } => {
                self.agent_reports(*node, *at, reports, &mut writes);
                Outcome::Done
            }
            Command::ServersDown { at, timeout_ms } => {
                self.servers_down(*at, *timeout_ms, &mut writes);
                Outcome::Done
            }
            Command::DrainServer { hostname, drained } => {
                if self.set_drained(hostname, *drained, &mut writes) {
                    Outcome::Done
                } else {
                    Outcome::UnknownServer
                }
            }
            Command::IssueAgentToken {
                hash,
                hostname,
                at,
                expires_at,
            } => {
                let record = TokenRecord {
                    issued_at: *at,
                    expires_at: *expires_at,
                    hostname: hostname.clone(),
                    redeemed: None,
                };
                self.issue_agent_token(hash, record, &mut writes)
            }
            Command::RedeemAgentToken {
                hash,
                hostname,
                now,
                cert,
            } => self.redeem_agent_token(hash, hostname, *now, cert, &mut writes),
            Command::RevokeAgent { hostname, at } => {
                self.revoke_agent(hostname, *at, &mut writes);
                Outcome::Done
            }
            Command::RaiseFormat { format } => {
                if *format > self.command_format {
                    self.command_format = *format;
                    writes.push(pairs::command_format_put(*format));
                }
                Outcome::Done
            }
            Command::LoadsChecked { at, checks } => {
                self.loads_checked(*at, checks, &mut writes);
                Outcome::Done
            }
            Command::LoadChecksRetain { keep } => {
                self.retain_load_checks(keep, &mut writes);
                Outcome::Done
            }
            Command::PlaceWeighed {
                profile,
                user,
                candidates,
                sessions,
                now,
                window_ms,
            } => Outcome::Placed(self.place_weighed(
                profile,
                user,
                candidates,
                sessions,
                *now,
                *window_ms,
                &mut writes,
            )),
        };
        (outcome, writes)
    }
}

/// The keys of the records in `map` stamped (by `at`) more than `limit`
/// before `now`, in key order.
fn older_than<R>(
    map: &BTreeMap<(String, String), R>,
    now: Millis,
    limit: Millis,
    at: impl Fn(&R) -> Millis,
) -> Vec<(String, String)> {
    map.iter()
        .filter(|(_, r)| now.saturating_sub(at(r)) > limit)
        .map(|(k, _)| k.clone())
        .collect()
}
