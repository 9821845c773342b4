//! The broker's state as a deterministic state machine: commands carry
//! everything they need (times stamped by the proposer, cookies generated
//! by the proposer), `apply` reads no clock and draws no random number, and
//! returns the storage writes it implies. The cluster replicates the same
//! commands; a single node applies them directly.

mod error;

use error::{bad_key, bad_record};
pub use error::{DecodeError, EncodeError};

use crate::placement::{self, Decision, HostView};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Milliseconds since the Unix epoch, as stamped by the proposing node.
pub type Millis = u64;

/// An authid cookie issued to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CookieRecord {
    pub ip: String,
    /// When the password login that started this cookie chain happened.
    pub issued_at: Millis,
}

/// A placement decided by the broker and not yet expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementRecord {
    pub host: String,
    pub at: Millis,
}

/// The two configuration files as read by the proposing node: what the
/// cluster replicates so that every node serves the same version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConfigTexts {
    pub conf_name: String,
    /// `None`: the file was missing (built-in defaults).
    pub conf: Option<String>,
    pub profiles_name: String,
    /// `None`: the inifile backend is disabled.
    pub profiles: Option<String>,
}

/// One candidate host as the proposer saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub name: String,
    pub alive: bool,
}

/// A change to the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A password login succeeded: remember the new cookie.
    IssueCookie {
        user: String,
        cookie: String,
        ip: String,
        at: Millis,
    },
    /// A cookie is presented: consume it and, when valid, chain to `next`.
    RedeemCookie {
        user: String,
        cookie: String,
        ip: String,
        now: Millis,
        verify_ip: bool,
        timeout_ms: Millis,
        next: String,
    },
    /// Forget a cookie (a password login replaced it).
    RevokeCookie { user: String, cookie: String },
    /// Choose a host for `user` among a profile's candidates.
    Place {
        profile: String,
        user: String,
        candidates: Vec<Candidate>,
        now: Millis,
        window_ms: Millis,
    },
    /// Drop cookies older than `cookie_ttl_ms` and placements older than `placement_window_ms`.
    Purge {
        now: Millis,
        cookie_ttl_ms: Millis,
        placement_window_ms: Millis,
    },
    /// Several commands proposed together, applied in order.
    Batch(Vec<Command>),
    /// A new version of the configuration files (validated by the proposer).
    SetConfig(ConfigTexts),
}

/// Why a cookie was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CookieRefusal {
    Unknown,
    IpMismatch,
    Expired,
}

/// What applying a command answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Done,
    CookieAccepted {
        next: String,
    },
    CookieRefused(CookieRefusal),
    Placed(PlacedOutcome),
    /// The outcomes of a `Batch`, in order.
    Batch(Vec<Outcome>),
    /// The version number a `SetConfig` got.
    ConfigVersion(u64),
}

/// The result of a `Place` command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PlacedOutcome {
    Host(String),
    NoneAvailable,
}

/// The serialized form of a `State`.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    cookies: Vec<((String, String), CookieRecord)>,
    placements: Vec<((String, String), PlacementRecord)>,
    #[serde(default)]
    config: Option<(u64, ConfigTexts)>,
}

/// A storage write implied by a command: key and new value (`None` deletes).
pub type Write = (Vec<u8>, Option<Vec<u8>>);

/// The whole state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    cookies: BTreeMap<(String, String), CookieRecord>,
    placements: BTreeMap<(String, String), PlacementRecord>,
    /// Derived: placements per host.
    per_host: HashMap<String, u32>,
    /// The replicated configuration and its version (1, 2, ...).
    config: Option<(u64, ConfigTexts)>,
}

const COOKIE_PREFIX: &[u8] = b"c/";
const PLACEMENT_PREFIX: &[u8] = b"p/";

fn key(prefix: &[u8], a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + a.len() + b.len() + 1);
    k.extend_from_slice(prefix);
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

fn split_key(k: &[u8]) -> Option<(String, String)> {
    let pos = k.iter().position(|b| *b == 0)?;
    Some((
        String::from_utf8(k[..pos].to_vec()).ok()?,
        String::from_utf8(k[pos + 1..].to_vec()).ok()?,
    ))
}

impl State {
    /// Rebuild from stored key/value pairs (as written by `apply`).
    pub fn from_pairs(
        pairs: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Result<Self, DecodeError> {
        let mut s = State::default();
        for (k, v) in pairs {
            if let Some(rest) = k.strip_prefix(COOKIE_PREFIX) {
                let id = split_key(rest).ok_or_else(|| bad_key("cookie", &k))?;
                let rec = serde_json::from_slice(&v).map_err(|e| bad_record("cookie", &k, e))?;
                s.cookies.insert(id, rec);
            } else if let Some(rest) = k.strip_prefix(PLACEMENT_PREFIX) {
                let id = split_key(rest).ok_or_else(|| bad_key("placement", &k))?;
                let rec: PlacementRecord =
                    serde_json::from_slice(&v).map_err(|e| bad_record("placement", &k, e))?;
                *s.per_host.entry(rec.host.clone()).or_default() += 1;
                s.placements.insert(id, rec);
            }
        }
        Ok(s)
    }

    /// The state as snapshot bytes (the derived index is rebuilt on load).
    pub fn to_snapshot(&self) -> Result<Vec<u8>, EncodeError> {
        let snap = Snapshot {
            cookies: self
                .cookies
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            placements: self
                .placements
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            config: self.config.clone(),
        };
        Ok(serde_json::to_vec(&snap)?)
    }

    /// The state from `to_snapshot` bytes.
    pub fn from_snapshot(bytes: &[u8]) -> Result<Self, DecodeError> {
        let snap: Snapshot = serde_json::from_slice(bytes).map_err(DecodeError::Snapshot)?;
        let mut s = State::default();
        for (k, rec) in snap.placements {
            *s.per_host.entry(rec.host.clone()).or_default() += 1;
            s.placements.insert(k, rec);
        }
        s.cookies = snap.cookies.into_iter().collect();
        s.config = snap.config;
        Ok(s)
    }

    /// A digest of the whole state, equal on nodes that applied the same commands.
    pub fn digest(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for ((u, c), r) in &self.cookies {
            (u, c, &r.ip, r.issued_at).hash(&mut h);
        }
        for ((p, u), r) in &self.placements {
            (p, u, &r.host, r.at).hash(&mut h);
        }
        self.config.hash(&mut h);
        h.finish()
    }

    /// The replicated configuration, if one was proposed.
    pub fn config(&self) -> Option<&(u64, ConfigTexts)> {
        self.config.as_ref()
    }

    pub fn placement_count(&self) -> usize {
        self.placements.len()
    }

    /// Every placement: (profile, user) -> host.
    pub fn placements(&self) -> impl Iterator<Item = (&(String, String), &PlacementRecord)> {
        self.placements.iter()
    }

    pub fn cookie(&self, user: &str, cookie: &str) -> Option<&CookieRecord> {
        self.cookies.get(&(user.to_string(), cookie.to_string()))
    }

    pub fn cookie_count(&self) -> usize {
        self.cookies.len()
    }

    pub fn placement(&self, profile: &str, user: &str) -> Option<&PlacementRecord> {
        self.placements
            .get(&(profile.to_string(), user.to_string()))
    }

    pub fn placements_on(&self, host: &str) -> u32 {
        self.per_host.get(host).copied().unwrap_or(0)
    }

    /// Apply one command; returns the answer and the writes to persist.
    pub fn apply(&mut self, cmd: &Command) -> (Outcome, Vec<Write>) {
        let mut writes = Vec::new();
        let outcome = match cmd {
            Command::IssueCookie {
                user,
                cookie,
                ip,
                at,
            } => {
                self.put_cookie(
                    user,
                    cookie,
                    CookieRecord {
                        ip: ip.clone(),
                        issued_at: *at,
                    },
                    &mut writes,
                );
                Outcome::Done
            }
            Command::RevokeCookie { user, cookie } => {
                self.del_cookie(user, cookie, &mut writes);
                Outcome::Done
            }
            Command::RedeemCookie {
                user,
                cookie,
                ip,
                now,
                verify_ip,
                timeout_ms,
                next,
            } => match self.del_cookie(user, cookie, &mut writes) {
                None => Outcome::CookieRefused(CookieRefusal::Unknown),
                Some(rec) if *verify_ip && rec.ip != *ip => {
                    Outcome::CookieRefused(CookieRefusal::IpMismatch)
                }
                Some(rec) if now.saturating_sub(rec.issued_at) > *timeout_ms => {
                    Outcome::CookieRefused(CookieRefusal::Expired)
                }
                Some(rec) => {
                    let chained = CookieRecord {
                        ip: ip.clone(),
                        issued_at: rec.issued_at,
                    };
                    self.put_cookie(user, next, chained, &mut writes);
                    Outcome::CookieAccepted { next: next.clone() }
                }
            },
            Command::Place {
                profile,
                user,
                candidates,
                now,
                window_ms,
            } => Outcome::Placed(self.place(
                profile,
                user,
                candidates,
                *now,
                *window_ms,
                &mut writes,
            )),
            Command::Purge {
                now,
                cookie_ttl_ms,
                placement_window_ms,
            } => {
                let old_cookies: Vec<(String, String)> = self
                    .cookies
                    .iter()
                    .filter(|(_, r)| now.saturating_sub(r.issued_at) > *cookie_ttl_ms)
                    .map(|(k, _)| k.clone())
                    .collect();
                for (u, c) in old_cookies {
                    self.del_cookie(&u, &c, &mut writes);
                }
                let old_placements: Vec<(String, String)> = self
                    .placements
                    .iter()
                    .filter(|(_, r)| now.saturating_sub(r.at) > *placement_window_ms)
                    .map(|(k, _)| k.clone())
                    .collect();
                for (p, u) in old_placements {
                    self.del_placement(&p, &u, &mut writes);
                }
                Outcome::Done
            }
            Command::SetConfig(texts) => {
                let version = self.config.as_ref().map_or(0, |(v, _)| *v) + 1;
                self.config = Some((version, texts.clone()));
                Outcome::ConfigVersion(version)
            }
            Command::Batch(cmds) => Outcome::Batch(
                cmds.iter()
                    .map(|c| {
                        let (o, w) = self.apply(c);
                        writes.extend(w);
                        o
                    })
                    .collect(),
            ),
        };
        (outcome, writes)
    }

    fn place(
        &mut self,
        profile: &str,
        user: &str,
        candidates: &[Candidate],
        now: Millis,
        window_ms: Millis,
        writes: &mut Vec<Write>,
    ) -> PlacedOutcome {
        let chosen = match placement::sole_host(candidates) {
            Some(only) => Some(only.name.clone()),
            // A user placed recently on a host that is still usable goes back there.
            None => self
                .placement(profile, user)
                .filter(|r| now.saturating_sub(r.at) <= window_ms)
                .and_then(|r| candidates.iter().find(|c| c.name == r.host && c.alive))
                .map(|c| c.name.clone())
                .or_else(|| {
                    let view: Vec<HostView> = candidates
                        .iter()
                        .map(|c| HostView {
                            alive: c.alive,
                            recent_placements: self.placements_on(&c.name),
                            ..HostView::new(c.name.clone())
                        })
                        .collect();
                    match placement::decide(&view, &[]) {
                        Decision::New { host }
                        | Decision::Resume { host, .. }
                        | Decision::TakeOver { host, .. } => Some(host),
                        Decision::NoneAvailable => None,
                    }
                }),
        };
        match chosen {
            Some(host) => {
                self.del_placement(profile, user, writes);
                let rec = PlacementRecord {
                    host: host.clone(),
                    at: now,
                };
                *self.per_host.entry(host.clone()).or_default() += 1;
                writes.push((
                    key(PLACEMENT_PREFIX, profile, user),
                    Some(serde_json::to_vec(&rec).expect("serialisable")),
                ));
                self.placements
                    .insert((profile.to_string(), user.to_string()), rec);
                PlacedOutcome::Host(host)
            }
            None => PlacedOutcome::NoneAvailable,
        }
    }

    fn put_cookie(&mut self, user: &str, cookie: &str, rec: CookieRecord, writes: &mut Vec<Write>) {
        writes.push((
            key(COOKIE_PREFIX, user, cookie),
            Some(serde_json::to_vec(&rec).expect("serialisable")),
        ));
        self.cookies
            .insert((user.to_string(), cookie.to_string()), rec);
    }

    fn del_cookie(
        &mut self,
        user: &str,
        cookie: &str,
        writes: &mut Vec<Write>,
    ) -> Option<CookieRecord> {
        let rec = self
            .cookies
            .remove(&(user.to_string(), cookie.to_string()))?;
        writes.push((key(COOKIE_PREFIX, user, cookie), None));
        Some(rec)
    }

    fn del_placement(&mut self, profile: &str, user: &str, writes: &mut Vec<Write>) {
        if let Some(old) = self
            .placements
            .remove(&(profile.to_string(), user.to_string()))
        {
            if let Some(n) = self.per_host.get_mut(&old.host) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_host.remove(&old.host);
                }
            }
            writes.push((key(PLACEMENT_PREFIX, profile, user), None));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn issue(user: &str, cookie: &str, ip: &str, at: Millis) -> Command {
        Command::IssueCookie {
            user: user.into(),
            cookie: cookie.into(),
            ip: ip.into(),
            at,
        }
    }

    fn redeem(user: &str, cookie: &str, ip: &str, now: Millis, next: &str) -> Command {
        Command::RedeemCookie {
            user: user.into(),
            cookie: cookie.into(),
            ip: ip.into(),
            now,
            verify_ip: true,
            timeout_ms: 1000,
            next: next.into(),
        }
    }

    fn place(user: &str, hosts: &[(&str, bool)], now: Millis) -> Command {
        Command::Place {
            profile: "p".into(),
            user: user.into(),
            candidates: hosts
                .iter()
                .map(|(n, a)| Candidate {
                    name: n.to_string(),
                    alive: *a,
                })
                .collect(),
            now,
            window_ms: 10_000,
        }
    }

    #[test]
    fn cookies_are_single_use_and_chain() {
        let mut s = State::default();
        s.apply(&issue("u", "c1", "127.0.0.1", 100));
        let (o, _) = s.apply(&redeem("u", "c1", "127.0.0.1", 200, "c2"));
        assert_eq!(o, Outcome::CookieAccepted { next: "c2".into() });
        let (o, _) = s.apply(&redeem("u", "c1", "127.0.0.1", 300, "c3"));
        assert_eq!(o, Outcome::CookieRefused(CookieRefusal::Unknown));
        // The chain keeps the original login time, so the timeout still counts from it.
        assert_eq!(s.cookie("u", "c2").unwrap().issued_at, 100);
        let (o, _) = s.apply(&redeem("u", "c2", "127.0.0.1", 1101, "c4"));
        assert_eq!(o, Outcome::CookieRefused(CookieRefusal::Expired));
    }

    #[test]
    fn cookie_bound_to_ip_and_user() {
        let mut s = State::default();
        s.apply(&issue("u", "c1", "127.0.0.1", 0));
        let (o, _) = s.apply(&redeem("other", "c1", "127.0.0.1", 1, "x"));
        assert_eq!(o, Outcome::CookieRefused(CookieRefusal::Unknown));
        let (o, _) = s.apply(&redeem("u", "c1", "127.0.0.2", 1, "x"));
        assert_eq!(o, Outcome::CookieRefused(CookieRefusal::IpMismatch));
        // A refused attempt burns the cookie, as in the reference.
        assert!(s.cookie("u", "c1").is_none());
    }

    #[test]
    fn placements_spread_and_stick() {
        let mut s = State::default();
        let hosts = [("a", true), ("b", true)];
        let (o1, _) = s.apply(&place("u1", &hosts, 0));
        let (o2, _) = s.apply(&place("u2", &hosts, 1));
        assert_eq!(o1, Outcome::Placed(PlacedOutcome::Host("a".into())));
        assert_eq!(o2, Outcome::Placed(PlacedOutcome::Host("b".into())));
        let (o, _) = s.apply(&place("u1", &hosts, 2));
        assert_eq!(o, Outcome::Placed(PlacedOutcome::Host("a".into())));
        let (o, _) = s.apply(&place("u3", &[("a", false), ("b", false)], 3));
        assert_eq!(o, Outcome::Placed(PlacedOutcome::NoneAvailable));
        s.apply(&Command::Purge {
            now: 20_000,
            cookie_ttl_ms: 1,
            placement_window_ms: 10_000,
        });
        assert_eq!(s.placements_on("a"), 0);
    }

    #[test]
    fn a_single_candidate_is_chosen_even_when_down() {
        let mut s = State::default();
        let (o, _) = s.apply(&place("u", &[("only", false)], 0));
        assert_eq!(o, Outcome::Placed(PlacedOutcome::Host("only".into())));
        let (o, _) = s.apply(&place("u", &[("other", false)], 1));
        assert_eq!(o, Outcome::Placed(PlacedOutcome::Host("other".into())));
    }

    #[test]
    fn a_batch_is_its_commands_in_order() {
        let cmds = vec![
            place("u1", &[("a", true), ("b", true)], 0),
            place("u2", &[("a", true), ("b", true)], 1),
        ];
        let mut one = State::default();
        let singly: Vec<Outcome> = cmds.iter().map(|c| one.apply(c).0).collect();
        let mut two = State::default();
        let (batched, _) = two.apply(&Command::Batch(cmds));
        assert_eq!(batched, Outcome::Batch(singly));
        assert_eq!(one, two);
    }

    #[test]
    fn snapshots_roundtrip() {
        let mut s = State::default();
        s.apply(&issue("u", "c1", "127.0.0.1", 1));
        s.apply(&place("u", &[("a", true), ("b", true)], 3));
        let back = State::from_snapshot(&s.to_snapshot().unwrap()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.digest(), s.digest());
    }

    #[test]
    fn writes_rebuild_the_same_state() {
        let mut s = State::default();
        let mut store: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let cmds = vec![
            issue("u", "c1", "127.0.0.1", 1),
            redeem("u", "c1", "127.0.0.1", 2, "c2"),
            place("u", &[("a", true), ("b", true)], 3),
            place("v", &[("a", true), ("b", true)], 4),
        ];
        for c in &cmds {
            for (k, v) in s.apply(c).1 {
                match v {
                    Some(v) => store.insert(k, v),
                    None => store.remove(&k),
                };
            }
        }
        let rebuilt = State::from_pairs(store).unwrap();
        assert_eq!(rebuilt.cookies, s.cookies);
        assert_eq!(rebuilt.placements, s.placements);
        assert_eq!(rebuilt.per_host, s.per_host);
    }

    proptest! {
        #[test]
        fn apply_is_deterministic(users in proptest::collection::vec(0u8..6, 1..40)) {
            let hosts = [("a", true), ("b", true), ("c", true)];
            let run = || {
                let mut s = State::default();
                users.iter().enumerate().map(|(i, u)| s.apply(&place(&format!("u{u}"), &hosts, i as u64)).0).collect::<Vec<_>>()
            };
            prop_assert_eq!(run(), run());
        }
    }
}
