//! Shared helpers for integration tests: free ports, temporary
//! configurations, starting our broker and the reference broker as real
//! processes, and a minimal HTTP/1.1 client.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The reference broker's entry point, when installed.
pub const REFERENCE: &str = "/usr/bin/x2gobroker";

pub fn reference_installed() -> bool {
    Path::new(REFERENCE).exists()
}

/// A temporary directory with the two configuration files.
pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Site {
    /// `conf` is x2gobroker.conf, `profiles` the session profiles file.
    pub fn new(conf: &str, profiles: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Point the pre-shared cookie file into the site so the host's file never matters.
        let conf = if conf.contains("my-cookie-file") {
            conf.to_string()
        } else {
            add_global(
                conf,
                &format!(
                    "my-cookie-file = {}/x2gobroker.authid",
                    dir.path().display()
                ),
            )
        };
        std::fs::write(dir.path().join("x2gobroker.conf"), conf).unwrap();
        std::fs::write(dir.path().join("profiles.conf"), profiles).unwrap();
        Site { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn conf(&self) -> PathBuf {
        self.path("x2gobroker.conf")
    }

    pub fn profiles(&self) -> PathBuf {
        self.path("profiles.conf")
    }
}

/// Insert a line right after `[global]` (adding the section when missing).
pub fn add_global(conf: &str, line: &str) -> String {
    if let Some(pos) = conf.find("[global]") {
        let end = pos + "[global]".len();
        format!("{}\n{}{}", &conf[..end], line, &conf[end..])
    } else {
        format!("[global]\n{line}\n{conf}")
    }
}

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
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn post(&self, path: &str, body: &str) -> Reply {
        request(
            self.addr,
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
    }

    pub fn get(&self, path: &str) -> Reply {
        request(self.addr, "GET", path, &[], b"")
    }
}

pub fn wait_for_port(addr: SocketAddr, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "broker exited early ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "broker did not listen on {addr}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// Our broker's binary.
pub fn ours_bin() -> &'static str {
    env!("CARGO_BIN_EXE_x2gobroker")
}

/// Start our broker on a free loopback port with `extra` arguments.
pub fn start_ours(site: &Site, extra: &[&str]) -> Running {
    start_ours_in(site, &site.path("data"), extra)
}

/// Start our broker with its state in `data_dir`.
pub fn start_ours_in(site: &Site, data_dir: &Path, extra: &[&str]) -> Running {
    start_ours_with(site, data_dir, extra, &[])
}

/// Start our broker with extra environment variables.
pub fn start_ours_with(
    site: &Site,
    data_dir: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Running {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log = site.path(&format!("ours-{port}.log"));
    let mut cmd = Command::new(ours_bin());
    cmd.args(["serve", "--x2gobroker-conf"])
        .arg(site.conf())
        .arg("--session-profiles")
        .arg(site.profiles())
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--http", &addr.to_string()])
        .args(extra)
        .env("RUST_LOG", "x2gobroker=debug")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::OpenOptions::new().append(true).open(&log).unwrap());
    let mut child = cmd.spawn().expect("start our broker");
    wait_for_port(addr, &mut child, &log);
    Running { child, addr, log }
}

/// Start the reference daemon (`x2gobroker -M HTTP`) on a free loopback port.
pub fn start_reference(site: &Site) -> Running {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log = site.path(&format!("reference-{port}.log"));
    let mut child = Command::new("/usr/bin/python3")
        .arg(REFERENCE)
        .args(["-M", "HTTP", "-C"])
        .arg(site.conf())
        .args(["-b", &addr.to_string()])
        .env("X2GOBROKER_SESSIONPROFILES", site.profiles())
        .env("LOGNAME", "root")
        .env("HOME", site.dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::OpenOptions::new().append(true).open(&log).unwrap())
        .spawn()
        .expect("start the reference broker");
    wait_for_port(addr, &mut child, &log);
    Running { child, addr, log }
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    /// The `AUTHID:` cookie of a plain answer.
    pub fn authid(&self) -> Option<String> {
        self.body
            .lines()
            .find_map(|l| l.strip_prefix("AUTHID:"))
            .map(str::to_string)
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    try_request(addr, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} {path} to {addr}: {e}"))
}

/// One HTTP/1.1 request; `Err` when the server cannot be reached or hangs up early.
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if method != "GET" || !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    if !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        return Err(std::io::Error::other("no complete answer"));
    }
    Ok(parse_reply(&raw))
}

/// One HTTP/1.1 form request sent from a chosen loopback source address.
pub fn request_from(source: &str, to: SocketAddr, method: &str, path: &str, body: &str) -> Reply {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let stream = rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(format!("{source}:0").parse().unwrap()).unwrap();
        sock.connect(to).await.unwrap()
    });
    let mut s = stream.into_std().unwrap();
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse_reply(&raw)
}

/// Parse a complete HTTP/1.1 answer (Content-Length or connection close).
pub fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if let Some(len) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        body.truncate(len.1.parse().unwrap());
    }
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    }
}

/// URL-encode form fields.
pub fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            let enc: String = url_encode(v);
            format!("{}={}", url_encode(k), enc)
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

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
        assert!(is_root(), "creating users needs root");
        let name = format!("{prefix}{}", free_port());
        let password = format!("Pw-{}-{}", free_port(), std::process::id());
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
        run(Command::new("useradd").args(["-M", "-s", "/usr/sbin/nologin", &name]));
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

/// A self-signed certificate for 127.0.0.1 and localhost, written as PEM files.
pub fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// One member of a test cluster: its ports and, while it runs, its process.
pub struct ClusterNode {
    pub id: u64,
    pub http: SocketAddr,
    pub raft: SocketAddr,
    pub toml: PathBuf,
    pub running: Option<Running>,
}

impl ClusterNode {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    pub fn post(&self, path: &str, body: &str) -> Reply {
        request(
            self.http,
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
    }

    /// `/status` as JSON (None when the node does not answer).
    pub fn status(&self) -> Option<serde_json::Value> {
        let mut s = TcpStream::connect_timeout(&self.http, Duration::from_millis(300)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(
            format!(
                "GET /status HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.http
            )
            .as_bytes(),
        )
        .ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).ok()?;
        serde_json::from_str(&parse_reply(&raw).body).ok()
    }

    /// Start (or restart) the node's process.
    pub fn start(&mut self, site: &Site) {
        let log = site.path(&format!("node{}-{}.log", self.id, free_port()));
        let child = Command::new(ours_bin())
            .args(["serve", "--config"])
            .arg(&self.toml)
            .env("RUST_LOG", "x2gobroker=debug,openraft=warn")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::OpenOptions::new().append(true).open(&log).unwrap())
            .spawn()
            .expect("start a cluster node");
        let mut running = Running {
            child,
            addr: self.http,
            log,
        };
        wait_for_port(self.http, &mut running.child, &running.log);
        self.running = Some(running);
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut r) = self.running.take() {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}

/// Write `n` node files for one cluster on free loopback ports (state under the site).
pub fn cluster_nodes(site: &Site, n: u64, timing: &str) -> Vec<ClusterNode> {
    cluster_nodes_with(site, n, n, timing)
}

/// Node files for a cluster of `initial` members plus `total - initial` nodes
/// that wait to be added (their files list every node, themselves included).
pub fn cluster_nodes_with(site: &Site, initial: u64, total: u64, timing: &str) -> Vec<ClusterNode> {
    let nodes: Vec<(u64, SocketAddr, SocketAddr)> = (1..=total)
        .map(|id| {
            let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
            let raft: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
            (id, http, raft)
        })
        .collect();
    let members_upto = |last: u64| -> String {
        nodes
            .iter()
            .filter(|(id, _, _)| *id <= last)
            .map(|(id, http, raft)| {
                format!("[[members]]\nid = {id}\nraft = \"{raft}\"\nhttp = \"{http}\"\n\n")
            })
            .collect()
    };
    // Mutual TLS between the nodes, from a CA made for this cluster.
    let pki = site.path("pki");
    let ids: Vec<String> = nodes.iter().map(|(id, _, _)| id.to_string()).collect();
    let out = Command::new(ours_bin())
        .args(["keygen", "--out"])
        .arg(&pki)
        .args(["--nodes", &ids.join(","), "--clients", "admin"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    nodes
        .iter()
        .map(|(id, http, raft)| {
            let toml = site.path(&format!("node{id}.toml"));
            let members = members_upto(if *id <= initial { initial } else { total });
            let text = format!(
                "id = {id}\ndata_dir = \"{}\"\nraft = \"{raft}\"\nhttp = [\"{http}\"]\nx2gobroker_conf = \"{}\"\nsession_profiles = \"{}\"\ncluster_ca = \"{pki}/ca.pem\"\nnode_cert = \"{pki}/node{id}.pem\"\nnode_key = \"{pki}/node{id}-key.pem\"\n\n{members}[timing]\n{timing}\n",
                site.path(&format!("data{id}")).display(),
                site.conf().display(),
                site.profiles().display(),
                pki = pki.display(),
            );
            std::fs::write(&toml, text).unwrap();
            ClusterNode { id: *id, http: *http, raft: *raft, toml, running: None }
        })
        .collect()
}

/// Wait until `f` holds (polling), or panic with `what`.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// The id of the leader all running nodes agree on, if any.
pub fn agreed_leader(nodes: &[ClusterNode]) -> Option<u64> {
    let mut leader = None;
    for n in nodes.iter().filter(|n| n.running.is_some()) {
        let l = n.status()?.get("leader")?.as_u64()?;
        if leader.is_some_and(|x| x != l) {
            return None;
        }
        leader = Some(l);
    }
    leader
}

/// Run `x2gobrokerctl` against `node` with the site's admin certificate: (success, output).
pub fn ctl(site: &Site, node: &ClusterNode, args: &[&str]) -> (bool, String) {
    let pki = site.path("pki");
    let out = Command::new(env!("CARGO_BIN_EXE_x2gobrokerctl"))
        .args(["--node", &node.raft.to_string()])
        .arg("--ca")
        .arg(pki.join("ca.pem"))
        .arg("--cert")
        .arg(pki.join("admin.pem"))
        .arg("--key")
        .arg(pki.join("admin-key.pem"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
