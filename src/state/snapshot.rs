//! The state as one snapshot (JSON bytes), for cluster snapshots: cookies,
//! placements, the configuration, the remembered request ids, the X2Go
//! server and session tables, agent join tokens and agent trust; the
//! per-host and request expiry indexes are rebuilt on load.

use super::config::ConfigTexts;
use super::cookies::CookieRecord;
use super::enrollment::{HostTrust, TokenRecord};
use super::error::{DecodeError, EncodeError};
use super::placements::PlacementRecord;
use super::requests::{RequestId, RequestRecord};
use super::servers::ServerRecord;
use super::sessions::SessionRecord;
use super::State;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;

/// The serialized form of a `State`.
#[derive(Deserialize)]
struct Snapshot {
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
}

/// A `Snapshot` borrowed from a `State`: each table as the sequence of its
/// (key, record) pairs, the same JSON as `Snapshot`'s vectors.
#[derive(Serialize)]
struct SnapshotRef<'a> {
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
}

fn pairs<K: Serialize, V: Serialize, S: Serializer>(
    map: &&BTreeMap<K, V>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(map.iter())
}

impl State {
    /// The state as snapshot bytes (the derived index is rebuilt on load),
    /// written straight from the tables: no copy of the state is made.
    pub fn to_snapshot(&self) -> Result<Vec<u8>, EncodeError> {
        let snap = SnapshotRef {
            cookies: &self.cookies,
            placements: &self.placements,
            config: &self.config,
            requests: &self.requests,
            servers: &self.servers,
            sessions: &self.sessions,
            agent_tokens: &self.agent_tokens,
            agent_hosts: &self.agent_hosts,
        };
        Ok(serde_json::to_vec(&snap)?)
    }

    /// The state from `to_snapshot` bytes.
    pub fn from_snapshot(bytes: &[u8]) -> Result<Self, DecodeError> {
        let snap: Snapshot = serde_json::from_slice(bytes).map_err(DecodeError::Snapshot)?;
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
        Ok(s)
    }
}
