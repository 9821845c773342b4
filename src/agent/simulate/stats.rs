//! The simulator's counters, shared by every simulated server: connections
//! now, messages sent by kind, reconnects, commands; a one-line summary and
//! the totals as JSON (`--stats-json`).

use parking_lot::Mutex;
use serde::Serialize;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// The counters (all relaxed: they are statistics).
#[derive(Debug, Default)]
pub struct Stats {
    started: AtomicU64,
    connected: AtomicU64,
    sessions: AtomicI64,
    session_lists: AtomicU64,
    session_deltas: AtomicU64,
    load_reports: AtomicU64,
    heartbeats: AtomicU64,
    command_results: AtomicU64,
    other_messages: AtomicU64,
    connects: AtomicU64,
    disconnects: AtomicU64,
    connect_failures: AtomicU64,
    commands: AtomicU64,
    /// The latest reason a connection ended or failed.
    last_error: Mutex<Option<String>>,
}

/// What a message sent was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    SessionList,
    SessionDelta,
    LoadReport,
    Heartbeat,
    CommandResult,
    Other,
}

/// The counters at one moment, as `--stats-json` writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub servers: u64,
    pub started: u64,
    pub connected: u64,
    /// Sessions of all simulated servers (changes only by commands).
    pub sessions: i64,
    pub messages_sent: u64,
    pub session_lists: u64,
    pub session_deltas: u64,
    pub load_reports: u64,
    pub heartbeats: u64,
    pub command_results: u64,
    /// Successful connections (the first ones included).
    pub connects: u64,
    /// Connections that ended, plus attempts that failed: each is followed
    /// by a reconnect.
    pub reconnects: u64,
    pub connect_failures: u64,
    pub commands: u64,
    pub elapsed_ms: u64,
    pub last_error: Option<String>,
}

/// Counts one open connection until dropped.
pub struct Connected(Arc<Stats>);

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.connected.fetch_sub(1, Relaxed);
    }
}

impl Stats {
    pub fn server_started(&self, sessions: usize) {
        self.started.fetch_add(1, Relaxed);
        self.sessions.fetch_add(sessions as i64, Relaxed);
    }

    /// A connection is up; it counts as connected until the guard drops.
    pub fn connected(self: &Arc<Self>) -> Connected {
        self.connects.fetch_add(1, Relaxed);
        self.connected.fetch_add(1, Relaxed);
        Connected(Arc::clone(self))
    }

    /// A connection ended (`was_up`) or could not be made, for `why`.
    pub fn ended(&self, was_up: bool, why: String) {
        let counter = if was_up {
            &self.disconnects
        } else {
            &self.connect_failures
        };
        counter.fetch_add(1, Relaxed);
        *self.last_error.lock() = Some(why);
    }

    pub fn sent(&self, what: Sent) {
        let counter = match what {
            Sent::SessionList => &self.session_lists,
            Sent::SessionDelta => &self.session_deltas,
            Sent::LoadReport => &self.load_reports,
            Sent::Heartbeat => &self.heartbeats,
            Sent::CommandResult => &self.command_results,
            Sent::Other => &self.other_messages,
        };
        counter.fetch_add(1, Relaxed);
    }

    pub fn command(&self) {
        self.commands.fetch_add(1, Relaxed);
    }

    /// Sessions started minus sessions ended.
    pub fn sessions_changed(&self, added: usize, removed: usize) {
        self.sessions
            .fetch_add(added as i64 - removed as i64, Relaxed);
    }

    /// The counters now, for `servers` servers after `elapsed`.
    pub fn totals(&self, servers: u64, elapsed: Duration) -> Totals {
        let get = |c: &AtomicU64| c.load(Relaxed);
        let by_kind = [
            &self.session_lists,
            &self.session_deltas,
            &self.load_reports,
            &self.heartbeats,
            &self.command_results,
            &self.other_messages,
        ];
        let disconnects = get(&self.disconnects);
        let connect_failures = get(&self.connect_failures);
        Totals {
            servers,
            started: get(&self.started),
            connected: get(&self.connected),
            sessions: self.sessions.load(Relaxed),
            messages_sent: by_kind.iter().map(|c| get(c)).sum(),
            session_lists: get(&self.session_lists),
            session_deltas: get(&self.session_deltas),
            load_reports: get(&self.load_reports),
            heartbeats: get(&self.heartbeats),
            command_results: get(&self.command_results),
            connects: get(&self.connects),
            reconnects: disconnects + connect_failures,
            connect_failures,
            commands: get(&self.commands),
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            last_error: self.last_error.lock().clone(),
        }
    }
}

impl Totals {
    /// One line: connected servers, messages (and their rate since
    /// `before`), reconnects and commands.
    pub fn line(&self, before: Option<&Totals>) -> String {
        let rate = before
            .filter(|b| self.elapsed_ms > b.elapsed_ms)
            .map(|b| {
                let secs = (self.elapsed_ms - b.elapsed_ms) as f64 / 1000.0;
                let n = self.messages_sent.saturating_sub(b.messages_sent) as f64;
                format!(" ({:.0}/s)", n / secs)
            })
            .unwrap_or_default();
        let mut line = format!(
            "simulate {:.0}s: {}/{} servers connected ({} started), {} sessions, {} messages sent{rate} \
             ({} lists, {} deltas, {} loads, {} heartbeats), {} reconnects, {} commands",
            self.elapsed_ms as f64 / 1000.0,
            self.connected,
            self.servers,
            self.started,
            self.sessions,
            self.messages_sent,
            self.session_lists,
            self.session_deltas,
            self.load_reports,
            self.heartbeats,
            self.reconnects,
            self.commands,
        );
        let new_trouble = before.is_none_or(|b| b.reconnects != self.reconnects);
        if let (true, Some(e)) = (new_trouble && self.reconnects > 0, &self.last_error) {
            line.push_str(&format!("; last: {e}"));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up_and_connections_count_while_held() {
        let stats = Arc::new(Stats::default());
        stats.server_started(5);
        stats.server_started(5);
        let c = stats.connected();
        stats.sent(Sent::SessionList);
        stats.sent(Sent::LoadReport);
        stats.sent(Sent::LoadReport);
        stats.sessions_changed(1, 2);
        stats.command();
        let t = stats.totals(2, Duration::from_secs(5));
        assert_eq!(
            (
                t.started,
                t.connected,
                t.sessions,
                t.messages_sent,
                t.load_reports,
                t.commands
            ),
            (2, 1, 9, 3, 2, 1)
        );
        drop(c);
        stats.ended(true, "broker 127.0.0.1:1 closed the stream".into());
        stats.ended(false, "connecting: refused".into());
        let later = stats.totals(2, Duration::from_secs(10));
        assert_eq!(
            (later.connected, later.reconnects, later.connect_failures),
            (0, 2, 1)
        );
        let line = later.line(Some(&t));
        assert!(
            line.starts_with("simulate 10s: 0/2 servers connected"),
            "{line}"
        );
        assert!(
            line.contains("(0/s)") && line.contains("2 reconnects"),
            "{line}"
        );
        assert!(line.ends_with("last: connecting: refused"), "{line}");
        let json = serde_json::to_value(&later).unwrap();
        assert_eq!(json["messages_sent"], 3);
        assert_eq!(json["reconnects"], 2);
    }
}
