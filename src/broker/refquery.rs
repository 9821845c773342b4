//! The reference's agents for profiles whose hosts report to no agent of
//! ours: by the profile's query mode, the agent on this host (`LOCAL`) or
//! the first of the profile's servers whose agent answers over SSH
//! (`SSH`; starting at a server that depends on the user, where the
//! reference picks one at random; all read one session database). Within
//! one request each agent is asked once; a listing asks the profiles'
//! first SSH agents at once.

use super::resume::listed_sessions;
use super::Broker;
use crate::config::BrokerConf;
use crate::logsafe::escaped;
use crate::placement::UserSession;
use crate::profiles::Profile;
use crate::refagent::{QueryMode, RefAgent, RefAgentError, SshTarget};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// The answers of one request, by agent (None: it failed).
#[derive(Default)]
pub struct Answers(HashMap<String, Option<Vec<UserSession>>>);

/// Whether the missing SSH key was logged as a warning already.
static NO_KEY_WARNED: AtomicBool = AtomicBool::new(false);

impl Broker {
    /// The reference's agent that answered for `profile`, and `user`'s
    /// sessions as it lists them; None for query mode `NONE`, for
    /// desktop-sharing profiles, and when no agent answered (placement
    /// then goes by port scan, as without agents).
    pub(super) async fn reference_sessions(
        &self,
        conf: &BrokerConf,
        profile: &Profile,
        user: &str,
        answers: &mut Answers,
    ) -> Option<(RefAgent, Vec<UserSession>)> {
        if profile.is_shadow() {
            return None;
        }
        match QueryMode::of(conf, profile) {
            QueryMode::None => None,
            QueryMode::Local => {
                let agent = RefAgent::Local(self.refagent.clone());
                let sessions = answers.ask(&agent, "LOCAL", user).await?;
                Some((agent, sessions))
            }
            QueryMode::Ssh => {
                let targets = SshTarget::for_user(conf, profile, user);
                for target in targets.iter().cloned() {
                    let key = target.key();
                    let agent = RefAgent::Ssh(self.ssh_agents.clone(), target);
                    if let Some(sessions) = answers.ask(&agent, &key, user).await {
                        return Some((agent, sessions));
                    }
                }
                // Once per retry period, not on every request.
                match targets.iter().all(|t| self.ssh_agents.remembered_down(t)) {
                    true => {
                        tracing::debug!(profile = %escaped(&profile.id), "the profile's reference agents are remembered as unreachable: placing by port scan")
                    }
                    false => {
                        tracing::warn!(profile = %escaped(&profile.id), "no reference agent of the profile's servers answered over SSH: placing by port scan")
                    }
                }
                None
            }
        }
    }
}

impl Broker {
    /// Ask the first SSH agent of each of `profiles` at once (each agent
    /// once), so that a listing over profiles with different servers
    /// waits for the slowest of them, not for their sum; the profiles'
    /// other agents are asked afterwards, one by one, where a first failed.
    pub(super) async fn ask_first_agents<'p>(
        &self,
        conf: &BrokerConf,
        profiles: impl Iterator<Item = &'p Profile>,
        user: &str,
        answers: &mut Answers,
    ) {
        let mut first: HashMap<String, RefAgent> = HashMap::new();
        for p in profiles.filter(|p| !p.is_shadow()) {
            if QueryMode::of(conf, p) != QueryMode::Ssh {
                continue;
            }
            if let Some(target) = SshTarget::for_user(conf, p, user).into_iter().next() {
                first
                    .entry(target.key())
                    .or_insert_with(|| RefAgent::Ssh(self.ssh_agents.clone(), target));
            }
        }
        if first.len() < 2 {
            return;
        }
        let asked = first
            .into_iter()
            .map(|(key, agent)| async move { (key, answer(&agent, user).await) });
        for (key, answer) in futures_util::future::join_all(asked).await {
            answers.0.insert(key, answer);
        }
    }
}

impl Answers {
    /// `agent`'s listing for `user`, asked once per request.
    async fn ask(&mut self, agent: &RefAgent, key: &str, user: &str) -> Option<Vec<UserSession>> {
        if let Some(known) = self.0.get(key) {
            return known.clone();
        }
        let answer = answer(agent, user).await;
        self.0.insert(key.to_string(), answer.clone());
        answer
    }
}

/// `agent`'s listing for `user`, None (logged) when it failed.
async fn answer(agent: &RefAgent, user: &str) -> Option<Vec<UserSession>> {
    match agent.list_sessions(user).await {
        Ok(lines) => Some(listed_sessions(&lines)),
        Err(e) => {
            log_failure(agent, user, &e);
            None
        }
    }
}

fn log_failure(agent: &RefAgent, user: &str, e: &RefAgentError) {
    let agent = agent.describe();
    match e {
        RefAgentError::RecentlyDown { .. } => {
            tracing::debug!(agent = %agent, error = %e, "reference agent skipped")
        }
        RefAgentError::NoKey { .. } if NO_KEY_WARNED.swap(true, Ordering::Relaxed) => {
            tracing::debug!(agent = %agent, error = %e, "reference agent not asked")
        }
        _ => {
            tracing::warn!(agent = %agent, user = %escaped(user), error = %e, "the reference's agent did not list the sessions")
        }
    }
}
