//! Authid cookies in the state: issuing, single-use redemption that
//! chains to the next cookie, revocation, and expiry on purge. A user holds
//! at most `MAX_COOKIES_PER_USER` outstanding cookies: issuing one more
//! drops their oldest (deterministically: by login time, then cookie), so
//! logins that are never followed up (e.g. anonymous ones with
//! `auth-mech = none`) cannot grow one user's share of the state.

use super::command::{CookieRefusal, Millis, Outcome};
use super::pairs::{self, Write};
use super::{older_than, State};
use serde::{Deserialize, Serialize};

/// Outstanding cookies per user at most (one per client session chain).
pub const MAX_COOKIES_PER_USER: usize = 32;

/// An authid cookie issued to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CookieRecord {
    pub ip: String,
    /// When the password login that started this cookie chain happened.
    pub issued_at: Millis,
}

/// How a cookie was presented, and the rules it is checked against.
pub(super) struct Presented<'a> {
    pub ip: &'a str,
    pub now: Millis,
    pub verify_ip: bool,
    pub timeout_ms: Millis,
}

impl Presented<'_> {
    /// Why `rec` may not be redeemed as presented, if it may not.
    fn refusal(&self, rec: &CookieRecord) -> Option<CookieRefusal> {
        if self.verify_ip && rec.ip != self.ip {
            Some(CookieRefusal::IpMismatch)
        } else if self.now.saturating_sub(rec.issued_at) > self.timeout_ms {
            Some(CookieRefusal::Expired)
        } else {
            None
        }
    }
}

impl State {
    pub fn cookie(&self, user: &str, cookie: &str) -> Option<&CookieRecord> {
        self.cookies.get(&(user.to_string(), cookie.to_string()))
    }

    pub fn cookie_count(&self) -> usize {
        self.cookies.len()
    }

    /// A password login succeeded from `ip` at `at`: remember `cookie`.
    pub(super) fn issue_cookie(
        &mut self,
        user: &str,
        cookie: &str,
        ip: &str,
        at: Millis,
        writes: &mut Vec<Write>,
    ) {
        let rec = CookieRecord {
            ip: ip.to_string(),
            issued_at: at,
        };
        if self.cookie(user, cookie).is_none() {
            self.make_room_for_cookie(user, writes);
        }
        self.put_cookie(user, cookie, rec, writes);
    }

    /// Drop `user`'s oldest cookies until one more fits under the cap.
    fn make_room_for_cookie(&mut self, user: &str, writes: &mut Vec<Write>) {
        let mut mine: Vec<(Millis, String)> = self
            .cookies
            .range((user.to_string(), String::new())..)
            .take_while(|((u, _), _)| u == user)
            .map(|((_, c), r)| (r.issued_at, c.clone()))
            .collect();
        if mine.len() < MAX_COOKIES_PER_USER {
            return;
        }
        mine.sort();
        let excess = mine.len() + 1 - MAX_COOKIES_PER_USER;
        for (_, c) in &mine[..excess] {
            self.del_cookie(user, c, writes);
        }
    }

    /// Consume `cookie` (even when refused, as in the reference) and, when
    /// it is valid as presented, chain the login to `next`.
    pub(super) fn redeem_cookie(
        &mut self,
        user: &str,
        cookie: &str,
        presented: &Presented<'_>,
        next: &str,
        writes: &mut Vec<Write>,
    ) -> Outcome {
        let Some(rec) = self.del_cookie(user, cookie, writes) else {
            return Outcome::CookieRefused(CookieRefusal::Unknown);
        };
        if let Some(refusal) = presented.refusal(&rec) {
            return Outcome::CookieRefused(refusal);
        }
        let chained = CookieRecord {
            ip: presented.ip.to_string(),
            issued_at: rec.issued_at,
        };
        self.put_cookie(user, next, chained, writes);
        Outcome::CookieAccepted {
            next: next.to_string(),
        }
    }

    /// Forget `cookie`, if it is known.
    pub(super) fn revoke_cookie(&mut self, user: &str, cookie: &str, writes: &mut Vec<Write>) {
        self.del_cookie(user, cookie, writes);
    }

    /// Drop the cookies whose login is older than `ttl_ms` at `now`.
    pub(super) fn purge_cookies(&mut self, now: Millis, ttl_ms: Millis, writes: &mut Vec<Write>) {
        for (u, c) in older_than(&self.cookies, now, ttl_ms, |r| r.issued_at) {
            self.del_cookie(&u, &c, writes);
        }
    }

    fn put_cookie(&mut self, user: &str, cookie: &str, rec: CookieRecord, writes: &mut Vec<Write>) {
        writes.push(pairs::cookie_put(user, cookie, &rec));
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
        writes.push(pairs::cookie_delete(user, cookie));
        Some(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Command;

    fn issue(user: &str, cookie: &str, at: Millis) -> Command {
        Command::IssueCookie {
            user: user.into(),
            cookie: cookie.into(),
            ip: "127.0.0.1".into(),
            at,
        }
    }

    #[test]
    fn a_user_holds_at_most_the_cap_of_cookies_and_loses_the_oldest() {
        let mut s = State::default();
        for i in 0..MAX_COOKIES_PER_USER as u64 + 10 {
            // Issued out of key order: the oldest by time go first.
            let (_, writes) = s.apply(&issue("anon", &format!("c{:03}", 999 - i), 1000 + i));
            assert!(!writes.is_empty());
        }
        s.apply(&issue("other", "x", 1));
        assert_eq!(s.cookie_count(), MAX_COOKIES_PER_USER + 1);
        assert!(s.cookie("anon", "c999").is_none(), "the oldest is gone");
        assert!(s.cookie("anon", &format!("c{:03}", 999 - 9)).is_none());
        assert!(s.cookie("anon", &format!("c{:03}", 999 - 10)).is_some());
        assert!(s.cookie("other", "x").is_some(), "other users keep theirs");
        // Re-issuing a cookie the user holds drops nothing.
        let before = s.cookie_count();
        s.apply(&issue("anon", &format!("c{:03}", 999 - 10), 5000));
        assert_eq!(s.cookie_count(), before);
    }

    #[test]
    fn the_cap_is_the_same_on_every_replica() {
        let cmds: Vec<Command> = (0..100u64)
            .map(|i| issue("u", &format!("k{}", (i * 37) % 101), i % 7))
            .collect();
        let (mut a, mut b) = (State::default(), State::default());
        for c in &cmds {
            let (oa, wa) = a.apply(c);
            let (ob, wb) = b.apply(c);
            assert_eq!((oa, wa), (ob, wb));
        }
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.cookie_count(), MAX_COOKIES_PER_USER);
    }
}
