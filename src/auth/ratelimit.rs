//! Failed-login limiting, per user name and per client address: after
//! `max_failures` failures inside `window`, further password attempts for
//! that user (or from that address) are refused without asking the
//! authentication mechanism, until the oldest failure leaves the window.
//! A successful login clears the user's record.
//!
//! Attempts in flight count: `reserve` checks the limit and, in the same
//! step, counts the attempt as a failure until it is settled, so parallel
//! attempts cannot all pass the check before any failure is recorded. A
//! success takes the attempt back from the client's count (and clears the
//! user's record), an attempt the mechanism never tried (it was too busy)
//! is taken back from both; an attempt never settled (its request was
//! dropped) stays counted as the failure it may have been.
//!
//! The tables are bounded (`MAX_KEYS` per kind, least recently used
//! evicted) with hashed keys, and IPv6 clients are counted per /64, the
//! block one subscriber usually holds.

use super::bounded::BoundedMap;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Limits for one kind of key.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max_failures: usize,
    pub window: Duration,
}

/// Tracked keys at most per kind (user names, client addresses); beyond
/// this the least recently used record is evicted.
pub const MAX_KEYS: usize = 100_000;
/// Reservations held for attempts made on other nodes (on the leader) at most.
pub const MAX_REMOTE: usize = 100_000;

/// An attempt counted against the limits until it is settled.
#[must_use = "an attempt is settled with RateLimiter::settle"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    user: u64,
    client: u64,
    at: Instant,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Settled {
    Failed,
    Succeeded,
    /// The mechanism was not asked (it was busy): the attempt does not count.
    NotTried,
}

/// The failure times of each key of one kind, oldest first.
struct Failures {
    limit: Limit,
    map: BoundedMap<VecDeque<Instant>>,
}

impl Failures {
    fn new(limit: Limit) -> Self {
        Self {
            limit,
            map: BoundedMap::new(MAX_KEYS),
        }
    }

    /// Forget what left the window; how long `key` is blocked at `now`.
    fn blocked_for(&mut self, key: u64, now: Instant) -> Option<Duration> {
        let window = self.limit.window;
        if let Some(cutoff) = now.checked_sub(window) {
            self.map.drop_unused_since(cutoff);
        }
        let q = self.map.get_mut(key)?;
        while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
            q.pop_front();
        }
        if q.is_empty() {
            self.map.remove(key);
            return None;
        }
        (q.len() >= self.limit.max_failures).then(|| window - now.duration_since(q[0]))
    }

    fn record(&mut self, key: u64, now: Instant) {
        let q = self.map.entry(key, now, VecDeque::new);
        q.push_back(now);
        while q.len() > self.limit.max_failures {
            q.pop_front();
        }
    }

    /// Take back the failure counted at `at`, if it is still there.
    fn unrecord(&mut self, key: u64, at: Instant) {
        let Some(q) = self.map.get_mut(key) else {
            return;
        };
        if let Some(i) = q.iter().rposition(|t| *t == at) {
            q.remove(i);
        }
        if q.is_empty() {
            self.map.remove(key);
        }
    }
}

/// The key a client address is counted under: IPv6 addresses by their /64.
fn client_text(client: &str) -> String {
    match client.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => client.to_string(),
    }
}

pub struct RateLimiter {
    users: Mutex<Failures>,
    clients: Mutex<Failures>,
    /// Reservations taken for other nodes' attempts, by attempt id.
    remote: Mutex<BoundedMap<Reservation>>,
    longest_window: Duration,
}

impl RateLimiter {
    pub fn new(per_user: Limit, per_client: Limit) -> Self {
        Self {
            users: Mutex::new(Failures::new(per_user)),
            clients: Mutex::new(Failures::new(per_client)),
            remote: Mutex::new(BoundedMap::new(MAX_REMOTE)),
            longest_window: per_user.window.max(per_client.window),
        }
    }

    fn keys(&self, user: &str, client: &str) -> (u64, u64) {
        let user = self.users.lock().map.key(user);
        let client = self.clients.lock().map.key(&client_text(client));
        (user, client)
    }

    /// How long `user` from `client` must wait, if they are blocked now.
    pub fn blocked_for(&self, user: &str, client: &str) -> Option<Duration> {
        let (u, c) = self.keys(user, client);
        let now = Instant::now();
        let u = self.users.lock().blocked_for(u, now);
        let c = self.clients.lock().blocked_for(c, now);
        u.into_iter().chain(c).max()
    }

    /// Check the limits and count one attempt in the same step: the
    /// reservation, or how long `user` from `client` must wait.
    pub fn reserve(&self, user: &str, client: &str) -> Result<Reservation, Duration> {
        let (u, c) = self.keys(user, client);
        let now = Instant::now();
        let mut users = self.users.lock();
        let mut clients = self.clients.lock();
        let wait = users.blocked_for(u, now).max(clients.blocked_for(c, now));
        if let Some(wait) = wait {
            return Err(wait);
        }
        users.record(u, now);
        clients.record(c, now);
        Ok(Reservation {
            user: u,
            client: c,
            at: now,
        })
    }

    /// The attempt of `reservation` ended with `outcome`.
    pub fn settle(&self, reservation: Reservation, outcome: Settled) {
        let Reservation { user, client, at } = reservation;
        match outcome {
            Settled::Failed => {}
            Settled::Succeeded => {
                self.users.lock().map.remove(user);
                self.clients.lock().unrecord(client, at);
            }
            Settled::NotTried => {
                self.users.lock().unrecord(user, at);
                self.clients.lock().unrecord(client, at);
            }
        }
    }

    /// `reserve` for an attempt another node makes, remembered by its id.
    pub fn reserve_for(&self, attempt: u64, user: &str, client: &str) -> Result<(), Duration> {
        let reservation = self.reserve(user, client)?;
        let now = Instant::now();
        let mut remote = self.remote.lock();
        if let Some(cutoff) = now.checked_sub(self.longest_window) {
            remote.drop_unused_since(cutoff);
        }
        remote.insert(attempt, now, reservation);
        Ok(())
    }

    /// `settle` for an attempt another node made; an attempt not reserved
    /// here (another node led then, or its reservation expired) is counted
    /// as it ended.
    pub fn settle_for(&self, attempt: u64, user: &str, client: &str, outcome: Settled) {
        let reserved = self.remote.lock().remove(attempt);
        match (reserved, outcome) {
            (Some(reservation), _) => self.settle(reservation, outcome),
            (None, Settled::Failed) => self.failure(user, client),
            (None, Settled::Succeeded) => self.success(user),
            (None, Settled::NotTried) => {}
        }
    }

    pub fn failure(&self, user: &str, client: &str) {
        let (u, c) = self.keys(user, client);
        let now = Instant::now();
        self.users.lock().record(u, now);
        self.clients.lock().record(c, now);
    }

    /// How long attempts from `client` must wait, if the address is blocked
    /// now, whatever the user (authid cookie attempts check this alone).
    pub fn client_blocked_for(&self, client: &str) -> Option<Duration> {
        let mut clients = self.clients.lock();
        let key = clients.map.key(&client_text(client));
        clients.blocked_for(key, Instant::now())
    }

    /// A failure counted against `client` only (an unknown authid cookie).
    pub fn client_failure(&self, client: &str) {
        let mut clients = self.clients.lock();
        let key = clients.map.key(&client_text(client));
        clients.record(key, Instant::now());
    }

    pub fn success(&self, user: &str) {
        let mut users = self.users.lock();
        let key = users.map.key(user);
        users.map.remove(key);
    }

    /// How many user and client records are kept.
    pub fn tracked(&self) -> (usize, usize) {
        (self.users.lock().map.len(), self.clients.lock().map.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(user: usize, client: usize, window: Duration) -> RateLimiter {
        RateLimiter::new(
            Limit {
                max_failures: user,
                window,
            },
            Limit {
                max_failures: client,
                window,
            },
        )
    }

    #[test]
    fn blocks_after_limit_per_user_and_client() {
        let l = limiter(2, 3, Duration::from_secs(60));
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
        let l = limiter(1, 10, Duration::from_millis(10));
        l.failure("u", "a");
        assert!(l.blocked_for("u", "a").is_some());
        std::thread::sleep(Duration::from_millis(15));
        assert!(l.blocked_for("u", "a").is_none());
    }

    #[test]
    fn attempts_in_flight_count_against_the_limit() {
        let l = limiter(3, 100, Duration::from_secs(60));
        let held: Vec<_> = (0..3).map(|_| l.reserve("u", "a").unwrap()).collect();
        assert!(l.reserve("u", "b").is_err(), "three attempts in flight");
        // One is given back untried, one succeeds: both free their places.
        l.settle(held[0], Settled::NotTried);
        let again = l.reserve("u", "a").unwrap();
        l.settle(again, Settled::Succeeded);
        assert!(
            l.blocked_for("u", "a").is_none(),
            "a success clears the user"
        );
        l.settle(held[1], Settled::Failed);
        l.settle(held[2], Settled::Failed);
        assert!(l.blocked_for("u", "a").is_none());
    }

    #[test]
    fn a_success_does_not_count_against_the_client() {
        let l = limiter(100, 2, Duration::from_secs(60));
        for user in ["u1", "u2", "u3"] {
            let r = l.reserve(user, "a").unwrap();
            l.settle(r, Settled::Succeeded);
        }
        assert!(l.blocked_for("u4", "a").is_none());
    }

    #[test]
    fn remote_reservations_settle_once() {
        let l = limiter(2, 100, Duration::from_secs(60));
        l.reserve_for(1, "u", "a").unwrap();
        l.reserve_for(2, "u", "b").unwrap();
        assert!(l.reserve_for(3, "u", "c").is_err());
        l.settle_for(1, "u", "a", Settled::NotTried);
        l.settle_for(2, "u", "b", Settled::Failed);
        // Settling again, or an attempt this node never reserved, counts as it ended.
        assert!(l.blocked_for("u", "c").is_none());
        l.settle_for(2, "u", "b", Settled::Failed);
        assert!(l.blocked_for("u", "c").is_some());
        l.settle_for(9, "u", "c", Settled::Succeeded);
        assert!(l.blocked_for("u", "c").is_none());
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let l = limiter(100, 2, Duration::from_secs(60));
        l.failure("u1", "2001:db8:1:2::1");
        l.failure("u2", "2001:db8:1:2:ffff::9");
        assert!(l.blocked_for("u3", "2001:db8:1:2::3").is_some(), "same /64");
        assert!(l.blocked_for("u3", "2001:db8:1:3::1").is_none(), "next /64");
        l.failure("u1", "::ffff:192.0.2.1");
        assert!(
            l.blocked_for("u3", "192.0.2.2").is_none(),
            "IPv4 per address"
        );
    }

    #[test]
    fn the_tables_stay_within_their_cap_when_every_entry_is_live() {
        let l = limiter(5, 5, Duration::from_secs(3600));
        for i in 0..MAX_KEYS + 1000 {
            l.failure(
                &format!("user{i}"),
                &format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255),
            );
        }
        assert_eq!(l.tracked(), (MAX_KEYS, MAX_KEYS));
        // The most recent records are the ones kept.
        let i = MAX_KEYS + 999;
        l.failure(&format!("user{i}"), "192.0.2.1");
        l.failure(&format!("user{i}"), "192.0.2.1");
        l.failure(&format!("user{i}"), "192.0.2.1");
        l.failure(&format!("user{i}"), "192.0.2.1");
        assert!(l.blocked_for(&format!("user{i}"), "192.0.2.7").is_some());
    }
}
