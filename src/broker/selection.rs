//! Session selection (`selectsession`): the profile's candidate hosts,
//! probed at once. First the user's own session, as the X2Go servers'
//! agents report it (`resume`): a suspended one is handed out, a running
//! one is suspended through its agent first. Otherwise one candidate is
//! the answer by itself (no state command, see `placement::sole_host`),
//! several go through the ledger's `Place` command so that every node
//! decides alike, on the reported load where there are agents. The
//! `Place` write is what makes a new placement linearizable; the session
//! lookup waits for the read barrier.

use super::resume::Lookup;
use super::{now_ms, Backend, Broker, BrokerError, Loaded};
use crate::logsafe::escaped;
use crate::metrics::METRICS;
use crate::placement;
use crate::profiles::Profile;
use crate::refagent::mode::uses_load_checker;
use crate::refagent::{QueryMode, RefAgent};
use crate::state::{Candidate, Command, Outcome, PlacedOutcome, LOAD_CHECKS_FORMAT};
use std::net::IpAddr;

/// What a selectsession asks for.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    pub profile_id: &'a str,
    /// The authenticated broker user: ACLs and new placements follow it.
    pub user: &'a str,
    /// The user on the X2Go server (the client's `login`, else `user`):
    /// its session is resumed and its autologin key deployed.
    pub server_user: &'a str,
    pub client: Option<IpAddr>,
    /// The client's public key for session autologin (checked by the frontend).
    pub pubkey: Option<&'a str>,
}

/// Where a selectsession sends the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    pub server: String,
    pub port: i64,
    /// The resumed session's `x2golistsessions` line (SESSION_INFO).
    pub session_info: Option<String>,
    /// Session autologin: the one-off private key (PEM; a secret).
    pub private_key: Option<String>,
    /// Session autologin: the client's public key was deployed.
    pub pubkey_accepted: bool,
    /// The profile host chosen (None for the refusals).
    pub host: Option<String>,
}

impl Selected {
    /// The reference's answer for a profile it cannot serve.
    fn no_server(port: i64) -> Self {
        Selected {
            server: "no-server-available".into(),
            port,
            session_info: None,
            private_key: None,
            pubkey_accepted: false,
            host: None,
        }
    }

    /// The reference's answer when no candidate host is usable.
    fn no_x2go_server(port: i64) -> Self {
        Selected {
            server: "no-X2Go-Server-available".into(),
            port,
            session_info: None,
            private_key: None,
            pubkey_accepted: false,
            host: None,
        }
    }

    fn host(profile: &Profile, name: &str) -> Self {
        Selected {
            server: profile.address_of(name),
            port: profile.port_of(name),
            session_info: None,
            private_key: None,
            pubkey_accepted: false,
            host: Some(name.to_string()),
        }
    }
}

impl Broker {
    /// Choose the server for `user` and profile `profile_id`. `user` is the
    /// authenticated broker user: the profile's ACLs are checked against it
    /// and a new placement is recorded under it. `server_user` (the
    /// client's `login`, else `user`) owns the sessions on the X2Go
    /// servers: its session is the one resumed, as the reference does.
    pub async fn select_session(
        &self,
        loaded: &Loaded,
        backend: Backend,
        request: &Selection<'_>,
    ) -> Result<Selected, BrokerError> {
        let mut selected = self.choose(loaded, backend, request).await?;
        if let (Backend::Inifile, Some(host)) = (backend, selected.host.clone()) {
            if let Some(profile) = loaded.profiles.get(request.profile_id) {
                self.autologin(loaded, profile, &host, request, &mut selected)
                    .await;
            }
        }
        Ok(selected)
    }

    /// The server (and session) for the request, before autologin.
    async fn choose(
        &self,
        loaded: &Loaded,
        backend: Backend,
        request: &Selection<'_>,
    ) -> Result<Selected, BrokerError> {
        let Selection {
            profile_id,
            user,
            server_user,
            client,
            ..
        } = *request;
        match backend {
            Backend::Inifile => {}
            Backend::Zeroconf => {
                return Ok(Selected {
                    server: "localhost".into(),
                    port: 22,
                    session_info: None,
                    private_key: None,
                    pubkey_accepted: false,
                    host: None,
                })
            }
            Backend::Base => return Ok(Selected::no_server(22)),
        }
        let Some(profile) = loaded.profiles.get(profile_id) else {
            return Ok(Selected::no_server(22));
        };
        if !self.permits(loaded, &profile.acls, user, client).await {
            tracing::warn!(user = %escaped(user), profile = %escaped(profile_id), "selectsession for a profile the ACLs deny");
            return Ok(Selected::no_server(22));
        }
        let initial = profile.host_names();
        if initial.is_empty() {
            return Ok(Selected::no_server(profile.sshport));
        }
        let names = self.candidate_names(profile, &initial);
        let candidates = self.probe_all(loaded, profile, &names).await;
        let mut reference = None;
        if !profile.is_shadow() {
            match self
                .resume(loaded, profile, &candidates, server_user)
                .await?
            {
                Lookup::Resume(resumed) => return Ok(resumed),
                Lookup::New { reference: r } => reference = r,
            }
        }
        if let Some(only) = placement::sole_host(&candidates) {
            METRICS.placed("sole");
            return Ok(if only.alive {
                Selected::host(profile, &only.name)
            } else if let [the_host] = initial.as_slice() {
                // The reference hands over a profile's one host even when it is down.
                Selected {
                    server: profile.address_of(the_host),
                    port: profile.port_of(&only.name),
                    session_info: None,
                    private_key: None,
                    pubkey_accepted: false,
                    host: Some(only.name.clone()),
                }
            } else {
                Selected::no_x2go_server(profile.port_of(&only.name))
            });
        }
        let by_load = self.ledger.read(|s| {
            candidates
                .iter()
                .any(|c| s.server_for(&c.name).is_some_and(|(_, r)| r.load.is_some()))
        });
        let now = now_ms();
        let window_ms = self.settings.placement_window.as_millis() as u64;
        let cmd = match self.load_checked(loaded, profile) {
            true => {
                let sessions = self
                    .counted_sessions(reference.as_ref(), server_user, &names)
                    .await;
                Command::PlaceWeighed {
                    profile: profile.id.clone(),
                    user: user.to_string(),
                    candidates,
                    sessions,
                    now,
                    window_ms,
                }
            }
            false => Command::Place {
                profile: profile.id.clone(),
                user: user.to_string(),
                candidates,
                now,
                window_ms,
            },
        };
        match self.ledger.submit(cmd).await? {
            Outcome::Placed(PlacedOutcome::Host(h)) => {
                METRICS.placed(if by_load { "load" } else { "count" });
                Ok(Selected::host(profile, &h))
            }
            Outcome::Placed(PlacedOutcome::Sticky(h)) => {
                METRICS.placed("sticky");
                Ok(Selected::host(profile, &h))
            }
            Outcome::Placed(PlacedOutcome::NoneAvailable) => {
                METRICS.placed("none");
                let last = names
                    .last()
                    .map(|n| profile.port_of(n))
                    .unwrap_or(profile.sshport);
                Ok(Selected::no_x2go_server(last))
            }
            other => Err(BrokerError::unexpected("Place", &other)),
        }
    }

    /// Whether the load checker's answers weigh in placing a new session
    /// in `profile` (its servers are checked, and the cluster reads the
    /// command that weighs them).
    fn load_checked(&self, loaded: &Loaded, profile: &Profile) -> bool {
        !profile.is_shadow()
            && QueryMode::of(&loaded.conf, profile) == QueryMode::Ssh
            && uses_load_checker(&loaded.conf, profile)
            && self.may_propose(LOAD_CHECKS_FORMAT)
    }

    /// The sessions per profile host as the reference's agent that listed
    /// the user's sessions counts them (`getservers`, its server names
    /// matched to the profile's host names); none without that agent or
    /// when it fails.
    async fn counted_sessions(
        &self,
        reference: Option<&RefAgent>,
        server_user: &str,
        names: &[String],
    ) -> Vec<(String, u32)> {
        let Some(agent) = reference else {
            return Vec::new();
        };
        match agent.get_servers(server_user).await {
            Ok(counts) => counts
                .into_iter()
                .filter_map(|(server, n)| Some((placement::profile_host_for(names, &server)?, n)))
                .collect(),
            Err(e) => {
                tracing::warn!(agent = %agent.describe(), error = %e, "the reference's agent did not count the sessions per server");
                Vec::new()
            }
        }
    }

    /// The hosts to consider, in profile order: `localhost` stands for this
    /// machine's name (moved last, as the reference does); a shadow
    /// (desktop sharing) profile only ever uses its first host.
    fn candidate_names(&self, profile: &Profile, initial: &[String]) -> Vec<String> {
        let mut names = initial.to_vec();
        if let Some(pos) = names.iter().position(|h| h == "localhost") {
            names.remove(pos);
            names.push(self.hostname.clone());
        }
        if profile.is_shadow() && names.len() > 1 {
            names.truncate(1);
        }
        names
    }

    /// Every candidate with whether it is usable; all are probed at once
    /// (the reference scans one after the other), none when port scans are off.
    async fn probe_all(
        &self,
        loaded: &Loaded,
        profile: &Profile,
        names: &[String],
    ) -> Vec<Candidate> {
        let portscan = profile
            .broker_flag("broker-portscan-x2goservers")
            .unwrap_or_else(|| loaded.conf.global_bool("default-portscan-x2goservers"));
        let probes = names.iter().map(|name| async move {
            let alive = !portscan || self.host_reachable(profile, name).await;
            Candidate {
                name: name.clone(),
                alive,
            }
        });
        futures_util::future::join_all(probes).await
    }

    async fn host_reachable(&self, profile: &Profile, name: &str) -> bool {
        let port = profile.port_of(name);
        let addr = profile.address_of(name);
        self.prober.reachable(&addr, port).await
            || (addr != name && self.prober.reachable(name, port).await)
    }
}
