//! One simulated X2Go server's sessions and load, and how they evolve:
//! realistic 16-field `x2golistsessions_root` lines of users `simuserN`, a
//! change at a time (a status flip R <-> S, or one session ending and a new
//! one starting, so the count stays), the broker's commands applied to
//! them, and the machine's load. Pure: the time and the randomness come in,
//! so a seeded `Rng` replays a server exactly.

use super::hardware::{Hardware, Machine};
use super::rng::{x2go_time, Rng};
use crate::agent::authkeys::KeyOutcome;
use crate::agent::commands::{Command, CommandError, Outcome};
use crate::agent::load::LoadMetrics;
use crate::agent::session::{Session, SessionStatus};
use crate::agent::watch::Changes;
use std::path::PathBuf;

/// The lowest X display x2goserver hands out.
const FIRST_DISPLAY: u32 = 50;
/// x2goserver's first port for a session's channels (graphics, sound, fs).
const FIRST_PORT: i32 = 30001;
const LAST_PORT: i32 = 39999;
/// A change is a status flip with this probability, else an end and a start.
const FLIP_SHARE: f64 = 0.7;
/// Initial sessions are up to this old (s).
const MAX_INITIAL_AGE: u64 = 8 * 3600;

/// One simulated server's sessions (in listing order) and machine.
#[derive(Debug, Clone)]
pub struct ServerModel {
    hostname: String,
    /// User names are `simuser{0..users}`.
    users: u64,
    sessions: Vec<Session>,
    /// When each session (same index) started, Unix seconds.
    born: Vec<i64>,
    machine: Machine,
    next_pid: u32,
    next_port: i32,
}

impl ServerModel {
    /// Server `hostname` with `count` sessions at `now` (Unix seconds), of
    /// users `simuser{first_user}`, `simuser{first_user + 1}`, ... (modulo
    /// `users`), running or suspended, started up to 8 hours ago.
    pub fn new(
        hostname: &str,
        count: usize,
        first_user: u64,
        users: u64,
        rng: &mut Rng,
        now: i64,
    ) -> ServerModel {
        let mut model = ServerModel {
            hostname: hostname.to_string(),
            users: users.max(1),
            sessions: Vec::with_capacity(count),
            born: Vec::with_capacity(count),
            machine: Machine::new(Hardware::random(rng)),
            next_pid: 1000 + rng.below(30_000) as u32,
            next_port: FIRST_PORT + rng.below(1000) as i32 * 3,
        };
        for k in 0..count as u64 {
            let born = now - rng.below(MAX_INITIAL_AGE) as i64;
            let status = if rng.chance(0.4) {
                SessionStatus::Running
            } else {
                SessionStatus::Suspended
            };
            let user = (first_user + k) % model.users;
            model.start(rng, user, born, now, status);
        }
        model
    }

    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    pub fn hardware(&self) -> Hardware {
        self.machine.hardware
    }

    /// The sessions as last changed (ages as of their last change).
    pub fn sessions(&self) -> &[Session] {
        &self.sessions
    }

    /// The sessions as listed at `now` (ages brought up to date), for a full list.
    pub fn listing(&mut self, now: i64) -> &[Session] {
        for (s, born) in self.sessions.iter_mut().zip(&self.born) {
            s.age_secs = now - born;
            s.raw_line = s.to_line();
        }
        &self.sessions
    }

    /// The machine's load now.
    pub fn load(&mut self, rng: &mut Rng) -> LoadMetrics {
        let running = self.count(SessionStatus::Running);
        let suspended = self.count(SessionStatus::Suspended);
        self.machine.measure(rng, running, suspended)
    }

    fn count(&self, status: SessionStatus) -> usize {
        self.sessions.iter().filter(|s| s.status == status).count()
    }

    /// One change at `now`: a session's status flips (a user suspends or
    /// resumes), or a session ends and another starts. Nothing without sessions.
    pub fn churn(&mut self, rng: &mut Rng, now: i64) -> Changes {
        let mut changes = Changes::default();
        if self.sessions.is_empty() {
            return changes;
        }
        let i = rng.below(self.sessions.len() as u64) as usize;
        if rng.chance(FLIP_SHARE) {
            let to = match self.sessions[i].status {
                SessionStatus::Running => SessionStatus::Suspended,
                _ => SessionStatus::Running,
            };
            if to == SessionStatus::Running {
                // Resumed, maybe from another client.
                self.sessions[i].client = client_address(rng);
            }
            changes.changed.push(self.set_status(i, to, now));
        } else {
            let user = rng.below(self.users);
            // The new one first, so that it cannot take the old one's display.
            changes
                .added
                .push(self.start(rng, user, now, now, SessionStatus::Running));
            changes.removed.push(self.end(i).session_id);
        }
        changes
    }

    /// Do what the broker asks (no disk, no processes): suspend and
    /// terminate change the session as x2goserver would, checked like the
    /// real agent checks them; key commands succeed. The outcome, and what
    /// changed in the session list.
    pub fn execute(&mut self, cmd: &Command, now: i64) -> (Result<Outcome, CommandError>, Changes) {
        let mut changes = Changes::default();
        let result = match cmd {
            Command::Ping => Ok(Outcome::Pong),
            Command::Suspend { session_id, user } => self.find(session_id, user).and_then(|i| {
                let status = self.sessions[i].status;
                match status {
                    SessionStatus::Suspended => Ok(Outcome::Status {
                        session_id: session_id.clone(),
                        status,
                        changed: false,
                    }),
                    SessionStatus::Running => {
                        let s = self.set_status(i, SessionStatus::Suspended, now);
                        changes.changed.push(s);
                        Ok(Outcome::Status {
                            session_id: session_id.clone(),
                            status: SessionStatus::Suspended,
                            changed: true,
                        })
                    }
                    _ => Err(CommandError::NotLive {
                        session_id: session_id.clone(),
                        status,
                    }),
                }
            }),
            Command::Terminate { session_id, user } => self.find(session_id, user).map(|i| {
                changes.removed.push(self.end(i).session_id);
                Outcome::Gone {
                    session_id: session_id.clone(),
                }
            }),
            Command::AddAuthorizedKey { user, key_file, .. } => {
                Ok(Outcome::Key(KeyOutcome::Added(key_path(user, key_file))))
            }
            Command::DelAuthorizedKey { user, key_file, .. } => {
                Ok(Outcome::Key(KeyOutcome::Removed(key_path(user, key_file))))
            }
        };
        (result, changes)
    }

    /// The index of session `id`, if it is this server's and `user`'s
    /// (empty: anyone's).
    fn find(&self, id: &str, user: &str) -> Result<usize, CommandError> {
        let i = self
            .sessions
            .iter()
            .position(|s| s.session_id == id)
            .ok_or_else(|| CommandError::NotOnThisServer {
                session_id: id.to_string(),
                hostname: self.hostname.clone(),
            })?;
        let owner = &self.sessions[i].user;
        if !user.is_empty() && user != owner {
            return Err(CommandError::WrongUser {
                session_id: id.to_string(),
                owner: owner.clone(),
                user: user.to_string(),
            });
        }
        Ok(i)
    }

    /// Session `i` now has `status`; the session as it is now.
    fn set_status(&mut self, i: usize, status: SessionStatus, now: i64) -> Session {
        let s = &mut self.sessions[i];
        s.status = status;
        s.last_time = x2go_time(now);
        s.age_secs = now - self.born[i];
        s.raw_line = s.to_line();
        s.clone()
    }

    /// Start a session of `simuser{user}` that began at `born`; a copy of it.
    fn start(
        &mut self,
        rng: &mut Rng,
        user: u64,
        born: i64,
        now: i64,
        status: SessionStatus,
    ) -> Session {
        let display = self.free_display();
        let user = format!("simuser{user}");
        let port = self.next_port;
        self.next_port = if port + 3 > LAST_PORT - 2 {
            FIRST_PORT
        } else {
            port + 3
        };
        self.next_pid += 1 + rng.below(50) as u32;
        let mut s = Session {
            agent_pid: Some(self.next_pid),
            session_id: format!("{user}-{display}-{born}_stDXFCE_dp24"),
            display,
            server: self.hostname.clone(),
            status,
            init_time: x2go_time(born),
            cookie: format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64()),
            client: client_address(rng),
            graphics_port: Some(port),
            sound_port: Some(port + 1),
            last_time: x2go_time(now),
            user,
            age_secs: now - born,
            fs_port: Some(port + 2),
            tekictrl_port: Some(-1),
            tekidata_port: Some(-1),
            raw_line: String::new(),
        };
        s.raw_line = s.to_line();
        self.sessions.push(s.clone());
        self.born.push(born);
        s
    }

    /// Remove session `i`; the session removed.
    fn end(&mut self, i: usize) -> Session {
        self.born.remove(i);
        self.sessions.remove(i)
    }

    /// The lowest display from 50 up that no session of this server has.
    fn free_display(&self) -> u32 {
        (FIRST_DISPLAY..)
            .find(|d| self.sessions.iter().all(|s| s.display != *d))
            .unwrap_or(FIRST_DISPLAY)
    }
}

/// An X2Go client's address in a private network.
fn client_address(rng: &mut Rng) -> String {
    format!(
        "10.{}.{}.{}",
        rng.below(256),
        rng.below(256),
        1 + rng.below(254)
    )
}

/// Where a real agent would have put the key (nothing is written).
fn key_path(user: &str, key_file: &str) -> PathBuf {
    match key_file {
        "" => PathBuf::from(format!("/home/{user}/.x2go/authorized_keys")),
        f if f.starts_with('/') => PathBuf::from(f),
        f => PathBuf::from(format!("/home/{user}/{f}")),
    }
}

#[cfg(test)]
#[path = "churn_tests.rs"]
mod tests;
