//! Request fields of the broker protocol: the query string and the body,
//! both read as `application/x-www-form-urlencoded` whatever the declared
//! content type (X2Go Client does not always declare it). Values are cleaned
//! as the reference's web framework does (control characters become spaces,
//! surrounding whitespace is stripped except from passwords). Anything
//! malformed is refused with a reason, never guessed at. The longest value
//! of each field is in `api::fields`, shared with the other frontends.

use crate::api::fields;
use std::collections::HashMap;

/// Why a request's fields were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("malformed percent-encoding in field '{0}'")]
    BadEncoding(String),
    #[error("field '{0}' is not valid UTF-8")]
    InvalidUtf8(String),
    #[error("field '{0}' given more than once")]
    Repeated(String),
    #[error("field '{0}' is too long")]
    TooLong(String),
}

impl From<fields::TooLong> for FormError {
    fn from(e: fields::TooLong) -> Self {
        FormError::TooLong(e.field.into())
    }
}

/// The known fields of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    fields: HashMap<&'static str, String>,
}

impl Form {
    /// Parse the query string and the body together.
    pub fn parse(query: &[u8], body: &[u8]) -> Result<Self, FormError> {
        let mut form = Form::default();
        for part in [query, body] {
            for pair in part.split(|b| *b == b'&') {
                if pair.is_empty() {
                    continue;
                }
                let (raw_key, raw_value) = match pair.iter().position(|b| *b == b'=') {
                    Some(i) => (&pair[..i], &pair[i + 1..]),
                    None => (pair, &[][..]),
                };
                let key_bytes =
                    decode(raw_key).ok_or_else(|| FormError::BadEncoding(lossy(raw_key)))?;
                let Some((name, max)) = fields::field(&key_bytes) else {
                    continue; // fields the protocol does not use are ignored
                };
                let value = decode(raw_value).ok_or_else(|| FormError::BadEncoding(name.into()))?;
                let value =
                    String::from_utf8(value).map_err(|_| FormError::InvalidUtf8(name.into()))?;
                if value.len() > max {
                    return Err(FormError::TooLong(name.into()));
                }
                let value = clean(&value, name != "password");
                if form.fields.insert(name, value).is_some() {
                    return Err(FormError::Repeated(name.into()));
                }
            }
        }
        Ok(form)
    }

    /// A field's value, or "" when absent (as the reference defaults them).
    pub fn get(&self, name: &str) -> &str {
        self.fields.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn has(&self, name: &str) -> bool {
        self.fields.contains_key(name)
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).chars().take(40).collect()
}

/// `+` is a space; `%XX` a byte. A `%` without two hex digits is malformed.
fn decode(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex(*raw.get(i + 1)?)?;
                let lo = hex(*raw.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Control characters (except tab, newlines, vertical tab, form feed and
/// carriage return) become spaces; then optionally strip whitespace.
fn clean(v: &str, strip: bool) -> String {
    let replaced: String = v
        .chars()
        .map(|c| {
            if matches!(c, '\x00'..='\x08' | '\x0e'..='\x1f') {
                ' '
            } else {
                c
            }
        })
        .collect();
    if strip {
        replaced.trim().to_string()
    } else {
        replaced
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn query_and_body_merge() {
        let f = Form::parse(
            b"task=listsessions",
            b"user=+alice%20&password=+p%2Bw+&other=x",
        )
        .unwrap();
        assert_eq!(f.get("task"), "listsessions");
        assert_eq!(f.get("user"), "alice");
        assert_eq!(f.get("password"), " p+w ");
        assert_eq!(f.get("sid"), "");
        assert!(!f.has("sid"));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            Form::parse(b"", b"task=a&task=b"),
            Err(FormError::Repeated("task".into()))
        );
        assert_eq!(
            Form::parse(b"task=a", b"task=b"),
            Err(FormError::Repeated("task".into()))
        );
        assert_eq!(
            Form::parse(b"", b"user=%ff"),
            Err(FormError::InvalidUtf8("user".into()))
        );
        assert_eq!(
            Form::parse(b"", b"user=%f"),
            Err(FormError::BadEncoding("user".into()))
        );
        let long = format!("user={}", "a".repeat(300));
        assert_eq!(
            Form::parse(b"", long.as_bytes()),
            Err(FormError::TooLong("user".into()))
        );
        // Unknown fields may be anything.
        assert!(Form::parse(b"", b"%ff=%ff&x=1").is_ok());
    }

    #[test]
    fn control_characters_become_spaces() {
        let f = Form::parse(b"", b"user=a%00b&password=%01").unwrap();
        assert_eq!(f.get("user"), "a b");
        assert_eq!(f.get("password"), " ");
    }

    proptest! {
        #[test]
        fn never_panics(q in proptest::collection::vec(any::<u8>(), 0..200), b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Form::parse(&q, &b);
        }

        #[test]
        fn encoded_values_roundtrip(v in "[ -~]{0,50}") {
            let enc: String = form_urlencoded::byte_serialize(v.as_bytes()).collect();
            let f = Form::parse(b"", format!("password={enc}").as_bytes()).unwrap();
            prop_assert_eq!(f.get("password"), v.as_str());
        }
    }
}
