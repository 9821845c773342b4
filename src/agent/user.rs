//! The user a command acts for, as the system knows them (name service),
//! and the reference agent's refusal of system users: an account with a
//! UID below 1000 (root included) is never acted for.

use crate::auth::nss;
use std::ffi::CString;
use std::path::PathBuf;

/// Accounts with a UID below this are system users.
pub const FIRST_REGULAR_UID: u32 = 1000;

/// A regular user of this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    /// Every group the user is in (primary included), as `initgroups` sets them.
    pub groups: Vec<libc::gid_t>,
}

/// Why the agent will not act for a user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("no such user on this server: {0:?}")]
    Unknown(String),
    #[error("refusing to act for system user {name} (UID {uid} < {FIRST_REGULAR_UID})")]
    System { name: String, uid: u32 },
}

/// Look `name` up; refuse unknown and system users.
pub fn regular(name: &str) -> Result<SessionUser, UserError> {
    let account = nss::account(name).ok_or_else(|| UserError::Unknown(name.to_string()))?;
    if account.uid < FIRST_REGULAR_UID {
        return Err(UserError::System {
            name: name.to_string(),
            uid: account.uid,
        });
    }
    Ok(SessionUser {
        name: name.to_string(),
        uid: account.uid,
        gid: account.gid,
        home: account.home,
        groups: group_list(name, account.gid),
    })
}

/// The user's groups (`getgrouplist`); at least the primary group.
fn group_list(name: &str, gid: u32) -> Vec<libc::gid_t> {
    let Ok(cname) = CString::new(name) else {
        return vec![gid];
    };
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut n = groups.len() as libc::c_int;
        // SAFETY: `groups` has room for `n` entries; getgrouplist writes at
        // most that many and sets `n` to the number it needs.
        let rc = unsafe { libc::getgrouplist(cname.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
        let n = usize::try_from(n).unwrap_or(0);
        if rc >= 0 {
            groups.truncate(n);
            return groups;
        }
        if n <= groups.len() || n > 1 << 16 {
            return vec![gid];
        }
        groups.resize(n, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_unknown_users_are_refused() {
        assert_eq!(
            regular("root"),
            Err(UserError::System {
                name: "root".into(),
                uid: 0
            })
        );
        assert_eq!(
            regular("no-such-user-x2go"),
            Err(UserError::Unknown("no-such-user-x2go".into()))
        );
        let text = regular("daemon").unwrap_err().to_string();
        assert!(text.contains("system user daemon"), "{text}");
    }

    #[test]
    fn the_group_list_holds_the_primary_group() {
        assert!(group_list("root", 0).contains(&0));
        assert_eq!(group_list("no-such-user-x2go", 4242), vec![4242]);
    }
}
