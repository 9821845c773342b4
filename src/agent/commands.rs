//! The command executor: what the broker asks of this server, done as the
//! session's user through the X2Go tools, with a typed outcome.
//!
//! Suspend and terminate run `x2gochangestatus S|T SESSION` as the user, as
//! the reference agent does, rather than `x2gosuspend-session` /
//! `x2goterminate-session`. The status in the session database is the
//! request; x2goserver's own `x2gocleansessions` daemon sees it and runs
//! the suspend/terminate scripts (signalling the session's agent, unmounting
//! shares, running the server's extensions) with the session's real
//! state in hand. Calling those scripts directly from the broker's agent
//! would duplicate that work and, for a session whose X2Go agent process
//! is gone, mark it finished (F) instead of suspended. `x2gochangestatus`
//! exits 0 even when it changed nothing (e.g. for another user's session),
//! so the executor lists the sessions again and reports success only when
//! the database shows the new status.
//!
//! Refused, as the reference refuses or beyond it: a session this server's
//! `x2golistsessions_root NAME` does not list (another server's, or none),
//! a user other than the session's, a system user (UID < 1000), and
//! suspending a session that is terminated or finished.

use super::as_user::{self, AsUserError};
use super::authkeys::{self, KeyError, KeyOutcome};
use super::session::{Session, SessionStatus};
use super::sessions::{self, Listing};
use super::tools::{self, ToolError, Tools};
use super::user::SessionUser;
use super::user::{self, UserError};

/// What the broker can ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ping,
    /// Suspend a session; `user` empty means the session's own.
    Suspend {
        session_id: String,
        user: String,
    },
    /// Terminate a session; `user` empty means the session's own.
    Terminate {
        session_id: String,
        user: String,
    },
    AddAuthorizedKey {
        user: String,
        key: String,
        key_file: String,
        /// Remove the line again after this long (only if this added it).
        remove_after: Option<std::time::Duration>,
    },
    DelAuthorizedKey {
        user: String,
        key: String,
        key_file: String,
    },
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pong,
    /// The session has `status` now; `changed` is false when it had it before.
    Status {
        session_id: String,
        status: SessionStatus,
        changed: bool,
    },
    /// Terminated and already gone from the list.
    Gone {
        session_id: String,
    },
    Key(KeyOutcome),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Pong => write!(f, "pong"),
            Outcome::Status {
                session_id,
                status,
                changed: true,
            } => write!(f, "session {session_id} is now {status}"),
            Outcome::Status {
                session_id, status, ..
            } => write!(f, "session {session_id} was {status} already"),
            Outcome::Gone { session_id } => write!(f, "session {session_id} has ended"),
            Outcome::Key(k) => write!(f, "{k}"),
        }
    }
}

/// Why a command was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("session {session_id} is not a session of this server ({hostname})")]
    NotOnThisServer {
        session_id: String,
        hostname: String,
    },
    #[error("session {session_id} belongs to {owner}, not {user}")]
    WrongUser {
        session_id: String,
        owner: String,
        user: String,
    },
    #[error("session {session_id} is {status}: it cannot be suspended")]
    NotLive {
        session_id: String,
        status: SessionStatus,
    },
    #[error(transparent)]
    User(#[from] UserError),
    #[error("listing the sessions: {0}")]
    List(#[source] ToolError),
    #[error("changing the status of session {session_id}: {source}")]
    ChangeStatus {
        session_id: String,
        #[source]
        source: ToolError,
    },
    #[error(transparent)]
    AsUser(#[from] AsUserError),
    #[error("session {session_id} is {} after asking for {wanted}", now.map_or("gone".to_string(), |s| s.to_string()))]
    Unchanged {
        session_id: String,
        wanted: SessionStatus,
        now: Option<SessionStatus>,
    },
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Executes commands for the X2Go server `hostname`.
#[derive(Debug, Clone)]
pub struct Executor {
    hostname: String,
    tools: Tools,
}

impl Executor {
    pub fn new(hostname: impl Into<String>, tools: Tools) -> Executor {
        Executor {
            hostname: hostname.into(),
            tools,
        }
    }

    /// This server's sessions now.
    pub async fn sessions(&self) -> Result<Listing, ToolError> {
        sessions::list(&self.tools, &self.hostname).await
    }

    /// Remove a key this agent added after `after` (the agent owns the
    /// timer: it holds when the broker that asked is gone).
    fn remove_later(
        &self,
        user: SessionUser,
        key: String,
        key_file: String,
        after: std::time::Duration,
    ) {
        let hostname = self.hostname.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            match authkeys::remove(&user, &key, &key_file).await {
                Ok(done) => {
                    tracing::info!(hostname = %hostname, user = %user.name, "temporary autologin key: {done}")
                }
                Err(e) => {
                    tracing::warn!(hostname = %hostname, user = %user.name, "removing a temporary autologin key failed: {e}")
                }
            }
        });
    }

    /// Do what `cmd` asks, or say why not.
    pub async fn execute(&self, cmd: &Command) -> Result<Outcome, CommandError> {
        let outcome = match cmd {
            Command::Ping => Ok(Outcome::Pong),
            Command::Suspend { session_id, user } => {
                self.change(session_id, user, SessionStatus::Suspended)
                    .await
            }
            Command::Terminate { session_id, user } => {
                self.change(session_id, user, SessionStatus::Terminated)
                    .await
            }
            Command::AddAuthorizedKey {
                user,
                key,
                key_file,
                remove_after,
            } => {
                let user = user::regular(user)?;
                let added = authkeys::add(&user, key, key_file).await?;
                if let (KeyOutcome::Added(_), Some(after)) = (&added, remove_after) {
                    self.remove_later(user, key.clone(), key_file.clone(), *after);
                }
                Ok(Outcome::Key(added))
            }
            Command::DelAuthorizedKey {
                user,
                key,
                key_file,
            } => {
                let user = user::regular(user)?;
                Ok(Outcome::Key(authkeys::remove(&user, key, key_file).await?))
            }
        };
        match &outcome {
            Ok(o) => tracing::info!(hostname = %self.hostname, "{o}"),
            Err(e) => tracing::warn!(hostname = %self.hostname, "command refused or failed: {e}"),
        }
        outcome
    }

    /// Ask x2goserver to give a session `wanted` status, as its user.
    async fn change(
        &self,
        session_id: &str,
        user: &str,
        wanted: SessionStatus,
    ) -> Result<Outcome, CommandError> {
        let session =
            self.find(session_id)
                .await?
                .ok_or_else(|| CommandError::NotOnThisServer {
                    session_id: session_id.to_string(),
                    hostname: self.hostname.clone(),
                })?;
        if !user.is_empty() && user != session.user {
            return Err(CommandError::WrongUser {
                session_id: session_id.to_string(),
                owner: session.user,
                user: user.to_string(),
            });
        }
        let owner = user::regular(&session.user)?;
        if session.status == wanted {
            return Ok(Outcome::Status {
                session_id: session_id.to_string(),
                status: wanted,
                changed: false,
            });
        }
        let changeable = match wanted {
            SessionStatus::Suspended => session.status == SessionStatus::Running,
            _ => session.status != SessionStatus::Finished,
        };
        if !changeable {
            return Err(CommandError::NotLive {
                session_id: session_id.to_string(),
                status: session.status,
            });
        }
        let tool = &self.tools.change_status;
        let mut cmd = as_user::command(&owner, tool);
        cmd.arg(wanted.letter().to_string()).arg(session_id);
        tools::run(cmd, tool, self.tools.timeout)
            .await
            .map_err(|source| CommandError::ChangeStatus {
                session_id: session_id.to_string(),
                source,
            })?;
        let now = self.find(session_id).await?.map(|s| s.status);
        match now {
            Some(status) if status == wanted => Ok(Outcome::Status {
                session_id: session_id.to_string(),
                status,
                changed: true,
            }),
            None if wanted == SessionStatus::Terminated => Ok(Outcome::Gone {
                session_id: session_id.to_string(),
            }),
            now => Err(CommandError::Unchanged {
                session_id: session_id.to_string(),
                wanted,
                now,
            }),
        }
    }

    async fn find(&self, session_id: &str) -> Result<Option<Session>, CommandError> {
        let listing = self.sessions().await.map_err(CommandError::List)?;
        Ok(listing
            .sessions
            .into_iter()
            .find(|s| s.session_id == session_id))
    }
}

#[cfg(test)]
#[path = "commands_tests.rs"]
mod tests;
