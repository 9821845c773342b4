//! The configuration error: which file, and where known the line, section
//! and key, with what is wrong. Every reader of configuration (the INI
//! files, the node TOML) reports through it.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub section: Option<String>,
    pub key: Option<String>,
    pub message: String,
}

impl ConfigError {
    /// An error about `file` as a whole (unreadable, not UTF-8, ...).
    pub fn file(file: impl Into<String>, message: impl fmt::Display) -> Self {
        ConfigError {
            file: file.into(),
            line: None,
            section: None,
            key: None,
            message: message.to_string(),
        }
    }

    /// An error at `line` of `file`.
    pub fn at(file: impl Into<String>, line: usize, message: impl fmt::Display) -> Self {
        ConfigError {
            line: Some(line),
            ..Self::file(file, message)
        }
    }

    /// The same error, naming the key (and the section it was read for).
    pub fn key(mut self, key: &str, section: Option<&str>) -> Self {
        self.key = Some(key.to_string());
        self.section = section.map(str::to_string);
        self
    }
}

/// `file:line: key 'k' in [section]: message`, leaving out what is unknown.
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if let Some(k) = &self.key {
            write!(f, "key '{k}'")?;
            if let Some(s) = &self.section {
                write!(f, " in [{s}]")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_what_it_knows() {
        assert_eq!(
            ConfigError::file("a.conf", "gone").to_string(),
            "a.conf: gone"
        );
        assert_eq!(
            ConfigError::at("a.conf", 3, "bad").to_string(),
            "a.conf:3: bad"
        );
        let e = ConfigError::at("a.conf", 3, "not an integer: \"x\"").key("width", Some("p1"));
        assert_eq!(
            e.to_string(),
            "a.conf:3: key 'width' in [p1]: not an integer: \"x\""
        );
        assert_eq!(
            ConfigError::at("a.conf", 4, "no value")
                .key("k", None)
                .to_string(),
            "a.conf:4: key 'k': no value"
        );
    }
}
