//! The real X2Go server installation, for the agent's tests: one lock over
//! the one session database (made fresh by the first holder, with
//! `x2godbadmin --createdb`), test users with home directories, system
//! users, and sessions made and changed with x2goserver's own tools run as
//! the session's user (`runuser -u USER -- /usr/lib/x2go/...`), the way an
//! X2Go session records itself, without X.

use super::accounts::TestUser;
use super::unique;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where x2goserver keeps its per-user tools.
pub const X2GO_LIB: &str = "/usr/lib/x2go";
/// The root-only listing tool.
pub const LIST_SESSIONS_ROOT: &str = "/usr/sbin/x2golistsessions_root";

/// Whether the database was made fresh in this process. An async lock:
/// the tests hold it across their awaits (and a failed test does not
/// poison it for the others).
static SESSION_DB: tokio::sync::Mutex<bool> = tokio::sync::Mutex::const_new(false);

/// Hold the session database for one test. The first holder checks that
/// `x2gocleansessions` is not running (it would finish the test sessions,
/// whose agent processes do not exist) and makes a fresh database.
pub async fn session_db() -> tokio::sync::MutexGuard<'static, bool> {
    let mut fresh = SESSION_DB.lock().await;
    if !*fresh {
        fresh_database();
        *fresh = true;
    }
    fresh
}

/// `session_db` for a test without a runtime.
pub fn session_db_blocking() -> tokio::sync::MutexGuard<'static, bool> {
    let mut fresh = SESSION_DB.blocking_lock();
    if !*fresh {
        fresh_database();
        *fresh = true;
    }
    fresh
}

fn fresh_database() {
    let running = Command::new("pgrep")
        .args(["-f", "x2gocleansessions"])
        .output()
        .expect("pgrep");
    assert!(
        !running.status.success(),
        "x2gocleansessions is running (pid {}): stop it for these tests",
        String::from_utf8_lossy(&running.stdout).trim()
    );
    run(Command::new("x2godbadmin").arg("--createdb"));
}

/// Run `cmd`, which must succeed; its standard output.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.current_dir("/").output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run x2goserver's `tool` as `user`.
pub fn x2go_as(user: &str, tool: &str, args: &[&str]) -> String {
    run(Command::new("runuser")
        .args(["-u", user, "--"])
        .arg(format!("{X2GO_LIB}/{tool}"))
        .args(args))
}

/// The lines `x2golistsessions_root server` prints.
pub fn list_root(server: &str) -> Vec<String> {
    run(Command::new(LIST_SESSIONS_ROOT).arg(server))
        .lines()
        .map(str::to_string)
        .collect()
}

/// A session line with its age field (the 13th, which grows) blanked.
pub fn without_age(line: &str) -> String {
    let mut fields: Vec<&str> = line.split('|').collect();
    if fields.len() > 12 {
        fields[12] = "";
    }
    fields.join("|")
}

/// A session of `user` on `server`: inserted (display, server, id) and,
/// with `created`, created too (pid, cookie, client, ports), as an X2Go
/// session start records it. Status R; the id.
pub fn new_session(user: &str, server: &str, created: bool) -> String {
    static DISPLAY: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(100);
    let display = DISPLAY.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let sid = format!("{user}-{display}-{epoch}_stDXFCE_dp24");
    x2go_as(
        user,
        "x2goinsertsession",
        &[&display.to_string(), server, &sid],
    );
    if created {
        let pid = std::process::id().to_string();
        let cookie = format!("cookie{:x}", unique());
        x2go_as(
            user,
            "x2gocreatesession",
            &[
                &sid,
                &cookie,
                &pid,
                "127.0.0.1",
                "30001",
                "30002",
                "30003",
                "-1",
                "-1",
            ],
        );
    }
    sid
}

/// Change a session's status as its user (`x2gochangestatus`).
pub fn change_status(user: &str, status: &str, sid: &str) {
    x2go_as(user, "x2gochangestatus", &[status, sid]);
}

/// The status letter of `sid` in `server`'s listing, if listed.
pub fn status_of(server: &str, sid: &str) -> Option<String> {
    list_root(server).iter().find_map(|l| {
        let f: Vec<&str> = l.split('|').collect();
        (f.get(1) == Some(&sid)).then(|| f[4].to_string())
    })
}

/// A regular test user (UID >= 1000) with a home directory of their own,
/// both removed on drop.
pub struct X2goUser {
    pub user: TestUser,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

impl X2goUser {
    pub fn create(prefix: &str) -> X2goUser {
        let user = TestUser::create(prefix);
        let account = x2gobroker::auth::nss::account(&user.name).expect("the new account");
        assert!(account.uid >= 1000, "useradd gave a system UID");
        std::fs::create_dir_all(&account.home).unwrap();
        std::fs::set_permissions(&account.home, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&account.home, Some(account.uid), Some(account.gid)).unwrap();
        X2goUser {
            user,
            uid: account.uid,
            gid: account.gid,
            home: account.home,
        }
    }

    pub fn name(&self) -> &str {
        &self.user.name
    }
}

impl Drop for X2goUser {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// A system user (UID < 1000, `useradd --system`), removed on drop.
pub struct SystemUser {
    pub name: String,
}

impl SystemUser {
    pub fn create(prefix: &str) -> SystemUser {
        let name = format!("{prefix}{}n{}", std::process::id(), unique());
        // useradd locks the account files; another test may hold them.
        for _ in 0..50 {
            let made = Command::new("useradd")
                .args(["--system", "-M", "-s", "/usr/sbin/nologin", &name])
                .status()
                .is_ok_and(|s| s.success());
            if made {
                return SystemUser { name };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("useradd --system {name} failed");
    }
}

impl Drop for SystemUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}
