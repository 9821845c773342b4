//! A user's authorized keys file, as the reference agent's `addauthkey` and
//! `delauthkey` keep it for session autologin: the broker names the file by
//! a template (`%u` user name, `%U` UID, `%G` GID, `%h` home, `%%` a `%`;
//! the first occurrence of each, replaced in that order, as the reference
//! does), the agent adds one line unless the file has it, or removes it.
//!
//! All file work runs with the user's file-system identity (see
//! `as_user`): a missing directory is created with mode 0700 and a missing
//! file with 0600, both the user's. Deliberate differences from the
//! reference: a relative path is taken under the home directory (the
//! reference means to, but its check never fires); "has the line" means any
//! line equal to it (the reference only looks at the file's end); removal
//! leaves other lines, blank ones included, as they were (the reference's
//! `sed` also drops every blank line); a key must be one well-formed public
//! key line whose options (if any) only restrict it (`sshkey::check`).

use super::as_user::{self, AsUserError};
use super::user::SessionUser;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The reference broker's default key file.
pub const DEFAULT_KEY_FILE: &str = "%h/.x2go/authorized_keys";

/// What was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOutcome {
    Added(PathBuf),
    AlreadyPresent(PathBuf),
    Removed(PathBuf),
    NotPresent(PathBuf),
}

impl std::fmt::Display for KeyOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyOutcome::Added(p) => write!(f, "key added to {}", p.display()),
            KeyOutcome::AlreadyPresent(p) => write!(f, "key already in {}", p.display()),
            KeyOutcome::Removed(p) => write!(f, "key removed from {}", p.display()),
            KeyOutcome::NotPresent(p) => write!(f, "key not in {}", p.display()),
        }
    }
}

/// Why a key could not be added or removed. Never holds the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the public key is refused: {0}")]
    BadKey(#[from] crate::sshkey::KeyLineError),
    #[error("the key file template is not a path")]
    BadTemplate,
    #[error("{} (as {user}): {source}", path.display())]
    Io {
        path: PathBuf,
        user: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    AsUser(#[from] AsUserError),
}

/// The key file `template` names for `user`.
pub fn expand(template: &str, user: &SessionUser) -> Result<PathBuf, KeyError> {
    let template = if template.is_empty() {
        DEFAULT_KEY_FILE
    } else {
        template
    };
    let home = user.home.to_string_lossy();
    let path = template
        .replacen("%u", &user.name, 1)
        .replacen("%U", &user.uid.to_string(), 1)
        .replacen("%G", &user.gid.to_string(), 1)
        .replacen("%h", &home, 1)
        .replacen("%%", "%", 1);
    if path.is_empty() || path.contains('\0') {
        return Err(KeyError::BadTemplate);
    }
    Ok(user.home.join(path))
}

/// The file's new content with `key` added, or None when a line already is `key`.
pub fn with_key(content: &str, key: &str) -> Option<String> {
    if has_key(content, key) {
        return None;
    }
    let mut out = content.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(key);
    out.push('\n');
    Some(out)
}

/// The file's new content without the lines that are `key`, or None when
/// there is none.
pub fn without_key(content: &str, key: &str) -> Option<String> {
    if !has_key(content, key) {
        return None;
    }
    Some(
        content
            .split_inclusive('\n')
            .filter(|l| !is_key_line(l, key))
            .collect(),
    )
}

fn has_key(content: &str, key: &str) -> bool {
    content.split_inclusive('\n').any(|l| is_key_line(l, key))
}

fn is_key_line(line: &str, key: &str) -> bool {
    line.trim_end_matches(['\n', '\r']) == key
}

/// One well-formed public key line, options restricting it at most.
fn check_key(key: &str) -> Result<&str, KeyError> {
    let key = key.trim_end_matches(['\n', '\r']);
    crate::sshkey::check(key, true)?;
    Ok(key)
}

/// Add `key` to the file `template` names, as `user`.
pub async fn add(user: &SessionUser, key: &str, template: &str) -> Result<KeyOutcome, KeyError> {
    let key = check_key(key)?.to_string();
    let path = expand(template, user)?;
    let name = user.name.clone();
    as_user::with_fs_identity(user, move || add_here(&path, &key, &name)).await?
}

/// Remove `key` from the file `template` names, as `user`.
pub async fn remove(user: &SessionUser, key: &str, template: &str) -> Result<KeyOutcome, KeyError> {
    let key = check_key(key)?.to_string();
    let path = expand(template, user)?;
    let name = user.name.clone();
    as_user::with_fs_identity(user, move || remove_here(&path, &key, &name)).await?
}

/// Wraps an I/O error on `path` (done as `user`).
fn io_error(path: &Path, user: &str) -> impl FnOnce(std::io::Error) -> KeyError {
    let (path, user) = (path.to_path_buf(), user.to_string());
    move |source| KeyError::Io { path, user, source }
}

fn add_here(path: &Path, key: &str, user: &str) -> Result<KeyOutcome, KeyError> {
    let io = |path: &Path| io_error(path, user);
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    let content = std::io::read_to_string(&mut file).map_err(io(path))?;
    match with_key(&content, key) {
        None => Ok(KeyOutcome::AlreadyPresent(path.to_path_buf())),
        Some(new) => {
            file.write_all(&new.as_bytes()[content.len()..])
                .and_then(|()| file.sync_all())
                .map_err(io(path))?;
            Ok(KeyOutcome::Added(path.to_path_buf()))
        }
    }
}

fn remove_here(path: &Path, key: &str, user: &str) -> Result<KeyOutcome, KeyError> {
    let io = |path: &Path| io_error(path, user);
    let content = match std::fs::read_to_string(path) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(KeyOutcome::NotPresent(path.to_path_buf()))
        }
        Err(e) => return Err(io(path)(e)),
    };
    let Some(new) = without_key(&content, key) else {
        return Ok(KeyOutcome::NotPresent(path.to_path_buf()));
    };
    // Replace the file whole: a new file next to it, same mode, renamed over it.
    let mode = std::fs::metadata(path)
        .map_err(io(path))?
        .permissions()
        .mode()
        & 0o7777;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.x2gobroker-agent.{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(new.as_bytes())?;
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(path)(e));
    }
    Ok(KeyOutcome::Removed(path.to_path_buf()))
}

#[cfg(test)]
#[path = "authkeys_tests.rs"]
mod tests;
