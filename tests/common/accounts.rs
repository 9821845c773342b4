//! Real local accounts for the PAM tests (created with `useradd`, removed
//! on drop), and whether we run as root, which creating them needs.

use super::unique;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Whether we run as root (PAM users and network namespaces need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A real local account with a password, removed on drop (needs root).
pub struct TestUser {
    pub name: String,
    pub password: String,
}

impl TestUser {
    pub fn create(prefix: &str) -> TestUser {
        Self::create_with(prefix, &[])
    }

    /// A user whose home is `home` (an existing directory, given to the user).
    pub fn with_home(prefix: &str, home: &std::path::Path) -> TestUser {
        let home_arg = home.to_str().unwrap();
        let user = Self::create_with(prefix, &["-d", home_arg]);
        let status = Command::new("chown")
            .arg(format!("{0}:{0}", user.name))
            .arg(home)
            .status()
            .unwrap();
        assert!(status.success(), "chown {home_arg}");
        user
    }

    fn create_with(prefix: &str, extra: &[&str]) -> TestUser {
        assert!(is_root(), "creating users needs root");
        let pid = std::process::id();
        let name = format!("{prefix}{pid}n{}", unique());
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let password = format!("Pw-{nanos:x}-{pid}");
        // useradd and chpasswd lock the account files; retry when another test holds them.
        let run = |cmd: &mut Command| {
            for _ in 0..50 {
                if cmd.status().map(|s| s.success()).unwrap_or(false) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            panic!("command failed: {cmd:?}");
        };
        run(Command::new("useradd")
            .args(["-M", "-s", "/usr/sbin/nologin"])
            .args(extra)
            .arg(&name));
        let user = TestUser { name, password };
        for _ in 0..50 {
            let mut child = Command::new("chpasswd")
                .stdin(Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{}:{}\n", user.name, user.password).as_bytes())
                .unwrap();
            if child.wait().unwrap().success() {
                return user;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("chpasswd failed for {}", user.name);
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        for _ in 0..50 {
            if Command::new("userdel")
                .arg(&self.name)
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
