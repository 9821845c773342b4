//! The state as one snapshot (JSON bytes), for cluster snapshots: cookies,
//! placements, the configuration, the remembered request ids, the X2Go
//! server and session tables, agent join tokens, agent trust and the
//! load checker's answers; the
//! per-host and request expiry indexes are rebuilt on load.
//!
//! The document's first field is its format version (`SNAPSHOT_FORMAT`),
//! so `snapshot_format` reads it from the first bytes (the first chunk a
//! leader sends); a snapshot without one was made before versions existed
//! and is version 1. A snapshot of a newer format is refused, never
//! misread. Within a format, fields are only added, each with
//! `#[serde(default)]` (JSON, unknown fields ignored): older snapshots load
//! with the default and older builds skip the new field. Anything else (a
//! field removed, renamed or retyped) is a new format.

use super::config::ConfigTexts;
use super::cookies::CookieRecord;
use super::enrollment::{HostTrust, TokenRecord};
use super::error::{DecodeError, EncodeError};
use super::loadchecks::LoadCheckRecord;
use super::placements::PlacementRecord;
use super::requests::{RequestId, RequestRecord};
use super::servers::ServerRecord;
use super::sessions::SessionRecord;
use super::State;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;

/// The snapshot format this build writes (and the newest it reads).
pub const SNAPSHOT_FORMAT: u32 = 1;

/// The serialized form of a `State`.
#[derive(Deserialize)]
struct Snapshot {
    /// Absent from snapshots made before formats were versioned (version 1).
    /// First, so that it is readable from the document's first bytes.
    #[serde(default = "first_format")]
    format: u32,
    cookies: Vec<((String, String), CookieRecord)>,
    placements: Vec<((String, String), PlacementRecord)>,
    #[serde(default)]
    config: Option<(u64, ConfigTexts)>,
    /// Absent from snapshots made before request ids existed.
    #[serde(default)]
    requests: Vec<(RequestId, RequestRecord)>,
    /// Absent from snapshots made before agents reported.
    #[serde(default)]
    servers: Vec<(String, ServerRecord)>,
    #[serde(default)]
    sessions: Vec<((String, String), SessionRecord)>,
    /// Absent from snapshots made before agent enrollment.
    #[serde(default)]
    agent_tokens: Vec<(String, TokenRecord)>,
    #[serde(default)]
    agent_hosts: Vec<(String, HostTrust)>,
    /// Absent from snapshots made before the load checker.
    #[serde(default)]
    load_checks: Vec<((String, String), LoadCheckRecord)>,
    /// Absent from snapshots made before it was raised (0: format 1).
    #[serde(default)]
    command_format: u32,
}

/// A `Snapshot` borrowed from a `State`: each table as the sequence of its
/// (key, record) pairs, the same JSON as `Snapshot`'s vectors.
#[derive(Serialize)]
struct SnapshotRef<'a> {
    /// First, as in `Snapshot`.
    format: u32,
    #[serde(serialize_with = "pairs")]
    cookies: &'a BTreeMap<(String, String), CookieRecord>,
    #[serde(serialize_with = "pairs")]
    placements: &'a BTreeMap<(String, String), PlacementRecord>,
    config: &'a Option<(u64, ConfigTexts)>,
    #[serde(serialize_with = "pairs")]
    requests: &'a BTreeMap<RequestId, RequestRecord>,
    #[serde(serialize_with = "pairs")]
    servers: &'a BTreeMap<String, ServerRecord>,
    #[serde(serialize_with = "pairs")]
    sessions: &'a BTreeMap<(String, String), SessionRecord>,
    #[serde(serialize_with = "pairs")]
    agent_tokens: &'a BTreeMap<String, TokenRecord>,
    #[serde(serialize_with = "pairs")]
    agent_hosts: &'a BTreeMap<String, HostTrust>,
    #[serde(serialize_with = "pairs")]
    load_checks: &'a BTreeMap<(String, String), LoadCheckRecord>,
    command_format: u32,
}

fn pairs<K: Serialize, V: Serialize, S: Serializer>(
    map: &&BTreeMap<K, V>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(map.iter())
}

fn first_format() -> u32 {
    1
}

/// The format version of the snapshot starting with `head` (its first
/// bytes: the whole snapshot, or the first chunk of one being received).
pub fn snapshot_format(head: &[u8]) -> Result<u32, DecodeError> {
    const PREFIX: &[u8] = b"{\"format\":";
    let Some(rest) = head.strip_prefix(PREFIX) else {
        // Every snapshot since formats exist starts with its format; one
        // made before is a JSON object too, and is version 1.
        return match head.first() {
            Some(b'{') => Ok(1),
            _ => Err(DecodeError::SnapshotHeader),
        };
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits])
        .ok()
        .and_then(|d| d.parse().ok())
        .filter(|_| matches!(rest.get(digits), Some(b',' | b'}')))
        .ok_or(DecodeError::SnapshotHeader)
}

/// `Ok` when this build reads snapshots of format `found`.
pub fn check_snapshot_format(found: u32) -> Result<(), DecodeError> {
    match (1..=SNAPSHOT_FORMAT).contains(&found) {
        true => Ok(()),
        false => Err(DecodeError::SnapshotFormat {
            found,
            supported: SNAPSHOT_FORMAT,
        }),
    }
}

impl State {
    /// The state as snapshot bytes (the derived index is rebuilt on load),
    /// written straight from the tables: no copy of the state is made.
    pub fn to_snapshot(&self) -> Result<Vec<u8>, EncodeError> {
        let snap = SnapshotRef {
            format: SNAPSHOT_FORMAT,
            cookies: &self.cookies,
            placements: &self.placements,
            config: &self.config,
            requests: &self.requests,
            servers: &self.servers,
            sessions: &self.sessions,
            agent_tokens: &self.agent_tokens,
            agent_hosts: &self.agent_hosts,
            load_checks: &self.load_checks,
            command_format: self.command_format,
        };
        Ok(serde_json::to_vec(&snap)?)
    }

    /// The state from `to_snapshot` bytes.
    pub fn from_snapshot(bytes: &[u8]) -> Result<Self, DecodeError> {
        check_snapshot_format(snapshot_format(bytes)?)?;
        let snap: Snapshot = serde_json::from_slice(bytes).map_err(DecodeError::Snapshot)?;
        // The header said so; the document agrees (wherever its field was).
        check_snapshot_format(snap.format)?;
        let mut s = State::default();
        for (k, rec) in snap.placements {
            s.insert_placement(k, rec);
        }
        s.cookies = snap.cookies.into_iter().collect();
        s.config = snap.config;
        for (id, rec) in snap.requests {
            s.insert_request(id, rec);
        }
        s.servers = snap.servers.into_iter().collect();
        for (k, rec) in snap.sessions {
            s.insert_session(k, rec);
        }
        s.agent_tokens = snap.agent_tokens.into_iter().collect();
        s.agent_hosts = snap.agent_hosts.into_iter().collect();
        s.load_checks = snap.load_checks.into_iter().collect();
        s.command_format = snap.command_format;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Command;

    fn some_state() -> State {
        let mut s = State::default();
        s.apply(&Command::IssueCookie {
            user: "u".into(),
            cookie: "c".into(),
            ip: "127.0.0.1".into(),
            at: 5,
        });
        s
    }

    #[test]
    fn snapshots_start_with_their_format() {
        let bytes = some_state().to_snapshot().unwrap();
        assert!(bytes.starts_with(b"{\"format\":1,"), "{:?}", &bytes[..20]);
        assert_eq!(snapshot_format(&bytes[..12]).unwrap(), SNAPSHOT_FORMAT);
    }

    #[test]
    fn a_snapshot_from_before_versions_is_format_1_and_loads() {
        let s = some_state();
        // What the build before versions wrote: the same document without its first field.
        let bytes = s.to_snapshot().unwrap();
        let legacy = [&b"{"[..], &bytes[12..]].concat();
        assert!(legacy.starts_with(b"{\"cookies\":"));
        assert_eq!(snapshot_format(&legacy).unwrap(), 1);
        assert_eq!(State::from_snapshot(&legacy).unwrap(), s);
    }

    #[test]
    fn fields_added_within_a_format_are_skipped_by_older_builds() {
        let s = some_state();
        let mut doc: serde_json::Value = serde_json::from_slice(&s.to_snapshot().unwrap()).unwrap();
        doc["a_table_of_a_later_release"] = serde_json::json!([["k", 1]]);
        let later = serde_json::to_vec(&doc).unwrap();
        assert_eq!(State::from_snapshot(&later).unwrap(), s);
    }

    #[test]
    fn a_newer_format_is_refused_not_misread() {
        let bytes = some_state().to_snapshot().unwrap();
        let newer = [&b"{\"format\":2,"[..], &bytes[12..]].concat();
        assert_eq!(snapshot_format(&newer).unwrap(), 2);
        let e = State::from_snapshot(&newer).unwrap_err();
        assert!(
            matches!(
                e,
                DecodeError::SnapshotFormat {
                    found: 2,
                    supported: 1
                }
            ),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(
            text.contains("format 2") && text.contains("1 to 1"),
            "{text}"
        );
    }

    #[test]
    fn bytes_that_are_no_snapshot_are_refused() {
        for bad in [
            &b""[..],
            b"not json",
            b"{\"format\":x,",
            b"{\"format\":99999999999,",
            b"{\"format\":2x",
        ] {
            assert!(
                matches!(snapshot_format(bad), Err(DecodeError::SnapshotHeader)),
                "{bad:?}"
            );
        }
    }
}
