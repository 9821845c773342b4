//! Secrets at rest: the data directory holds bearer tokens (authid cookies)
//! and the replicated configuration (with `my-cookie`). It is created 0700
//! and refused when group or others may enter it; what sled keeps in it is
//! made 0600 (its directories 0700), also files an older version created.

use super::StorageError;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// Permission bits of group and others.
const OTHERS: u32 = 0o077;

/// Files the process creates from now on are private to its user (umask
/// 077). Called once at start, before the data directory is opened.
pub fn restrict_new_files() {
    // SAFETY: umask has no preconditions; it only sets the process's mask.
    unsafe {
        libc::umask(0o077);
    }
}

/// Create `dir` (and missing parents) 0700, or refuse an existing one that
/// group or others may read or enter.
pub fn private_dir(dir: &Path) -> Result<(), StorageError> {
    match std::fs::metadata(dir) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o7777;
            if mode & OTHERS != 0 {
                return Err(StorageError::Exposed {
                    path: dir.to_path_buf(),
                    mode,
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| StorageError::CreateDir {
                path: dir.to_path_buf(),
                source,
            }),
        Err(source) => Err(StorageError::CreateDir {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Make every file under `path` 0600 and every directory 0700 where group
/// or others had access (symbolic links are left alone).
pub fn tighten(path: &Path) -> Result<(), StorageError> {
    let failed = |source| StorageError::Permissions {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::symlink_metadata(path).map_err(failed)?;
    let private = if meta.is_dir() {
        0o700
    } else if meta.is_file() {
        0o600
    } else {
        return Ok(());
    };
    if meta.permissions().mode() & OTHERS != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(private)).map_err(failed)?;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).map_err(failed)? {
            tighten(&entry.map_err(failed)?.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn finding9_created_private_and_refused_when_open_to_others() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!((mode(&dir), mode(&top.path().join("a"))), (0o700, 0o700));
        private_dir(&dir).unwrap();
        for open in [0o750, 0o705, 0o711] {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(open)).unwrap();
            let e = private_dir(&dir).unwrap_err().to_string();
            assert!(
                e.contains(&dir.display().to_string()) && e.contains("chmod 700"),
                "{e}"
            );
        }
    }

    #[test]
    fn finding9_files_of_an_older_version_are_made_private() {
        let top = tempfile::tempdir().unwrap();
        let db = top.path().join("state.sled");
        std::fs::create_dir_all(db.join("blobs")).unwrap();
        std::fs::write(db.join("db"), "x").unwrap();
        for p in [db.clone(), db.join("blobs")] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(db.join("db"), std::fs::Permissions::from_mode(0o644)).unwrap();
        tighten(&db).unwrap();
        assert_eq!(
            (mode(&db), mode(&db.join("blobs")), mode(&db.join("db"))),
            (0o700, 0o700, 0o600)
        );
    }
}
