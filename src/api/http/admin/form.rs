//! The dashboard's form fields (`application/x-www-form-urlencoded`, in a
//! POST body or the query string): only known names, each at most once and
//! within its length, else a 400 with the reason.

use crate::api::http::error::HttpError;
use std::collections::HashMap;

/// The fields the dashboard reads and the longest value of each.
const FIELDS: &[(&str, usize)] = &[
    ("user", 256),
    ("password", 1024),
    ("hostname", 256),
    ("action", 16),
    ("csrf", 64),
];

#[derive(Debug, Default)]
pub struct Fields(HashMap<&'static str, String>);

impl Fields {
    pub fn parse(raw: &[u8]) -> Result<Self, HttpError> {
        let mut out = HashMap::new();
        for (name, value) in form_urlencoded::parse(raw) {
            let Some((known, max)) = FIELDS.iter().find(|(n, _)| *n == name) else {
                continue;
            };
            if value.len() > *max {
                return Err(HttpError::BadForm(format!("field '{known}' is too long")));
            }
            if out.insert(*known, value.into_owned()).is_some() {
                return Err(HttpError::BadForm(format!(
                    "field '{known}' given more than once"
                )));
            }
        }
        Ok(Fields(out))
    }

    /// A field's value, "" when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_fields_once_and_within_their_length() {
        let f = Fields::parse(b"user=a%20b&other=x&csrf=t").unwrap();
        assert_eq!(
            (f.get("user"), f.get("csrf"), f.get("other")),
            ("a b", "t", "")
        );
        assert!(Fields::parse(b"user=a&user=b").is_err());
        let long = format!("hostname={}", "h".repeat(257));
        assert!(Fields::parse(long.as_bytes()).is_err());
    }
}
