//! The one place a sled database is opened, with the settings every store
//! of the broker uses, in a private data directory (`private`); the handle
//! remembers its path for error messages. A database of a store format
//! this build does not read is refused (`format`).

use super::StorageError;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// sled's page cache per database (its default is 1 GiB). Every read of
/// the broker's state is served from memory (`crate::state::State`); the
/// store is read back only at start and by Raft replication of recent log
/// entries, so a small cache costs nothing measurable and keeps a node's
/// memory bounded under a steady stream of agent reports.
pub const CACHE_BYTES: u64 = 32 << 20;

/// An open sled database and where it lives.
#[derive(Clone)]
pub struct Db {
    db: sled::Db,
    path: Arc<Path>,
}

impl Db {
    /// Open (or create) the database `file` under `dir`, creating `dir`
    /// (0700) if needed; refuses a `dir` that group or others may access.
    pub fn open(dir: &Path, file: &str) -> Result<Self, StorageError> {
        super::private::private_dir(dir)?;
        let path = dir.join(file);
        let db = sled::Config::new()
            .path(&path)
            .mode(sled::Mode::HighThroughput)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|source| StorageError::Open {
                path: path.clone(),
                source,
            })?;
        super::private::tighten(&path)?;
        // Nothing is read from (or written to) a store of a format this build does not know.
        super::format::check(&db, dir, file)?;
        Ok(Db {
            db,
            path: path.into(),
        })
    }

    /// Open (or create) the tree `name`.
    pub fn tree(&self, name: &'static str) -> Result<sled::Tree, StorageError> {
        self.db
            .open_tree(name)
            .map_err(|source| StorageError::Tree {
                path: self.path(),
                tree: name,
                source,
            })
    }

    /// The sled handle.
    pub fn sled(&self) -> &sled::Db {
        &self.db
    }

    /// Where the database lives.
    pub fn path(&self) -> PathBuf {
        self.path.to_path_buf()
    }

    /// A read failure in this database.
    pub fn read_error(&self, source: sled::Error) -> StorageError {
        StorageError::Read {
            path: self.path(),
            source,
        }
    }

    /// A write failure in this database.
    pub fn write_error(&self, source: sled::Error) -> StorageError {
        StorageError::Write {
            path: self.path(),
            source,
        }
    }

    /// Bytes under `what` in this database of a format this build does not read.
    pub fn unreadable(
        &self,
        what: impl Into<String>,
        source: impl Into<super::error::DecodeSource>,
    ) -> StorageError {
        StorageError::Unreadable {
            path: self.path(),
            what: what.into(),
            source: source.into(),
        }
    }

    /// Bytes under `what` in this database that do not decode.
    pub fn corrupt(
        &self,
        what: impl Into<String>,
        source: impl Into<super::error::DecodeSource>,
    ) -> StorageError {
        StorageError::Corrupt {
            path: self.path(),
            what: what.into(),
            source: source.into(),
        }
    }
}
