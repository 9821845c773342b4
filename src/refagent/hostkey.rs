//! Host keys of the servers whose agent the broker reaches over SSH, as
//! the reference checks them with paramiko: against the broker user's
//! `~/.ssh/known_hosts` (here `<broker home>/.ssh/known_hosts`; entries
//! `name` for port 22, `[name]:port` else, hashed entries too), under the
//! profile's `broker-agent-hostkey-policy`, else the backend's
//! `agent-hostkey-policy`, else `[global] default-agent-hostkey-policy`
//! (`RejectPolicy`). A key that differs from the one recorded for its
//! type is always refused. For an unknown host: `RejectPolicy` refuses,
//! `AutoAddPolicy` records the key in known_hosts and goes on,
//! `WarningPolicy` goes on with a warning — and, unlike paramiko, pins
//! the key in memory, so that a later change is still refused.

use crate::config::BrokerConf;
use crate::profiles::Profile;
use russh::keys::known_hosts::{
    check_known_hosts_path, known_host_keys_path, learn_known_hosts_path,
};
use russh::keys::{Algorithm, PublicKey};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What to do with a host whose key is not in known_hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyPolicy {
    Reject,
    AutoAdd,
    Warning,
}

impl HostKeyPolicy {
    /// The policy for `profile`, with the reference's precedence; an
    /// unknown name is `RejectPolicy` (logged).
    pub fn of(conf: &BrokerConf, profile: &Profile) -> HostKeyPolicy {
        let name = match profile.broker.get("broker-agent-hostkey-policy") {
            Some(p) if !p.is_empty() => p.as_str(),
            _ => {
                let backend = conf.str("broker_inifile", "agent-hostkey-policy");
                match backend.is_empty() {
                    false => backend,
                    true => conf.str("global", "default-agent-hostkey-policy"),
                }
            }
        };
        match name {
            "RejectPolicy" | "" => HostKeyPolicy::Reject,
            "AutoAddPolicy" => HostKeyPolicy::AutoAdd,
            "WarningPolicy" => HostKeyPolicy::Warning,
            other => {
                tracing::warn!(policy = %crate::logsafe::escaped(other), "unknown agent host key policy: RejectPolicy is used");
                HostKeyPolicy::Reject
            }
        }
    }
}

/// Keys accepted under `WarningPolicy` in this process, by `[host]:port`.
pub type Pins = Arc<parking_lot::Mutex<HashMap<String, PublicKey>>>;

/// The decision on a server's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Recorded (or pinned) and equal.
    Known,
    /// Not recorded; accepted by the policy (and recorded when `AutoAdd`).
    Accepted,
    /// Refused, with the reason.
    Refused(String),
}

/// The host key check for one connection: `host` as connected to.
pub struct Check {
    pub known_hosts: PathBuf,
    pub host: String,
    pub port: u16,
    pub policy: HostKeyPolicy,
    pub pins: Pins,
}

fn entry(host: &str, port: u16) -> String {
    match port {
        22 => host.to_string(),
        _ => format!("[{host}]:{port}"),
    }
}

impl Check {
    /// Decide on `key`, the server's host key.
    pub fn decide(&self, key: &PublicKey) -> Verdict {
        let name = entry(&self.host, self.port);
        match check_known_hosts_path(&self.host, self.port, key, &self.known_hosts) {
            Ok(true) => return Verdict::Known,
            Ok(false) => {}
            Err(russh::keys::Error::KeyChanged { .. }) => {
                return Verdict::Refused(format!(
                    "the {} key of {name} differs from the one recorded in {}: it changed, or someone is in between",
                    key.algorithm(),
                    self.known_hosts.display()
                ))
            }
            Err(e) => {
                return Verdict::Refused(format!(
                    "{} could not be read: {e}",
                    self.known_hosts.display()
                ))
            }
        }
        let mut pins = self.pins.lock();
        if let Some(pinned) = pins.get(&name).filter(|p| p.algorithm() == key.algorithm()) {
            return match pinned.key_data() == key.key_data() {
                true => Verdict::Known,
                false => Verdict::Refused(format!(
                    "the {} key of {name} differs from the one accepted earlier (WarningPolicy)",
                    key.algorithm()
                )),
            };
        }
        let fingerprint = key.fingerprint(Default::default());
        match self.policy {
            HostKeyPolicy::Reject => Verdict::Refused(format!(
                "{name} ({fingerprint}) is not in {} (agent host key policy RejectPolicy)",
                self.known_hosts.display()
            )),
            HostKeyPolicy::AutoAdd => {
                match learn_known_hosts_path(&self.host, self.port, key, &self.known_hosts) {
                    Ok(()) => {
                        tracing::warn!(host = %name, key = %fingerprint, known_hosts = %self.known_hosts.display(), "unknown agent host key recorded (AutoAddPolicy)");
                        Verdict::Accepted
                    }
                    Err(e) => Verdict::Refused(format!(
                        "{name} is unknown and could not be recorded in {}: {e}",
                        self.known_hosts.display()
                    )),
                }
            }
            HostKeyPolicy::Warning => {
                tracing::warn!(host = %name, key = %fingerprint, "unknown agent host key accepted (WarningPolicy); add it to known_hosts");
                pins.insert(name, key.clone());
                Verdict::Accepted
            }
        }
    }

    /// The host key algorithms to ask for: those of the keys recorded for
    /// this host first (as paramiko does), so that a recorded key is the
    /// one checked, then `defaults`.
    pub fn preferred(&self, defaults: &[Algorithm]) -> Vec<Algorithm> {
        let known: Vec<Algorithm> = known_host_keys_path(&self.host, self.port, &self.known_hosts)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, k)| k.algorithm())
            .collect();
        let family = |a: &Algorithm| match a {
            Algorithm::Rsa { .. } => "ssh-rsa".to_string(),
            other => other.to_string(),
        };
        let (mut first, rest): (Vec<Algorithm>, Vec<Algorithm>) = defaults
            .iter()
            .cloned()
            .partition(|a| known.iter().any(|k| family(k) == family(a)));
        first.extend(rest);
        first
    }
}

/// `<home>/.ssh/known_hosts`.
pub fn known_hosts_of(home: &Path) -> PathBuf {
    home.join(".ssh").join("known_hosts")
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::parse_public_key_base64;

    const A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAILIG2T/B0l0gaqj3puu510tu9N1OkQ4znY3LYuEm5zCF";

    fn check(dir: &Path, policy: HostKeyPolicy, pins: &Pins) -> Check {
        Check {
            known_hosts: dir.join("known_hosts"),
            host: "127.0.0.5".into(),
            port: 2222,
            policy,
            pins: pins.clone(),
        }
    }

    #[test]
    fn known_keys_pass_changed_keys_never_do() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            parse_public_key_base64(A).unwrap(),
            parse_public_key_base64(B).unwrap(),
        );
        std::fs::write(
            dir.path().join("known_hosts"),
            format!("# c\n[127.0.0.5]:2222 ssh-ed25519 {A}\n"),
        )
        .unwrap();
        let pins = Pins::default();
        for policy in [
            HostKeyPolicy::Reject,
            HostKeyPolicy::AutoAdd,
            HostKeyPolicy::Warning,
        ] {
            let c = check(dir.path(), policy, &pins);
            assert_eq!(c.decide(&a), Verdict::Known);
            assert!(
                matches!(c.decide(&b), Verdict::Refused(why) if why.contains("differs from the one recorded"))
            );
        }
        // The same host on port 22 is another entry.
        let mut c = check(dir.path(), HostKeyPolicy::Reject, &pins);
        c.port = 22;
        assert!(matches!(c.decide(&a), Verdict::Refused(why) if why.contains("RejectPolicy")));
    }

    #[test]
    fn unknown_hosts_follow_the_policy() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            parse_public_key_base64(A).unwrap(),
            parse_public_key_base64(B).unwrap(),
        );
        let pins = Pins::default();
        assert!(matches!(
            check(dir.path(), HostKeyPolicy::Reject, &pins).decide(&a),
            Verdict::Refused(_)
        ));
        // WarningPolicy: on, and pinned.
        let warn = check(dir.path(), HostKeyPolicy::Warning, &pins);
        assert_eq!(warn.decide(&a), Verdict::Accepted);
        assert_eq!(warn.decide(&a), Verdict::Known);
        assert!(matches!(warn.decide(&b), Verdict::Refused(_)));
        assert!(!dir.path().join("known_hosts").exists(), "not written");
        // AutoAddPolicy: recorded, then known; a change refused.
        let add = check(dir.path(), HostKeyPolicy::AutoAdd, &Pins::default());
        assert_eq!(add.decide(&b), Verdict::Accepted);
        assert_eq!(add.decide(&b), Verdict::Known);
        assert!(matches!(add.decide(&a), Verdict::Refused(_)));
        let text = std::fs::read_to_string(dir.path().join("known_hosts")).unwrap();
        assert!(
            text.trim_start()
                .starts_with("[127.0.0.5]:2222 ssh-ed25519 "),
            "{text}"
        );
    }

    #[test]
    fn recorded_key_types_are_asked_for_first() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("known_hosts"), "[127.0.0.5]:2222 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDLc7NsCHfvYPLNzYaWJ/3YC/Jjlp7PvzEfozKBkfPW2aIf3wxKozbu0rUYhMqBty54ubuU/pEpURfTxHlVXF0ghbXp/OiCdqHq63IBtl7V3oTrKEnes6G7trBtkwh+0nEC+HhJ41Kdb+vR+iLiaVsxEzRh9xVvWxpK5EofiDJsplubdfaS6bK+CffzMZxA9nSaydPwO4Ad/2jkwgf3Uk+ZCoDAQgFRWKN6tcueNR0iife5kOa2Azzmwq+5/jQ1ORVHs4wKpAK3HsRMmlc4NQUpiE9Zt0cxPZfQuryq2oY4FalLqe8KJF4jge7jUs1LUcIzpWtonHvzGNry5+01SgbT\n").unwrap();
        let c = check(dir.path(), HostKeyPolicy::Reject, &Pins::default());
        let defaults = russh::Preferred::default().key.to_vec();
        let preferred = c.preferred(&defaults);
        assert!(
            matches!(preferred[0], Algorithm::Rsa { .. }),
            "{preferred:?}"
        );
        assert_eq!(preferred.len(), defaults.len());
    }
}
