//! Session autologin (`broker-session-autologin` in a profile, else
//! `[global] default-session-autologin`): the chosen server's agent adds a
//! public key to the server user's authorized keys file before the answer
//! goes out, and removes it again by itself after the key's lifetime (the
//! reference: 20 s). The client's own key (`pubkey`) is answered with
//! `authentication_pubkey: ACCEPTED`; without one, the broker makes a
//! one-off RSA key pair and hands out the private half (never logged,
//! never stored). Without an agent on the server there is nothing to
//! deploy: the answer has no key and X2Go Client asks for the password.

use super::selection::{Selected, Selection};
use super::{Broker, Loaded};
use crate::gateway::orders::Order;
use crate::logsafe::escaped;
use crate::profiles::render::session_autologin;
use crate::profiles::Profile;
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
        let Some(agent_host) = agent_host else {
            tracing::warn!(profile = %escaped(&profile.id), server = %escaped(host), "session autologin needs an agent on the server; none reports: the client will ask for the password");
            return;
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
        let order = Order::AddKey {
            user: user.to_string(),
            public_key,
            key_file: key_file(loaded, profile),
            remove_after_secs: self
                .settings
                .autologin_key_ttl
                .as_secs()
                .clamp(1, u32::MAX as u64) as u32,
        };
        match self.order_agent(&agent_host, &order).await {
            Ok(r) if r.ok => {
                tracing::info!(server = %escaped(&agent_host), user = %escaped(user), client_key = request.pubkey.is_some(), "session autologin key deployed");
                selected.pubkey_accepted = request.pubkey.is_some();
                selected.private_key = private_key;
            }
            Ok(r) => {
                tracing::warn!(server = %escaped(&agent_host), user = %escaped(user), message = %escaped(&r.message), "the agent refused the session autologin key")
            }
            Err(e) => {
                tracing::warn!(server = %escaped(&agent_host), user = %escaped(user), error = %e, "session autologin key not deployed")
            }
        }
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
