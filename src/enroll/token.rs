//! Join tokens: `x2gbat_` and 43 characters of URL-safe base64 (32 random
//! bytes), so a token is recognisable and unguessable. The state keeps
//! only the SHA-256 of the whole text; the text itself is shown once, to
//! the administrator who asked, and never logged.

use base64::Engine;
use std::fmt;

/// What every join token starts with ("x2gobroker agent token").
pub const PREFIX: &str = "x2gbat_";
/// Random bytes in a token.
const RANDOM_BYTES: usize = 32;
/// Characters after the prefix.
const ENCODED_LEN: usize = 43;

/// A join token's text. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}

/// The system's random source failed.
#[derive(Debug, thiserror::Error)]
#[error("drawing a join token: {0}")]
pub struct RandomError(String);

/// A presented text is not shaped like a join token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a join token (x2gbat_ and 43 characters; copy it whole from `x2gobrokerctl agent-token`)"
)]
pub struct MalformedToken;

impl Token {
    /// A new token from the system's random source.
    pub fn new() -> Result<Token, RandomError> {
        let mut bytes = [0u8; RANDOM_BYTES];
        getrandom::getrandom(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        Ok(Token(format!("{PREFIX}{text}")))
    }

    /// A presented token, checked for its shape only (whitespace around it
    /// is dropped, as from a copy and paste).
    pub fn parse(text: &str) -> Result<Token, MalformedToken> {
        let text = text.trim();
        let body = text.strip_prefix(PREFIX).ok_or(MalformedToken)?;
        let fine = body.len() == ENCODED_LEN
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if fine {
            Ok(Token(text.to_string()))
        } else {
            Err(MalformedToken)
        }
    }

    /// The text, to show the administrator once or to send to the broker.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the state keeps: SHA-256 of the text, hex. A token carries 256
    /// random bits, so a fast hash is enough (nothing to guess from it).
    pub fn hash(&self) -> String {
        super::sha256_hex(self.0.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_tokens_parse_differ_and_hide_in_debug() {
        let a = Token::new().unwrap();
        let b = Token::new().unwrap();
        assert_ne!(a, b);
        assert_eq!(Token::parse(&format!(" {}\n", a.expose())).unwrap(), a);
        assert_eq!(format!("{a:?}"), "Token(..)");
        assert_eq!(a.hash().len(), 64);
        assert_ne!(a.hash(), b.hash());
        assert!(!a.hash().contains(&a.expose()[PREFIX.len()..]));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = Token::new().unwrap();
        let body = &good.expose()[PREFIX.len()..];
        for bad in [
            String::new(),
            body.to_string(),
            format!("{PREFIX}{}", &body[1..]),
            format!("{PREFIX}{body}x"),
            format!("{PREFIX}{}+", &body[1..]),
            format!("x2gbat-{body}"),
        ] {
            assert_eq!(Token::parse(&bad), Err(MalformedToken), "{bad:?}");
        }
    }
}
