//! The replicated server table: per X2Go server (by the hostname its
//! agent's certificate names) the last report time, the latest load, the
//! node its agent is connected to, the drained flag and whether it is up;
//! the `AgentReports` and `ServersDown` commands that change it (their
//! session part is in `sessions`).

use super::command::{AgentReport, Millis};
use super::pairs::{self, Write};
use super::State;
use serde::{Deserialize, Serialize};

/// An agent's latest load report (the reference's `checkload` metrics and
/// its load factor: higher is less loaded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadRecord {
    pub loadavg_xx: u64,
    pub mem_avail: u64,
    pub num_cpu: u32,
    pub cpu_mhz: u64,
    pub load_factor: u64,
    /// When the agent measured it (its clock).
    pub measured_at: Millis,
}

/// What the cluster knows of one X2Go server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerRecord {
    /// When the last report was stamped by the node that received it.
    pub last_report: Millis,
    #[serde(default)]
    pub load: Option<LoadRecord>,
    /// The node the agent reported through last.
    pub node: u64,
    #[serde(default)]
    pub drained: bool,
    /// False once its reports stopped for the timeout (`ServersDown`).
    pub up: bool,
}

impl State {
    /// Every known server by hostname.
    pub fn servers(&self) -> impl Iterator<Item = (&String, &ServerRecord)> {
        self.servers.iter()
    }

    pub fn server(&self, hostname: &str) -> Option<&ServerRecord> {
        self.servers.get(hostname)
    }

    /// The server a profile host name denotes, with its hostname: the same
    /// name, else the same short name (a profile may name `x2go1.example`
    /// for the agent's `x2go1`, or the other way round), as the
    /// reference's host name matching; None when no agent reported it.
    pub fn server_for(&self, name: &str) -> Option<(&str, &ServerRecord)> {
        if let Some((h, r)) = self.servers.get_key_value(name) {
            return Some((h.as_str(), r));
        }
        if name.parse::<std::net::IpAddr>().is_ok() {
            return None;
        }
        let short = name.split_once('.').map_or(name, |(s, _)| s);
        if short != name {
            return self
                .servers
                .get_key_value(short)
                .map(|(h, r)| (h.as_str(), r));
        }
        let prefix = format!("{short}.");
        let mut longer = self
            .servers
            .range(prefix.clone()..)
            .take_while(|(h, _)| h.starts_with(&prefix));
        match (longer.next(), longer.next()) {
            (Some((h, r)), None) => Some((h.as_str(), r)),
            _ => None,
        }
    }

    /// How many servers are known, and how many of them are up.
    pub fn server_counts(&self) -> (usize, usize) {
        let up = self.servers.values().filter(|s| s.up).count();
        (self.servers.len(), up)
    }

    /// Record one batch of agent reports received by `node` at `at`.
    pub(super) fn agent_reports(
        &mut self,
        node: u64,
        at: Millis,
        reports: &[AgentReport],
        writes: &mut Vec<Write>,
    ) {
        for report in reports {
            let host = &report.hostname;
            let old = self.servers.get(host);
            let rec = ServerRecord {
                last_report: at,
                load: report
                    .load
                    .clone()
                    .or_else(|| old.and_then(|o| o.load.clone())),
                node,
                drained: old.is_some_and(|o| o.drained),
                up: true,
            };
            writes.push(pairs::server_put(host, &rec));
            self.servers.insert(host.clone(), rec);
            if let Some(change) = &report.sessions {
                self.change_sessions(host, change, writes);
            }
        }
    }

    /// Mark down every up server whose last report is more than
    /// `timeout_ms` before `at`.
    pub(super) fn servers_down(&mut self, at: Millis, timeout_ms: Millis, writes: &mut Vec<Write>) {
        for (host, rec) in self.servers.iter_mut() {
            if rec.up && at.saturating_sub(rec.last_report) > timeout_ms {
                rec.up = false;
                writes.push(pairs::server_put(host, rec));
            }
        }
    }

    /// Set a known server's drained flag; false for an unknown server.
    pub(super) fn set_drained(
        &mut self,
        hostname: &str,
        drained: bool,
        writes: &mut Vec<Write>,
    ) -> bool {
        match self.servers.get_mut(hostname) {
            Some(rec) => {
                rec.drained = drained;
                writes.push(pairs::server_put(hostname, rec));
                true
            }
            None => false,
        }
    }
}
