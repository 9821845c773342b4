//! TLS for the HTTPS listener: rustls, TLS 1.3 (TLS 1.2 only when the
//! operator allows it for old clients), certificate chain and key from PEM files.

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

static TLS13_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
static BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Why the HTTPS listener's TLS configuration cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: no PEM certificate found")]
    NoCertificate { file: String },
    #[error("{file}: no PEM private key found")]
    NoKey { file: String },
    #[error("TLS protocol versions: {0}")]
    Versions(rustls::Error),
    #[error("certificate and key do not match: {0}")]
    Mismatch(rustls::Error),
}

/// The application protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// HTTPS frontends (HTTP/1.1).
    Http1,
    /// The public gRPC API (HTTP/2).
    H2,
}

/// A server configuration from a PEM certificate chain and a PEM private
/// key: TLS 1.2 and 1.3 (1.3 only with `tls13_only`), AEAD cipher suites
/// only (all rustls offers: ECDHE with AES-GCM or ChaCha20-Poly1305).
pub fn server_config(
    cert: &Path,
    key: &Path,
    tls13_only: bool,
    alpn: Alpn,
) -> Result<Arc<rustls::ServerConfig>, TlsConfigError> {
    let read_error = |path: &Path| {
        let file = path.display().to_string();
        move |source| TlsConfigError::Read { file, source }
    };
    let certs: Vec<CertificateDer<'static>> = {
        let data = std::fs::read(cert).map_err(read_error(cert))?;
        rustls_pemfile::certs(&mut data.as_slice())
            .collect::<Result<_, _>>()
            .map_err(read_error(cert))?
    };
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificate {
            file: cert.display().to_string(),
        });
    }
    let key: PrivateKeyDer<'static> = {
        let data = std::fs::read(key).map_err(read_error(key))?;
        rustls_pemfile::private_key(&mut data.as_slice())
            .map_err(read_error(key))?
            .ok_or_else(|| TlsConfigError::NoKey {
                file: key.display().to_string(),
            })?
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(if tls13_only { TLS13_ONLY } else { BOTH })
        .map_err(TlsConfigError::Versions)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(TlsConfigError::Mismatch)?;
    cfg.alpn_protocols = vec![match alpn {
        Alpn::Http1 => b"http/1.1".to_vec(),
        Alpn::H2 => b"h2".to_vec(),
    }];
    Ok(Arc::new(cfg))
}
