//! Resuming: the X2Go servers' agents report every session; a user's
//! suspended session on one of the profile's hosts is handed out again
//! with its `x2golistsessions` line (SESSION_INFO), a running one is
//! suspended through its agent first, as the reference's `select_session`
//! does with its own agent. Only sessions of servers that are up (their
//! agent reports) and that answer the port scan count. For hosts without
//! an agent of ours, the reference's agent of the profile's query mode
//! (`refquery`) lists the sessions and suspends a running one.

use super::refquery::Answers;
use super::selection::Selected;
use super::{Broker, BrokerError, Loaded};
use crate::gateway::orders::Order;
use crate::logsafe::escaped;
use crate::metrics::METRICS;
use crate::placement::{self, Decision, UserSession};
use crate::profiles::Profile;
use crate::refagent::RefAgent;
use crate::state::{Candidate, State};

/// The `x2golistsessions` lines of the reference's agent as the user's
/// sessions, in its order (running and suspended ones only).
pub fn listed_sessions(lines: &[String]) -> Vec<UserSession> {
    lines
        .iter()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('|').collect();
            let suspended = match fields.get(4) {
                Some(&"S") => true,
                Some(&"R") => false,
                _ => return None,
            };
            Some(UserSession {
                server: fields.get(3)?.to_string(),
                suspended,
                info: line.clone(),
            })
        })
        .collect()
}

/// `user`'s running and suspended sessions on servers that are up, in the
/// order the reference's agent lists them (`order by status desc`:
/// suspended before running), then by start time and id. Desktop-sharing
/// sessions (`XSHAD`) are not listed, as there.
pub fn live_sessions(state: &State, user: &str) -> Vec<UserSession> {
    let mut found: Vec<(char, String, UserSession)> = state
        .sessions_of(user)
        .filter(|(_, s)| matches!(s.status, 'R' | 'S') && !s.id.contains("XSHAD"))
        .filter(|(host, _)| state.server(host).is_some_and(|r| r.up))
        .map(|(host, s)| {
            let started = s.line.split('|').nth(5).unwrap_or_default().to_string();
            let session = UserSession {
                server: host.to_string(),
                suspended: s.status == 'S',
                info: s.line.clone(),
            };
            (s.status, format!("{started}|{}", s.id), session)
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    found.into_iter().map(|(_, _, s)| s).collect()
}

/// What looking for the user's session found.
pub(super) enum Lookup {
    /// A session to hand out.
    Resume(Selected),
    /// None; `reference` is the reference's agent that listed the user's
    /// sessions, when one did.
    New { reference: Option<RefAgent> },
}

impl Broker {
    /// The user's session to resume on one of `candidates`, if any: from
    /// our agents' reports when any of these hosts has one, else from the
    /// reference's agent of the profile's query mode (`LOCAL`, `SSH`).
    pub(super) async fn resume(
        &self,
        loaded: &Loaded,
        profile: &Profile,
        candidates: &[Candidate],
        server_user: &str,
    ) -> Result<Lookup, BrokerError> {
        // Without any agent for these hosts there is nothing to look up (and
        // no read barrier to wait for): sites without agents keep their speed.
        let any_agent = self
            .ledger
            .read(|s| candidates.iter().any(|c| s.server_for(&c.name).is_some()));
        let (reference, sessions) = if any_agent {
            self.ledger.read_barrier().await?;
            (None, self.ledger.read(|s| live_sessions(s, server_user)))
        } else {
            let mut answers = Answers::default();
            match self
                .reference_sessions(&loaded.conf, profile, server_user, &mut answers)
                .await
            {
                Some((agent, sessions)) => (Some(agent), sessions),
                None => return Ok(Lookup::New { reference: None }),
            }
        };
        let usable: Vec<String> = candidates
            .iter()
            .filter(|c| c.alive)
            .map(|c| c.name.clone())
            .collect();
        let selected = |host: &str, info: String| Selected {
            server: profile.address_of(host),
            port: profile.port_of(host),
            session_info: Some(info),
            private_key: None,
            pubkey_accepted: false,
            host: Some(host.to_string()),
        };
        Ok(match placement::resume_on(&usable, &sessions) {
            Some(Decision::Resume { host, info }) => {
                METRICS.placed("resume");
                Lookup::Resume(selected(&host, info))
            }
            Some(Decision::TakeOver {
                host,
                server,
                session,
                info,
            }) => {
                let order = Order::Suspend {
                    session_id: session.clone(),
                    user: server_user.to_string(),
                };
                // As the reference: the session is handed out as suspended
                // even when the order fails (x2goresume-session suspends a
                // session that still runs before resuming it).
                let done = match &reference {
                    Some(agent) => agent
                        .suspend(server_user, &session)
                        .await
                        .map(|()| crate::gateway::orders::OrderResult {
                            ok: true,
                            message: format!("suspended by {}", agent.describe()),
                        })
                        .map_err(|e| e.to_string()),
                    None => self
                        .order_agent(&server, &order)
                        .await
                        .map_err(|e| e.to_string()),
                };
                match done {
                    Ok(r) if r.ok => {
                        tracing::info!(server = %escaped(&server), session = %escaped(&session), how = %escaped(&r.message), "running session suspended for its user's new connection")
                    }
                    Ok(r) => {
                        tracing::warn!(server = %escaped(&server), session = %escaped(&session), message = %escaped(&r.message), "the agent refused to suspend the running session")
                    }
                    Err(e) => {
                        tracing::warn!(server = %escaped(&server), session = %escaped(&session), error = %e, "could not suspend the running session")
                    }
                }
                METRICS.placed("takeover");
                Lookup::Resume(selected(&host, info))
            }
            Some(Decision::New { .. } | Decision::NoneAvailable) | None => {
                Lookup::New { reference }
            }
        })
    }
}
