//! The `https_get` mechanism: the credentials are valid when an HTTPS GET of
//! `https://{host}:{port}{path}` with them as HTTP basic auth answers 200
//! (`[authmech_https_get]` keys `host`, `path`, `port`, as in the reference).
//! The server certificate is verified against the system's CA store
//! (`SSL_CERT_FILE` / `SSL_CERT_DIR` are honoured).

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

fn client_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let loaded = rustls_native_certs::load_native_certs();
    for cert in loaded.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err("no trusted CA certificates found".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// Ask the web server; any error counts as a refusal (and is logged).
pub async fn check(target: &Target, login: &str, password: &str) -> bool {
    match tokio::time::timeout(TIMEOUT, request(target, login, password)).await {
        Ok(Ok(status)) => status == 200,
        Ok(Err(e)) => {
            tracing::warn!(host = %target.host, error = %e, "https_get authentication request failed");
            false
        }
        Err(_) => {
            tracing::warn!(host = %target.host, "https_get authentication request timed out");
            false
        }
    }
}

async fn request(target: &Target, login: &str, password: &str) -> Result<u16, String> {
    let cfg = client_config()?;
    let name =
        ServerName::try_from(target.host.clone()).map_err(|e| format!("server name: {e}"))?;
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut tls = TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"));
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: X2Go Session Broker\r\nAuthorization: Basic {token}\r\nConnection: close\r\n\r\n",
        target.path, target.host
    );
    tls.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 8192 {
        let n = tls.read(&mut buf).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| "no HTTP status line".to_string())?;
    Ok(status)
}
