//! `POST /enroll/`: an X2Go server's agent trades a join token and a
//! certificate request for an agent certificate (`crate::enroll`). JSON in
//! and out; every refusal is `{"error": "..."}` with a 4xx status (bad
//! input, a refused token, 429 with `Retry-After` for an address with too
//! many refused tokens) and only the broker's own trouble is a 5xx.

use super::response::{Body, APPLICATION_JSON};
use super::{read_body, Context};
use crate::enroll::wire::{ErrorBody, MAX_BODY};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use std::net::IpAddr;

/// A JSON answer with `status`.
fn json(status: StatusCode, body: String) -> Response<Body> {
    let mut r = super::response::page(APPLICATION_JSON, body);
    *r.status_mut() = status;
    r
}

/// `{"error": message}` with `status`.
fn error(status: StatusCode, message: String) -> Response<Body> {
    let body = serde_json::to_string(&ErrorBody { error: message }).unwrap_or_default();
    json(status, body)
}

/// Answer one request to the enrollment path.
pub async fn handle(ctx: &Context, req: Request<Incoming>, client: IpAddr) -> Response<Body> {
    if req.method() != Method::POST {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST the enrollment JSON here".into(),
        );
    }
    let Some(enrollment) = &ctx.enrollment else {
        return error(
            StatusCode::NOT_FOUND,
            "agent enrollment is not enabled on this broker (no agent_ca and agent_ca_key)".into(),
        );
    };
    let body = match read_body(req).await {
        Ok(body) if body.len() > MAX_BODY => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request is larger than {MAX_BODY} bytes"),
            )
        }
        Ok(body) => body,
        Err(e) => return error(e.status(), e.to_string()),
    };
    match enrollment.enroll(&body, client).await {
        Ok(answer) => json(
            StatusCode::OK,
            serde_json::to_string_pretty(&answer).unwrap_or_default(),
        ),
        Err(e) => {
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut answer = error(status, e.public_message());
            if let Some(wait) = e.retry_after() {
                let secs = wait.as_secs().max(1);
                answer
                    .headers_mut()
                    .insert(hyper::header::RETRY_AFTER, secs.into());
            }
            answer
        }
    }
}
