//! The store format version: every sled database of the broker (the
//! single-node `state.sled`, a cluster node's `raft.sled`) records the
//! version of its layout (trees, keys, record encodings, the bincode Raft
//! log entries) under `FORMAT_KEY` in sled's default tree, as ASCII
//! decimal. A database created before versions existed has no such key and
//! is version 1, today's layout; it is stamped 1 when opened. A database
//! of a version this build cannot read (newer than `STORE_FORMAT`) is
//! refused before anything in it is read or written, with the data
//! directory, the version found and the versions supported.

use super::StorageError;
use std::path::Path;

/// The store format this build writes (and the newest it reads).
pub const STORE_FORMAT: u32 = 1;
/// The oldest store format this build reads.
pub const OLDEST_STORE_FORMAT: u32 = 1;
/// Where the version lives, in sled's default tree (no store reads that tree otherwise).
pub const FORMAT_KEY: &[u8] = b"x2gobroker-format";

/// Check the format version of the database `file` in `dir` (opened as
/// `db`), stamping a fresh or pre-version database; the version found.
pub fn check(db: &sled::Db, dir: &Path, file: &str) -> Result<u32, StorageError> {
    let path = dir.join(file);
    let stored = db.get(FORMAT_KEY).map_err(|source| StorageError::Read {
        path: path.clone(),
        source,
    })?;
    let found = match stored {
        Some(bytes) => parse(&bytes).ok_or_else(|| StorageError::FormatUnreadable {
            dir: dir.to_path_buf(),
            file: file.to_string(),
            value: String::from_utf8_lossy(&bytes).chars().take(40).collect(),
        })?,
        None => {
            // Fresh: the current layout. Written before versions existed: version 1.
            let version = if db.was_recovered() { 1 } else { STORE_FORMAT };
            stamp(db, version).map_err(|source| StorageError::Write { path, source })?;
            return Ok(version);
        }
    };
    if !(OLDEST_STORE_FORMAT..=STORE_FORMAT).contains(&found) {
        return Err(StorageError::FormatUnsupported {
            dir: dir.to_path_buf(),
            file: file.to_string(),
            found,
            oldest: OLDEST_STORE_FORMAT,
            newest: STORE_FORMAT,
        });
    }
    Ok(found)
}

fn parse(bytes: &[u8]) -> Option<u32> {
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

fn stamp(db: &sled::Db, version: u32) -> Result<(), sled::Error> {
    db.insert(FORMAT_KEY, version.to_string().as_bytes())?;
    db.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> sled::Db {
        sled::open(dir.join("x.sled")).unwrap()
    }

    #[test]
    fn a_fresh_store_is_stamped_with_the_current_format() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        assert_eq!(check(&db, dir.path(), "x.sled").unwrap(), STORE_FORMAT);
        let stored = db.get(FORMAT_KEY).unwrap().unwrap();
        assert_eq!(&stored[..], STORE_FORMAT.to_string().as_bytes());
    }

    #[test]
    fn a_store_from_before_versions_is_version_1_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = open(dir.path());
            db.open_tree("state").unwrap().insert("k", "v").unwrap();
            db.flush().unwrap();
        }
        let db = open(dir.path());
        assert_eq!(check(&db, dir.path(), "x.sled").unwrap(), 1);
        assert_eq!(&db.get(FORMAT_KEY).unwrap().unwrap()[..], b"1");
        let tree = db.open_tree("state").unwrap();
        assert_eq!(&tree.get("k").unwrap().unwrap()[..], b"v");
    }

    #[test]
    fn a_newer_format_is_refused_naming_dir_found_and_supported_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        db.insert(FORMAT_KEY, "7").unwrap();
        let e = check(&db, dir.path(), "x.sled").unwrap_err().to_string();
        for part in [
            dir.path().display().to_string(),
            "x.sled".into(),
            "format 7".into(),
            format!("{OLDEST_STORE_FORMAT} to {STORE_FORMAT}"),
        ] {
            assert!(e.contains(&part), "{part:?} in {e}");
        }
        assert_eq!(&db.get(FORMAT_KEY).unwrap().unwrap()[..], b"7");
    }

    #[test]
    fn an_unreadable_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        for bad in [&b"two"[..], b"", b"0", b"\xff"] {
            db.insert(FORMAT_KEY, bad).unwrap();
            assert!(check(&db, dir.path(), "x.sled").is_err(), "{bad:?}");
        }
    }
}
