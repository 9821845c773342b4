//! The public half of the broker's SSH private keys, read the way the
//! reference's `/pubkeys/` reads them with paramiko: an RSA key
//! (`id_rsa`) or a DSA key (`id_dsa`) in PKCS#1 PEM (`-----BEGIN RSA
//! PRIVATE KEY-----`, `-----BEGIN DSA PRIVATE KEY-----`, unencrypted) or
//! in the OpenSSH format (`-----BEGIN OPENSSH PRIVATE KEY-----`, whose
//! public key is stored in the clear). The answer is the key's OpenSSH
//! data: base64 of its wire blob, as in an `authorized_keys` line.

use crate::sshkey::{put_mpint, put_string};
use base64::Engine;

/// The key types the reference serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    Dsa,
}

impl KeyType {
    /// The OpenSSH name (`ssh-rsa`, `ssh-dss`).
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Rsa => "ssh-rsa",
            KeyType::Dsa => "ssh-dss",
        }
    }
}

/// Why a private key file gave no public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrivateKeyError {
    #[error("no unencrypted {0} private key (PKCS#1 PEM or OpenSSH format) in it")]
    NotFound(&'static str),
    #[error("the key is encrypted (the broker cannot read it)")]
    Encrypted,
    #[error("the key does not decode: {0}")]
    Bad(String),
    #[error("the key is a {found} key, not {wanted}")]
    OtherType { found: String, wanted: &'static str },
}

/// The base64 between a PEM's `-----BEGIN {label}-----` and its end line,
/// decoded; `Encrypted` for a key with PEM encryption headers.
fn pem_body(text: &str, label: &str) -> Option<Result<Vec<u8>, PrivateKeyError>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let body = &text[start..stop];
    if body.contains("Proc-Type:") || body.contains("DEK-Info:") {
        return Some(Err(PrivateKeyError::Encrypted));
    }
    let b64: String = body.split_whitespace().collect();
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| PrivateKeyError::Bad(e.to_string())),
    )
}

/// The OpenSSH data of the `kind` key in the private key file `text`.
pub fn public_data(text: &str, kind: KeyType) -> Result<String, PrivateKeyError> {
    let label = match kind {
        KeyType::Rsa => "RSA PRIVATE KEY",
        KeyType::Dsa => "DSA PRIVATE KEY",
    };
    if let Some(der) = pem_body(text, label) {
        let blob = match kind {
            KeyType::Rsa => rsa_blob(&der?)?,
            KeyType::Dsa => dsa_blob(&der?)?,
        };
        return Ok(base64::engine::general_purpose::STANDARD.encode(blob));
    }
    if let Some(data) = pem_body(text, "OPENSSH PRIVATE KEY") {
        let blob = openssh_public_blob(&data?)?;
        let found = wire_strings(&blob, 1)
            .and_then(|s| String::from_utf8(s[0].to_vec()).ok())
            .unwrap_or_default();
        if found != kind.name() {
            return Err(PrivateKeyError::OtherType {
                found,
                wanted: kind.name(),
            });
        }
        return Ok(base64::engine::general_purpose::STANDARD.encode(blob));
    }
    Err(PrivateKeyError::NotFound(kind.name()))
}

fn rsa_blob(der: &[u8]) -> Result<Vec<u8>, PrivateKeyError> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    let key =
        rsa::RsaPrivateKey::from_pkcs1_der(der).map_err(|e| PrivateKeyError::Bad(e.to_string()))?;
    let data = crate::sshkey::rsa_public_data(&key);
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| PrivateKeyError::Bad(e.to_string()))
}

/// `ssh-dss` p q g y from OpenSSL's DSA key: SEQUENCE { 0, p, q, g, y, x }.
fn dsa_blob(der: &[u8]) -> Result<Vec<u8>, PrivateKeyError> {
    let numbers = yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let _version = r.next().read_u8()?;
            let mut numbers = Vec::new();
            for _ in 0..5 {
                numbers.push(r.next().read_bigint_bytes()?.0);
            }
            Ok(numbers)
        })
    })
    .map_err(|e| PrivateKeyError::Bad(e.to_string()))?;
    let mut blob = Vec::new();
    put_string(&mut blob, b"ssh-dss");
    for n in &numbers[..4] {
        put_mpint(&mut blob, n);
    }
    Ok(blob)
}

/// The first `n` length-prefixed strings of an SSH wire blob.
fn wire_strings(mut blob: &[u8], n: usize) -> Option<Vec<&[u8]>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
        out.push(blob.get(4..4 + len)?);
        blob = &blob[4 + len..];
    }
    Some(out)
}

/// The public key blob of an `openssh-key-v1` file (stored unencrypted).
fn openssh_public_blob(data: &[u8]) -> Result<Vec<u8>, PrivateKeyError> {
    let bad = || PrivateKeyError::Bad("not an openssh-key-v1 key".into());
    let rest = data.strip_prefix(b"openssh-key-v1\0").ok_or_else(bad)?;
    // cipher, kdf, kdf options; then the number of keys (u32), then the first public key.
    let head = wire_strings(rest, 3).ok_or_else(bad)?;
    let used: usize = head.iter().map(|s| 4 + s.len()).sum();
    let after = &rest[used..];
    let count = u32::from_be_bytes(
        after
            .get(..4)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    if count != 1 {
        return Err(PrivateKeyError::Bad(format!("{count} keys in one file")));
    }
    let public = wire_strings(&after[4..], 1).ok_or_else(bad)?;
    Ok(public[0].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rsa_pkcs1_key_gives_the_public_data_keygen_wrote() {
        let (data, pem) = crate::sshkey::generate_rsa().unwrap();
        assert_eq!(public_data(&pem, KeyType::Rsa).unwrap(), data);
        assert_eq!(
            public_data(&pem, KeyType::Dsa),
            Err(PrivateKeyError::NotFound("ssh-dss"))
        );
    }

    /// An OpenSSH-format file around a public blob (the private part is not read).
    fn openssh_file(blob: &[u8]) -> String {
        let mut data = b"openssh-key-v1\0".to_vec();
        for s in [&b"none"[..], b"none", b""] {
            put_string(&mut data, s);
        }
        data.extend_from_slice(&1u32.to_be_bytes());
        put_string(&mut data, blob);
        put_string(&mut data, b"(private part)");
        let b64 = base64::engine::general_purpose::STANDARD.encode(data);
        format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{b64}\n-----END OPENSSH PRIVATE KEY-----\n")
    }

    #[test]
    fn an_openssh_format_key_gives_its_stored_public_key() {
        let (data, _) = crate::sshkey::generate_rsa().unwrap();
        let blob = base64::engine::general_purpose::STANDARD
            .decode(&data)
            .unwrap();
        assert_eq!(
            public_data(&openssh_file(&blob), KeyType::Rsa).unwrap(),
            data
        );
        let mut ed = Vec::new();
        put_string(&mut ed, b"ssh-ed25519");
        put_string(&mut ed, &[7; 32]);
        assert!(matches!(
            public_data(&openssh_file(&ed), KeyType::Rsa),
            Err(PrivateKeyError::OtherType { .. })
        ));
    }

    #[test]
    fn a_dsa_key_gives_p_q_g_y() {
        // SEQUENCE { 0, p=0x81, q=2, g=3, y=4, x=5 }
        let der = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next().write_u8(0);
                for n in [&[0x00, 0x81][..], &[2], &[3], &[4], &[5]] {
                    w.next().write_bigint_bytes(n, true);
                }
            })
        });
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let pem =
            format!("-----BEGIN DSA PRIVATE KEY-----\n{b64}\n-----END DSA PRIVATE KEY-----\n");
        let data = public_data(&pem, KeyType::Dsa).unwrap();
        let blob = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        let parts = wire_strings(&blob, 5).unwrap();
        assert_eq!(parts[0], b"ssh-dss");
        assert_eq!(parts[1], [0x00, 0x81], "an mpint keeps the sign byte");
        assert_eq!(&parts[2..], [&[2][..], &[3], &[4]]);
    }

    #[test]
    fn encrypted_and_garbage_keys_are_refused() {
        let enc = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(
            public_data(enc, KeyType::Rsa),
            Err(PrivateKeyError::Encrypted)
        );
        let junk = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(matches!(
            public_data(junk, KeyType::Rsa),
            Err(PrivateKeyError::Bad(_))
        ));
        assert!(matches!(
            public_data("", KeyType::Rsa),
            Err(PrivateKeyError::NotFound(_))
        ));
    }
}
