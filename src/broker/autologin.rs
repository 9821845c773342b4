//! Session autologin (`broker-session-autologin` in a profile, else
//! `[global] default-session-autologin`): the chosen server's agent adds a
//! public key to the server user's authorized keys file before the answer
//! goes out, and removes it again by itself after the key's lifetime (the
//! reference: 20 s). The client's own key (`pubkey`) is answered with
//! `authentication_pubkey: ACCEPTED`; without one, the broker makes a
//! one-off RSA key pair and hands out the private half (never logged,
//! never stored). Without an agent of ours on the server, the reference's
//! agent of the profile's query mode deploys it (`addauthkey`: the local
//! one for `LOCAL`, the chosen server's over SSH for `SSH`, as the
//! reference does) and the broker removes it after the same lifetime
//! (`delauthkey`); in query mode `NONE` there is nothing to deploy: the
//! answer has no key and X2Go Client asks for the password.

use super::selection::{Selected, Selection};
use super::{Broker, Loaded};
use crate::gateway::orders::Order;
use crate::logsafe::escaped;
use crate::profiles::render::session_autologin;
use crate::profiles::Profile;
use crate::refagent::{HostKeyPolicy, QueryMode, RefAgent, SshTarget};
use crate::sshkey;

impl Broker {
    /// Deploy the autologin key for `request` on profile host `host`, when
    /// the profile asks for it; failures leave `selected` without a key.
    pub(super) async fn autologin(
        &self,
        loaded: &Loaded,
        profile: &Profile,
        host: &str,
        request: &Selection<'_>,
        selected: &mut Selected,
    ) {
        if !session_autologin(
            profile,
            loaded.conf.global_bool("default-session-autologin"),
        ) {
            return;
        }
        let agent_host = self.ledger.read(|s| {
            s.server_for(host)
                .filter(|(_, r)| r.up)
                .map(|(h, _)| h.to_string())
        });
        let reference = match &agent_host {
            Some(_) => None,
            None => match self.reference_agent_for(loaded, profile, host, selected) {
                Some(agent) => Some(agent),
                None => {
                    tracing::warn!(profile = %escaped(&profile.id), server = %escaped(host), "session autologin needs an agent on the server; none reports and the profile's agent query mode is NONE: the client will ask for the password");
                    return;
                }
            },
        };
        let user = request.server_user;
        let (public_key, private_key) = match request.pubkey {
            Some(key) => (key.to_string(), None),
            None => {
                let client = request
                    .client
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "unknown".into());
                let comment_user = user.to_string();
                let made =
                    tokio::task::spawn_blocking(move || sshkey::generate(&comment_user, &client))
                        .await;
                match made {
                    Ok(Ok(pair)) => (pair.public_line, Some(pair.private_pem)),
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "session autologin: no key pair");
                        return;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "session autologin: key generation stopped");
                        return;
                    }
                }
            }
        };
        let key_file = key_file(loaded, profile);
        let done = match (reference, agent_host) {
            (Some(agent), _) => {
                self.reference_add_key(agent, user, &public_key, &key_file)
                    .await
            }
            (None, Some(agent_host)) => {
                let order = Order::AddKey {
                    user: user.to_string(),
                    public_key,
                    key_file,
                    remove_after_secs: self
                        .settings
                        .autologin_key_ttl
                        .as_secs()
                        .clamp(1, u32::MAX as u64) as u32,
                };
                match self.order_agent(&agent_host, &order).await {
                    Ok(r) if r.ok => Ok(agent_host),
                    Ok(r) => Err(format!(
                        "the agent on {agent_host} refused: {}",
                        escaped(&r.message)
                    )),
                    Err(e) => Err(format!("{agent_host}: {e}")),
                }
            }
            (None, None) => return,
        };
        match done {
            Ok(by) => {
                tracing::info!(by = %escaped(&by), user = %escaped(user), client_key = request.pubkey.is_some(), "session autologin key deployed");
                selected.pubkey_accepted = request.pubkey.is_some();
                selected.private_key = private_key;
            }
            Err(e) => {
                tracing::warn!(server = %escaped(host), user = %escaped(user), error = %e, "session autologin key not deployed")
            }
        }
    }

    /// The reference's agent that deploys the key on profile host `host`:
    /// the local one (`LOCAL`), or `host`'s over SSH at the address and
    /// port chosen for the client (`SSH`); None in query mode `NONE` and
    /// for desktop-sharing profiles, as there.
    fn reference_agent_for(
        &self,
        loaded: &Loaded,
        profile: &Profile,
        host: &str,
        selected: &Selected,
    ) -> Option<RefAgent> {
        if profile.is_shadow() {
            return None;
        }
        match QueryMode::of(&loaded.conf, profile) {
            QueryMode::None => None,
            QueryMode::Local => Some(RefAgent::Local(self.refagent.clone())),
            QueryMode::Ssh => {
                let target = SshTarget {
                    name: host.to_string(),
                    address: profile.address_of(host),
                    port: u16::try_from(selected.port).ok()?,
                    policy: HostKeyPolicy::of(&loaded.conf, profile),
                };
                Some(RefAgent::Ssh(self.ssh_agents.clone(), target))
            }
        }
    }

    /// Add `public_key` through the reference's `agent` and have it
    /// removed again after the key's lifetime; which agent did it.
    async fn reference_add_key(
        &self,
        agent: RefAgent,
        user: &str,
        public_key: &str,
        key_file: &str,
    ) -> Result<String, String> {
        agent
            .add_key(user, public_key, key_file)
            .await
            .map_err(|e| e.to_string())?;
        let by = agent.describe();
        let (user, public_key, key_file) = (
            user.to_string(),
            public_key.to_string(),
            key_file.to_string(),
        );
        let ttl = self.settings.autologin_key_ttl;
        tokio::spawn(async move {
            tokio::time::sleep(ttl).await;
            match agent.remove_key(&user, &public_key, &key_file).await {
                Ok(()) => {
                    tracing::info!(by = %agent.describe(), user = %escaped(&user), "session autologin key removed")
                }
                Err(e) => {
                    tracing::warn!(by = %agent.describe(), user = %escaped(&user), error = %e, "session autologin key not removed")
                }
            }
        });
        Ok(by)
    }
}

/// The authorized keys file template: the profile's `broker-authorized-keys`,
/// else `[global] default-authorized-keys`, else the agent's default
/// (`%h/.x2go/authorized_keys`).
fn key_file(loaded: &Loaded, profile: &Profile) -> String {
    match profile.broker.get("broker-authorized-keys") {
        Some(f) if !f.is_empty() => f.clone(),
        _ => loaded
            .conf
            .str("global", "default-authorized-keys")
            .to_string(),
    }
}
