//! The state as key/value pairs in the local store: the key layout
//! (`c/` user NUL cookie, `p/` profile NUL user, `r/` request id, `s/`
//! X2Go server, `x/` server NUL session id, `t/` agent join token hash,
//! `a/` agent trust by server, `l/` profile NUL host for load checks, `f/command` the command format
//! every member reads), the JSON
//! records under them, the write each change to a cookie, placement or
//! remembered request implies, and the rebuild of a `State` from the
//! stored pairs.

use super::cookies::CookieRecord;
use super::enrollment::{HostTrust, TokenRecord};
use super::error::{bad_key, bad_record, DecodeError};
use super::loadchecks::LoadCheckRecord;
use super::placements::PlacementRecord;
use super::requests::{RequestId, RequestRecord};
use super::servers::ServerRecord;
use super::sessions::SessionRecord;
use super::State;

/// A storage write implied by a command: key and new value (`None` deletes).
pub type Write = (Vec<u8>, Option<Vec<u8>>);

const COOKIE_PREFIX: &[u8] = b"c/";
const PLACEMENT_PREFIX: &[u8] = b"p/";
const REQUEST_PREFIX: &[u8] = b"r/";
const SERVER_PREFIX: &[u8] = b"s/";
const SESSION_PREFIX: &[u8] = b"x/";
const TOKEN_PREFIX: &[u8] = b"t/";
const TRUST_PREFIX: &[u8] = b"a/";
const LOAD_CHECK_PREFIX: &[u8] = b"l/";
/// The command format every member reads (one key).
const COMMAND_FORMAT_KEY: &[u8] = b"f/command";

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

/// Store `rec` as `user`'s cookie `cookie`.
pub(super) fn cookie_put(user: &str, cookie: &str, rec: &CookieRecord) -> Write {
    (
        key(COOKIE_PREFIX, user, cookie),
        Some(serde_json::to_vec(rec).expect("serialisable")),
    )
}

/// Delete `user`'s cookie `cookie`.
pub(super) fn cookie_delete(user: &str, cookie: &str) -> Write {
    (key(COOKIE_PREFIX, user, cookie), None)
}

/// Store `rec` as `user`'s placement in `profile`.
pub(super) fn placement_put(profile: &str, user: &str, rec: &PlacementRecord) -> Write {
    (
        key(PLACEMENT_PREFIX, profile, user),
        Some(serde_json::to_vec(rec).expect("serialisable")),
    )
}

/// Delete `user`'s placement in `profile`.
pub(super) fn placement_delete(profile: &str, user: &str) -> Write {
    (key(PLACEMENT_PREFIX, profile, user), None)
}

fn request_key(id: &RequestId) -> Vec<u8> {
    [REQUEST_PREFIX, id.to_string().as_bytes()].concat()
}

/// Remember `rec` as the outcome of request `id`.
pub(super) fn request_put(id: &RequestId, rec: &RequestRecord) -> Write {
    (
        request_key(id),
        Some(serde_json::to_vec(rec).expect("serialisable")),
    )
}

/// Forget request `id`.
pub(super) fn request_delete(id: &RequestId) -> Write {
    (request_key(id), None)
}

/// Store `rec` as X2Go server `host`'s record.
pub(super) fn server_put(host: &str, rec: &ServerRecord) -> Write {
    (
        [SERVER_PREFIX, host.as_bytes()].concat(),
        Some(serde_json::to_vec(rec).expect("serialisable")),
    )
}

/// Store `rec` as session `id` of X2Go server `host`.
pub(super) fn session_put(host: &str, id: &str, rec: &SessionRecord) -> Write {
    (
        key(SESSION_PREFIX, host, id),
        Some(serde_json::to_vec(rec).expect("serialisable")),
    )
}

/// Delete session `id` of X2Go server `host`.
pub(super) fn session_delete(host: &str, id: &str) -> Write {
    (key(SESSION_PREFIX, host, id), None)
}

/// Store `rec` as the join token with hash `hash`.
pub(super) fn token_put(hash: &str, rec: &TokenRecord) -> Write {
    (
        [TOKEN_PREFIX, hash.as_bytes()].concat(),
        Some(serde_json::to_vec(rec).expect("serialisable")),
    )
}

/// Forget the join token with hash `hash`.
pub(super) fn token_delete(hash: &str) -> Write {
    ([TOKEN_PREFIX, hash.as_bytes()].concat(), None)
}

/// Store `rec` as what is trusted of server `host`'s agent certificates.
pub(super) fn host_trust_put(host: &str, rec: &HostTrust) -> Write {
    (
        [TRUST_PREFIX, host.as_bytes()].concat(),
        Some(serde_json::to_vec(rec).expect("serialisable")),
    )
}

/// Store the command format every member reads.
pub(super) fn command_format_put(format: u32) -> Write {
    (
        COMMAND_FORMAT_KEY.to_vec(),
        Some(serde_json::to_vec(&format).expect("serialisable")),
    )
}

/// Store `rec` as the load check of `host` in `profile`.
pub(super) fn load_check_put(profile: &str, host: &str, rec: &LoadCheckRecord) -> Write {
    (
        key(LOAD_CHECK_PREFIX, profile, host),
        Some(serde_json::to_vec(rec).expect("serialisable")),
    )
}

/// Forget the load check of `host` in `profile`.
pub(super) fn load_check_delete(profile: &str, host: &str) -> Write {
    (key(LOAD_CHECK_PREFIX, profile, host), None)
}

/// The text after `prefix` of key `k`, which must be UTF-8.
fn name_after(k: &[u8], prefix: &[u8], kind: &'static str) -> Result<String, DecodeError> {
    String::from_utf8(k[prefix.len()..].to_vec()).map_err(|_| bad_key(kind, k))
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
                s.insert_placement(id, rec);
            } else if let Some(rest) = k.strip_prefix(REQUEST_PREFIX) {
                let id = std::str::from_utf8(rest)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| bad_key("request", &k))?;
                let rec = serde_json::from_slice(&v).map_err(|e| bad_record("request", &k, e))?;
                s.insert_request(id, rec);
            } else if let Some(rest) = k.strip_prefix(SERVER_PREFIX) {
                let host = String::from_utf8(rest.to_vec()).map_err(|_| bad_key("server", &k))?;
                let rec = serde_json::from_slice(&v).map_err(|e| bad_record("server", &k, e))?;
                s.servers.insert(host, rec);
            } else if let Some(rest) = k.strip_prefix(SESSION_PREFIX) {
                let id = split_key(rest).ok_or_else(|| bad_key("session", &k))?;
                let rec = serde_json::from_slice(&v).map_err(|e| bad_record("session", &k, e))?;
                s.insert_session(id, rec);
            } else if k.starts_with(TOKEN_PREFIX) {
                let hash = name_after(&k, TOKEN_PREFIX, "token")?;
                let rec = serde_json::from_slice(&v).map_err(|e| bad_record("token", &k, e))?;
                s.agent_tokens.insert(hash, rec);
            } else if k.starts_with(TRUST_PREFIX) {
                let host = name_after(&k, TRUST_PREFIX, "agent trust")?;
                let rec =
                    serde_json::from_slice(&v).map_err(|e| bad_record("agent trust", &k, e))?;
                s.agent_hosts.insert(host, rec);
            } else if k == COMMAND_FORMAT_KEY {
                s.command_format =
                    serde_json::from_slice(&v).map_err(|e| bad_record("command format", &k, e))?;
            } else if let Some(rest) = k.strip_prefix(LOAD_CHECK_PREFIX) {
                let id = split_key(rest).ok_or_else(|| bad_key("load check", &k))?;
                let rec =
                    serde_json::from_slice(&v).map_err(|e| bad_record("load check", &k, e))?;
                s.insert_load_check(id, rec);
            }
        }
        Ok(s)
    }
}
