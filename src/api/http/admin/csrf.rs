//! Cross-site request forgery: every state-changing POST of the dashboard
//! (login, drain, undrain, logout) must come from the dashboard's own
//! pages. The session's random token travels in a hidden form field and is
//! compared in constant time (the session cookie alone, which the browser
//! adds by itself, proves nothing); and when the browser says where the
//! request comes from (`Origin`, else `Referer`), that must be this very
//! HTTPS origin (the `Host` the request was sent to).

use hyper::header::{HeaderMap, HOST, ORIGIN, REFERER};

/// A fresh random token (32 bytes, hex).
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).expect("the OS random source works");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Whether the form's token is the session's.
pub fn token_matches(session: &str, form: &str) -> bool {
    !form.is_empty() && crate::auth::constant_time_eq(session.as_bytes(), form.as_bytes())
}

/// Whether `Origin` (or, without it, `Referer`) names this HTTPS origin;
/// a request with neither passes here (the token still has to match).
pub fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
    let Some(host) = text(HOST) else {
        return text(ORIGIN).is_none() && text(REFERER).is_none();
    };
    let ours = format!("https://{host}");
    if let Some(origin) = text(ORIGIN) {
        return origin == ours;
    }
    if let Some(referer) = text(REFERER) {
        return referer
            .strip_prefix(&ours)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origin_then_referer_must_be_this_https_origin() {
        let host = ("host", "127.0.0.1:8443");
        assert!(same_origin(&headers(&[host])));
        assert!(same_origin(&headers(&[
            host,
            ("origin", "https://127.0.0.1:8443")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:8443")
        ])));
        assert!(!same_origin(&headers(&[host, ("origin", "null")])));
        // Origin decides when both are there.
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "https://evil.example"),
            ("referer", "https://127.0.0.1:8443/admin/")
        ])));
        assert!(same_origin(&headers(&[
            host,
            ("referer", "https://127.0.0.1:8443/admin/")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("referer", "https://127.0.0.1:8443.evil.example/admin/")
        ])));
        assert!(!same_origin(&headers(&[(
            "origin",
            "https://127.0.0.1:8443"
        )])));
    }

    #[test]
    fn tokens_are_random_and_compared_whole() {
        let t = new_token();
        assert_eq!(t.len(), 64);
        assert_ne!(t, new_token());
        assert!(token_matches(&t, &t.clone()));
        assert!(!token_matches(&t, &t[..63]));
        assert!(!token_matches(&t, ""));
    }
}
