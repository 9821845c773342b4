//! `/pubkeys/`: the broker's legacy SSH public keys as `authorized_keys`
//! lines that only let the broker run the X2Go broker agent.

use super::Broker;
use std::path::Path;

/// The key files looked for under `~/.ssh`, in this order.
const KEY_FILES: [&str; 4] = ["id_rsa.pub", "id_dsa.pub", "id_ecdsa.pub", "id_ed25519.pub"];

impl Broker {
    /// The `authorized_keys` lines of `/pubkeys/`.
    pub fn pubkeys(&self) -> String {
        let ssh = self.settings.broker_home.join(".ssh");
        KEY_FILES
            .iter()
            .filter_map(|file| pubkey_line(&ssh.join(file), &self.hostname))
            .collect()
    }
}

fn pubkey_line(path: &Path, hostname: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut parts = text.split_whitespace();
    let (kind, b64) = (parts.next()?, parts.next()?);
    Some(format!(
        "command=\"/usr/lib/x2go/x2gobroker-agent\",no-port-forwarding,no-X11-forwarding,no-agent-forwarding,no-pty {kind} {b64} x2gobroker@{hostname}\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restricted_agent_line() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id_ed25519.pub");
        std::fs::write(&key, "ssh-ed25519 AAAAC3Nz comment\n").unwrap();
        assert_eq!(
            pubkey_line(&key, "h").unwrap(),
            "command=\"/usr/lib/x2go/x2gobroker-agent\",no-port-forwarding,no-X11-forwarding,no-agent-forwarding,no-pty ssh-ed25519 AAAAC3Nz x2gobroker@h\n"
        );
        std::fs::write(&key, "only-one-word").unwrap();
        assert_eq!(pubkey_line(&key, "h"), None);
        assert_eq!(pubkey_line(&dir.path().join("missing"), "h"), None);
    }
}
