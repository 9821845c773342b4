//! The name this X2Go server goes by: `--hostname`, or else the content of
//! `/etc/hostname` (the first line that is neither empty nor a `#`
//! comment, trimmed), which is what the broker's host names must match. It
//! is handed to `x2golistsessions_root` as an argument, so it must look
//! like a host name (letters, digits, `.`, `-`, `_`; not starting with
//! `-`, which the tool would take for an option such as `--all-servers`).

use std::path::{Path, PathBuf};

/// Where the default comes from.
pub const HOSTNAME_FILE: &str = "/etc/hostname";

/// No usable server name.
#[derive(Debug, thiserror::Error)]
pub enum HostnameError {
    #[error("reading {}: {source} (give --hostname)", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} names no host (give --hostname)", path.display())]
    Empty { path: PathBuf },
    #[error("{name:?} is not a host name (letters, digits, '.', '-', '_'; not starting with '-')")]
    Invalid { name: String },
}

/// The given name, checked, or the one in `/etc/hostname`.
pub fn resolve(given: Option<&str>) -> Result<String, HostnameError> {
    match given {
        Some(name) => validate(name).map(str::to_string),
        None => from_file(Path::new(HOSTNAME_FILE)),
    }
}

/// The host name a hostname file names, checked.
pub fn from_file(path: &Path) -> Result<String, HostnameError> {
    let text = std::fs::read_to_string(path).map_err(|source| HostnameError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let name = parse(&text).ok_or_else(|| HostnameError::Empty {
        path: path.to_path_buf(),
    })?;
    validate(name).map(str::to_string)
}

/// The first line that is neither empty nor a comment, trimmed.
pub fn parse(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
}

/// `name` if it looks like a host name.
pub fn validate(name: &str) -> Result<&str, HostnameError> {
    let ok = !name.is_empty()
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(name)
    } else {
        Err(HostnameError::Invalid {
            name: name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_real_line_trimmed() {
        assert_eq!(parse("x2go1\n"), Some("x2go1"));
        assert_eq!(
            parse("# set by the installer\n\n  x2go1.example.org \n"),
            Some("x2go1.example.org")
        );
        assert_eq!(parse("\n# only a comment\n"), None);
    }

    #[test]
    fn options_and_odd_characters_are_refused() {
        assert!(validate("x2go-1.example.org").is_ok());
        for bad in ["", "--all-servers", "-x", "x2go 1", "x2go;rm", "x2go/1"] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn from_a_file_or_given() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hostname");
        std::fs::write(&path, "x2go7\n").unwrap();
        assert_eq!(from_file(&path).unwrap(), "x2go7");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(from_file(&path), Err(HostnameError::Empty { .. })));
        let missing = dir.path().join("missing");
        let err = from_file(&missing).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        assert_eq!(resolve(Some("given")).unwrap(), "given");
        assert!(resolve(Some("--all-servers")).is_err());
    }
}
