//! A real OpenSSH server for the tests of the reference's SSH agent mode:
//! `sshd -D` with its own configuration and ed25519 host key in a
//! temporary directory, on one port of some loopback addresses, letting
//! in only one user by public key; and that user, the broker's agent
//! account on an X2Go server (a shell, group `x2gobroker` to run the
//! setuid agent wrapper, a home others may enter). Both go away on drop.
//! An sshd may run in a mount namespace of its own with a file of the
//! test bound over `/proc/loadavg`, so that the agent it runs (`checkload`)
//! reports the load the test wrote there, whatever this machine's load.

use super::processes::with_bind_mount;
use super::unique;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The account the broker logs in as, removed on drop.
pub struct AgentAccount {
    pub name: String,
    pub home: PathBuf,
    _dir: tempfile::TempDir,
}

impl AgentAccount {
    pub fn create(prefix: &str) -> AgentAccount {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let name = format!("{prefix}{}n{}", std::process::id(), unique());
        let made = (0..50).any(|_| {
            let ok = Command::new("useradd")
                .args(["-M", "-s", "/bin/sh", "-G", "x2gobroker", "-d"])
                .arg(&home)
                .arg(&name)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                std::thread::sleep(Duration::from_millis(100));
            }
            ok
        });
        assert!(made, "useradd {name}");
        // Not locked ("!"), so sshd lets the key in without PAM.
        let ok = Command::new("usermod")
            .args(["-p", "*", &name])
            .status()
            .unwrap();
        assert!(ok.success());
        let ok = Command::new("chown")
            .arg(format!("{name}:{name}"))
            .arg(&home)
            .status()
            .unwrap();
        assert!(ok.success());
        AgentAccount {
            name,
            home,
            _dir: dir,
        }
    }
}

impl Drop for AgentAccount {
    fn drop(&mut self) {
        // Its logins' processes outlive a killed sshd while the broker keeps
        // its connection ("user ... is currently used by process ..."):
        // end them, and retry while they go.
        let _ = Command::new("pkill")
            .args(["-KILL", "-u", &self.name])
            .status();
        for _ in 0..100 {
            let gone = Command::new("userdel")
                .arg(&self.name)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if gone {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("userdel {} kept failing", self.name);
    }
}

/// A running sshd, killed on drop.
pub struct Sshd {
    pub child: Child,
    pub port: u16,
    /// Its host key as a known_hosts key: `ssh-ed25519 BASE64`.
    pub host_key: String,
    pub log: PathBuf,
    /// The file its processes see as `/proc/loadavg`, when faked.
    pub loadavg: Option<PathBuf>,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // Its connections first (brokers keep theirs open; each is a
        // session of its own, so not in sshd's process group).
        let _ = Command::new("pkill")
            .args(["-KILL", "-P", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh ed25519 key pair at `path` (and `path.pub`); the public line.
pub fn ed25519_key(path: &Path) -> String {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success(), "ssh-keygen");
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Sshd {
    /// sshd on `addresses` (one free port for all), for `user` only, in `dir`.
    pub fn start(dir: &Path, addresses: &[&str], user: &str) -> Sshd {
        Sshd::start_with(dir, addresses, user, None)
    }

    /// `start`, in a mount namespace of its own where `/proc/loadavg` reads
    /// as the file `dir/loadavg`, written with `loadavg` (a line as the
    /// kernel's, e.g. `9.00 9.00 9.00 1/100 1234`).
    pub fn start_with_loadavg(dir: &Path, addresses: &[&str], user: &str, loadavg: &str) -> Sshd {
        let file = dir.join("loadavg");
        std::fs::write(&file, format!("{}\n", loadavg.trim_end())).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        Sshd::start_with(dir, addresses, user, Some(file))
    }

    /// Rewrite the faked `/proc/loadavg` in place: the bind mount shows
    /// the file's inode, so the new text is what the agent reads next.
    pub fn set_loadavg(&self, loadavg: &str) {
        let file = self.loadavg.as_ref().expect("an sshd with a faked loadavg");
        std::fs::write(file, format!("{}\n", loadavg.trim_end())).unwrap();
    }

    fn start_with(dir: &Path, addresses: &[&str], user: &str, loadavg: Option<PathBuf>) -> Sshd {
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = TcpListener::bind((addresses[0], 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let key = dir.join("host_ed25519");
        let host_key = ed25519_key(&key);
        let listen: String = addresses
            .iter()
            .map(|a| format!("ListenAddress {a}\n"))
            .collect();
        let conf = dir.join("sshd_config");
        std::fs::write(
            &conf,
            format!(
                "{listen}HostKey {}\nPidFile {}\nAuthorizedKeysFile .ssh/authorized_keys\n\
                 PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nStrictModes yes\nAllowUsers {user}\nPrintMotd no\nPrintLastLog no\n\
                 AllowTcpForwarding no\nX11Forwarding no\n",
                key.display(),
                dir.join("sshd.pid").display()
            ),
        )
        .unwrap();
        let log = dir.join("sshd.log");
        let mut cmd = match &loadavg {
            None => Command::new("/usr/sbin/sshd"),
            Some(file) => with_bind_mount(file, "/proc/loadavg", "/usr/sbin/sshd"),
        };
        let child = cmd
            .args(["-D", "-e", "-f"])
            .arg(&conf)
            .args(["-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::OpenOptions::new().append(true).open(&log).unwrap())
            .spawn()
            .expect("start sshd");
        let mut sshd = Sshd {
            child,
            port,
            host_key,
            log,
            loadavg,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if addresses.iter().all(|a| banner(a, port)) {
                return sshd;
            }
            if let Ok(Some(status)) = sshd.child.try_wait() {
                panic!("sshd exited ({status}): {}", sshd.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sshd did not answer: {}", sshd.log_text());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many logins sshd accepted so far.
    pub fn logins(&self) -> usize {
        self.log_text().matches("Accepted publickey for ").count()
    }

    /// A known_hosts line naming `addresses` on this port with `key`.
    pub fn known_hosts_line(&self, addresses: &[&str], key: &str) -> String {
        let names: Vec<String> = addresses
            .iter()
            .map(|a| format!("[{a}]:{}", self.port))
            .collect();
        format!("{} {key}\n", names.join(","))
    }
}

/// Whether an SSH server greets on `addr:port`.
fn banner(addr: &str, port: u16) -> bool {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect((addr, port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 8];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"SSH-2.0")
}
