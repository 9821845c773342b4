//! Acting as a session's user, never as root on their behalf:
//! - a program (an X2Go tool) runs in a child process with the user's
//!   groups, GID and UID set before it starts (what `sudo -u USER` does for
//!   the reference agent), with a minimal environment naming the user;
//! - file work (their authorized keys) runs on a fresh thread whose
//!   file-system identity is the user's (`setfsuid`/`setfsgid` and the
//!   user's groups, set for that thread only): the kernel checks every path
//!   as for the user, files it creates are the user's, and root's file
//!   capabilities are gone on that thread. A symbolic link in the user's
//!   home can therefore not make the agent write where the user cannot.

use super::user::SessionUser;
use std::path::Path;

/// The environment an X2Go tool gets (nothing is inherited from the agent).
const PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

/// Taking on the user's identity failed.
#[derive(Debug, thiserror::Error)]
pub enum AsUserError {
    #[error("cannot act as {user} (UID {uid}): {source}")]
    Identity {
        user: String,
        uid: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start a thread to act as {user}: {source}")]
    Thread {
        user: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the work done as {user} panicked")]
    Panicked { user: String },
}

/// `program` set up to run as `user` (add arguments, then run it).
pub fn command(user: &SessionUser, program: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    cmd.env_clear()
        .env("PATH", PATH)
        .env("HOME", &user.home)
        .env("USER", &user.name)
        .env("LOGNAME", &user.name)
        .current_dir("/");
    let (uid, gid, groups) = (user.uid, user.gid, user.groups.clone());
    // SAFETY: between fork and exec the closure only makes the
    // async-signal-safe setgroups/setgid/setuid calls on data prepared
    // before the fork; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setgroups(groups.len(), groups.as_ptr()) != 0
                || libc::setgid(gid) != 0
                || libc::setuid(uid) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

/// Run `work` with `user`'s file-system identity, on a thread of its own
/// that ends with it (so no other work ever runs with that identity).
pub async fn with_fs_identity<T, F>(user: &SessionUser, work: F) -> Result<T, AsUserError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let user = user.clone();
    let name = user.name.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let name = user.name.clone();
        let thread = std::thread::Builder::new()
            .name("x2gobroker-agent-as-user".into())
            .spawn(move || become_on_this_thread(&user).map(|()| work()))
            .map_err(|source| AsUserError::Thread {
                user: name.clone(),
                source,
            })?;
        thread
            .join()
            .map_err(|_| AsUserError::Panicked { user: name })?
    })
    .await;
    joined.unwrap_or(Err(AsUserError::Panicked { user: name }))
}

/// Give the calling thread `user`'s groups and file-system UID and GID.
/// The raw system calls change this thread only: the kernel keeps
/// credentials per thread, and only the C library's wrappers would apply
/// them to every thread of the process.
fn become_on_this_thread(user: &SessionUser) -> Result<(), AsUserError> {
    let fail = |source| AsUserError::Identity {
        user: user.name.clone(),
        uid: user.uid,
        source,
    };
    // SAFETY: plain system calls on this thread's credentials; `groups`
    // outlives the call.
    unsafe {
        if libc::syscall(libc::SYS_setgroups, user.groups.len(), user.groups.as_ptr()) != 0 {
            return Err(fail(std::io::Error::last_os_error()));
        }
        libc::syscall(libc::SYS_setfsgid, user.gid);
        libc::syscall(libc::SYS_setfsuid, user.uid);
        // Both calls answer the previous value; asking with an invalid id
        // (-1) changes nothing and tells whether the change took.
        let fsgid = libc::syscall(libc::SYS_setfsgid, u32::MAX) as u32;
        let fsuid = libc::syscall(libc::SYS_setfsuid, u32::MAX) as u32;
        if fsgid != user.gid || fsuid != user.uid {
            return Err(fail(std::io::Error::from(
                std::io::ErrorKind::PermissionDenied,
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn nobody() -> SessionUser {
        crate::agent::user::regular("nobody").expect("the nobody account")
    }

    #[tokio::test]
    #[ignore = "needs root (changing the file-system identity)"]
    async fn file_work_is_checked_and_owned_as_the_user() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let file = dir.path().join("made-by-nobody");
        let user = nobody();
        let (created, denied) = with_fs_identity(&user, {
            let file = file.clone();
            move || {
                let created = std::fs::write(&file, "x");
                let denied = std::fs::read_dir("/root").map(|_| ());
                (created, denied)
            }
        })
        .await
        .unwrap();
        created.unwrap();
        assert_eq!(
            denied.unwrap_err().kind(),
            std::io::ErrorKind::PermissionDenied
        );
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (user.uid, user.gid));
        // This thread is still root.
        assert!(std::fs::read_dir("/root").is_ok());
    }

    #[tokio::test]
    #[ignore = "needs root (running a program as another user)"]
    async fn a_program_runs_as_the_user() {
        let user = nobody();
        let mut cmd = command(&user, Path::new("/usr/bin/id"));
        cmd.arg("-u");
        let out = cmd.output().await.unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            user.uid.to_string()
        );
        let mut cmd = command(&user, Path::new("/usr/bin/env"));
        let env = String::from_utf8(cmd.output().await.unwrap().stdout).unwrap();
        assert!(
            env.contains("USER=nobody") && env.contains("LOGNAME=nobody"),
            "{env}"
        );
    }
}
