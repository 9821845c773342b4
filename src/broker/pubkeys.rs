//! `/pubkeys/`: the broker's SSH public keys as the `authorized_keys`
//! lines the reference serves, which only let the broker run the X2Go
//! broker agent, and which `x2gobroker-pubkeyauthorizer` installs on the
//! X2Go servers. As the reference: for `~/.ssh/id_rsa` (and `id_dsa`) of
//! the broker user whose `.pub` file exists, the public key of the private
//! key file, then `USER@HOST` with the daemon user's name
//! (`X2GOBROKER_DAEMON_USER`, default `x2gobroker`) and the reference's
//! host name (`reference_hostname`). A key that cannot be read is left
//! out and logged (the reference answers 500).

use super::Broker;
use crate::sshpub::{public_data, KeyType};
use std::path::Path;
use std::sync::OnceLock;

/// The user the reference runs as, and whose home holds the keys.
pub fn daemon_user() -> String {
    std::env::var("X2GOBROKER_DAEMON_USER").unwrap_or_else(|_| "x2gobroker".into())
}

/// Its group (`X2GOBROKER_DAEMON_GROUP`, default `x2gobroker`).
pub fn daemon_group() -> String {
    std::env::var("X2GOBROKER_DAEMON_GROUP").unwrap_or_else(|_| "x2gobroker".into())
}

/// The key files served, in order: the private key, read when its `.pub` exists.
const KEYS: [(&str, KeyType); 2] = [("id_rsa", KeyType::Rsa), ("id_dsa", KeyType::Dsa)];

impl Broker {
    /// The `authorized_keys` lines of `/pubkeys/` (files and name lookups
    /// run off the request threads).
    pub async fn pubkeys(&self) -> String {
        let ssh = self.settings.broker_home.join(".ssh");
        tokio::task::spawn_blocking(move || {
            let comment = format!("{}@{}", daemon_user(), reference_hostname());
            KEYS.iter()
                .filter_map(|(file, kind)| pubkey_line(&ssh.join(file), *kind, &comment))
                .collect()
        })
        .await
        .unwrap_or_default()
    }
}

/// The line for the private key at `path`, when `path.pub` exists.
fn pubkey_line(path: &Path, kind: KeyType, comment: &str) -> Option<String> {
    let mut public = path.as_os_str().to_owned();
    public.push(".pub");
    if !Path::new(&public).exists() {
        return None;
    }
    let read = std::fs::read_to_string(path).map_err(|e| e.to_string());
    match read.and_then(|text| public_data(&text, kind).map_err(|e| e.to_string())) {
        Ok(data) => Some(format!(
            "command=\"/usr/lib/x2go/x2gobroker-agent\",no-port-forwarding,no-X11-forwarding,no-agent-forwarding,no-pty {} {data} {comment}\n",
            kind.name()
        )),
        Err(e) => {
            tracing::warn!(key = %path.display(), error = %e, "/pubkeys/ leaves out a key it cannot read");
            None
        }
    }
}

/// The host name the reference names itself by: the system's host name
/// when it has a dot, else the name its address resolves back to
/// (`localhost` when the name does not resolve). Looked up once.
pub fn reference_hostname() -> String {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let name = super::hostname();
        if name.contains('.') {
            return name;
        }
        match reverse_name(&name) {
            Ok(Some(full)) => full,
            Ok(None) => name,
            Err(Unresolved) => "localhost".into(),
        }
    })
    .clone()
}

/// The name does not resolve to an address.
struct Unresolved;

/// The name `name`'s first address resolves back to (None: it has none).
fn reverse_name(name: &str) -> Result<Option<String>, Unresolved> {
    use std::ffi::{CStr, CString};
    let host = CString::new(name).map_err(|_| Unresolved)?;
    let mut found: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: plain getaddrinfo/getnameinfo on buffers owned here; the
    // address list is freed once before returning.
    unsafe {
        let mut hints: libc::addrinfo = std::mem::zeroed();
        hints.ai_family = libc::AF_UNSPEC;
        hints.ai_socktype = libc::SOCK_STREAM;
        if libc::getaddrinfo(host.as_ptr(), std::ptr::null(), &hints, &mut found) != 0
            || found.is_null()
        {
            return Err(Unresolved);
        }
        let mut buf = [0 as libc::c_char; 1025];
        let rc = libc::getnameinfo(
            (*found).ai_addr,
            (*found).ai_addrlen,
            buf.as_mut_ptr(),
            buf.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        );
        libc::freeaddrinfo(found);
        if rc != 0 {
            return Ok(None);
        }
        Ok(Some(
            CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_line_from_the_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let (data, pem) = crate::sshkey::generate_rsa().unwrap();
        let key = dir.path().join("id_rsa");
        std::fs::write(&key, pem).unwrap();
        // No .pub file: not served, as by the reference.
        assert_eq!(pubkey_line(&key, KeyType::Rsa, "x2gobroker@h"), None);
        std::fs::write(dir.path().join("id_rsa.pub"), "ssh-rsa OTHER").unwrap();
        assert_eq!(
            pubkey_line(&key, KeyType::Rsa, "x2gobroker@h").unwrap(),
            format!("command=\"/usr/lib/x2go/x2gobroker-agent\",no-port-forwarding,no-X11-forwarding,no-agent-forwarding,no-pty ssh-rsa {data} x2gobroker@h\n")
        );
        std::fs::write(&key, "garbage").unwrap();
        assert_eq!(pubkey_line(&key, KeyType::Rsa, "x2gobroker@h"), None);
    }

    #[test]
    fn the_reference_hostname_is_a_name() {
        let name = reference_hostname();
        assert!(
            !name.is_empty() && !name.contains(char::is_whitespace),
            "{name:?}"
        );
    }
}
