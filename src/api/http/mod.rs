//! The HTTP(S) frontends: routing of the reference's paths plus `/healthz`,
//! agent enrollment (`/enroll/`, in `enroll`), the status dashboard
//! (`/admin/`, HTTPS only, in `admin`),
//! body limits, client addresses, access logging (client values escaped),
//! and the listeners: a connection cap and a TLS handshake deadline per
//! listener, half-closed clients answered, and a body over the limit read
//! (up to a bound) so that its 413 reaches the client.

pub mod admin;
pub mod enroll;
pub mod error;
pub mod form;
pub mod frontend;
pub mod listing;
pub mod pyjson;
pub mod response;
pub mod tls;
pub mod uccs;

use crate::broker::{Broker, Dialect};
use crate::logsafe::escaped;
use crate::server::accept::{Accepted, CappedListener};
use crate::server::ListenerLimits;
use bytes::Bytes;
use error::HttpError;
use form::Form;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH};
use hyper::{Method, Request, Response};
use response::{Body, TEXT_HTML, TEXT_PLAIN};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Largest request body accepted; the broker protocol needs a few hundred bytes.
pub const MAX_BODY: usize = 64 * 1024;
/// A body over `MAX_BODY` is still read and dropped up to this size (within
/// `BODY_TIMEOUT`), so that a client that sends it all before reading gets
/// its 413 rather than a connection reset.
pub const DRAIN_LIMIT: usize = 16 << 20;
/// A client has this long to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// And this long to send the body.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

const IT_WORKS: &str = "<body><html><h1>X2Go Session Broker</h1><p>It works...</p></body></html>";

/// What every request handler shares.
pub struct Context {
    pub broker: Arc<Broker>,
    pub listing: listing::ListingCache,
    /// The metrics listener: `/metrics` and nothing else.
    metrics_only: bool,
    /// Agent enrollment, when this node has the agent-signing CA.
    pub enrollment: Option<Arc<crate::enroll::redeem::Enrollment>>,
    /// The status dashboard, when an admin group is configured.
    dashboard: Option<admin::Dashboard>,
}

impl Context {
    pub fn new(
        broker: Arc<Broker>,
        enrollment: Option<Arc<crate::enroll::redeem::Enrollment>>,
    ) -> Arc<Self> {
        let dashboard = broker
            .settings
            .admin_group
            .as_deref()
            .map(admin::Dashboard::new);
        Arc::new(Context {
            broker,
            listing: listing::ListingCache::default(),
            metrics_only: false,
            enrollment,
            dashboard,
        })
    }

    /// The context of the `--metrics` listener.
    pub fn metrics_only(broker: Arc<Broker>) -> Arc<Self> {
        Arc::new(Context {
            broker,
            listing: listing::ListingCache::default(),
            metrics_only: true,
            enrollment: None,
            dashboard: None,
        })
    }
}

/// The client address as the broker reasons about it (IPv4-mapped IPv6 as IPv4).
pub fn client_ip(peer: SocketAddr) -> IpAddr {
    peer.ip().to_canonical()
}

/// Route and answer one request (`secure`: it came over TLS).
pub async fn handle(
    ctx: Arc<Context>,
    req: Request<Incoming>,
    peer: SocketAddr,
    secure: bool,
) -> Response<Body> {
    let id = request_id(&req);
    let span = tracing::info_span!("request", id = %id);
    let mut answer = tracing::Instrument::instrument(answer(ctx, req, peer, secure), span).await;
    if let Ok(value) = hyper::header::HeaderValue::from_str(&id) {
        answer.headers_mut().insert(REQUEST_ID, value);
    }
    answer
}

/// The header carrying a request's id (taken from the client when it is
/// a short token, else made here).
const REQUEST_ID: &str = "x-request-id";

/// The client's `X-Request-Id` when it is 1 to 64 characters of
/// `[A-Za-z0-9._-]`, else 16 random hex digits.
fn request_id(req: &Request<Incoming>) -> String {
    let given = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
    match given {
        Some(v) => v.to_string(),
        None => {
            let mut r = [0u8; 8];
            let _ = getrandom::getrandom(&mut r);
            r.iter().map(|b| format!("{b:02x}")).collect()
        }
    }
}

/// Answer one request (inside its span) and log it.
async fn answer(
    ctx: Arc<Context>,
    req: Request<Incoming>,
    peer: SocketAddr,
    secure: bool,
) -> Response<Body> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let client = client_ip(peer);
    let mut labels = Labels::default();
    let (answer, failure) = match route(&ctx, req, client, secure, &mut labels).await {
        Ok(r) => (r, None),
        Err(e) => (e.response(), Some(e)),
    };
    let status = answer.status();
    let shown: String = path.chars().take(200).collect();
    let seconds = started.elapsed().as_secs_f64();
    if !ctx.metrics_only {
        crate::metrics::METRICS.request(labels.frontend, labels.task, status.as_u16(), seconds);
    }
    let ms = seconds * 1000.0;
    match failure {
        Some(why) if status.is_client_error() => {
            tracing::warn!(client = %client, method = %method, path = %escaped(&shown), status = status.as_u16(), reason = %escaped(&why), ms, "request refused")
        }
        Some(why) => {
            tracing::error!(client = %client, method = %method, path = %escaped(&shown), status = status.as_u16(), reason = %escaped(&why), ms, "request failed")
        }
        None => {
            tracing::debug!(client = %client, method = %method, path = %escaped(&shown), status = status.as_u16(), ms, "request")
        }
    }
    answer
}

type Routed = Result<Response<Body>, HttpError>;

/// What the metrics say a request was: its frontend and task.
struct Labels {
    frontend: &'static str,
    task: &'static str,
}

impl Default for Labels {
    fn default() -> Self {
        Labels {
            frontend: "other",
            task: "none",
        }
    }
}

/// A task name as a metrics label: the known ones, else `other`.
fn task_label(task: &str) -> &'static str {
    match task {
        "listsessions" => "listsessions",
        "listprofiles" => "listprofiles",
        "selectsession" => "selectsession",
        "testcon" => "testcon",
        "setpass" => "setpass",
        "" => "authcheck",
        _ => "other",
    }
}

fn get_only() -> HttpError {
    HttpError::MethodNotAllowed("GET only".into())
}

async fn route(
    ctx: &Context,
    req: Request<Incoming>,
    client: IpAddr,
    secure: bool,
    labels: &mut Labels,
) -> Routed {
    let broker = &ctx.broker;
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if ctx.metrics_only {
        return match (path.as_str(), method) {
            ("/metrics", Method::GET) => Ok(response::page(
                response::PROMETHEUS_TEXT,
                crate::metrics::snapshot::page(broker),
            )),
            ("/metrics", _) => Err(get_only()),
            _ => Err(HttpError::NotFound(path)),
        };
    }
    if path == "/healthz" {
        return match method {
            Method::GET | Method::HEAD => Ok(response::page(TEXT_PLAIN, "ok\n")),
            _ => Err(get_only()),
        };
    }
    if path == "/status" {
        return match method {
            Method::GET => {
                let body = match broker.status() {
                    Some(st) => serde_json::to_string_pretty(&st).unwrap_or_default(),
                    None => "{\n  \"role\": \"Standalone\"\n}".to_string(),
                };
                Ok(response::page(response::APPLICATION_JSON, body))
            }
            _ => Err(get_only()),
        };
    }
    if path == "/status/agents" {
        return match method {
            Method::GET => {
                let counts = crate::gateway::counts::AgentCounts::of(broker);
                let body = serde_json::to_string_pretty(&counts).unwrap_or_default();
                Ok(response::page(response::APPLICATION_JSON, body))
            }
            _ => Err(get_only()),
        };
    }
    if admin::is_admin_path(&path) {
        labels.frontend = "admin";
        return match (&ctx.dashboard, secure) {
            (Some(dashboard), true) => admin::route(ctx, dashboard, req, client).await,
            _ => Err(HttpError::NotFound("no dashboard here".into())),
        };
    }
    if path == crate::enroll::wire::PATH || path == "/enroll" {
        return Ok(enroll::handle(ctx, req, client).await);
    }
    if path == "/" {
        return match method {
            Method::GET => Ok(response::page(TEXT_HTML, IT_WORKS)),
            _ => Err(get_only()),
        };
    }
    if path
        .strip_prefix("/pubkeys")
        .is_some_and(|r| r.chars().all(|c| c == '/'))
    {
        return match method {
            Method::GET => Ok(response::page(TEXT_HTML, broker.pubkeys().await)),
            _ => Err(get_only()),
        };
    }
    if let Some((backend, version)) = uccs::parse_api_path(&path) {
        if method != Method::GET {
            return Err(get_only());
        }
        let auth = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let loaded = broker.current();
        labels.frontend = "uccs";
        labels.task = "listprofiles";
        return uccs::handle(broker, &loaded, &backend, version, auth.as_deref(), client).await;
    }
    if uccs::is_ping_path(&path) {
        return match method {
            Method::GET | Method::HEAD => Ok(response::page(TEXT_HTML, uccs::utc_now_text())),
            _ => Err(HttpError::MethodNotAllowed("GET or HEAD only".into())),
        };
    }
    let (dialect, rest) = if let Some(rest) = path.strip_prefix("/plain/") {
        (Dialect::Plain, rest.to_string())
    } else if let Some(rest) = path.strip_prefix("/json/") {
        (Dialect::Json, rest.to_string())
    } else {
        return Err(HttpError::NotFound("no such path".into()));
    };
    let allowed = method == Method::POST || (method == Method::GET && broker.settings.allow_get);
    if !allowed {
        return Err(HttpError::MethodNotAllowed(format!(
            "{method} not allowed here"
        )));
    }
    labels.frontend = match dialect {
        Dialect::Plain => "plain",
        Dialect::Json => "json",
    };
    let query = req.uri().query().unwrap_or("").as_bytes().to_vec();
    let body = read_body(req).await?;
    let loaded = broker.current();
    let backend = frontend::backend_for(&loaded, dialect, &rest)?;
    let form = Form::parse(&query, &body)?;
    labels.task = task_label(form.get("task"));
    frontend::handle(ctx, &loaded, dialect, backend, &form, client).await
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, HttpError> {
    let declared = match req.headers().get(CONTENT_LENGTH) {
        Some(len) => Some(
            len.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or(HttpError::BadContentLength)?,
        ),
        None => None,
    };
    let mut too_large = declared.is_some_and(|n| n > MAX_BODY as u64);
    if declared.is_some_and(|n| n > DRAIN_LIMIT as u64) {
        return Err(HttpError::TooLarge);
    }
    let mut body = req.into_body();
    match tokio::time::timeout(BODY_TIMEOUT, collect(&mut body, &mut too_large)).await {
        Ok(read) => read,
        Err(_) if too_large => Err(HttpError::TooLarge),
        Err(_) => Err(HttpError::BodyTimeout),
    }
}

/// Collect the body up to `MAX_BODY`; past that (or when `too_large` from
/// the start), read and drop it up to `DRAIN_LIMIT`, and refuse it.
async fn collect(body: &mut Incoming, too_large: &mut bool) -> Result<Bytes, HttpError> {
    let mut kept = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| HttpError::BadBody(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        seen = seen.saturating_add(data.len());
        if seen > MAX_BODY {
            *too_large = true;
            kept = bytes::BytesMut::new();
        }
        if *too_large {
            if seen > DRAIN_LIMIT {
                break;
            }
            continue;
        }
        kept.extend_from_slice(&data);
    }
    if *too_large {
        return Err(HttpError::TooLarge);
    }
    Ok(kept.freeze())
}

/// Serve plain HTTP (and HTTPS when `tls` is given) on `listener` until
/// `shutdown` turns true; every connection task runs on `connections`, so
/// that the caller can wait for requests in flight.
pub async fn serve(
    ctx: Arc<Context>,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ListenerLimits,
    mut shutdown: watch::Receiver<bool>,
    connections: tokio_util::task::TaskTracker,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let listener = CappedListener::new(listener, limits.max_connections, "http");
    while let Some(Accepted { stream, peer, slot }) = listener.accept(&mut shutdown).await {
        let ctx = ctx.clone();
        let acceptor = acceptor.clone();
        let stop = shutdown.clone();
        let handshake = limits.handshake_timeout;
        connections.spawn(async move {
            let _slot = slot;
            match acceptor {
                Some(acceptor) => {
                    match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => serve_connection(ctx, tls, peer, true, stop).await,
                        Ok(Err(e)) => {
                            tracing::debug!(client = %peer, error = %e, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(client = %peer, "TLS handshake timed out"),
                    }
                }
                None => serve_connection(ctx, stream, peer, false, stop).await,
            }
        });
    }
}

/// Answer HTTP/1.1 requests on one connection; finish the current one on shutdown.
async fn serve_connection<I>(
    ctx: Arc<Context>,
    io: I,
    peer: SocketAddr,
    secure: bool,
    mut stop: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let ctx = ctx.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(ctx, req, peer, secure).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(64 * 1024)
        // A client may shut down its sending side and wait for the answer.
        .half_close(true);
    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stop.changed() => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
}
