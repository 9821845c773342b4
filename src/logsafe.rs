//! Client-supplied values made safe to log: `Escaped` displays a value
//! with every control character (CR, LF, ESC, ...) and Unicode line or
//! paragraph separator written as an escape (`\r`, `\n`, `\u{1b}`), so a
//! user name or a path cannot forge a log line or steer a terminal.
//! tracing's formatter writes `%` values as they are; wrap every value a
//! client chose (user names, paths, profile ids, error texts that quote
//! them) in `Escaped` where it is logged.

use std::fmt;

/// A value displayed with its control characters escaped.
pub struct Escaped<T>(pub T);

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = EscapingWriter { inner: f };
        fmt::write(&mut out, format_args!("{}", self.0))
    }
}

impl<T: fmt::Display> fmt::Debug for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Shorthand for `Escaped(value)`.
pub fn escaped<T: fmt::Display>(value: T) -> Escaped<T> {
    Escaped(value)
}

/// Passes text through, escaping what could break a log line.
struct EscapingWriter<'a, 'b> {
    inner: &'a mut fmt::Formatter<'b>,
}

impl fmt::Write for EscapingWriter<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut clean_from = 0;
        for (i, c) in s.char_indices() {
            if needs_escape(c) {
                self.inner.write_str(&s[clean_from..i])?;
                match c {
                    '\r' => self.inner.write_str("\\r")?,
                    '\n' => self.inner.write_str("\\n")?,
                    '\t' => self.inner.write_str("\\t")?,
                    other => write!(self.inner, "\\u{{{:x}}}", other as u32)?,
                }
                clean_from = i + c.len_utf8();
            }
        }
        self.inner.write_str(&s[clean_from..])
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            escaped("alice\r\nFORGED\x1b[2J\t\u{2028}\u{85}").to_string(),
            "alice\\r\\nFORGED\\u{1b}[2J\\t\\u{2028}\\u{85}"
        );
        assert_eq!(
            escaped("plain ümlaut/path").to_string(),
            "plain ümlaut/path"
        );
        // Any Display value: error texts quoting client input.
        let e = std::io::Error::other("user 'a\nb'");
        assert_eq!(escaped(&e).to_string(), "user 'a\\nb'");
        assert_eq!(format!("{:?}", escaped("a\nb")), "a\\nb");
    }

    proptest! {
        #[test]
        fn no_control_character_survives(s in ".*") {
            let out = escaped(&s).to_string();
            prop_assert!(!out.chars().any(needs_escape), "{out:?}");
        }
    }
}
