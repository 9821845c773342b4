//! The agent's one HTTP request: `POST /enroll/` with a JSON body to the
//! broker URL it was given, over HTTPS verified against the system's CA
//! store or a given CA file (plain HTTP only to a loopback address, as the
//! broker serves plain HTTP only there), answered with a status and a body.

use hyper::body::Bytes;
use rustls::pki_types::ServerName;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The whole exchange may take this long.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read (a certificate and a CA).
const MAX_ANSWER: usize = 256 * 1024;

/// Where to send the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub https: bool,
    /// The host as written (a name, an IPv4 address, or an IPv6 address without brackets).
    pub host: String,
    pub port: u16,
    /// The path given, ending in `/`.
    pub base: String,
}

/// The request could not be sent or its answer not read.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("broker URL {0:?}: give https://HOST[:PORT]/")]
    BadUrl(String),
    #[error("refusing plain http:// to {0}: the join token and the CA would travel unprotected (use https://, plain http only to a loopback address)")]
    PlainHttp(String),
    #[error("reading {}: {source}", path.display())]
    ReadCa {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no CA certificate to verify the broker with ({0})")]
    NoRoots(String),
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("{0:?} is not a valid server name for TLS")]
    ServerName(String),
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS with {addr}: {source}")]
    Handshake {
        addr: String,
        source: std::io::Error,
    },
    #[error("HTTP with {addr}: {source}")]
    Http { addr: String, source: hyper::Error },
    #[error("the answer of {0} is larger than {MAX_ANSWER} bytes")]
    TooLarge(String),
    #[error("no answer from {addr} within {} s", TIMEOUT.as_secs())]
    TimedOut { addr: String },
}

impl BrokerUrl {
    /// `https://HOST[:PORT][/PATH]` (or `http://` for a loopback address).
    pub fn parse(text: &str) -> Result<BrokerUrl, PostError> {
        let bad = || PostError::BadUrl(text.to_string());
        let (https, rest) = if let Some(r) = text.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = text.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad());
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(bad)?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if https => 443,
            None => 80,
        };
        if host.is_empty() || path.contains(['?', '#']) || authority.contains('@') {
            return Err(bad());
        }
        let base = if path.ends_with('/') {
            path.to_string()
        } else {
            format!("{path}/")
        };
        let url = BrokerUrl {
            https,
            host: host.to_string(),
            port,
            base,
        };
        if !https && !url.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
            return Err(PostError::PlainHttp(url.host));
        }
        Ok(url)
    }

    /// `host:port` for connecting and messages.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The roots to verify the broker with: `ca` when given, else the system's.
fn roots(ca: Option<&Path>) -> Result<rustls::RootCertStore, PostError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|source| PostError::ReadCa {
                path: path.to_path_buf(),
                source,
            })?;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()).flatten() {
                roots.add(cert)?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        let from = ca.map_or("the system's CA store is empty".into(), |p| {
            format!("{} holds none", p.display())
        });
        return Err(PostError::NoRoots(from));
    }
    Ok(roots)
}

/// POST `body` (JSON) to `url` + `path`: the answer's status and body.
pub async fn post_json(
    url: &BrokerUrl,
    path: &str,
    body: Vec<u8>,
    ca: Option<&Path>,
) -> Result<(u16, Vec<u8>), PostError> {
    let addr = url.addr();
    tokio::time::timeout(TIMEOUT, exchange(url, path, body, ca))
        .await
        .unwrap_or(Err(PostError::TimedOut { addr }))
}

async fn exchange(
    url: &BrokerUrl,
    path: &str,
    body: Vec<u8>,
    ca: Option<&Path>,
) -> Result<(u16, Vec<u8>), PostError> {
    let addr = url.addr();
    let tcp = tokio::net::TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|source| PostError::Connect {
            addr: addr.clone(),
            source,
        })?;
    if !url.https {
        return send(url, path, body, tcp).await;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca)?)
        .with_no_client_auth();
    let name = ServerName::try_from(url.host.clone())
        .map_err(|_| PostError::ServerName(url.host.clone()))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|source| PostError::Handshake {
            addr: addr.clone(),
            source,
        })?;
    send(url, path, body, tls).await
}

async fn send<I>(
    url: &BrokerUrl,
    path: &str,
    body: Vec<u8>,
    io: I,
) -> Result<(u16, Vec<u8>), PostError>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use http_body_util::{BodyExt, Full};
    let addr = url.addr();
    let http = |source| PostError::Http {
        addr: addr.clone(),
        source,
    };
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .map_err(http)?;
    tokio::spawn(conn);
    let request = hyper::Request::post(format!("{}{}", url.base, path.trim_start_matches('/')))
        .header(hyper::header::HOST, addr.as_str())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "x2gobroker-agent")
        .body(Full::new(Bytes::from(body)))
        .map_err(|_| PostError::BadUrl(format!("{}{}", url.base, path)))?;
    let answer = sender.send_request(request).await.map_err(http)?;
    let status = answer.status().as_u16();
    let mut body = answer.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(http)?.into_data() {
            bytes.extend_from_slice(&data);
            if bytes.len() > MAX_ANSWER {
                return Err(PostError::TooLarge(addr));
            }
        }
    }
    Ok((status, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_plain_http_is_for_loopback_only() {
        let u = BrokerUrl::parse("https://broker.example:8443/").unwrap();
        assert_eq!(
            (u.https, u.host.as_str(), u.port, u.base.as_str()),
            (true, "broker.example", 8443, "/")
        );
        let u = BrokerUrl::parse("https://broker.example/x2go").unwrap();
        assert_eq!((u.port, u.base.as_str()), (443, "/x2go/"));
        let u = BrokerUrl::parse("http://[::1]:8080/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.addr()),
            ("::1", "[::1]:8080".to_string())
        );
        assert!(BrokerUrl::parse("http://127.0.0.5:8080/").is_ok());
        for bad in [
            "broker:443",
            "ftp://b/",
            "https://:443/",
            "https://b:x/",
            "https://u@b/",
        ] {
            assert!(
                matches!(BrokerUrl::parse(bad), Err(PostError::BadUrl(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            BrokerUrl::parse("http://broker.example/"),
            Err(PostError::PlainHttp(_))
        ));
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "nothing").unwrap();
        assert!(matches!(roots(Some(&empty)), Err(PostError::NoRoots(_))));
    }
}
