//! Real `x2gobroker-agent run` processes for the end-to-end tests: agent
//! certificates from the site's cluster CA (or enrolled with a join
//! token), one agent per X2Go server name on this machine, killed on drop.

use super::processes::ours_keygen;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// An agent process, killed on drop.
pub struct AgentProcess(pub Child);

impl AgentProcess {
    /// `kill -9`, as a crash.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Agent certificates for `hosts` in `pki` (the CA there is reused).
pub fn keygen_agents(pki: &Path, hosts: &[&str]) {
    ours_keygen(pki, &["--agents", &hosts.join(",")]);
}

/// `x2gobroker-agent run` for server `host` towards `brokers` (in order),
/// listing every 200 ms and reporting the load every second; `extra`
/// flags are appended.
pub fn start_agent(pki: &Path, host: &str, brokers: &[String], extra: &[&str]) -> AgentProcess {
    start_agent_logged(pki, host, brokers, extra, None)
}

/// `start_agent`, its standard error (debug log) into `log` when given.
pub fn start_agent_logged(
    pki: &Path,
    host: &str,
    brokers: &[String],
    extra: &[&str],
    log: Option<&Path>,
) -> AgentProcess {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_x2gobroker-agent"));
    if let Some(log) = log {
        cmd.env("RUST_LOG", "x2gobroker=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap());
    }
    let child = cmd
        .arg("run")
        .arg("--brokers")
        .arg(brokers.join(","))
        .arg("--ca")
        .arg(pki.join("ca.pem"))
        .arg("--cert")
        .arg(pki.join(format!("agent-{host}.pem")))
        .arg("--key")
        .arg(pki.join(format!("agent-{host}-key.pem")))
        .args([
            "--hostname",
            host,
            "--interval-ms",
            "200",
            "--load-every-ms",
            "1000",
        ])
        .args(extra)
        .spawn()
        .unwrap();
    AgentProcess(child)
}

/// `x2gobroker-agent enroll` of server `host` with `token` at the broker
/// `url` (HTTPS verified with `broker_ca`) into `out`: (success, output).
pub fn enroll(url: &str, token: &str, out: &Path, host: &str, broker_ca: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_x2gobroker-agent"))
        .args(["enroll", "--broker", url, "--hostname", host, "--out"])
        .arg(out)
        .arg("--broker-ca")
        .arg(broker_ca)
        .env("X2GOBROKER_JOIN_TOKEN", token)
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

/// Open an agent stream of `host` with the enrolled or generated files in
/// `dir` (`ca.pem`, `agent-HOST.pem`, `agent-HOST-key.pem`) to the gateway
/// at `addr` over `kind`, saying Hello first.
pub async fn open_stream(
    kind: x2gobroker::agent::transport::TransportKind,
    dir: &Path,
    host: &str,
    addr: std::net::SocketAddr,
) -> Result<
    (
        x2gobroker::agent::transport::CommandStream,
        tokio::sync::mpsc::Sender<x2gobroker::agent::proto::AgentMessage>,
    ),
    String,
> {
    use x2gobroker::agent::proto::{agent_message::Body, AgentMessage, Hello};
    let transport = x2gobroker::agent::transport::Transport::load(
        kind,
        host,
        &dir.join("ca.pem"),
        &dir.join(format!("agent-{host}.pem")),
        &dir.join(format!("agent-{host}-key.pem")),
    )
    .map_err(|e| e.to_string())?;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let hello = Body::Hello(Hello {
        hostname: host.into(),
        version: "test".into(),
        ..Default::default()
    });
    tx.send(AgentMessage { body: Some(hello) }).await.unwrap();
    let stream = transport
        .open(&addr.to_string(), rx)
        .await
        .map_err(|e| e.to_string())?;
    Ok((stream, tx))
}
