//! Agent enrollment, the successor of `x2gobroker-keygen` plus
//! `x2gobroker-pubkeyauthorizer` for our agents: an administrator asks for
//! a single-use join token (`x2gobrokerctl agent-token`), and the X2Go
//! server's agent trades it, with a certificate request for a key it made
//! itself, for an agent certificate (`x2gobroker-agent enroll`).
//!
//! `token` makes and hashes join tokens; `csr` reads and checks the
//! agent's certificate request; `ca` is the agent-signing CA the brokers
//! sign with (never the cluster CA); `wire` is the JSON of `POST
//! /enroll/`; `redeem` is the broker's side of it (the token is redeemed
//! through the replicated state, so it works once cluster-wide); `client`
//! is the agent's side (its key never leaves the server), which sends its
//! request with `post`.

pub mod ca;
pub mod client;
pub mod csr;
pub mod post;
pub mod redeem;
pub mod token;
pub mod wire;

/// SHA-256 of `bytes`, lowercase hex (token hashes, certificate fingerprints).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    hex(digest.as_ref())
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// The fingerprint the cluster knows an agent certificate by: SHA-256 of its DER.
pub fn fingerprint(der: &[u8]) -> String {
    sha256_hex(der)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_of_the_empty_string() {
        assert_eq!(
            super::sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
