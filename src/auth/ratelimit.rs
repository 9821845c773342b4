//! Failed-login limiting, per user name and per client address: after
//! `max_failures` failures inside `window`, further password attempts for
//! that user (or from that address) are refused without asking the
//! authentication mechanism, until the oldest failure leaves the window.
//! A successful login clears the user's record.

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Limits for one kind of key.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max_failures: usize,
    pub window: Duration,
}

/// Tracked keys at most per kind; beyond this the oldest records are dropped.
const MAX_KEYS: usize = 100_000;

#[derive(Default)]
struct Failures {
    map: HashMap<String, VecDeque<Instant>>,
}

impl Failures {
    fn blocked_for(&mut self, key: &str, limit: Limit, now: Instant) -> Option<Duration> {
        let q = self.map.get_mut(key)?;
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= limit.window)
        {
            q.pop_front();
        }
        if q.is_empty() {
            self.map.remove(key);
            return None;
        }
        (q.len() >= limit.max_failures).then(|| limit.window - now.duration_since(q[0]))
    }

    fn record(&mut self, key: &str, limit: Limit, now: Instant) {
        if self.map.len() >= MAX_KEYS {
            self.map.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < limit.window)
            });
        }
        let q = self.map.entry(key.to_string()).or_default();
        q.push_back(now);
        while q.len() > limit.max_failures {
            q.pop_front();
        }
    }
}

pub struct RateLimiter {
    per_user: Limit,
    per_client: Limit,
    users: Mutex<Failures>,
    clients: Mutex<Failures>,
}

impl RateLimiter {
    pub fn new(per_user: Limit, per_client: Limit) -> Self {
        Self {
            per_user,
            per_client,
            users: Mutex::default(),
            clients: Mutex::default(),
        }
    }

    /// How long `user` from `client` must wait, if they are blocked now.
    pub fn blocked_for(&self, user: &str, client: &str) -> Option<Duration> {
        let now = Instant::now();
        let u = self.users.lock().blocked_for(user, self.per_user, now);
        let c = self
            .clients
            .lock()
            .blocked_for(client, self.per_client, now);
        u.into_iter().chain(c).max()
    }

    pub fn failure(&self, user: &str, client: &str) {
        let now = Instant::now();
        self.users.lock().record(user, self.per_user, now);
        self.clients.lock().record(client, self.per_client, now);
    }

    /// How long attempts from `client` must wait, if the address is blocked
    /// now, whatever the user (authid cookie attempts check this alone).
    pub fn client_blocked_for(&self, client: &str) -> Option<Duration> {
        self.clients
            .lock()
            .blocked_for(client, self.per_client, Instant::now())
    }

    /// A failure counted against `client` only (an unknown authid cookie).
    pub fn client_failure(&self, client: &str) {
        self.clients
            .lock()
            .record(client, self.per_client, Instant::now());
    }

    pub fn success(&self, user: &str) {
        self.users.lock().map.remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_limit_per_user_and_client() {
        let l = RateLimiter::new(
            Limit {
                max_failures: 2,
                window: Duration::from_secs(60),
            },
            Limit {
                max_failures: 3,
                window: Duration::from_secs(60),
            },
        );
        assert!(l.blocked_for("u", "a").is_none());
        l.failure("u", "a");
        assert!(l.blocked_for("u", "a").is_none());
        l.failure("u", "a");
        assert!(l.blocked_for("u", "b").is_some(), "user limit");
        assert!(l.blocked_for("v", "b").is_none());
        l.failure("v", "a");
        assert!(l.blocked_for("w", "a").is_some(), "client limit");
        l.success("u");
        assert!(l.blocked_for("u", "b").is_none());
    }

    #[test]
    fn window_expires() {
        let l = RateLimiter::new(
            Limit {
                max_failures: 1,
                window: Duration::from_millis(10),
            },
            Limit {
                max_failures: 10,
                window: Duration::from_millis(10),
            },
        );
        l.failure("u", "a");
        assert!(l.blocked_for("u", "a").is_some());
        std::thread::sleep(Duration::from_millis(15));
        assert!(l.blocked_for("u", "a").is_none());
    }
}
