//! `x2gobroker keygen --ssh`: the broker's SSH key pair, as Debian's
//! `x2gobroker-keygen` makes it — RSA 2048, `~/.ssh/id_rsa` (PKCS#1 PEM,
//! as paramiko writes it, mode 0600) and `~/.ssh/id_rsa.pub` (`ssh-rsa
//! DATA`, no comment and no newline, mode 0644) in the broker user's home
//! (`X2GOBROKER_DAEMON_USER`, default `x2gobroker`), `.ssh` created 0750
//! when missing, everything owned by that user and group
//! (`X2GOBROKER_DAEMON_GROUP`) when run as root. An existing key is kept
//! unless `force`. `/pubkeys/` serves the public half.

use crate::broker::pubkeys::{daemon_group, daemon_user};
use base64::Engine;
use std::path::{Path, PathBuf};

/// Why the key pair was not made.
#[derive(Debug, thiserror::Error)]
pub enum SshKeygenError {
    #[error("the broker's SSH keys belong in the home of user {user:?} and to that user: run as root, or give --home DIR")]
    NotRoot { user: String },
    #[error("user {0:?} does not exist (X2GOBROKER_DAEMON_USER); give --home DIR")]
    NoUser(String),
    #[error("group {0:?} does not exist (X2GOBROKER_DAEMON_GROUP)")]
    NoGroup(String),
    #[error("the home directory {} does not exist", .0.display())]
    NoHome(PathBuf),
    #[error("{} exists: --force makes a new key pair (then run x2gobroker-pubkeyauthorizer on every X2Go server again)", .0.display())]
    Exists(PathBuf),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Generate(#[from] crate::sshkey::GenerateError),
}

/// What was written: the files, and the key's SHA-256 fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKeys {
    pub private: PathBuf,
    pub public: PathBuf,
    pub fingerprint: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SshKeygenError + '_ {
    move |source| SshKeygenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Write `text` to `path` with `mode` (also over an existing file) and
/// give it to `owner`.
fn write(
    path: &Path,
    text: &str,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), SshKeygenError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(io(path))?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io(path))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid)).map_err(io(path))?;
    }
    f.write_all(text.as_bytes()).map_err(io(path))
}

/// Make the key pair in `home` (default: the broker user's home); `force`
/// replaces an existing one.
pub fn generate(home: Option<&Path>, force: bool) -> Result<SshKeys, SshKeygenError> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let user = daemon_user();
    let account = crate::auth::nss::account(&user);
    let home = match (home, &account) {
        (Some(h), _) => h.to_path_buf(),
        (None, _) if !root => return Err(SshKeygenError::NotRoot { user }),
        (None, Some(a)) => a.home.clone(),
        (None, None) => return Err(SshKeygenError::NoUser(user)),
    };
    let owner = match (root, &account) {
        (true, Some(a)) => {
            let group = daemon_group();
            let gid = crate::auth::nss::group_id(&group).ok_or(SshKeygenError::NoGroup(group))?;
            Some((a.uid, gid))
        }
        _ => None,
    };
    if !home.is_dir() {
        return Err(SshKeygenError::NoHome(home));
    }
    let ssh = home.join(".ssh");
    if !ssh.exists() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir(&ssh).map_err(io(&ssh))?;
        std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o750)).map_err(io(&ssh))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&ssh, Some(uid), Some(gid)).map_err(io(&ssh))?;
        }
    }
    let (private, public) = (ssh.join("id_rsa"), ssh.join("id_rsa.pub"));
    if private.exists() && !force {
        return Err(SshKeygenError::Exists(private));
    }
    let (data, pem) = crate::sshkey::generate_rsa()?;
    write(&private, &pem, 0o600, owner)?;
    write(&public, &format!("ssh-rsa {data}"), 0o644, owner)?;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(&data)
        .unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, &blob);
    let fingerprint = format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest.as_ref())
    );
    Ok(SshKeys {
        private,
        public,
        fingerprint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn writes_the_reference_files_once_unless_forced() {
        let home = tempfile::tempdir().unwrap();
        let keys = generate(Some(home.path()), false).unwrap();
        assert_eq!(mode(&home.path().join(".ssh")), 0o750);
        assert_eq!(mode(&keys.private), 0o600);
        assert_eq!(mode(&keys.public), 0o644);
        let pem = std::fs::read_to_string(&keys.private).unwrap();
        assert!(
            pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
            "{pem}"
        );
        let public = std::fs::read_to_string(&keys.public).unwrap();
        assert!(public.starts_with("ssh-rsa AAAAB3NzaC1yc2EA") && !public.contains(['\n', '@']));
        let data = crate::sshpub::public_data(&pem, crate::sshpub::KeyType::Rsa).unwrap();
        assert_eq!(public, format!("ssh-rsa {data}"));
        assert!(keys.fingerprint.starts_with("SHA256:"));

        let again = generate(Some(home.path()), false).unwrap_err();
        assert!(matches!(again, SshKeygenError::Exists(_)), "{again}");
        assert_eq!(std::fs::read_to_string(&keys.private).unwrap(), pem);
        generate(Some(home.path()), true).unwrap();
        assert_ne!(std::fs::read_to_string(&keys.private).unwrap(), pem);
    }

    #[test]
    fn a_missing_home_is_refused() {
        let e = generate(Some(Path::new("/nonexistent/home")), false).unwrap_err();
        assert!(matches!(e, SshKeygenError::NoHome(_)), "{e}");
    }
}
