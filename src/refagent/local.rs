//! The reference's agent on this host (query mode `LOCAL`): run
//! `/usr/lib/x2go/x2gobroker-agent USER TASK [ARGS]` as the reference does
//! (no shell), within a timeout; an answer whose first line is `OK` carries
//! its non-empty lines, anything else is a failure (`answer`). The tasks
//! are asked through `RefAgent`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use super::answer::parse;
use super::RefAgentError;

/// Where Debian's `x2gobroker-agent` package installs the agent.
pub const AGENT: &str = "/usr/lib/x2go/x2gobroker-agent";
/// How long one call may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

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

impl LocalAgent {
    /// The agent at `path` (another than Debian's).
    pub fn at(path: &std::path::Path) -> Self {
        LocalAgent {
            path: path.to_path_buf(),
        }
    }

    /// Run `task` for `user` with `args` (both checked by the caller); its data lines.
    pub(super) async fn call(
        &self,
        user: &str,
        task: &'static str,
        args: &[&str],
    ) -> Result<Vec<String>, RefAgentError> {
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
                timeout: TIMEOUT,
            })?
            .map_err(|source| RefAgentError::Run {
                agent: agent.clone(),
                source,
            })?;
        parse(&agent, task, &out.stdout, &out.stderr)
    }
}
