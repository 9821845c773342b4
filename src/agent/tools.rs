//! Where x2goserver's tools are and how the agent runs them: with a time
//! limit, killed when it passes, failing on a non-zero exit with the tool's
//! own error output as the reason.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

/// The X2Go server tools the agent uses (Debian's `x2goserver` paths by
/// default).
#[derive(Debug, Clone)]
pub struct Tools {
    /// Lists every session of one server, as root.
    pub list_sessions_root: PathBuf,
    /// Changes a session's status in the session database, as its user.
    pub change_status: PathBuf,
    /// How long one tool may run.
    pub timeout: Duration,
}

impl Default for Tools {
    fn default() -> Tools {
        Tools {
            list_sessions_root: PathBuf::from("/usr/sbin/x2golistsessions_root"),
            change_status: PathBuf::from("/usr/lib/x2go/x2gochangestatus"),
            timeout: Duration::from_secs(10),
        }
    }
}

/// A tool that could not run or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("cannot run {}: {source}", tool.display())]
    Spawn {
        tool: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} did not finish within {after:?}", tool.display())]
    TimedOut { tool: PathBuf, after: Duration },
    #[error("{} failed ({status}): {stderr}", tool.display())]
    Failed {
        tool: PathBuf,
        status: std::process::ExitStatus,
        stderr: String,
    },
}

/// Run `cmd` (for `tool`) to its end within `timeout`; a non-zero exit is
/// an error carrying the first lines of its standard error.
pub async fn run(
    mut cmd: tokio::process::Command,
    tool: &std::path::Path,
    timeout: Duration,
) -> Result<Output, ToolError> {
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
    let output = match tokio::time::timeout(timeout, cmd.output()).await {
        Err(_) => {
            return Err(ToolError::TimedOut {
                tool: tool.to_path_buf(),
                after: timeout,
            })
        }
        Ok(Err(source)) => {
            return Err(ToolError::Spawn {
                tool: tool.to_path_buf(),
                source,
            })
        }
        Ok(Ok(output)) => output,
    };
    if !output.status.success() {
        return Err(ToolError::Failed {
            tool: tool.to_path_buf(),
            status: output.status,
            stderr: first_lines(&String::from_utf8_lossy(&output.stderr)),
        });
    }
    Ok(output)
}

/// At most a few lines of a tool's error output, for messages.
fn first_lines(text: &str) -> String {
    const MAX_LINES: usize = 5;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = lines[..lines.len().min(MAX_LINES)].join(" / ");
    if lines.len() > MAX_LINES {
        out.push_str(" / ...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failing_tool_reports_its_error_output() {
        let mut cmd = tokio::process::Command::new("/bin/sh");
        cmd.args(["-c", "echo first >&2; echo second >&2; exit 3"]);
        let err = run(cmd, std::path::Path::new("/bin/sh"), Duration::from_secs(5))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("first / second"), "{text}");
        assert!(matches!(err, ToolError::Failed { .. }));
    }

    #[tokio::test]
    async fn a_hanging_tool_times_out() {
        let mut cmd = tokio::process::Command::new("/bin/sleep");
        cmd.arg("30");
        let err = run(
            cmd,
            std::path::Path::new("/bin/sleep"),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ToolError::TimedOut { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_missing_tool_cannot_run() {
        let tool = std::path::Path::new("/nonexistent/x2gotool");
        let err = run(
            tokio::process::Command::new(tool),
            tool,
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x2gotool"), "{err}");
    }
}
