//! Response builders: the reference's content types and headers, and its
//! web framework's error pages.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE, EXPIRES, RETRY_AFTER};
use hyper::{Response, StatusCode};

pub type Body = Full<Bytes>;

pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
pub const TEXT_JSON: &str = "text/json; charset=utf-8";
pub const TEXT_HTML: &str = "text/html; charset=UTF-8";
pub const APPLICATION_JSON: &str = "application/json";
/// The Prometheus text exposition format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A 200 answer of a broker frontend (with the reference's `Expires: +1h`).
pub fn ok(content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(EXPIRES, HeaderValue::from_static("+1h"));
    r
}

/// A 200 answer without the frontend headers.
pub fn page(content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// An error page shaped like the reference's (`<html><title>404: Not Found</title>...`).
pub fn error(status: StatusCode) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = status.as_u16();
    let body = format!("<html><title>{code}: {reason}</title><body>{code}: {reason}</body></html>");
    let mut r = page(TEXT_HTML, body);
    *r.status_mut() = status;
    r
}

/// 429 with a Retry-After in whole seconds.
pub fn too_many(wait_secs: u64) -> Response<Body> {
    let mut r = error(StatusCode::TOO_MANY_REQUESTS);
    if let Ok(v) = HeaderValue::from_str(&wait_secs.max(1).to_string()) {
        r.headers_mut().insert(RETRY_AFTER, v);
    }
    r
}

/// A server-side failure, with a short reason a client may see (e.g. no
/// cluster majority) when there is one.
pub fn server_error(status: StatusCode, reason: Option<&str>) -> Response<Body> {
    let code = status.as_u16();
    let name = status.canonical_reason().unwrap_or("Error");
    let text = match reason {
        Some(reason) => format!("{code}: {name}: {reason}\n"),
        None => format!("{code}: {name}\n"),
    };
    let mut r = page(TEXT_PLAIN, text);
    *r.status_mut() = status;
    r
}
