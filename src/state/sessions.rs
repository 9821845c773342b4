//! The replicated session table: per X2Go server, the sessions of its
//! agent's latest full list with the later deltas applied (id, user,
//! status letter and the raw `x2golistsessions` line). A full list
//! replaces everything known of that server.

use super::command::SessionChange;
use super::pairs::{self, Write};
use super::State;
use serde::{Deserialize, Serialize};

/// One session of an X2Go server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: String,
    pub user: String,
    /// x2goserver's status letter: R, S, T or F.
    pub status: char,
    /// The 16-field line as the agent listed it (holds the session's
    /// X2Go cookie: never logged).
    pub line: String,
}

impl State {
    /// The sessions of `hostname`, by id.
    pub fn sessions_on<'a>(
        &'a self,
        hostname: &'a str,
    ) -> impl Iterator<Item = &'a SessionRecord> + 'a {
        self.sessions
            .range((hostname.to_string(), String::new())..)
            .take_while(move |((h, _), _)| h == hostname)
            .map(|(_, s)| s)
    }

    /// Every session with its server's hostname.
    pub fn all_sessions(&self) -> impl Iterator<Item = (&str, &SessionRecord)> {
        self.sessions.iter().map(|((h, _), s)| (h.as_str(), s))
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// `user`'s sessions with their servers' hostnames, by hostname and id.
    pub fn sessions_of<'a>(
        &'a self,
        user: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a SessionRecord)> + 'a {
        self.by_user
            .range((user.to_string(), String::new(), String::new())..)
            .take_while(move |(u, _, _)| u == user)
            .filter_map(|(_, host, id)| {
                let rec = self.sessions.get(&(host.clone(), id.clone()))?;
                Some((host.as_str(), rec))
            })
    }

    /// Sessions of `hostname` that are running or suspended.
    pub fn live_sessions_on(&self, hostname: &str) -> u32 {
        self.sessions_on(hostname)
            .filter(|s| matches!(s.status, 'R' | 'S'))
            .count() as u32
    }

    /// Whether `user` has a running or suspended session on `hostname`.
    pub fn has_live_session(&self, user: &str, hostname: &str) -> bool {
        self.sessions_of(user)
            .any(|(h, s)| h == hostname && matches!(s.status, 'R' | 'S'))
    }

    /// Add or replace a session (and its index entry).
    pub(super) fn insert_session(&mut self, key: (String, String), rec: SessionRecord) {
        if let Some(old) = self.sessions.get(&key) {
            self.by_user
                .remove(&(old.user.clone(), key.0.clone(), key.1.clone()));
        }
        self.by_user
            .insert((rec.user.clone(), key.0.clone(), key.1.clone()));
        self.sessions.insert(key, rec);
    }

    /// Apply an agent's full list or delta to `hostname`'s sessions.
    pub(super) fn change_sessions(
        &mut self,
        hostname: &str,
        change: &SessionChange,
        writes: &mut Vec<Write>,
    ) {
        match change {
            SessionChange::Full(list) => {
                let old: Vec<String> = self.sessions_on(hostname).map(|s| s.id.clone()).collect();
                for id in old {
                    if !list.iter().any(|s| s.id == id) {
                        self.del_session(hostname, &id, writes);
                    }
                }
                for s in list {
                    self.put_session(hostname, s, writes);
                }
            }
            SessionChange::Delta { upsert, removed } => {
                for id in removed {
                    self.del_session(hostname, id, writes);
                }
                for s in upsert {
                    self.put_session(hostname, s, writes);
                }
            }
        }
    }

    pub(super) fn put_session(
        &mut self,
        hostname: &str,
        rec: &SessionRecord,
        writes: &mut Vec<Write>,
    ) {
        let key = (hostname.to_string(), rec.id.clone());
        if self.sessions.get(&key) != Some(rec) {
            writes.push(pairs::session_put(hostname, &rec.id, rec));
            self.insert_session(key, rec.clone());
        }
    }

    fn del_session(&mut self, hostname: &str, id: &str, writes: &mut Vec<Write>) {
        if let Some(old) = self
            .sessions
            .remove(&(hostname.to_string(), id.to_string()))
        {
            self.by_user
                .remove(&(old.user, hostname.to_string(), id.to_string()));
            writes.push(pairs::session_delete(hostname, id));
        }
    }
}
