//! `x2gobroker-agent status`: what the agent would report right now (its
//! host name, this server's sessions as `x2golistsessions_root` lists them,
//! the load metrics from /proc and the load factor), as text or JSON. The
//! session cookies are left out of both.

use super::hostname::HostnameError;
use super::load::{self, LoadError, LoadMetrics};
use super::session::Session;
use super::sessions;
use super::tools::{ToolError, Tools};
use serde::Serialize;
use std::fmt::Write;

/// One look at this server.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub hostname: String,
    pub sessions: Vec<Session>,
    /// Lines of the tool's output that were not this server's sessions.
    pub skipped_lines: usize,
    pub load: LoadMetrics,
    pub load_factor: u64,
}

/// The status could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(transparent)]
    Hostname(#[from] HostnameError),
    #[error("listing the sessions: {0}")]
    Sessions(#[from] ToolError),
    #[error("reading the load: {0}")]
    Load(#[from] LoadError),
}

/// Look at server `hostname` now.
pub async fn gather(hostname: &str, tools: &Tools) -> Result<Status, StatusError> {
    let listing = sessions::list(tools, hostname).await?;
    let load = load::read()?;
    Ok(Status {
        hostname: hostname.to_string(),
        sessions: listing.sessions,
        skipped_lines: listing.skipped.len(),
        load_factor: load::load_factor(&load),
        load,
    })
}

impl Status {
    /// Pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // A derived Serialize of strings and numbers cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// For people.
    pub fn to_text(&self) -> String {
        let m = &self.load;
        let mut out = String::new();
        let _ = writeln!(out, "hostname:    {}", self.hostname);
        let _ = writeln!(
            out,
            "load:        loadavgXX:{} memAvail:{} myMemAvail:{} numCPU:{} typeCPU:{}",
            m.loadavg_xx, m.mem_avail, m.my_mem_avail, m.num_cpu, m.cpu_mhz
        );
        let _ = writeln!(out, "load factor: {}", self.load_factor);
        let _ = writeln!(out, "sessions:    {}", self.sessions.len());
        if !self.sessions.is_empty() {
            let _ = writeln!(
                out,
                "  {:<6} {:<16} {:>7} {:<15} {:<19} SESSION",
                "STATUS", "USER", "DISPLAY", "CLIENT", "STARTED"
            );
        }
        for s in &self.sessions {
            let _ = writeln!(
                out,
                "  {:<6} {:<16} {:>7} {:<15} {:<19} {}",
                s.status, s.user, s.display, s.client, s.init_time, s.session_id
            );
        }
        if self.skipped_lines > 0 {
            let _ = writeln!(
                out,
                "skipped:     {} line(s), see the log",
                self.skipped_lines
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::testing::{LOAD, SESSION_LINE};

    fn status() -> Status {
        Status {
            hostname: "x2go1".into(),
            sessions: vec![Session::parse(SESSION_LINE).unwrap()],
            skipped_lines: 1,
            load: LOAD,
            load_factor: 52873,
        }
    }

    #[test]
    fn text_shows_sessions_and_load_but_no_cookie() {
        let text = status().to_text();
        assert!(text.contains("hostname:    x2go1"), "{text}");
        assert!(
            text.contains("loadavgXX:236 memAvail:24024 myMemAvail:24223 numCPU:2 typeCPU:2597")
        );
        assert!(text.contains("load factor: 52873"));
        assert!(text.contains("alice-50-1795995008_stDXFCE_dp24"));
        assert!(text.contains("skipped:     1 line(s)"));
        assert!(!text.contains("cookie123"));
    }

    #[test]
    fn json_has_the_same_without_the_cookie() {
        let json = status().to_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["hostname"], "x2go1");
        assert_eq!(
            v["sessions"][0]["session_id"],
            "alice-50-1795995008_stDXFCE_dp24"
        );
        assert_eq!(v["sessions"][0]["status"], "S");
        assert_eq!(v["load"]["loadavg_xx"], 236);
        assert_eq!(v["load_factor"], 52873);
        assert!(!json.contains("cookie123"));
    }
}
