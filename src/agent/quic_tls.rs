//! The TLS of the QUIC transport, for both ends: TLS 1.3 (QUIC has no
//! other) with the ring provider the rest of the project uses, the ALPN
//! `x2gobroker-agent/1`, and the cluster CA as the only root: the agent
//! trusts only node certificates of its cluster (by the name
//! `x2gobroker-node`), the broker takes only client certificates of its
//! cluster (and then insists on an agent certificate, see
//! `gateway::connection`).

use super::frames::ALPN;
use quinn::crypto::rustls::{NoInitialCipherSuite, QuicClientConfig, QuicServerConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{VerifierBuilderError, WebPkiClientVerifier};
use rustls::RootCertStore;
use std::sync::Arc;

/// The PEM or TLS settings of a QUIC endpoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum QuicTlsError {
    #[error("reading the {what} PEM: {source}")]
    Pem {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("no {what} in its PEM")]
    Missing { what: &'static str },
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] VerifierBuilderError),
    #[error("QUIC: {0}")]
    Quic(#[from] NoInitialCipherSuite),
}

/// Every certificate of a PEM text.
pub fn certificates(
    pem: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, QuicTlsError> {
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| QuicTlsError::Pem { what, source })?;
    if certs.is_empty() {
        return Err(QuicTlsError::Missing { what });
    }
    Ok(certs)
}

/// The private key of a PEM text.
fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, QuicTlsError> {
    let what = "private key";
    rustls_pemfile::private_key(&mut &pem[..])
        .map_err(|source| QuicTlsError::Pem { what, source })?
        .ok_or(QuicTlsError::Missing { what })
}

/// The cluster CA as the only root.
fn roots(ca_pem: &[u8]) -> Result<RootCertStore, QuicTlsError> {
    let mut roots = RootCertStore::empty();
    for ca in certificates(ca_pem, "CA certificate")? {
        roots.add(ca)?;
    }
    Ok(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// An agent's side: its certificate and key, trusting the cluster CA.
pub fn client(
    ca_pem: &[u8],
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<QuicClientConfig, QuicTlsError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(ca_pem)?)
        .with_client_auth_cert(
            certificates(cert_pem, "certificate")?,
            private_key(key_pem)?,
        )?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    Ok(QuicClientConfig::try_from(tls)?)
}

/// A broker node's side: its certificate and key, requiring a client
/// certificate of the cluster CA.
pub fn server(
    ca_pem: &[u8],
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<QuicServerConfig, QuicTlsError> {
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider())
            .build()?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            certificates(cert_pem, "certificate")?,
            private_key(key_pem)?,
        )?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    Ok(QuicServerConfig::try_from(tls)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_build_from_keygen_files_and_bad_pem_is_named() {
        let dir = tempfile::tempdir().unwrap();
        crate::keygen::generate(dir.path(), &[1], &[], &["x2go1".into()]).unwrap();
        let read = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
        let ca = read("ca.pem");
        assert!(server(&ca, &read("node1.pem"), &read("node1-key.pem")).is_ok());
        assert!(client(&ca, &read("agent-x2go1.pem"), &read("agent-x2go1-key.pem")).is_ok());
        let no_key = client(&ca, &read("agent-x2go1.pem"), &read("agent-x2go1.pem"));
        assert!(
            matches!(
                no_key,
                Err(QuicTlsError::Missing {
                    what: "private key"
                })
            ),
            "{:?}",
            no_key.err()
        );
        let no_ca = server(b"", &read("node1.pem"), &read("node1-key.pem"));
        assert_eq!(
            no_ca.err().unwrap().to_string(),
            "no CA certificate in its PEM"
        );
    }
}
