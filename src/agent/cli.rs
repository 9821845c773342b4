//! The `x2gobroker-agent` command line: argument parsing and dispatch only.
//! This increment has `status`; `run` (streaming to the brokers) comes with
//! the transports.

use super::hostname;
use super::status::{self, StatusError};
use super::tools::Tools;
use clap::{Parser, Subcommand};

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
}

/// A subcommand failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Status(#[from] StatusError),
}

impl AgentCli {
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
        }
        assert!(AgentCli::try_parse_from(["x2gobroker-agent", "run"]).is_err());
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
