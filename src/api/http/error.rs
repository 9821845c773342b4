//! Why a request gets no success answer, and the one place where every such
//! reason (the HTTP layer's own and the broker's) becomes a status code and
//! a body. The full text is logged by the caller; a 5xx body carries at
//! most the broker's short public reason (e.g. "cluster unavailable").

use super::form::FormError;
use super::response::{self, Body};
use super::MAX_BODY;
use crate::broker::{BrokerError, LedgerError, TaskError};
use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::{Response, StatusCode};

/// The Retry-After (seconds) of an answer refused because authentication is busy.
const AUTH_BUSY_RETRY_S: u64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No such path, backend or frontend here.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("bad Content-Length")]
    BadContentLength,
    #[error("reading body: {0}")]
    BadBody(String),
    #[error("body larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("body not received in time")]
    BodyTimeout,
    #[error(transparent)]
    Form(#[from] FormError),
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error("pubkey: {0}")]
    BadPubkey(#[from] crate::sshkey::KeyLineError),
    #[error("access denied for user '{0}'")]
    AccessDenied(String),
    /// A dashboard form with unknown, repeated or overlong fields.
    #[error("{0}")]
    BadForm(String),
    /// A dashboard request refused: no session, a bad CSRF token or origin.
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

impl From<LedgerError> for HttpError {
    fn from(e: LedgerError) -> Self {
        HttpError::Broker(e.into())
    }
}

impl HttpError {
    /// The status code of every refusal and failure.
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::NotFound(_) => StatusCode::NOT_FOUND,
            HttpError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            HttpError::BadContentLength
            | HttpError::BadBody(_)
            | HttpError::Form(_)
            | HttpError::Task(_)
            | HttpError::BadPubkey(_)
            | HttpError::BadForm(_) => StatusCode::BAD_REQUEST,
            HttpError::Forbidden(_) => StatusCode::FORBIDDEN,
            HttpError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            HttpError::AccessDenied(_) => StatusCode::UNAUTHORIZED,
            HttpError::Broker(BrokerError::Ledger(_) | BrokerError::AuthBusy(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            HttpError::Broker(BrokerError::Load(_) | BrokerError::UnexpectedOutcome { .. }) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The answer: the reference's error page for refusals, a short plain
    /// text for server-side failures (never the internal error text).
    pub fn response(&self) -> Response<Body> {
        let status = self.status();
        match self {
            HttpError::Broker(e @ BrokerError::AuthBusy(_)) => {
                let mut r = response::server_error(status, e.public_reason());
                r.headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(AUTH_BUSY_RETRY_S));
                r
            }
            HttpError::Broker(e) => response::server_error(status, e.public_reason()),
            _ => response::error(status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(r: Response<Body>) -> String {
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn server_failures_keep_internal_text_out_of_the_body() {
        let e = HttpError::from(LedgerError::Unavailable(
            crate::cluster::Unavailable::ForwardDeadline(2),
        ));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(e.to_string().contains("forwarding to node 2 timed out"));
        let text = body(e.response()).await;
        assert_eq!(text, "503: Service Unavailable: cluster unavailable\n");

        let disk_full = std::io::Error::other("writing state: disk full");
        let e = HttpError::from(LedgerError::Storage(std::sync::Arc::new(disk_full)));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body(e.response()).await, "503: Service Unavailable\n");
    }

    #[tokio::test]
    async fn refusals_get_the_reference_error_page() {
        let e = HttpError::from(TaskError::Unknown("x".into()));
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.to_string(), "unknown task 'x'");
        assert!(body(e.response()).await.contains("400: Bad Request"));
        assert_eq!(
            HttpError::AccessDenied("u".into()).status(),
            StatusCode::UNAUTHORIZED
        );
    }
}
