//! Agent enrollment in the replicated state: join tokens and the trust in
//! each X2Go server's agent certificates.
//!
//! A token is kept only as the SHA-256 of its text (the proposer hashes
//! it; the state never sees the token), with the expiry its proposer
//! stamped and, optionally, the one server it may enroll. Redeeming it is
//! a command, so it is used once cluster-wide: a used token stays as a
//! tombstone (a reuse is told apart from a forgery) until
//! `TOKEN_KEEP_MS` after its expiry.
//!
//! Revocation is by server name: `RevokeAgent` refuses every certificate
//! of that server from then on, except the certificates enrolled for it
//! after the revocation, which are recorded here by the SHA-256
//! fingerprint of their DER (so a re-enrolled server works again, while
//! its old certificates, whoever holds them, stay refused).

use super::command::{EnrolledCert, Millis, Outcome, TokenRefusal};
use super::pairs::{self, Write};
use super::State;
use serde::{Deserialize, Serialize};

/// Outstanding token records (open, used or expired but still kept) at most.
pub const MAX_TOKENS: usize = 10_000;
/// How long a token's record stays after its expiry (so that a late
/// attempt hears "expired" or "already used" rather than "unknown").
pub const TOKEN_KEEP_MS: Millis = 24 * 60 * 60 * 1000;
/// Certificates enrolled per server remembered at most (the newest).
pub const MAX_ENROLLED_PER_HOST: usize = 8;

/// A join token as the state keeps it (under the hash of the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub issued_at: Millis,
    pub expires_at: Millis,
    /// The one server this token may enroll (None: any).
    pub hostname: Option<String>,
    /// When and for which server it was used (it is single-use).
    pub redeemed: Option<(Millis, String)>,
}

/// What the cluster trusts of one server's agent certificates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostTrust {
    /// When its certificates were last revoked (None: never).
    pub revoked_at: Option<Millis>,
    /// Certificates enrolled since that revocation (ever, when never
    /// revoked), oldest first, at most `MAX_ENROLLED_PER_HOST`.
    pub enrolled: Vec<EnrolledCert>,
}

impl HostTrust {
    /// Whether a certificate with `fingerprint` is refused for this server.
    pub fn refuses(&self, fingerprint: &str) -> bool {
        self.revoked_at.is_some() && !self.enrolled.iter().any(|c| c.fingerprint == fingerprint)
    }
}

impl State {
    /// The token record under `hash`, if any.
    pub fn agent_token(&self, hash: &str) -> Option<&TokenRecord> {
        self.agent_tokens.get(hash)
    }

    pub fn agent_token_count(&self) -> usize {
        self.agent_tokens.len()
    }

    /// What the cluster trusts of `hostname`'s agent certificates.
    pub fn host_trust(&self, hostname: &str) -> Option<&HostTrust> {
        self.agent_hosts.get(hostname)
    }

    /// Every server with a trust record (revoked or enrolled), by name.
    pub fn host_trusts(&self) -> impl Iterator<Item = (&String, &HostTrust)> {
        self.agent_hosts.iter()
    }

    /// Whether the agent certificate with `fingerprint` for `hostname` is refused.
    pub fn agent_certificate_refused(&self, hostname: &str, fingerprint: &str) -> bool {
        self.agent_hosts
            .get(hostname)
            .is_some_and(|t| t.refuses(fingerprint))
    }

    /// Record a new token (after forgetting records kept long enough).
    pub(super) fn issue_agent_token(
        &mut self,
        hash: &str,
        record: TokenRecord,
        writes: &mut Vec<Write>,
    ) -> Outcome {
        self.forget_agent_tokens(record.issued_at, writes);
        if self.agent_tokens.contains_key(hash) {
            return Outcome::TokenRefused(TokenRefusal::Duplicate);
        }
        if self.agent_tokens.len() >= MAX_TOKENS {
            return Outcome::TokenRefused(TokenRefusal::TooMany);
        }
        writes.push(pairs::token_put(hash, &record));
        self.agent_tokens.insert(hash.to_string(), record);
        Outcome::Done
    }

    /// Use the token under `hash` at `now` to enroll `cert` for `hostname`.
    pub(super) fn redeem_agent_token(
        &mut self,
        hash: &str,
        hostname: &str,
        now: Millis,
        cert: &EnrolledCert,
        writes: &mut Vec<Write>,
    ) -> Outcome {
        let Some(token) = self.agent_tokens.get_mut(hash) else {
            return Outcome::TokenRefused(TokenRefusal::Unknown);
        };
        let refusal = if token.redeemed.is_some() {
            Some(TokenRefusal::Used)
        } else if now >= token.expires_at {
            Some(TokenRefusal::Expired)
        } else if token.hostname.as_deref().is_some_and(|h| h != hostname) {
            Some(TokenRefusal::OtherHost)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            return Outcome::TokenRefused(refusal);
        }
        token.redeemed = Some((now, hostname.to_string()));
        writes.push(pairs::token_put(hash, token));
        let trust = self.agent_hosts.entry(hostname.to_string()).or_default();
        trust.enrolled.push(cert.clone());
        if trust.enrolled.len() > MAX_ENROLLED_PER_HOST {
            let extra = trust.enrolled.len() - MAX_ENROLLED_PER_HOST;
            trust.enrolled.drain(..extra);
        }
        writes.push(pairs::host_trust_put(hostname, trust));
        Outcome::TokenRedeemed
    }

    /// Refuse every certificate of `hostname` enrolled or made before `at`.
    pub(super) fn revoke_agent(&mut self, hostname: &str, at: Millis, writes: &mut Vec<Write>) {
        let trust = self.agent_hosts.entry(hostname.to_string()).or_default();
        trust.revoked_at = Some(at);
        trust.enrolled.clear();
        writes.push(pairs::host_trust_put(hostname, trust));
    }

    /// Forget the token records whose keeping time ended before `now`.
    pub(super) fn forget_agent_tokens(&mut self, now: Millis, writes: &mut Vec<Write>) {
        let done: Vec<String> = self
            .agent_tokens
            .iter()
            .filter(|(_, t)| now >= t.expires_at.saturating_add(TOKEN_KEEP_MS))
            .map(|(h, _)| h.clone())
            .collect();
        for hash in done {
            self.agent_tokens.remove(&hash);
            writes.push(pairs::token_delete(&hash));
        }
    }
}
