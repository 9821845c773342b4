//! The dashboard's login sessions: a random 256-bit id in a cookie
//! (`__Host-` prefixed: HTTPS only, this host only, path `/`; HttpOnly,
//! SameSite=Strict), valid for `LIFETIME` from the login on the node that
//! issued it. Only the SHA-256 of an id is kept, so the table holds
//! nothing a reader of memory could present; ids are never logged.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "__Host-x2gobroker-admin";
/// How long a dashboard login lasts.
pub const LIFETIME: Duration = Duration::from_secs(15 * 60);
/// At most this many open sessions per node; the oldest goes first.
const MAX_SESSIONS: usize = 256;

/// One logged-in administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    /// The token the session's forms carry (see `csrf`).
    pub csrf: String,
    expires: Instant,
}

#[derive(Default)]
pub struct Sessions {
    by_digest: Mutex<HashMap<[u8; 32], Session>>,
}

fn digest(id: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, id.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl Sessions {
    /// A new session for `user`: its id (for the cookie) and the session.
    pub fn open(&self, user: &str) -> (String, Session) {
        let id = super::csrf::new_token();
        let session = Session {
            user: user.to_string(),
            csrf: super::csrf::new_token(),
            expires: Instant::now() + LIFETIME,
        };
        let mut table = self.by_digest.lock();
        let now = Instant::now();
        table.retain(|_, s| s.expires > now);
        if table.len() >= MAX_SESSIONS {
            if let Some(oldest) = table.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k) {
                table.remove(&oldest);
            }
        }
        table.insert(digest(&id), session.clone());
        (id, session)
    }

    /// The live session of `id`, if any.
    pub fn get(&self, id: &str) -> Option<Session> {
        let key = digest(id);
        let mut table = self.by_digest.lock();
        match table.get(&key) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                table.remove(&key);
                None
            }
            None => None,
        }
    }

    /// End the session of `id`.
    pub fn close(&self, id: &str) {
        self.by_digest.lock().remove(&digest(id));
    }
}

/// The session id in the request's `Cookie` headers, if any.
pub fn cookie_id(headers: &hyper::HeaderMap) -> Option<String> {
    headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE && value.len() == 64)
        .map(|(_, value)| value.to_string())
}

/// The `Set-Cookie` value that hands out `id`.
pub fn set_cookie(id: &str) -> String {
    format!(
        "{COOKIE}={id}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Strict",
        LIFETIME.as_secs()
    )
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderValue, COOKIE as COOKIE_HEADER};

    #[test]
    fn sessions_open_look_up_and_close() {
        let sessions = Sessions::default();
        let (id, s) = sessions.open("alice");
        assert_eq!(id.len(), 64);
        assert_eq!(sessions.get(&id), Some(s.clone()));
        assert_ne!(s.csrf, id);
        assert!(sessions.get(&super::super::csrf::new_token()).is_none());
        sessions.close(&id);
        assert!(sessions.get(&id).is_none());
    }

    #[test]
    fn the_table_is_bounded() {
        let sessions = Sessions::default();
        let (first, _) = sessions.open("u0");
        for i in 1..=MAX_SESSIONS {
            sessions.open(&format!("u{i}"));
        }
        assert!(sessions.get(&first).is_none(), "the oldest made room");
        assert_eq!(sessions.by_digest.lock().len(), MAX_SESSIONS);
    }

    #[test]
    fn the_cookie_is_read_among_others_and_set_strictly() {
        let id = "a".repeat(64);
        let mut h = hyper::HeaderMap::new();
        h.append(COOKIE_HEADER, HeaderValue::from_static("other=1"));
        h.append(
            COOKIE_HEADER,
            HeaderValue::from_str(&format!("x=2; {COOKIE}={id}")).unwrap(),
        );
        assert_eq!(cookie_id(&h), Some(id.clone()));
        let mut short = hyper::HeaderMap::new();
        short.insert(
            COOKIE_HEADER,
            HeaderValue::from_str(&format!("{COOKIE}=abc")).unwrap(),
        );
        assert_eq!(cookie_id(&short), None);
        let set = set_cookie(&id);
        for part in [
            "Secure",
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=900",
        ] {
            assert!(set.contains(part), "{set}");
        }
    }
}
