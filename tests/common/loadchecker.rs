//! The reference's load checker daemon (`x2gobroker-loadchecker`, Debian
//! package x2gobroker-loadchecker) on a test site: in the foreground
//! (`-i`, its log on standard error, in a file of the site), its socket in
//! a temporary directory of its own, root's home being the site directory
//! (where the broker's SSH key and known_hosts are), as the reference
//! broker started by `start_reference_with_home` sees it. The reference
//! broker finds it by `X2GOBROKER_LOADCHECKER_SOCKET` (`socket_env`).
//! Killed on drop.

use super::processes::{python_with_root_home, spawn_logged};
use super::site::Site;
use super::unique;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

pub const LOADCHECKER: &str = "/usr/sbin/x2gobroker-loadchecker";

/// The running daemon, killed on drop.
pub struct RefLoadChecker {
    child: Child,
    pub log: PathBuf,
    pub socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for RefLoadChecker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RefLoadChecker {
    /// The daemon on `site`'s files, logging in to the servers as `agent_user`.
    pub fn start(site: &Site, agent_user: &str) -> RefLoadChecker {
        assert!(
            Path::new(LOADCHECKER).exists(),
            "needs the reference's load checker ({LOADCHECKER}, Debian x2gobroker-loadchecker)"
        );
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("loadchecker.socket");
        let log = site.path(&format!("loadchecker-{}.log", unique()));
        let mut cmd = python_with_root_home(site.dir.path());
        cmd.arg(LOADCHECKER)
            .arg("-i")
            .arg("-s")
            .arg(&socket)
            .env("X2GOBROKER_CONFIG", site.conf())
            .env("X2GOBROKER_SESSIONPROFILES", site.profiles())
            .env("X2GOBROKER_LOADCHECKER_SOCKET", &socket)
            .env("X2GOBROKER_AGENT_USER", agent_user)
            .env("LOGNAME", "root");
        let child = spawn_logged(&mut cmd, &log, "the reference's load checker");
        RefLoadChecker {
            child,
            log,
            socket,
            _dir: dir,
        }
    }

    /// The variable that points the reference broker at this daemon.
    pub fn socket_env(&self) -> (&'static str, &str) {
        (
            "X2GOBROKER_LOADCHECKER_SOCKET",
            self.socket.to_str().unwrap(),
        )
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What the daemon knows of `profile` (backend `inifile`), as the
    /// reference broker asks it (`inifile\rPROFILE\r\n`): host -> load
    /// factor or failure word (`HOST-UNREACHABLE`, ...). None while the
    /// socket does not answer.
    pub fn factors(&self, profile: &str) -> Option<BTreeMap<String, String>> {
        let mut s = UnixStream::connect(&self.socket).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(format!("inifile\r{profile}\r\n").as_bytes())
            .ok()?;
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        while !answer.ends_with(b"\n") {
            let n = s.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
        Some(
            String::from_utf8_lossy(&answer)
                .lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(h, f)| (h.to_string(), f.to_string()))
                .collect(),
        )
    }

    /// Wait (at most `timeout`) until `profile`'s factors satisfy `good`;
    /// they then.
    pub fn wait_for(
        &mut self,
        profile: &str,
        timeout: Duration,
        good: impl Fn(&BTreeMap<String, String>) -> bool,
    ) -> BTreeMap<String, String> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the load checker exited ({status}): {}", self.log_text());
            }
            if let Some(factors) = self.factors(profile) {
                if good(&factors) {
                    return factors;
                }
                last = Some(factors);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "the load checker's factors of {profile} stayed {last:?}: {}",
            self.log_text()
        );
    }
}

/// A load factor as a number, when it is one.
pub fn factor(factors: &BTreeMap<String, String>, host: &str) -> Option<i64> {
    factors.get(host)?.parse().ok()
}
