//! The request fields of the broker protocol and the longest value each may
//! have: one table for every frontend (plain and JSON forms, UCCS basic
//! credentials, the gRPC API), so that no frontend lets a value through
//! that another refuses, and no request can put more than a few KiB into a
//! replicated log entry.

/// Each field the frontends read, with the longest value accepted in bytes.
pub const FIELDS: &[(&str, usize)] = &[
    ("task", 64),
    ("user", 256),
    ("password", 1024),
    ("authid", 256),
    ("login", 256),
    ("sid", 256),
    ("profile-id", 256),
    ("pubkey", 16 * 1024),
    ("newpass", 1024),
];

/// A value longer than its field allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field '{field}' is too long ({len} bytes, at most {max})")]
pub struct TooLong {
    pub field: &'static str,
    pub len: usize,
    pub max: usize,
}

/// The field called `name` and its longest value, if the protocol has it.
pub fn field(name: &[u8]) -> Option<(&'static str, usize)> {
    FIELDS.iter().copied().find(|(n, _)| n.as_bytes() == name)
}

/// Refuse `value` when it is longer than the field `name` allows; a field
/// the protocol does not have is refused as if its limit were zero.
pub fn check(name: &'static str, value: &str) -> Result<(), TooLong> {
    let max = field(name.as_bytes()).map_or(0, |(_, max)| max);
    if value.len() > max {
        return Err(TooLong {
            field: name,
            len: value.len(),
            max,
        });
    }
    Ok(())
}

/// `check` over several fields; the first refusal.
pub fn check_all(values: &[(&'static str, &str)]) -> Result<(), TooLong> {
    values
        .iter()
        .try_for_each(|(name, value)| check(name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_by_field() {
        assert!(check("user", &"u".repeat(256)).is_ok());
        let e = check("user", &"u".repeat(257)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field 'user' is too long (257 bytes, at most 256)"
        );
        assert!(check("pubkey", &"k".repeat(16 * 1024)).is_ok());
        assert_eq!(
            check_all(&[("user", "alice"), ("password", &"p".repeat(1025))])
                .unwrap_err()
                .field,
            "password"
        );
        assert_eq!(field(b"login"), Some(("login", 256)));
        assert_eq!(field(b"other"), None);
        assert!(check("unknown", "x").is_err() && check("unknown", "").is_ok());
    }
}
