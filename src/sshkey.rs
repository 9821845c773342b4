//! OpenSSH public key lines for session autologin: checking that a line is
//! one well-formed public key (with, where allowed, only harmless
//! options), and making the one-off key pair the broker hands a client
//! that sent no key of its own (RSA 2048 as the reference, the private
//! half in the PKCS#1 PEM form X2Go Client and Python X2Go read).

use base64::Engine;
use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;

/// The key types a line may carry (OpenSSH's names).
const KEY_TYPES: [&str; 8] = [
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-dss",
];

/// Options that only restrict what a key may do.
const RESTRICTING_OPTIONS: [&str; 7] = [
    "no-X11-forwarding",
    "no-pty",
    "no-user-rc",
    "no-port-forwarding",
    "no-agent-forwarding",
    "no-touch-required",
    "restrict",
];

/// The options the reference puts on a key it generated.
pub const GENERATED_KEY_OPTIONS: &str = "no-X11-forwarding,no-pty,no-user-rc";

/// Why a line is not an acceptable public key. Never holds the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyLineError {
    #[error("the public key is empty or not one line")]
    NotOneLine,
    #[error("the public key line has no known key type")]
    UnknownType,
    #[error("the public key's data is not base64 of a key of its type")]
    BadData,
    #[error("the public key line has options, which are not accepted here")]
    Options,
    #[error("the public key line has an option that is not a restriction")]
    UnsafeOption,
}

/// A checked public key line: its options (may be empty), type, data and comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLine<'a> {
    pub options: &'a str,
    pub key_type: &'a str,
    pub data: &'a str,
    pub comment: &'a str,
}

/// Check `line`: one line, `[options] type base64 [comment]`, the data
/// naming the same type; options only when `options_allowed`, and then
/// only restricting ones.
pub fn check(line: &str, options_allowed: bool) -> Result<KeyLine<'_>, KeyLineError> {
    let line = line.trim();
    if line.is_empty() || line.contains(['\n', '\r', '\0']) {
        return Err(KeyLineError::NotOneLine);
    }
    let mut words = line.splitn(2, ' ');
    let first = words.next().unwrap_or_default();
    let (options, rest) = if KEY_TYPES.contains(&first) {
        ("", line)
    } else {
        (first, words.next().unwrap_or_default().trim_start())
    };
    let mut parts = rest.splitn(3, ' ');
    let key_type = parts.next().unwrap_or_default();
    if !KEY_TYPES.contains(&key_type) {
        return Err(KeyLineError::UnknownType);
    }
    let data = parts.next().unwrap_or_default();
    let comment = parts.next().unwrap_or_default().trim();
    let blob = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| KeyLineError::BadData)?;
    if wire_string(&blob) != Some(key_type.as_bytes()) {
        return Err(KeyLineError::BadData);
    }
    if !options.is_empty() {
        if !options_allowed {
            return Err(KeyLineError::Options);
        }
        if !options.split(',').all(|o| RESTRICTING_OPTIONS.contains(&o)) {
            return Err(KeyLineError::UnsafeOption);
        }
    }
    Ok(KeyLine {
        options,
        key_type,
        data,
        comment,
    })
}

/// The first length-prefixed string of an SSH wire blob.
fn wire_string(blob: &[u8]) -> Option<&[u8]> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    blob.get(4..4 + len)
}

/// A one-off key pair for a client that sent no key.
pub struct KeyPair {
    /// `no-X11-forwarding,no-pty,no-user-rc ssh-rsa DATA USER@CLIENT`.
    pub public_line: String,
    /// `-----BEGIN RSA PRIVATE KEY-----` ... (a secret: never logged).
    pub private_pem: String,
}

/// Making a key pair failed (the system's random source, or RSA itself).
#[derive(Debug, thiserror::Error)]
#[error("generating an RSA key pair: {0}")]
pub struct GenerateError(String);

/// RSA 2048, as the reference's `genkeypair`; slow (run it off the
/// request threads), the comment is `user@client`.
pub fn generate(user: &str, client: &str) -> Result<KeyPair, GenerateError> {
    let (data, private_pem) = generate_rsa()?;
    Ok(KeyPair {
        public_line: format!("{GENERATED_KEY_OPTIONS} ssh-rsa {data} {user}@{client}"),
        private_pem,
    })
}

/// A fresh RSA 2048 key pair: the public key's OpenSSH data (base64 of its
/// `ssh-rsa` blob) and the private key as PKCS#1 PEM
/// (`-----BEGIN RSA PRIVATE KEY-----`, as paramiko writes it). Slow.
pub fn generate_rsa() -> Result<(String, String), GenerateError> {
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
        .map_err(|e| GenerateError(e.to_string()))?;
    let private_pem = key
        .to_pkcs1_pem(LineEnding::LF)
        .map_err(|e| GenerateError(e.to_string()))?
        .to_string();
    Ok((rsa_public_data(&key), private_pem))
}

/// The OpenSSH data (base64 of the `ssh-rsa` blob) of an RSA key.
pub fn rsa_public_data(key: &impl PublicKeyParts) -> String {
    let mut blob = Vec::new();
    put_string(&mut blob, b"ssh-rsa");
    put_mpint(&mut blob, &key.e().to_bytes_be());
    put_mpint(&mut blob, &key.n().to_bytes_be());
    base64::engine::general_purpose::STANDARD.encode(blob)
}

/// Append an SSH wire string.
pub(crate) fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// An SSH mpint: big-endian, a leading zero when the top bit is set.
pub(crate) fn put_mpint(out: &mut Vec<u8>, be: &[u8]) {
    let trimmed: &[u8] = match be.iter().position(|b| *b != 0) {
        Some(i) => &be[i..],
        None => &[],
    };
    if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
        out.extend_from_slice(&((trimmed.len() + 1) as u32).to_be_bytes());
        out.push(0);
    } else {
        out.extend_from_slice(&(trimmed.len() as u32).to_be_bytes());
    }
    out.extend_from_slice(trimmed);
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop";

    #[test]
    fn a_plain_key_line_is_accepted_and_split() {
        let k = check(ED25519, false).unwrap();
        assert_eq!(
            (k.options, k.key_type, k.comment),
            ("", "ssh-ed25519", "alice@laptop")
        );
    }

    #[test]
    fn bad_lines_are_refused() {
        let cases = [
            ("", KeyLineError::NotOneLine),
            ("ssh-ed25519 AAAA\nssh-rsa AAAA", KeyLineError::NotOneLine),
            ("ssh-foo AAAA", KeyLineError::UnknownType),
            ("ssh-rsa !!!", KeyLineError::BadData),
            // ed25519 data under the rsa name.
            (
                "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
                KeyLineError::BadData,
            ),
        ];
        for (line, want) in cases {
            assert_eq!(check(line, true).unwrap_err(), want, "{line:?}");
        }
        let with_options = format!("no-pty {ED25519}");
        assert_eq!(
            check(&with_options, false).unwrap_err(),
            KeyLineError::Options
        );
        assert!(check(&with_options, true).is_ok());
        let command = format!("command=\"/bin/sh\" {ED25519}");
        assert_eq!(
            check(&command, true).unwrap_err(),
            KeyLineError::UnsafeOption
        );
    }

    #[test]
    fn a_generated_pair_is_a_valid_line_and_a_pkcs1_pem() {
        let pair = generate("alice", "127.0.0.1").unwrap();
        let line = check(&pair.public_line, true).unwrap();
        assert_eq!(line.options, GENERATED_KEY_OPTIONS);
        assert_eq!(line.key_type, "ssh-rsa");
        assert_eq!(line.comment, "alice@127.0.0.1");
        assert!(pair
            .private_pem
            .starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert!(pair
            .private_pem
            .ends_with("-----END RSA PRIVATE KEY-----\n"));
    }

    #[test]
    fn mpints_get_a_leading_zero_only_when_the_top_bit_is_set() {
        let mut out = Vec::new();
        put_mpint(&mut out, &[0x00, 0x80, 0x01]);
        assert_eq!(out, [0, 0, 0, 3, 0, 0x80, 0x01]);
        out.clear();
        put_mpint(&mut out, &[0x01, 0x00, 0x01]);
        assert_eq!(out, [0, 0, 0, 3, 1, 0, 1]);
    }
}
