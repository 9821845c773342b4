//! Authid cookies in the state: issuing, single-use redemption that
//! chains to the next cookie, revocation, and expiry on purge.

use super::command::{CookieRefusal, Millis, Outcome};
use super::pairs::{self, Write};
use super::{older_than, State};
use serde::{Deserialize, Serialize};

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
        self.put_cookie(user, cookie, rec, writes);
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
