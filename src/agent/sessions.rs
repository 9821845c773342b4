//! The session collector: every session of this server, as x2goserver's own
//! `x2golistsessions_root NAME` prints it (run as root). The tool is the
//! source: nothing of X2Go's bookkeeping is re-implemented here (the tool
//! also turns R into S for sessions whose agent state says suspended).
//!
//! A malformed line is skipped and logged (its number and why, never its
//! content, which holds a cookie); the other lines still count. A line for
//! another server is skipped too: the tool filters by server, and the agent
//! reports only its own.

use super::session::{ParseError, Session};
use super::tools::{self, ToolError, Tools};

/// A line of the tool's output that is not a session of this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLine {
    /// 1-based line number in the tool's output.
    pub line: usize,
    pub reason: SkipReason,
}

/// Why a line was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    #[error("malformed session line: {0}")]
    Malformed(#[from] ParseError),
    #[error("session of another server ({0})")]
    OtherServer(String),
}

/// What one listing found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// In the tool's order.
    pub sessions: Vec<Session>,
    pub skipped: Vec<SkippedLine>,
}

/// Run `x2golistsessions_root hostname` and parse its output.
pub async fn list(tools: &Tools, hostname: &str) -> Result<Listing, ToolError> {
    let mut cmd = tokio::process::Command::new(&tools.list_sessions_root);
    cmd.arg(hostname);
    let output = tools::run(cmd, &tools.list_sessions_root, tools.timeout).await?;
    let listing = parse(&String::from_utf8_lossy(&output.stdout), hostname);
    for s in &listing.skipped {
        tracing::warn!(
            tool = %tools.list_sessions_root.display(),
            line = s.line,
            "skipped: {}",
            s.reason
        );
    }
    Ok(listing)
}

/// The sessions of server `hostname` in a listing's text; blank lines are
/// ignored, other lines that are not such sessions are skipped.
pub fn parse(text: &str, hostname: &str) -> Listing {
    let mut listing = Listing::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let reason = match Session::parse(line) {
            Ok(s) if s.server == hostname => {
                listing.sessions.push(s);
                continue;
            }
            Ok(s) => SkipReason::OtherServer(s.server),
            Err(e) => SkipReason::Malformed(e),
        };
        listing.skipped.push(SkippedLine {
            line: i + 1,
            reason,
        });
    }
    listing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::session::SessionStatus;
    use crate::agent::testing::script;

    fn line(sid: &str, server: &str, status: &str) -> String {
        format!("1|{sid}|50|{server}|{status}|2026-01-01T00:00:00|c|127.0.0.1|1|2|2026-01-01T00:00:00|alice|3|4|-1|-1")
    }

    #[test]
    fn a_bad_line_does_not_spoil_the_list() {
        let text = [
            line("a-50-1700000000_stDX_dp24", "x2go1", "S"),
            "garbage".to_string(),
            String::new(),
            line("b-51-1700000000_stDX_dp24", "x2go2", "R"),
            line("c-52-1700000000_stDX_dp24", "x2go1", "R"),
        ]
        .join("\n");
        let l = parse(&text, "x2go1");
        let ids: Vec<_> = l.sessions.iter().map(|s| s.session_id.as_str()).collect();
        assert_eq!(
            ids,
            ["a-50-1700000000_stDX_dp24", "c-52-1700000000_stDX_dp24"]
        );
        assert_eq!(l.sessions[0].status, SessionStatus::Suspended);
        assert_eq!(
            l.skipped,
            vec![
                SkippedLine {
                    line: 2,
                    reason: SkipReason::Malformed(ParseError::FieldCount { found: 1 })
                },
                SkippedLine {
                    line: 4,
                    reason: SkipReason::OtherServer("x2go2".into())
                },
            ]
        );
    }

    #[test]
    fn nothing_listed_is_an_empty_list() {
        assert_eq!(parse("", "x2go1"), Listing::default());
    }

    #[tokio::test]
    async fn the_tool_gets_the_hostname_and_its_failure_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let echo = line("a-50-1700000000_stDX_dp24", "$1", "S");
        let fake = script(
            dir.path(),
            "x2golistsessions_root",
            &format!("echo \"{echo}\""),
        );
        let tools = Tools {
            list_sessions_root: fake,
            ..Tools::default()
        };
        let l = list(&tools, "x2go9").await.unwrap();
        assert_eq!(l.sessions.len(), 1);
        assert_eq!(l.sessions[0].server, "x2go9");

        let fake = script(dir.path(), "failing", "echo 'no database' >&2\nexit 1");
        let tools = Tools {
            list_sessions_root: fake,
            ..Tools::default()
        };
        let err = list(&tools, "x2go9").await.unwrap_err();
        assert!(err.to_string().contains("no database"), "{err}");
    }
}
