//! Why stored or received state bytes could not be turned back into a
//! `State` (or a `State` into bytes).

/// Stored state that does not decode; names the record it concerns.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// A key under a known prefix without its separator, or not UTF-8.
    /// Keys are shown without their cookie part.
    #[error("bad {kind} key {key:?}")]
    BadKey { kind: &'static str, key: String },
    #[error("{kind} record {key:?}: {source}")]
    BadRecord {
        kind: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    /// A snapshot of a format this build does not read.
    #[error("state snapshot of format {found}: this x2gobroker ({}) reads snapshot formats 1 to {supported}; refused, not applied (upgrade this node)", env!("CARGO_PKG_VERSION"))]
    SnapshotFormat { found: u32, supported: u32 },
    /// Bytes that do not start like a state snapshot.
    #[error("state snapshot without a readable format header")]
    SnapshotHeader,
    #[error("reading state snapshot: {0}")]
    Snapshot(#[source] serde_json::Error),
}

/// The state could not be serialised.
#[derive(Debug, thiserror::Error)]
#[error("serialising state: {0}")]
pub struct EncodeError(#[from] pub serde_json::Error);

/// A stored key as it may appear in an error message: the prefix and the
/// first part, the second part too unless it is a cookie (never logged).
fn shown_key(kind: &'static str, key: &[u8]) -> String {
    let text = String::from_utf8_lossy(key);
    match text.split_once('\0') {
        Some((first, _)) if kind == "cookie" => format!("{first}/(cookie)"),
        Some((first, second)) => format!("{first}/{second}"),
        None => text.into_owned(),
    }
}

pub(super) fn bad_key(kind: &'static str, key: &[u8]) -> DecodeError {
    DecodeError::BadKey {
        kind,
        key: shown_key(kind, key),
    }
}

pub(super) fn bad_record(kind: &'static str, key: &[u8], source: serde_json::Error) -> DecodeError {
    DecodeError::BadRecord {
        kind,
        key: shown_key(kind, key),
        source,
    }
}
