//! The `x2gobroker-agent` command line: argument parsing and dispatch only.
//! `status` shows what the agent sees; `run` streams it to the brokers
//! over gRPC or QUIC (`--transport`); `enroll` trades a join token for
//! this server's agent certificate (`crate::enroll::client`); `simulate`
//! plays many X2Go servers against the brokers (load tests, `simulate/`).

use super::config::{ConfigError, RunSettings};
use super::hostname;
use super::run::{self as agent_run, RunError};
use super::simulate::{self, transport::TransportChoice, SimConfig, SimError};
use super::status::{self, StatusError};
use super::tools::Tools;
use super::transport::TransportKind;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "x2gobroker-agent",
    version,
    about = "The x2gobroker agent of an X2Go server: its sessions and load"
)]
pub struct AgentCli {
    #[command(subcommand)]
    pub command: AgentCommand,
    /// Log lines as text or as one JSON object each (for log shippers).
    #[arg(long, global = true, value_enum, default_value_t)]
    pub log_format: crate::logging::LogFormat,
}

#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// What the agent sees now: host name, sessions (from
    /// x2golistsessions_root), load metrics and load factor (from /proc).
    Status {
        /// This server's name as its sessions record it (default: /etc/hostname).
        #[arg(long)]
        hostname: Option<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Connect out to a broker (gRPC or QUIC, mutual TLS from the cluster
    /// CA) and stream this server's sessions, changes and load; execute
    /// its commands.
    Run(RunArgs),
    /// Play N X2Go servers with M sessions between them against the
    /// brokers (load tests): each speaks the agent protocol with its own
    /// agent certificate, made in memory from the cluster CA and its key.
    Simulate(SimulateArgs),
    /// Make this server's key pair and get its agent certificate from a
    /// broker with a join token (`x2gobrokerctl agent-token`): writes
    /// ca.pem, agent-HOST.pem and agent-HOST-key.pem (0600) into --out.
    Enroll(EnrollArgs),
}

/// `simulate`'s flags.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Broker agent gateway addresses; server i starts at address i % count.
    #[arg(
        long,
        value_delimiter = ',',
        required = true,
        value_name = "ADDR[,ADDR...]"
    )]
    pub brokers: Vec<String>,
    /// The cluster CA certificate.
    #[arg(long, value_name = "CA.pem")]
    pub ca: PathBuf,
    /// The cluster CA's private key (the servers' certificates are made from it, in memory).
    #[arg(long, value_name = "CA-KEY.pem")]
    pub ca_key: PathBuf,
    /// Simulated X2Go servers.
    #[arg(long)]
    pub servers: usize,
    /// Sessions of all servers together, spread evenly.
    #[arg(long)]
    pub sessions: usize,
    /// How often each server reports its load.
    #[arg(long, default_value_t = 2000)]
    pub load_every_ms: u64,
    /// How often each server changes one session (a status flip, or one ending and one starting).
    #[arg(long, default_value_t = 10_000)]
    pub change_every_ms: u64,
    /// Servers are named PREFIX00000, PREFIX00001, ...
    #[arg(long, default_value = "sim")]
    pub name_prefix: String,
    /// How the servers reach the brokers: all over gRPC, all over QUIC, or
    /// mixed (even-numbered servers gRPC, odd ones QUIC).
    #[arg(long, value_enum, default_value_t = TransportChoice::Grpc)]
    pub transport: TransportChoice,
    /// Stop after this many seconds (default: at SIGINT or SIGTERM).
    #[arg(long)]
    pub duration_s: Option<u64>,
    /// Write the totals as JSON to this file at the end.
    #[arg(long, value_name = "FILE")]
    pub stats_json: Option<PathBuf>,
}

impl SimulateArgs {
    pub fn config(self) -> SimConfig {
        SimConfig {
            brokers: self.brokers,
            ca: self.ca,
            ca_key: self.ca_key,
            servers: self.servers,
            sessions: self.sessions,
            load_every: Duration::from_millis(self.load_every_ms),
            change_every: Duration::from_millis(self.change_every_ms),
            name_prefix: self.name_prefix,
            transport: self.transport,
            duration: self.duration_s.map(Duration::from_secs),
            stats_json: self.stats_json,
        }
    }
}

/// `enroll`'s flags.
#[derive(clap::Args, Debug)]
pub struct EnrollArgs {
    /// The broker's HTTPS URL, e.g. https://broker.example:443/.
    #[arg(long, value_name = "URL")]
    pub broker: String,
    /// The join token (or the environment variable, which `ps` does not show).
    #[arg(long, env = "X2GOBROKER_JOIN_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Where to write the files.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// This server's name (default: /etc/hostname).
    #[arg(long)]
    pub hostname: Option<String>,
    /// The CA to verify the broker's HTTPS certificate with (default: the system's CA store).
    #[arg(long, value_name = "CA.pem")]
    pub broker_ca: Option<PathBuf>,
}

/// `run`'s flags; each given one wins over the `--config` file's key of the
/// same name.
#[derive(clap::Args, Debug, Default)]
pub struct RunArgs {
    /// A TOML file with the same settings (keys `brokers` (a list),
    /// `transport`, `ca`, `cert`, `key`, `hostname`, `interval-ms`,
    /// `load-every-ms`, `load-factor`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Broker agent gateway addresses, tried in turn.
    #[arg(long, value_delimiter = ',', value_name = "ADDR[,ADDR...]")]
    pub brokers: Option<Vec<String>>,
    /// gRPC over TCP (default) or QUIC over UDP, at the same gateway
    /// addresses.
    #[arg(long, value_enum)]
    pub transport: Option<TransportKind>,
    /// The cluster CA certificate.
    #[arg(long, value_name = "CA.pem")]
    pub ca: Option<PathBuf>,
    /// This agent's certificate (`x2gobroker keygen --agents HOST`).
    #[arg(long, value_name = "AGENT.pem")]
    pub cert: Option<PathBuf>,
    /// Its private key.
    #[arg(long, value_name = "AGENT-KEY.pem")]
    pub key: Option<PathBuf>,
    /// This server's name as its sessions record it (default: /etc/hostname).
    #[arg(long)]
    pub hostname: Option<String>,
    /// How often to list the sessions and send what changed (default 1000).
    #[arg(long)]
    pub interval_ms: Option<u64>,
    /// How often to report the load (default 5000).
    #[arg(long)]
    pub load_every_ms: Option<u64>,
    /// Report this load factor instead of the measured one (higher is less
    /// loaded; for tests and demonstrations of load balancing).
    #[arg(long, value_name = "N")]
    pub load_factor: Option<u64>,
}

impl RunArgs {
    /// The settings: the flags over the `--config` file.
    pub fn settings(self) -> Result<RunSettings, ConfigError> {
        let file = match &self.config {
            Some(path) => RunSettings::from_file(path)?,
            None => RunSettings::default(),
        };
        let flags = RunSettings {
            brokers: self.brokers,
            transport: self.transport,
            ca: self.ca,
            cert: self.cert,
            key: self.key,
            hostname: self.hostname,
            interval_ms: self.interval_ms,
            load_every_ms: self.load_every_ms,
            load_factor: self.load_factor,
        };
        Ok(flags.over(file))
    }
}

/// A subcommand failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Status(#[from] StatusError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Simulate(#[from] SimError),
    #[error(transparent)]
    Enroll(#[from] crate::enroll::client::ClientError),
}

impl AgentCli {
    /// Whether the subcommand wants a runtime with a thread per core (the
    /// simulator's thousands of connections); the agent itself needs one thread.
    pub fn wants_threads(&self) -> bool {
        matches!(self.command, AgentCommand::Simulate(_))
    }

    /// Run the subcommand; the answer is what to print.
    pub async fn run(self) -> Result<String, AgentError> {
        match self.command {
            AgentCommand::Status { hostname, json } => {
                let name = hostname::resolve(hostname.as_deref()).map_err(StatusError::from)?;
                let status = status::gather(&name, &Tools::default()).await?;
                Ok(if json {
                    status.to_json()
                } else {
                    status.to_text()
                })
            }
            AgentCommand::Run(args) => {
                let config = args.settings()?.resolve()?;
                match agent_run::run(config).await? {}
            }
            AgentCommand::Simulate(args) => {
                let totals = simulate::run(args.config()).await?;
                Ok(totals.line(None))
            }
            AgentCommand::Enroll(args) => enroll(args).await,
        }
    }
}

/// `enroll`: the files written, and how to run the agent with them.
async fn enroll(args: EnrollArgs) -> Result<String, AgentError> {
    use crate::enroll::client::{self, EnrollOptions};
    let hostname = hostname::resolve(args.hostname.as_deref()).map_err(StatusError::from)?;
    let opts = EnrollOptions {
        broker: args.broker,
        token: args.token,
        out: args.out,
        hostname,
        broker_ca: args.broker_ca,
    };
    let done = client::enroll(&opts).await?;
    Ok(format!(
        "enrolled {} (certificate serial {}, SHA-256 {})\n{}\n{}\n{}\nrun: x2gobroker-agent run --hostname {} --ca {} --cert {} --key {} --brokers ADDR[,ADDR...]\n",
        done.hostname,
        done.serial,
        done.fingerprint,
        done.ca.display(),
        done.cert.display(),
        done.key.display(),
        done.hostname,
        done.ca.display(),
        done.cert.display(),
        done.key.display(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_options_parse() {
        let cli = AgentCli::try_parse_from([
            "x2gobroker-agent",
            "status",
            "--json",
            "--hostname",
            "x2go1",
        ])
        .unwrap();
        match cli.command {
            AgentCommand::Status { hostname, json } => {
                assert_eq!(hostname.as_deref(), Some("x2go1"));
                assert!(json);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn run_options_parse_and_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agent.toml");
        std::fs::write(
            &file,
            "brokers = [\"10.0.0.9:7001\"]\nca = \"/f/ca.pem\"\ncert = \"/f/a.pem\"\n\
             key = \"/f/a-key.pem\"\nload-every-ms = 2000\n",
        )
        .unwrap();
        let cli = AgentCli::try_parse_from([
            "x2gobroker-agent",
            "run",
            "--config",
            file.to_str().unwrap(),
            "--brokers",
            "127.0.0.1:7001,127.0.0.2:7001",
            "--key",
            "/flag/key.pem",
            "--interval-ms",
            "250",
            "--transport",
            "quic",
        ])
        .unwrap();
        let AgentCommand::Run(args) = cli.command else {
            panic!("not run");
        };
        let c = args.settings().unwrap().resolve().unwrap();
        assert_eq!(c.brokers, vec!["127.0.0.1:7001", "127.0.0.2:7001"]);
        assert_eq!(c.ca, PathBuf::from("/f/ca.pem"));
        assert_eq!(c.key, PathBuf::from("/flag/key.pem"));
        assert_eq!(c.interval, std::time::Duration::from_millis(250));
        assert_eq!(c.load_every, std::time::Duration::from_millis(2000));
        assert_eq!(c.transport, TransportKind::Quic);
        assert!(
            AgentCli::try_parse_from(["x2gobroker-agent", "run", "--transport", "tcp"]).is_err()
        );
    }

    #[test]
    fn simulate_options_parse_with_defaults() {
        let cli = AgentCli::try_parse_from([
            "x2gobroker-agent",
            "simulate",
            "--brokers",
            "127.0.0.1:7001,127.0.0.1:7002",
            "--ca",
            "ca.pem",
            "--ca-key",
            "ca-key.pem",
            "--servers",
            "20",
            "--sessions",
            "100",
            "--duration-s",
            "30",
        ])
        .unwrap();
        assert!(cli.wants_threads());
        let AgentCommand::Simulate(args) = cli.command else {
            panic!("not simulate");
        };
        let c = args.config();
        assert_eq!(c.brokers.len(), 2);
        assert_eq!((c.servers, c.sessions), (20, 100));
        assert_eq!(c.load_every, Duration::from_millis(2000));
        assert_eq!(c.change_every, Duration::from_millis(10_000));
        assert_eq!(
            (c.name_prefix.as_str(), c.transport),
            ("sim", TransportChoice::Grpc)
        );
        assert_eq!(c.duration, Some(Duration::from_secs(30)));
        // The agent's transports, or both; the CA key is required.
        let base = [
            "x2gobroker-agent",
            "simulate",
            "--brokers",
            "a:1",
            "--ca",
            "c",
        ];
        let more = ["--servers", "1", "--sessions", "1"];
        let with = |extra: &[&str]| {
            let args: Vec<&str> = base.iter().chain(&more).chain(extra).copied().collect();
            AgentCli::try_parse_from(args)
        };
        for t in ["grpc", "quic", "mixed"] {
            assert!(with(&["--ca-key", "k", "--transport", t]).is_ok(), "{t}");
        }
        assert!(with(&["--ca-key", "k", "--transport", "tcp"]).is_err());
        assert!(with(&[]).is_err());
    }

    #[test]
    fn enroll_options_parse() {
        let cli = AgentCli::try_parse_from([
            "x2gobroker-agent",
            "enroll",
            "--broker",
            "https://127.0.0.1:8443/",
            "--token",
            "x2gbat_t",
            "--out",
            "/tmp/pki",
            "--hostname",
            "x2go1",
        ])
        .unwrap();
        let AgentCommand::Enroll(args) = cli.command else {
            panic!("not enroll");
        };
        assert_eq!(args.hostname.as_deref(), Some("x2go1"));
        assert_eq!(args.broker_ca, None);
    }

    #[tokio::test]
    async fn run_without_brokers_is_refused() {
        let cli = AgentCli::try_parse_from(["x2gobroker-agent", "run"]).unwrap();
        let err = cli.run().await.unwrap_err();
        assert!(err.to_string().contains("no broker address"), "{err}");
    }

    #[tokio::test]
    async fn a_bad_hostname_is_refused_before_any_tool_runs() {
        let cli =
            AgentCli::try_parse_from(["x2gobroker-agent", "status", "--hostname=--all-servers"])
                .unwrap();
        let err = cli.run().await.unwrap_err();
        assert!(err.to_string().contains("not a host name"), "{err}");
    }
}
