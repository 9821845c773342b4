//! The `https_get` mechanism: the credentials are valid when an HTTPS GET of
//! `https://{host}:{port}{path}` with them as HTTP basic auth answers 200
//! (`[authmech_https_get]` keys `host`, `path`, `port`, as in the reference).
//! The server certificate is verified against the system's CA store
//! (`SSL_CERT_FILE` / `SSL_CERT_DIR` are honoured).

use super::AuthError;
use base64::Engine;
use rustls::pki_types::ServerName;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Where to send the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub path: String,
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong asking the web server (the login is refused).
#[derive(Debug, thiserror::Error)]
pub enum HttpsGetError {
    #[error("no trusted CA certificates found")]
    NoTrustedCertificates,
    #[error("TLS client configuration: {0}")]
    ClientConfig(rustls::Error),
    #[error("not a valid server name: {0}")]
    ServerName(rustls::pki_types::InvalidDnsNameError),
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("TLS: {0}")]
    Handshake(std::io::Error),
    #[error("write: {0}")]
    Write(std::io::Error),
    #[error("read: {0}")]
    Read(std::io::Error),
    #[error("no HTTP status line in the answer")]
    NoStatusLine,
    #[error("no answer within {} s", TIMEOUT.as_secs())]
    TimedOut,
}

fn client_config() -> Result<Arc<rustls::ClientConfig>, HttpsGetError> {
    let mut roots = rustls::RootCertStore::empty();
    let loaded = rustls_native_certs::load_native_certs();
    for cert in loaded.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(HttpsGetError::NoTrustedCertificates);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(HttpsGetError::ClientConfig)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// Ask the web server: `Ok(true)` when it answers 200, `Ok(false)` for any
/// other status, `Err` when it could not be asked.
pub async fn check(target: &Target, login: &str, password: &str) -> Result<bool, AuthError> {
    let answer = match tokio::time::timeout(TIMEOUT, request(target, login, password)).await {
        Ok(answer) => answer,
        Err(_) => Err(HttpsGetError::TimedOut),
    };
    answer
        .map(|status| status == 200)
        .map_err(|source| AuthError::HttpsGet {
            host: target.host.clone(),
            port: target.port,
            source,
        })
}

async fn request(target: &Target, login: &str, password: &str) -> Result<u16, HttpsGetError> {
    let cfg = client_config()?;
    let name = ServerName::try_from(target.host.clone()).map_err(HttpsGetError::ServerName)?;
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(HttpsGetError::Connect)?;
    let mut tls = TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .map_err(HttpsGetError::Handshake)?;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"));
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: X2Go Session Broker\r\nAuthorization: Basic {token}\r\nConnection: close\r\n\r\n",
        target.path, target.host
    );
    tls.write_all(req.as_bytes())
        .await
        .map_err(HttpsGetError::Write)?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 8192 {
        let n = tls.read(&mut buf).await.map_err(HttpsGetError::Read)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or(HttpsGetError::NoStatusLine)
}
