//! The status dashboard at `/admin/` on the HTTPS listeners, for members
//! of the admin group (`--admin-group`, node file `admin_group`; without
//! it, and on plain HTTP, `/admin/` answers 404). Server-rendered HTML
//! without script: cluster members and roles, the X2Go servers (state,
//! load factor, sessions, last report) with drain and undrain buttons, a
//! user's sessions, recent placements. Reads go through the read barrier
//! and drains through the ledger, as `x2gobrokerctl` does.
//!
//! `login` (password and group, the session), `session` (the cookie and
//! the table), `csrf` (token and origin checks), `pages` (the HTML),
//! `html` (escaping), `form` (the fields).

mod csrf;
mod form;
mod html;
mod login;
mod pages;
mod session;

use super::error::HttpError;
use super::response::{self, Body, TEXT_HTML};
use super::Context;
use crate::cluster::admin::{Drain, SessionsQuery};
use form::Fields;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, LOCATION};
use hyper::{Method, Request, Response, StatusCode};
use std::net::IpAddr;

/// Placements listed on the overview, newest first.
const PLACEMENTS_SHOWN: usize = 50;

/// The dashboard of one node: its admin group and its login sessions.
pub struct Dashboard {
    group: String,
    sessions: session::Sessions,
}

impl Dashboard {
    pub fn new(group: &str) -> Self {
        Dashboard {
            group: group.to_string(),
            sessions: session::Sessions::default(),
        }
    }
}

/// Whether `path` is the dashboard's.
pub fn is_admin_path(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// Answer one dashboard request.
pub async fn route(
    ctx: &Context,
    dash: &Dashboard,
    req: Request<Incoming>,
    client: IpAddr,
) -> Result<Response<Body>, HttpError> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let headers = req.headers().clone();
    let query = req.uri().query().unwrap_or("").as_bytes().to_vec();
    match (path.as_str(), &method) {
        ("/admin", &Method::GET) => Ok(redirect("/admin/")),
        ("/admin/", &Method::GET) => match login::session_of(ctx, dash, &headers).await {
            Some(s) => overview(ctx, &s, &Fields::parse(&query)?).await,
            None => Ok(redirect("/admin/login")),
        },
        ("/admin/login", &Method::GET) => match login::session_of(ctx, dash, &headers).await {
            Some(_) => Ok(redirect("/admin/")),
            None => Ok(dashboard_page(StatusCode::OK, pages::login(None, ""))),
        },
        ("/admin/login" | "/admin/logout" | "/admin/drain", &Method::POST) => {
            let fields = Fields::parse(&super::read_body(req).await?)?;
            match path.as_str() {
                "/admin/login" => login::log_in(ctx, dash, &headers, &fields, client).await,
                "/admin/logout" => login::log_out(ctx, dash, &headers, &fields).await,
                _ => drain(ctx, dash, &headers, &fields).await,
            }
        }
        ("/admin/" | "/admin/login", _) => Err(HttpError::MethodNotAllowed("GET or POST".into())),
        ("/admin/logout" | "/admin/drain", _) => {
            Err(HttpError::MethodNotAllowed("POST only".into()))
        }
        _ => Err(HttpError::NotFound("no such dashboard page".into())),
    }
}

/// `GET /admin/[?user=NAME]`.
async fn overview(
    ctx: &Context,
    s: &session::Session,
    fields: &Fields,
) -> Result<Response<Body>, HttpError> {
    let broker = &ctx.broker;
    let servers = broker.server_table().await?;
    let wanted = fields.get("user").trim();
    let search = match wanted {
        "" => None,
        user => {
            let query = SessionsQuery {
                user: Some(user.to_string()),
            };
            Some((user, broker.session_table(&query).await?))
        }
    };
    let placements = broker.recent_placements(PLACEMENTS_SHOWN).await?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let page = pages::Overview {
        admin: &s.user,
        csrf: &s.csrf,
        status: broker.status(),
        servers,
        search,
        placements,
        now_ms,
    };
    Ok(dashboard_page(StatusCode::OK, page.render()))
}

/// `POST /admin/drain` (`action` drain or undrain, `hostname`, `csrf`).
async fn drain(
    ctx: &Context,
    dash: &Dashboard,
    headers: &hyper::HeaderMap,
    fields: &Fields,
) -> Result<Response<Body>, HttpError> {
    let s = login::checked_post(ctx, dash, headers, fields).await?;
    let drained = match fields.get("action") {
        "drain" => true,
        "undrain" => false,
        _ => return Err(HttpError::BadForm("action must be drain or undrain".into())),
    };
    let hostname = fields.get("hostname");
    if hostname.is_empty() {
        return Err(HttpError::BadForm("no hostname given".into()));
    }
    let drain = Drain {
        hostname: hostname.to_string(),
        drained,
    };
    tracing::info!(admin = %crate::logsafe::escaped(&s.user), server = %crate::logsafe::escaped(hostname), drained, "dashboard drain");
    match ctx.broker.set_drained(&drain).await? {
        Ok(()) => Ok(redirect("/admin/")),
        Err(why) => Ok(dashboard_page(
            StatusCode::NOT_FOUND,
            pages::notice("Unknown server", &why),
        )),
    }
}

/// A dashboard page: HTML that is never cached, framed or sniffed, and
/// may load nothing (the style is inline; there is no script).
fn dashboard_page(status: StatusCode, html: String) -> Response<Body> {
    let mut r = response::page(TEXT_HTML, html);
    *r.status_mut() = status;
    harden(&mut r);
    r
}

/// `303 See Other` to `to` (after a POST, the browser GETs the page).
fn redirect(to: &'static str) -> Response<Body> {
    let mut r = response::page(TEXT_HTML, "");
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut()
        .insert(LOCATION, HeaderValue::from_static(to));
    harden(&mut r);
    r
}

fn harden(r: &mut Response<Body>) {
    let h = r.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
}
