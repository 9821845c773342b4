//! What can go wrong in storage, with the file or record it concerns.

use std::path::PathBuf;

/// Boxed source of a corrupt-data error (a decoder's error).
pub type DecodeSource = Box<dyn std::error::Error + Send + Sync>;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("creating {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The data directory is open to group or others (it holds bearer tokens).
    #[error(
        "data directory {} is open to group or others (mode {mode:04o}); it holds login cookies and the cluster configuration: run `chmod 700 {}`",
        path.display(),
        path.display()
    )]
    Exposed { path: PathBuf, mode: u32 },
    #[error("making {} private: {source}", path.display())]
    Permissions {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("opening {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("opening tree {tree} in {}: {source}", path.display())]
    Tree {
        path: PathBuf,
        tree: &'static str,
        #[source]
        source: sled::Error,
    },
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    /// Stored bytes that do not decode: `what` names the record (its key).
    #[error("{}: corrupt {what}: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        what: String,
        #[source]
        source: DecodeSource,
    },
    /// The store was written in a format this build does not read (see `format`).
    #[error(
        "data directory {}: {file} is in store format {found}, but this x2gobroker ({}) reads store formats {oldest} to {newest}; {} Refusing to start; the store is left as it was",
        dir.display(),
        env!("CARGO_PKG_VERSION"),
        if found > newest { "a newer release wrote it: run that release (or a newer one) on this directory." } else { "an older release wrote it: upgrade through a release that reads it first." }
    )]
    FormatUnsupported {
        dir: PathBuf,
        file: String,
        found: u32,
        oldest: u32,
        newest: u32,
    },
    /// The stored format version is not a number.
    #[error(
        "data directory {}: {file} has an unreadable store format version {value:?}; refusing to start",
        dir.display()
    )]
    FormatUnreadable {
        dir: PathBuf,
        file: String,
        value: String,
    },
    /// Stored bytes of a format this build does not read (a newer build's).
    #[error("{}: {what}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        what: String,
        #[source]
        source: DecodeSource,
    },
    #[error("starting the state writer: {0}")]
    StartWriter(#[source] std::io::Error),
    #[error("state writer stopped")]
    WriterStopped,
    /// The Raft log or state machine failed (as openraft reports it).
    #[error(transparent)]
    Raft(Box<openraft::StorageError<u64>>),
}

impl From<openraft::StorageError<u64>> for StorageError {
    fn from(e: openraft::StorageError<u64>) -> Self {
        StorageError::Raft(Box::new(e))
    }
}
