//! Group membership through the name service switch (libnss), as the
//! reference's `libnss` name service reads it: a user belongs to every group
//! that lists them as a member and, unless primary memberships are ignored,
//! to their primary group. Results are cached briefly per user.
//!
//! Lookups may wait on a slow directory (LDAP, sssd), so they run on the
//! blocking pool behind a bounded queue (`gate`), never on the threads that
//! serve requests and Raft. Memberships come from `getgrouplist` (what the
//! directory answers for one user, no enumeration of every group), and any
//! error is reported, never taken for a shorter list: ACLs deny when the
//! groups could not be read.

use super::bounded::BoundedMap;
use super::gate::{Busy, Gate};
use parking_lot::Mutex;
use std::ffi::{CStr, CString};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long one lookup is reused.
const TTL: Duration = Duration::from_secs(10);
/// At most this many users are cached (least recently used evicted).
const MAX_ENTRIES: usize = 10_000;
/// Lookups running at once.
pub const CONCURRENCY: usize = 8;
/// Lookups waiting for a turn at most; more fail (and deny).
pub const QUEUE: usize = 256;
/// The longest a lookup waits for a turn before it fails (and denies).
pub const MAX_WAIT: Duration = Duration::from_secs(5);
/// Largest group list read for one user.
const MAX_GROUPS: usize = 1 << 16;
/// A group id no group has, handed to `getgrouplist` as the "primary"
/// group so that its answer is exactly the groups listing the user.
const NO_GROUP: libc::gid_t = libc::gid_t::MAX;

/// Why a user's groups could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NssError {
    #[error("{call} for '{name}': {source}")]
    Call {
        call: &'static str,
        name: String,
        source: std::io::Error,
    },
    #[error("getgrouplist for '{user}' did not settle on a size")]
    Unsettled { user: String },
    #[error("group {gid} of '{user}' has no entry")]
    Vanished { user: String, gid: u32 },
    #[error("group lookup for '{user}': {why}")]
    Busy { user: String, why: Busy },
    #[error("group lookup for '{user}' did not finish")]
    Aborted { user: String },
}

/// (looked up at, user, with primary group, groups).
type Entry = (Instant, String, bool, Vec<String>);

pub struct GroupCache {
    entries: Mutex<BoundedMap<Entry>>,
    gate: Gate,
}

impl Default for GroupCache {
    fn default() -> Self {
        Self {
            entries: Mutex::new(BoundedMap::new(MAX_ENTRIES)),
            gate: Gate::new(CONCURRENCY, QUEUE, MAX_WAIT),
        }
    }
}

impl GroupCache {
    /// The groups of `user`; with `primary`, their primary group too.
    pub async fn groups_of(&self, user: &str, primary: bool) -> Result<Vec<String>, NssError> {
        let key = self
            .entries
            .lock()
            .key(&format!("{}{user}", u8::from(primary)));
        if let Some((at, u, p, groups)) = self.entries.lock().get(key) {
            if at.elapsed() < TTL && u == user && *p == primary {
                return Ok(groups.clone());
            }
        }
        let slot = self.gate.enter().await.map_err(|why| NssError::Busy {
            user: user.to_string(),
            why,
        })?;
        let name = user.to_string();
        let groups = tokio::task::spawn_blocking(move || {
            // The turn ends with the lookup, even if the caller went away.
            let _slot = slot;
            lookup(&name, primary)
        })
        .await
        .map_err(|_| NssError::Aborted {
            user: user.to_string(),
        })??;
        let now = Instant::now();
        let mut entries = self.entries.lock();
        if let Some(cutoff) = now.checked_sub(TTL) {
            entries.drop_unused_since(cutoff);
        }
        entries.insert(key, now, (now, user.to_string(), primary, groups.clone()));
        Ok(groups)
    }
}

fn lookup(user: &str, primary: bool) -> Result<Vec<String>, NssError> {
    let mut out = member_of(user)?;
    if primary {
        if let Some(g) = primary_group(user)? {
            if !out.contains(&g) {
                out.push(g);
            }
        }
    }
    Ok(out)
}

/// Every group whose member list names `user`.
fn member_of(user: &str) -> Result<Vec<String>, NssError> {
    let Ok(name) = CString::new(user) else {
        return Ok(Vec::new());
    };
    let mut len: libc::c_int = 64;
    let gids = loop {
        let mut gids: Vec<libc::gid_t> = vec![0; len as usize];
        let mut n = len;
        // SAFETY: `gids` holds `n` entries; getgrouplist writes at most that many.
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), NO_GROUP, gids.as_mut_ptr(), &mut n) };
        if rc >= 0 {
            gids.truncate(n.clamp(0, len) as usize);
            break gids;
        }
        // Too small: `n` is the size needed; anything else is an error.
        if n <= len || n as usize > MAX_GROUPS {
            return Err(NssError::Unsettled {
                user: user.to_string(),
            });
        }
        len = n;
    };
    let mut out = Vec::new();
    for gid in gids.into_iter().filter(|g| *g != NO_GROUP) {
        match group_name(gid)? {
            Some(g) if !out.contains(&g) => out.push(g),
            Some(_) => {}
            None => {
                return Err(NssError::Vanished {
                    user: user.to_string(),
                    gid,
                })
            }
        }
    }
    Ok(out)
}

/// Whether a `get*_r` return code means "no such entry" (POSIX allows these).
fn not_found(rc: libc::c_int) -> bool {
    matches!(rc, libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM)
}

/// Run one reentrant `get*_r` lookup (`call` on `name`), growing its
/// buffer on ERANGE: `lookup(buf)` makes the call and copies the entry out
/// of `buf` when there is one. None when there is no such entry.
fn reentrant<T>(
    call: &'static str,
    name: &str,
    mut lookup: impl FnMut(&mut [libc::c_char]) -> (libc::c_int, Option<T>),
) -> Result<Option<T>, NssError> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    loop {
        let (rc, found) = lookup(&mut buf);
        if rc == libc::ERANGE && buf.len() < 1 << 22 {
            let len = buf.len() * 4;
            buf.resize(len, 0);
            continue;
        }
        if rc != 0 && !not_found(rc) {
            return Err(NssError::Call {
                call,
                name: name.to_string(),
                source: std::io::Error::from_raw_os_error(rc),
            });
        }
        return Ok(if rc == 0 { found } else { None });
    }
}

/// The name of group `gid`; None when there is no such group.
fn group_name(gid: libc::gid_t) -> Result<Option<String>, NssError> {
    reentrant("getgrgid_r", &gid.to_string(), |buf| {
        // SAFETY: reentrant lookup into the caller's buffer; the name is
        // copied out before the buffer is reused or dropped.
        unsafe {
            let mut grp: libc::group = std::mem::zeroed();
            let mut res: *mut libc::group = std::ptr::null_mut();
            let rc = libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr(), buf.len(), &mut res);
            let name = (rc == 0 && !res.is_null())
                .then(|| CStr::from_ptr(grp.gr_name).to_string_lossy().into_owned());
            (rc, name)
        }
    })
}

/// The id of group `name` (`getgrnam_r`); None when unknown or when the
/// lookup failed.
pub fn group_id(name: &str) -> Option<u32> {
    let c_name = CString::new(name).ok()?;
    reentrant("getgrnam_r", name, |buf| {
        // SAFETY: reentrant lookup into the caller's buffer; only the id is read.
        unsafe {
            let mut grp: libc::group = std::mem::zeroed();
            let mut res: *mut libc::group = std::ptr::null_mut();
            let rc = libc::getgrnam_r(
                c_name.as_ptr(),
                &mut grp,
                buf.as_mut_ptr(),
                buf.len(),
                &mut res,
            );
            (rc, (rc == 0 && !res.is_null()).then_some(grp.gr_gid))
        }
    })
    .ok()
    .flatten()
}

/// What the password database says about one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// Look `user` up in the password database (`getpwnam_r`); None when
/// unknown or when the lookup failed.
pub fn account(user: &str) -> Option<Account> {
    lookup_account(user).ok().flatten()
}

/// Look `user` up in the password database: None when unknown, `Err` when
/// the lookup failed.
fn lookup_account(user: &str) -> Result<Option<Account>, NssError> {
    let Ok(name) = CString::new(user) else {
        return Ok(None);
    };
    reentrant("getpwnam_r", user, |buf| {
        // SAFETY: reentrant lookup into the caller's buffer; the strings are
        // copied out before the buffer is reused or dropped.
        unsafe {
            let mut pwd: libc::passwd = std::mem::zeroed();
            let mut res: *mut libc::passwd = std::ptr::null_mut();
            let rc = libc::getpwnam_r(
                name.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut res,
            );
            let account = (rc == 0 && !res.is_null()).then(|| Account {
                uid: pwd.pw_uid,
                gid: pwd.pw_gid,
                home: PathBuf::from(CStr::from_ptr(pwd.pw_dir).to_string_lossy().into_owned()),
            });
            (rc, account)
        }
    })
}

/// The login name of `uid` (`getpwuid_r`); None when no account has it
/// or the lookup failed.
pub fn user_name(uid: u32) -> Option<String> {
    reentrant("getpwuid_r", &uid.to_string(), |buf| {
        // SAFETY: reentrant lookup into the caller's buffer; the name is
        // copied out before the buffer is reused or dropped.
        unsafe {
            let mut pwd: libc::passwd = std::mem::zeroed();
            let mut res: *mut libc::passwd = std::ptr::null_mut();
            let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut res);
            let name = (rc == 0 && !res.is_null())
                .then(|| CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned());
            (rc, name)
        }
    })
    .ok()
    .flatten()
}

/// The name of the primary group of `user`, if the user and group exist.
fn primary_group(user: &str) -> Result<Option<String>, NssError> {
    match lookup_account(user)? {
        Some(account) => group_name(account.gid),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn root_has_primary_group_root() {
        let cache = GroupCache::default();
        let root = cache.groups_of("root", true).await.unwrap();
        assert!(root.contains(&"root".to_string()));
        assert!(cache
            .groups_of("no-such-user-x2go", true)
            .await
            .unwrap()
            .is_empty());
        // Cached: the same answer again.
        assert_eq!(cache.groups_of("root", true).await.unwrap(), root);
    }

    #[test]
    fn member_lists_match_the_group_file() {
        // Every group of /etc/group listing a user is found for that user.
        let text = std::fs::read_to_string("/etc/group").unwrap_or_default();
        for line in text.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            let [group, _, _, members] = fields[..] else {
                continue;
            };
            for user in members.split(',').filter(|u| !u.is_empty()) {
                let mine = member_of(user).unwrap();
                assert!(
                    mine.iter().any(|g| g == group),
                    "{user} in {group}: {mine:?}"
                );
            }
        }
    }

    #[test]
    fn account_of_root() {
        let root = account("root").expect("root exists");
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.home.is_absolute());
        assert_eq!(account("no-such-user-x2go"), None);
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(user_name(u32::MAX - 7), None);
    }
}
