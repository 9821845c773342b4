//! The broker's side of `POST /enroll/`: check the request (token shape,
//! host name, certificate request), look the token up (a token no node
//! issued is refused without writing anything), sign a certificate for
//! the agent's key with the agent CA, and redeem the token through the
//! replicated state with that certificate's fingerprint, so that it works
//! once in the whole cluster; the certificate is handed out only when the
//! redeem was applied. A refused token counts against the client address
//! like an unknown authid cookie (the failed-login limits), and a blocked
//! address is answered 429. Tokens and keys are never logged.

use super::ca::{AgentCa, AgentCaError};
use super::csr::{self, CsrError};
use super::token::{MalformedToken, Token};
use super::wire::{EnrollRequest, EnrollResponse, FieldError};
use crate::broker::{Broker, LedgerError};
use crate::keygen::{check_agent_host, KeygenError};
use crate::logsafe::escaped;
use crate::state::{Command, EnrolledCert, Outcome, TokenRefusal};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Why an enrollment was not done.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error(transparent)]
    Token(#[from] MalformedToken),
    #[error("{0}")]
    Hostname(#[from] KeygenError),
    #[error(transparent)]
    Csr(#[from] CsrError),
    #[error("{0}")]
    Refused(TokenRefusal),
    #[error("the brokers cannot record the enrollment now: {0}")]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Sign(#[from] AgentCaError),
    #[error("unexpected outcome of the redeem: {0:?}")]
    Unexpected(Box<Outcome>),
    #[error("too many refused attempts from this address; try again in {} s", .0.as_secs().max(1))]
    Blocked(std::time::Duration),
}

impl EnrollError {
    /// The HTTP status: 400 for bad input, 403 for a refused token, 503
    /// when the cluster cannot decide now, 500 for the broker's own failures.
    pub fn status(&self) -> u16 {
        match self {
            EnrollError::Field(_)
            | EnrollError::Token(_)
            | EnrollError::Hostname(_)
            | EnrollError::Csr(_) => 400,
            EnrollError::Refused(_) => 403,
            EnrollError::Blocked(_) => 429,
            EnrollError::Ledger(_) => 503,
            EnrollError::Sign(_) | EnrollError::Unexpected(_) => 500,
        }
    }

    /// How long to wait before trying again, for a blocked address.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            EnrollError::Blocked(wait) => Some(*wait),
            _ => None,
        }
    }

    /// What the agent is told: the reason for its own mistakes, a short
    /// public reason for the broker's.
    pub fn public_message(&self) -> String {
        match self {
            EnrollError::Ledger(e) => format!(
                "the brokers cannot record the enrollment now ({}); try again",
                e.public_reason().unwrap_or("storage failure")
            ),
            EnrollError::Sign(_) | EnrollError::Unexpected(_) => {
                "the broker failed to sign the certificate (see its log)".into()
            }
            other => other.to_string(),
        }
    }
}

/// Enrollment on this broker: its agent CA and the cluster it records in.
pub struct Enrollment {
    ca: AgentCa,
    broker: Arc<Broker>,
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Enrollment {
    pub fn new(ca: AgentCa, broker: Arc<Broker>) -> Self {
        Enrollment { ca, broker }
    }

    /// Handle one request body from `client`.
    pub async fn enroll(&self, body: &[u8], client: IpAddr) -> Result<EnrollResponse, EnrollError> {
        let address = client.to_string();
        let result = match self.broker.address_blocked_for(&address).await {
            Some(wait) => Err(EnrollError::Blocked(wait)),
            None => self.try_enroll(body).await,
        };
        if matches!(result, Err(EnrollError::Refused(_))) {
            self.broker.address_failed(&address).await;
        }
        match &result {
            Ok(r) => {
                tracing::info!(client = %client, server = %escaped(&r.hostname), serial = %r.serial, fingerprint = %r.fingerprint, "agent enrolled")
            }
            Err(e) if e.status() < 500 => {
                tracing::warn!(client = %client, reason = %escaped(&e.to_string()), "agent enrollment refused")
            }
            Err(e) => tracing::error!(client = %client, error = %e, "agent enrollment failed"),
        }
        result
    }

    async fn try_enroll(&self, body: &[u8]) -> Result<EnrollResponse, EnrollError> {
        let req = EnrollRequest::parse(body)?;
        let token = Token::parse(&req.token)?;
        check_agent_host(&req.hostname)?;
        let key = csr::verified_key(&req.csr)?;
        let hash = token.hash();
        // A token no node issued is refused without a write: look in the
        // applied state, then after the read barrier.
        let known = self.broker.read_applied(|s| s.agent_token(&hash).is_some())
            || self
                .broker
                .read_fresh(|s| s.agent_token(&hash).is_some())
                .await?;
        if !known {
            return Err(EnrollError::Refused(TokenRefusal::Unknown));
        }
        let now = SystemTime::now();
        let issued = self.ca.sign(&req.hostname, &key, now)?;
        let cmd = Command::RedeemAgentToken {
            hash,
            hostname: req.hostname.clone(),
            now: millis(now),
            cert: EnrolledCert {
                fingerprint: issued.fingerprint.clone(),
                serial: issued.serial.clone(),
                at: millis(now),
            },
        };
        match self.broker.submit(cmd).await? {
            Outcome::TokenRedeemed => Ok(EnrollResponse {
                hostname: req.hostname,
                certificate: issued.pem,
                ca: self.ca.cluster_ca_pem().to_string(),
                serial: issued.serial,
                fingerprint: issued.fingerprint,
            }),
            Outcome::TokenRefused(why) => Err(EnrollError::Refused(why)),
            other => Err(EnrollError::Unexpected(Box::new(other))),
        }
    }
}

#[cfg(test)]
#[path = "redeem_tests.rs"]
mod tests;
