//! A load generator of X2Go clients behind DNS round-robin: each client
//! logs in (`listsessions` with a password), lists its profiles with the
//! cookie it got, and selects a session with the next one, over `/plain/`
//! (X2Go Client) or `/json/` (Python X2Go), as a new user every round.
//!
//! Round-robin: every request starts at the next address in turn; when an
//! address refuses or resets the connection, or hangs up without a
//! complete answer, the client tries the next address, as X2Go clients
//! behind a round-robin name do, until every address was tried once.
//!
//! A failed request is: any answer that is not 2xx, a 2xx answer without
//! what the step needs (the next cookie, the selected server), or a
//! request that got no answer on any address.

use super::http::{form, try_request, Reply};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The password every load user logs in with (the sites use `none`).
pub const PASSWORD: &str = "pw";

/// The addresses behind one name, tried in turn.
pub struct RoundRobin {
    addrs: Vec<SocketAddr>,
    next: AtomicUsize,
}

/// What one request came to.
pub struct Sent {
    pub reply: Reply,
    /// Addresses that refused or reset before one answered.
    pub skipped: usize,
}

impl RoundRobin {
    pub fn new(addrs: Vec<SocketAddr>) -> Self {
        RoundRobin {
            addrs,
            next: AtomicUsize::new(0),
        }
    }

    /// POST a form, starting at the next address in turn; Err lists every
    /// address's error when none answered.
    pub fn post(&self, path: &str, body: &str) -> Result<Sent, String> {
        let n = self.addrs.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut errors = Vec::new();
        for i in 0..n {
            let addr = self.addrs[(start + i) % n];
            let headers = [("Content-Type", "application/x-www-form-urlencoded")];
            match try_request(addr, "POST", path, &headers, body.as_bytes()) {
                Ok(reply) => {
                    return Ok(Sent {
                        reply,
                        skipped: errors.len(),
                    })
                }
                Err(e) => errors.push(format!("{addr}: {e}")),
            }
        }
        Err(errors.join("; "))
    }
}

/// The X2Go client dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Plain,
    Json,
}

/// Everything the clients saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub requests: u64,
    /// Requests answered after one or more addresses refused or reset.
    pub failed_over: u64,
    /// What failed: step, user, and the answer or the errors.
    pub failures: Vec<String>,
    /// Acknowledged placements: (user, selected server "host:port", when).
    pub placed: Vec<(String, String, Instant)>,
    pub latencies: Vec<Duration>,
    /// Every request: when it began, how long it took, step and user.
    pub timeline: Vec<(Instant, Duration, String)>,
}

impl Tally {
    /// (p50, p99, max) of the request latencies.
    pub fn percentiles(&self) -> (Duration, Duration, Duration) {
        let mut l = self.latencies.clone();
        l.sort();
        if l.is_empty() {
            return Default::default();
        }
        let at = |q: f64| l[((l.len() - 1) as f64 * q).round() as usize];
        (at(0.5), at(0.99), *l.last().unwrap())
    }

    /// The `n` slowest requests: when they began, how long they took, what they were.
    pub fn slowest(&self, n: usize) -> Vec<(Instant, Duration, String)> {
        let mut all = self.timeline.clone();
        all.sort_by_key(|(_, took, _)| std::cmp::Reverse(*took));
        all.truncate(n);
        all
    }
}

/// Clients running until `stop`.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    tally: Arc<Mutex<Tally>>,
}

impl Load {
    /// `clients` clients over `addrs`, every other one speaking JSON,
    /// selecting a session of `profile`.
    pub fn start(addrs: Vec<SocketAddr>, clients: usize, profile: &'static str) -> Self {
        let rr = Arc::new(RoundRobin::new(addrs));
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let threads = (0..clients)
            .map(|c| {
                let (rr, stop, tally) = (rr.clone(), stop.clone(), tally.clone());
                let dialect = if c % 2 == 0 {
                    Dialect::Plain
                } else {
                    Dialect::Json
                };
                std::thread::spawn(move || {
                    let mut round = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let user = format!("load{c}-{round}");
                        let client = Client {
                            rr: &rr,
                            tally: &tally,
                            dialect,
                            user: &user,
                        };
                        client.round(profile);
                        round += 1;
                    }
                })
            })
            .collect();
        Load {
            stop,
            threads,
            tally,
        }
    }

    /// Successful placements so far.
    pub fn placed(&self) -> usize {
        self.tally.lock().unwrap().placed.len()
    }

    /// Stop every client after its current round; what they saw.
    pub fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        Arc::try_unwrap(self.tally).unwrap().into_inner().unwrap()
    }
}

/// One client's round as one user.
struct Client<'a> {
    rr: &'a RoundRobin,
    tally: &'a Mutex<Tally>,
    dialect: Dialect,
    user: &'a str,
}

impl Client<'_> {
    fn round(&self, profile: &str) {
        let list = match self.dialect {
            Dialect::Plain => "listsessions",
            Dialect::Json => "listprofiles",
        };
        let login = [("task", list), ("user", self.user), ("password", PASSWORD)];
        let Some(cookie) = self.step("login", &login, |r| self.cookie(r)) else {
            return;
        };
        let listed = [("task", list), ("user", self.user), ("authid", &cookie)];
        let Some(cookie) = self.step("listsessions", &listed, |r| self.cookie(r)) else {
            return;
        };
        let sid = match self.dialect {
            Dialect::Plain => "sid",
            Dialect::Json => "profile-id",
        };
        let select = [
            ("task", "selectsession"),
            ("user", self.user),
            ("authid", &cookie),
            (sid, profile),
        ];
        if let Some(server) = self.step("selectsession", &select, |r| self.server(r)) {
            let mut t = self.tally.lock().unwrap();
            t.placed
                .push((self.user.to_string(), server, Instant::now()));
        }
    }

    /// Send one request; what `want` finds in a 2xx answer, else a failure.
    fn step(
        &self,
        what: &str,
        fields: &[(&str, &str)],
        want: impl Fn(&Reply) -> Option<String>,
    ) -> Option<String> {
        let path = match self.dialect {
            Dialect::Plain => "/plain/",
            Dialect::Json => "/json/",
        };
        let began = Instant::now();
        let sent = self.rr.post(path, &form(fields));
        let took = began.elapsed();
        let mut t = self.tally.lock().unwrap();
        t.requests += 1;
        t.latencies.push(took);
        let user = self.user;
        t.timeline.push((began, took, format!("{what} {user}")));
        match sent {
            Ok(sent) => {
                t.failed_over += (sent.skipped > 0) as u64;
                let r = &sent.reply;
                let found = (200..300).contains(&r.status).then(|| want(r)).flatten();
                if found.is_none() {
                    let body: String = r.body.chars().take(200).collect();
                    t.failures
                        .push(format!("{what} {user}: {} {body:?}", r.status));
                }
                found
            }
            Err(errors) => {
                t.failures
                    .push(format!("{what} {user}: no address answered: {errors}"));
                None
            }
        }
    }

    fn json(r: &Reply) -> Option<serde_json::Value> {
        serde_json::from_str(&r.body).ok()
    }

    /// The next cookie of an answer.
    fn cookie(&self, r: &Reply) -> Option<String> {
        match self.dialect {
            Dialect::Plain => r.authid(),
            Dialect::Json => Some(Self::json(r)?["next-authid"].as_str()?.to_string()),
        }
    }

    /// The selected server of an answer, as "host:port".
    fn server(&self, r: &Reply) -> Option<String> {
        match self.dialect {
            Dialect::Plain => r
                .body
                .lines()
                .find_map(|l| l.strip_prefix("SERVER:"))
                .map(str::to_string),
            Dialect::Json => {
                let v = Self::json(r)?;
                let s = &v["selected_session"];
                Some(format!("{}:{}", s["server"].as_str()?, s["port"].as_str()?))
            }
        }
    }
}
