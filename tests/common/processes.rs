//! The processes under test: our broker (`x2gobroker serve`) on sockets the
//! test bound and handed down, and the reference daemon (`x2gobroker -M
//! HTTP`) on a port it chose itself. Each runs with its log in a file of the
//! site and is killed when its `Running` handle drops.

use super::http::{get_within, post_form, request, Reply};
use super::site::Site;
use super::sockets::{addr_of, inherit, listening_port, loopback};
use super::unique;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The reference broker's entry point, when installed.
pub const REFERENCE: &str = "/usr/bin/x2gobroker";

pub fn reference_installed() -> bool {
    Path::new(REFERENCE).exists()
}

/// Our broker's binary.
pub fn ours_bin() -> &'static str {
    env!("CARGO_BIN_EXE_x2gobroker")
}

/// `x2gobroker keygen --out OUT ARGS...`, which must succeed (the CA in
/// `out` is reused when present).
pub fn ours_keygen(out: &Path, args: &[&str]) {
    let done = Command::new(ours_bin())
        .args(["keygen", "--out"])
        .arg(out)
        .args(args)
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "keygen: {}",
        String::from_utf8_lossy(&done.stderr)
    );
}

/// How long a process may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running broker process, killed on drop.
pub struct Running {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// SIGTERM, and wait (at most `within`) for the process to exit; its status.
    pub fn terminate(mut self, within: Duration) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {within:?} after SIGTERM: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn post(&self, path: &str, body: &str) -> Reply {
        post_form(self.addr, path, body)
    }

    pub fn get(&self, path: &str) -> Reply {
        request(self.addr, "GET", path, &[], b"")
    }

    /// Panic with the log when the process has exited.
    fn check_alive(&mut self, what: &str) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{what} exited early ({status}): {}", self.log_text());
        }
    }

    /// Wait until our broker answers `/healthz` (its inherited socket
    /// accepts connections before it runs, so connecting proves nothing).
    pub fn wait_ready(&mut self) {
        let addr = self.addr;
        if !wait_healthy(addr, || self.check_alive("broker")) {
            panic!("broker did not answer on {addr}: {}", self.log_text());
        }
    }
}

/// Poll our broker's `/healthz` on `addr` until it answers 200 (true) or
/// the start timeout passes (false), calling `check_alive` (which panics
/// when the process is gone) between attempts.
pub fn wait_healthy(addr: SocketAddr, mut check_alive: impl FnMut()) -> bool {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        let probe = get_within(
            addr,
            "/healthz",
            Duration::from_millis(200),
            Duration::from_secs(2),
        );
        if probe.is_ok_and(|r| r.status == 200) {
            return true;
        }
        check_alive();
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Spawn `cmd` with stdout and stderr in `log`.
pub fn spawn_logged(cmd: &mut Command, log: &Path, what: &str) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(std::fs::OpenOptions::new().append(true).open(log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"))
}

/// Start our broker (the executable `bin`) `serve --config toml [args]`
/// with `env` on its node file's sockets `listeners` (TCP and UDP; answering HTTP on
/// `http`), logging to `log` with `rust_log` (None: the broker's default filter).
#[allow(clippy::too_many_arguments)]
pub fn start_node(
    bin: &Path,
    toml: &Path,
    args: &[&str],
    env: &[(String, String)],
    rust_log: Option<&str>,
    listeners: Vec<OwnedFd>,
    http: SocketAddr,
    log: PathBuf,
) -> Running {
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--config"])
        .arg(toml)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)));
    match rust_log {
        Some(filter) => cmd.env("RUST_LOG", filter),
        None => cmd.env_remove("RUST_LOG"),
    };
    inherit(&mut cmd, &listeners);
    let child = spawn_logged(&mut cmd, &log, "a cluster node");
    drop(listeners);
    let mut running = Running {
        child,
        addr: http,
        log,
    };
    running.wait_ready();
    running
}

/// Our broker, single node, with everything a test may vary.
pub struct Ours<'a> {
    site: &'a Site,
    data_dir: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    listeners: Vec<(String, TcpListener)>,
    udp: Vec<UdpSocket>,
}

impl<'a> Ours<'a> {
    /// Our broker on `site`'s files, state in the site's `data`, plain HTTP on a fresh port.
    pub fn new(site: &'a Site) -> Self {
        Ours {
            site,
            data_dir: site.path("data"),
            args: Vec::new(),
            env: Vec::new(),
            listeners: Vec::new(),
            udp: Vec::new(),
        }
    }

    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = dir.to_path_buf();
        self
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// Mutual TLS as node 1 of the cluster whose certificates `keygen` wrote
    /// to `pki` (what the agent gateway needs on a single node).
    pub fn node1_identity(self, pki: &Path) -> Self {
        let p = |f: &str| pki.join(f).display().to_string();
        self.args(&[
            "--cluster-ca",
            &p("ca.pem"),
            "--node-cert",
            &p("node1.pem"),
            "--node-key",
            &p("node1-key.pem"),
        ])
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// One more listener, named on the command line as `flag <its address>` (`--grpc`, `--https`).
    pub fn listen(mut self, flag: &str, listener: TcpListener) -> Self {
        self.listeners.push((flag.into(), listener));
        self
    }

    /// One more UDP socket to inherit, named by no flag: the QUIC socket at
    /// an `--agents` listener's address (see `sockets::loopback_pair`).
    pub fn udp(mut self, socket: UdpSocket) -> Self {
        self.udp.push(socket);
        self
    }

    /// Start it and wait until it answers.
    pub fn start(self) -> Running {
        let http = loopback();
        let addr = addr_of(&http);
        let log = self.site.path(&format!("ours-{}.log", unique()));
        let mut cmd = Command::new(ours_bin());
        cmd.args(["serve", "--x2gobroker-conf"])
            .arg(self.site.conf())
            .arg("--session-profiles")
            .arg(self.site.profiles())
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--http", &addr.to_string()]);
        let mut sockets: Vec<OwnedFd> = vec![http.into()];
        for (flag, listener) in self.listeners {
            cmd.args([flag, addr_of(&listener).to_string()]);
            sockets.push(listener.into());
        }
        sockets.extend(self.udp.into_iter().map(OwnedFd::from));
        cmd.args(&self.args)
            .env("RUST_LOG", "x2gobroker=debug")
            .envs(self.env);
        inherit(&mut cmd, &sockets);
        let child = spawn_logged(&mut cmd, &log, "our broker");
        drop(sockets);
        let mut running = Running { child, addr, log };
        running.wait_ready();
        running
    }
}

/// Start our broker on a fresh loopback port with `extra` arguments.
pub fn start_ours(site: &Site, extra: &[&str]) -> Running {
    Ours::new(site).args(extra).start()
}

/// Start our broker with its state in `data_dir`.
pub fn start_ours_in(site: &Site, data_dir: &Path, extra: &[&str]) -> Running {
    Ours::new(site).data_dir(data_dir).args(extra).start()
}

/// Start the reference daemon (`x2gobroker -M HTTP`) on a loopback port of
/// its choosing: it binds port 0 and the port is read from `/proc`, so no
/// other process can take the port between choosing and binding.
pub fn start_reference(site: &Site) -> Running {
    start_reference_with_env(site, &[])
}

/// `start_reference` with more environment variables (e.g. `X2GOBROKER_DAEMON_USER`).
pub fn start_reference_with_env(site: &Site, env: &[(&str, &str)]) -> Running {
    start_reference_cmd(site, env, Command::new("/usr/bin/python3"))
}

/// `start_reference_with_env` with `home` as root's home directory (in a
/// mount namespace of its own): the reference running as root sets
/// `HOME` to root's home and reads its SSH key and known_hosts there.
pub fn start_reference_with_home(site: &Site, env: &[(&str, &str)], home: &Path) -> Running {
    start_reference_cmd(site, env, python_with_root_home(home))
}

/// `python3 ARGS...` (the arguments to be added) run as root whose home
/// directory is `home`, in a mount namespace of its own (`home` bound over
/// `/root`): the reference's programs take root's home from the password
/// database and read the broker's SSH key and known_hosts there.
pub fn python_with_root_home(home: &Path) -> Command {
    with_bind_mount(home, "/root", "/usr/bin/python3")
}

/// `program ARGS...` (the arguments to be added) in a mount namespace of
/// its own where `source` is bound over `target`.
pub fn with_bind_mount(source: &Path, target: &str, program: &str) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--",
        "sh",
        "-c",
        &format!("mount --bind \"$0\" {target} && exec {program} \"$@\""),
    ])
    .arg(source);
    cmd
}

/// The reference daemon started by `cmd` (python3 or a wrapper that execs it).
fn start_reference_cmd(site: &Site, env: &[(&str, &str)], mut cmd: Command) -> Running {
    assert!(
        reference_installed(),
        "needs the reference broker ({REFERENCE}, Debian x2gobroker-daemon)"
    );
    let log = site.path(&format!("reference-{}.log", unique()));
    cmd.arg(REFERENCE)
        .args(["-M", "HTTP", "-C"])
        .arg(site.conf())
        .args(["-b", "127.0.0.1:0"])
        .env("X2GOBROKER_SESSIONPROFILES", site.profiles())
        .env("LOGNAME", "root")
        .env("HOME", site.dir.path())
        .envs(env.iter().copied());
    let child = spawn_logged(&mut cmd, &log, "the reference broker");
    let mut running = Running {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        log,
    };
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if let Some(port) = listening_port(running.child.id()) {
            running.addr.set_port(port);
            return running;
        }
        running.check_alive("the reference broker");
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "the reference broker did not listen: {}",
        running.log_text()
    );
}
