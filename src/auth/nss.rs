//! Group membership through the name service switch (libnss), as the
//! reference's `libnss` name service reads it: a user belongs to every group
//! that lists them as a member and, unless primary memberships are ignored,
//! to their primary group. Results are cached briefly per user.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long one lookup is reused.
const TTL: Duration = Duration::from_secs(10);
/// At most this many users are cached.
const MAX_ENTRIES: usize = 10_000;

/// Serialises getgrent iteration, whose cursor is process-global.
static GRENT: Mutex<()> = Mutex::new(());

/// (user, with primary group) -> (looked up at, groups).
type Entries = HashMap<(String, bool), (Instant, Vec<String>)>;

#[derive(Default)]
pub struct GroupCache {
    entries: Mutex<Entries>,
}

impl GroupCache {
    /// The groups of `user`; with `primary`, their primary group too.
    pub fn groups_of(&self, user: &str, primary: bool) -> Vec<String> {
        let key = (user.to_string(), primary);
        if let Some((at, groups)) = self.entries.lock().get(&key) {
            if at.elapsed() < TTL {
                return groups.clone();
            }
        }
        let groups = lookup(user, primary);
        let mut entries = self.entries.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), groups.clone()));
        groups
    }
}

fn lookup(user: &str, primary: bool) -> Vec<String> {
    let mut out = member_of(user);
    if primary {
        if let Some(g) = primary_group(user) {
            if !out.contains(&g) {
                out.push(g);
            }
        }
    }
    out
}

/// Every group whose member list names `user`.
fn member_of(user: &str) -> Vec<String> {
    let _guard = GRENT.lock();
    let mut out = Vec::new();
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: the buffers outlive each call; the cursor is guarded by GRENT.
    unsafe {
        libc::setgrent();
        loop {
            let mut grp: libc::group = std::mem::zeroed();
            let mut result: *mut libc::group = std::ptr::null_mut();
            let rc = libc::getgrent_r(&mut grp, buf.as_mut_ptr(), buf.len(), &mut result);
            if rc == libc::ERANGE && buf.len() < 1 << 22 {
                let len = buf.len() * 4;
                buf.resize(len, 0);
                continue;
            }
            if rc != 0 || result.is_null() {
                break;
            }
            let mut mem = grp.gr_mem;
            while !mem.is_null() && !(*mem).is_null() {
                if CStr::from_ptr(*mem).to_bytes() == user.as_bytes() {
                    out.push(CStr::from_ptr(grp.gr_name).to_string_lossy().into_owned());
                    break;
                }
                mem = mem.add(1);
            }
        }
        libc::endgrent();
    }
    out
}

/// What the password database says about one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// Look `user` up in the password database (`getpwnam_r`); None when unknown.
pub fn account(user: &str) -> Option<Account> {
    let name = CString::new(user).ok()?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: reentrant lookup into our own buffers; the strings are copied
    // out before the buffer is dropped.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut res: *mut libc::passwd = std::ptr::null_mut();
        loop {
            let rc = libc::getpwnam_r(
                name.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut res,
            );
            if rc == libc::ERANGE && buf.len() < 1 << 22 {
                let len = buf.len() * 4;
                buf.resize(len, 0);
                continue;
            }
            if rc != 0 || res.is_null() {
                return None;
            }
            break;
        }
        let home = CStr::from_ptr(pwd.pw_dir).to_string_lossy().into_owned();
        Some(Account {
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
            home: PathBuf::from(home),
        })
    }
}

/// The name of the primary group of `user`, if the user exists.
fn primary_group(user: &str) -> Option<String> {
    let gid = account(user)?.gid;
    let mut gbuf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: reentrant lookup with our own buffer.
    unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut gres: *mut libc::group = std::ptr::null_mut();
        if libc::getgrgid_r(gid, &mut grp, gbuf.as_mut_ptr(), gbuf.len(), &mut gres) != 0
            || gres.is_null()
        {
            return None;
        }
        Some(CStr::from_ptr(grp.gr_name).to_string_lossy().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_primary_group_root() {
        let cache = GroupCache::default();
        assert!(cache.groups_of("root", true).contains(&"root".to_string()));
        assert!(cache.groups_of("no-such-user-x2go", true).is_empty());
    }

    #[test]
    fn account_of_root() {
        let root = account("root").expect("root exists");
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.home.is_absolute());
        assert_eq!(account("no-such-user-x2go"), None);
    }
}
