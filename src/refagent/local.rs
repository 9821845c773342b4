//! The reference's agent on this host (query mode `LOCAL`): run
//! `/usr/lib/x2go/x2gobroker-agent USER TASK [ARGS]` as the reference does
//! (no shell), within a timeout; an answer whose first line is `OK` carries
//! its non-empty lines, anything else is a failure. Tasks used:
//! `listsessions` (the user's sessions on every server of the shared
//! session database) and `suspendsession SID`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// Where Debian's `x2gobroker-agent` package installs the agent.
pub const AGENT: &str = "/usr/lib/x2go/x2gobroker-agent";
/// How long one call may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A call of the reference's agent failed.
#[derive(Debug, thiserror::Error)]
pub enum RefAgentError {
    #[error("{0:?} is not a user name the agent may be asked about")]
    BadUser(String),
    #[error("{0:?} is not a session id")]
    BadSession(String),
    #[error("running {agent}: {source}")]
    Run {
        agent: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{agent} did not answer within {TIMEOUT:?}")]
    Timeout { agent: String },
    #[error("{agent} {task} failed: {said}")]
    Failed {
        agent: String,
        task: &'static str,
        said: String,
    },
}

/// The agent on this host.
#[derive(Debug, Clone)]
pub struct LocalAgent {
    path: PathBuf,
}

impl Default for LocalAgent {
    fn default() -> Self {
        LocalAgent {
            path: PathBuf::from(AGENT),
        }
    }
}

/// A name safe to hand the agent as an argument (it is not an option and
/// holds nothing a shell or the agent's `sudo` would read specially).
fn plain_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

impl LocalAgent {
    /// `user`'s running and suspended (and other non-finished) sessions, one
    /// `x2golistsessions` line each.
    pub async fn list_sessions(&self, user: &str) -> Result<Vec<String>, RefAgentError> {
        self.call(user, "listsessions", &[]).await
    }

    /// Ask x2goserver to suspend `session` of `user` (`x2gochangestatus S`).
    pub async fn suspend(&self, user: &str, session: &str) -> Result<(), RefAgentError> {
        if !plain_word(session) {
            return Err(RefAgentError::BadSession(session.to_string()));
        }
        self.call(user, "suspendsession", &[session])
            .await
            .map(|_| ())
    }

    async fn call(
        &self,
        user: &str,
        task: &'static str,
        args: &[&str],
    ) -> Result<Vec<String>, RefAgentError> {
        if !plain_word(user) {
            return Err(RefAgentError::BadUser(user.to_string()));
        }
        let agent = self.path.display().to_string();
        let child = tokio::process::Command::new(&self.path)
            .arg(user)
            .arg(task)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| RefAgentError::Run {
                agent: agent.clone(),
                source,
            })?;
        let out = tokio::time::timeout(TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| RefAgentError::Timeout {
                agent: agent.clone(),
            })?
            .map_err(|source| RefAgentError::Run {
                agent: agent.clone(),
                source,
            })?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut lines = stdout.lines();
        match lines.next() {
            Some(first) if first.starts_with("OK") => Ok(lines
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()),
            _ => Err(RefAgentError::Failed {
                agent,
                task,
                said: crate::logsafe::escaped(String::from_utf8_lossy(&out.stderr).trim())
                    .to_string()
                    .chars()
                    .take(200)
                    .collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(script: &str) -> (tempfile::TempDir, LocalAgent) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, LocalAgent { path })
    }

    #[tokio::test]
    async fn ok_answers_carry_their_lines_and_anything_else_fails() {
        let (_d, a) = agent("echo OK; echo \"$1|$2|$3\"; echo");
        assert_eq!(
            a.list_sessions("alice").await.unwrap(),
            vec!["alice|listsessions|".to_string()]
        );
        let (_d, a) = agent("echo 'no such user' >&2; exit 2");
        let e = a.list_sessions("alice").await.unwrap_err();
        assert!(e.to_string().contains("no such user"), "{e}");
        for user in ["-x", "a b", "", "a;b"] {
            assert!(matches!(
                a.list_sessions(user).await,
                Err(RefAgentError::BadUser(_))
            ));
        }
        assert!(matches!(
            a.suspend("alice", "--all").await,
            Err(RefAgentError::BadSession(_))
        ));
    }
}
