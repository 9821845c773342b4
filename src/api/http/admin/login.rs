//! Logging in and out of the dashboard. A login is the frontends' password
//! check (same mechanism and failed-login limits) plus membership of the
//! admin group; it opens a session (`session`) whose cookie the answer
//! sets. Every later request is checked again: a live session, the user
//! still in the group, and for a POST the CSRF token and origin (`csrf`).

use super::pages;
use super::session::{self, Session};
use super::{csrf, dashboard_page, redirect, Dashboard, Fields};
use crate::api::http::error::HttpError;
use crate::api::http::Context;
use crate::broker::admin::AdminLogin;
use hyper::header::{HeaderMap, HeaderValue, RETRY_AFTER, SET_COOKIE};
use hyper::{Response, StatusCode};
use std::net::IpAddr;

type Routed = Result<Response<crate::api::http::response::Body>, HttpError>;

/// `POST /admin/login`.
pub async fn log_in(
    ctx: &Context,
    dash: &Dashboard,
    headers: &HeaderMap,
    fields: &Fields,
    client: IpAddr,
) -> Routed {
    if !csrf::same_origin(headers) {
        return Err(HttpError::Forbidden(
            "dashboard login from another origin".into(),
        ));
    }
    let (user, password) = (fields.get("user"), fields.get("password"));
    let refused = |status, notice: &str| dashboard_page(status, pages::login(Some(notice), user));
    if user.is_empty() || password.is_empty() {
        return Ok(refused(
            StatusCode::BAD_REQUEST,
            "Give a user name and a password.",
        ));
    }
    let ip = client.to_string();
    match ctx
        .broker
        .admin_login(&dash.group, user, password, &ip)
        .await?
    {
        AdminLogin::Admitted => {
            let (id, _) = dash.sessions.open(user);
            let mut r = redirect("/admin/");
            if let Ok(v) = HeaderValue::from_str(&session::set_cookie(&id)) {
                r.headers_mut().insert(SET_COOKIE, v);
            }
            Ok(r)
        }
        AdminLogin::Refused => Ok(refused(
            StatusCode::UNAUTHORIZED,
            "Login refused: wrong user name or password, or not an administrator.",
        )),
        AdminLogin::Limited(wait) => {
            let mut r = refused(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed logins: try again later.",
            );
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(wait.max(1)));
            Ok(r)
        }
    }
}

/// The request's session when it has a live one and its user is still in
/// the admin group (a user removed from the group loses it at once).
pub async fn session_of(ctx: &Context, dash: &Dashboard, headers: &HeaderMap) -> Option<Session> {
    let id = session::cookie_id(headers)?;
    let s = dash.sessions.get(&id)?;
    if ctx.broker.in_admin_group(&dash.group, &s.user).await {
        Some(s)
    } else {
        dash.sessions.close(&id);
        None
    }
}

/// The session of a state-changing POST: live, same origin, and the form's
/// CSRF token its own; else 403.
pub async fn checked_post(
    ctx: &Context,
    dash: &Dashboard,
    headers: &HeaderMap,
    fields: &Fields,
) -> Result<Session, HttpError> {
    let Some(s) = session_of(ctx, dash, headers).await else {
        return Err(HttpError::Forbidden("no dashboard session".into()));
    };
    if !csrf::same_origin(headers) {
        return Err(HttpError::Forbidden(
            "dashboard request from another origin".into(),
        ));
    }
    if !csrf::token_matches(&s.csrf, fields.get("csrf")) {
        return Err(HttpError::Forbidden(
            "dashboard request without its CSRF token".into(),
        ));
    }
    Ok(s)
}

/// `POST /admin/logout`.
pub async fn log_out(
    ctx: &Context,
    dash: &Dashboard,
    headers: &HeaderMap,
    fields: &Fields,
) -> Routed {
    checked_post(ctx, dash, headers, fields).await?;
    if let Some(id) = session::cookie_id(headers) {
        dash.sessions.close(&id);
    }
    let mut r = redirect("/admin/login");
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie()) {
        r.headers_mut().insert(SET_COOKIE, v);
    }
    Ok(r)
}
