//! The JSON of `POST /enroll/`: what the agent sends (its join token, its
//! server's name and a certificate request) and what the broker answers
//! (the certificate, the CA to trust for the brokers, the serial and the
//! fingerprint), or `{"error": "..."}` with a 4xx (bad input, refused
//! token) or 5xx (the broker's own trouble) status. Fields are strict:
//! unknown ones are refused, and each has a length limit.

use super::csr::MAX_CSR_PEM;
use serde::{Deserialize, Serialize};

/// The path of the enrollment endpoint on the broker's HTTP(S) listeners.
pub const PATH: &str = "/enroll/";
/// Longest accepted token field (a token is 50 characters).
pub const MAX_TOKEN: usize = 128;
/// Longest host name (DNS).
pub const MAX_HOSTNAME: usize = 253;
/// Largest request body: the three fields and the JSON around them.
pub const MAX_BODY: usize = MAX_CSR_PEM + MAX_TOKEN + MAX_HOSTNAME + 512;

/// The agent's request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub token: String,
    pub hostname: String,
    /// PEM `CERTIFICATE REQUEST` for the agent's own ECDSA P-256 key.
    pub csr: String,
}

/// The broker's answer to an accepted request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub hostname: String,
    /// The agent certificate (PEM), signed by the agent CA.
    pub certificate: String,
    /// The cluster CA (PEM): what the agent trusts for the brokers.
    pub ca: String,
    /// The certificate's serial number and SHA-256 fingerprint, hex.
    pub serial: String,
    pub fingerprint: String,
}

/// The body of every refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// A request whose fields are out of bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("the request is not the enrollment JSON ({{\"token\", \"hostname\", \"csr\"}}): {0}")]
    Json(String),
    #[error("field {field} is longer than {max} bytes")]
    TooLong { field: &'static str, max: usize },
}

impl EnrollRequest {
    /// Parse and bound a request body.
    pub fn parse(body: &[u8]) -> Result<EnrollRequest, FieldError> {
        let req: EnrollRequest =
            serde_json::from_slice(body).map_err(|e| FieldError::Json(e.to_string()))?;
        for (field, value, max) in [
            ("token", &req.token, MAX_TOKEN),
            ("hostname", &req.hostname, MAX_HOSTNAME),
            ("csr", &req.csr, MAX_CSR_PEM),
        ] {
            if value.len() > max {
                return Err(FieldError::TooLong { field, max });
            }
        }
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_strict() {
        let ok = br#"{"token":"t","hostname":"x2go1","csr":"c"}"#;
        assert_eq!(EnrollRequest::parse(ok).unwrap().hostname, "x2go1");
        for bad in [
            &b"not json"[..],
            br#"{"token":"t","hostname":"x2go1"}"#,
            br#"{"token":"t","hostname":"x2go1","csr":"c","admin":true}"#,
            br#"{"token":1,"hostname":"x2go1","csr":"c"}"#,
        ] {
            assert!(matches!(
                EnrollRequest::parse(bad),
                Err(FieldError::Json(_))
            ));
        }
        let long = format!(
            r#"{{"token":"{}","hostname":"x2go1","csr":"c"}}"#,
            "t".repeat(MAX_TOKEN + 1)
        );
        assert_eq!(
            EnrollRequest::parse(long.as_bytes()),
            Err(FieldError::TooLong {
                field: "token",
                max: MAX_TOKEN
            })
        );
    }
}
