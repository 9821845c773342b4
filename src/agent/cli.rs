//! The `x2gobroker-agent` command line: argument parsing and dispatch only.
//! `status` shows what the agent sees; `run` streams it to the brokers
//! over gRPC; `simulate` plays many X2Go servers against the brokers
//! (load tests, `simulate/`).

use super::config::{ConfigError, RunSettings};
use super::hostname;
use super::run::{self as agent_run, RunError};
use super::simulate::{self, transport::TransportKind, SimConfig, SimError};
use super::status::{self, StatusError};
use super::tools::Tools;
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
    /// Connect out to a broker (mutual TLS from the cluster CA) and stream
    /// this server's sessions, changes and load; execute its commands.
    Run(RunArgs),
    /// Play N X2Go servers with M sessions between them against the
    /// brokers (load tests): each speaks the agent protocol with its own
    /// agent certificate, made in memory from the cluster CA and its key.
    Simulate(SimulateArgs),
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
    /// How the servers reach the brokers.
    #[arg(long, value_enum, default_value_t = TransportKind::Grpc)]
    pub transport: TransportKind,
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

/// `run`'s flags; each given one wins over the `--config` file's key of the
/// same name.
#[derive(clap::Args, Debug, Default)]
pub struct RunArgs {
    /// A TOML file with the same settings (keys `brokers` (a list), `ca`,
    /// `cert`, `key`, `hostname`, `interval-ms`, `load-every-ms`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Broker agent gateway addresses, tried in turn.
    #[arg(long, value_delimiter = ',', value_name = "ADDR[,ADDR...]")]
    pub brokers: Option<Vec<String>>,
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
            ca: self.ca,
            cert: self.cert,
            key: self.key,
            hostname: self.hostname,
            interval_ms: self.interval_ms,
            load_every_ms: self.load_every_ms,
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
        }
    }
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
        // QUIC is not in this increment: the flag is not accepted at all.
        assert!(
            AgentCli::try_parse_from(["x2gobroker-agent", "run", "--transport", "grpc"]).is_err()
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
            ("sim", TransportKind::Grpc)
        );
        assert_eq!(c.duration, Some(Duration::from_secs(30)));
        // Only gRPC for now; the CA key is required.
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
        assert!(with(&["--ca-key", "k", "--transport", "grpc"]).is_ok());
        assert!(with(&["--ca-key", "k", "--transport", "quic"]).is_err());
        assert!(with(&[]).is_err());
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
