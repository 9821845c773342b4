//! HTML escaping: every value the dashboard shows (host names, user names,
//! session fields, what a visitor typed) goes through `escape`, in text and
//! in double-quoted attribute values alike.

use std::fmt;

/// A value displayed with `& < > " '` written as character references.
pub struct Escape<'a>(pub &'a str);

impl fmt::Display for Escape<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            let entity = match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            };
            f.write_str(entity)?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// `value` percent-encoded for a query string (`?user=...`).
pub fn query_value(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escape(value: &str) -> String {
        Escape(value).to_string()
    }

    #[test]
    fn markup_and_quotes_become_references() {
        assert_eq!(
            escape(r#"<script>alert("x&y")</script>'"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;"
        );
        assert_eq!(escape("plain-host.example"), "plain-host.example");
        assert_eq!(escape("äö<"), "äö&lt;");
        assert_eq!(query_value("a b&c=<"), "a+b%26c%3D%3C");
    }
}
