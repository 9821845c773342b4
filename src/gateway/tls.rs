//! The agent gateway's TLS, for both transports: the node's own
//! certificate as the server identity, and only clients with a certificate
//! of the cluster CA or of the agent-signing CA (the gateway then insists
//! on an agent certificate, so the agent CA can vouch for agents only; the
//! node-to-node and admin listeners never trust it).

use crate::agent::quic_tls::{self, QuicTlsError};
use crate::cluster::identity::Role;
use quinn::crypto::rustls::QuicServerConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// The gateway's server TLS: for gRPC over TCP and for QUIC over UDP.
pub struct GatewayTls {
    pub grpc: ServerTlsConfig,
    pub quic: Arc<QuicServerConfig>,
}

/// Why the gateway's TLS files could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GatewayTlsError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a node certificate of the cluster CA: {why}")]
    NotANode { path: PathBuf, why: String },
    #[error("QUIC: {0}")]
    Quic(#[from] QuicTlsError),
}

fn read(path: &Path) -> Result<Vec<u8>, GatewayTlsError> {
    std::fs::read(path).map_err(|source| GatewayTlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The server TLS of the gateway from the cluster CA, a node's
/// certificate and key, and the agent-signing CA when there is one.
pub fn server_config(
    ca: &Path,
    cert: &Path,
    key: &Path,
    agent_ca: Option<&Path>,
) -> Result<GatewayTls, GatewayTlsError> {
    let cert_pem = read(cert)?;
    let refuse = |why: String| GatewayTlsError::NotANode {
        path: cert.to_path_buf(),
        why,
    };
    match Role::of_pem(&cert_pem).map_err(|e| refuse(e.to_string()))? {
        Role::Node(_) => {}
        other => return Err(refuse(format!("it is the certificate of {other}"))),
    }
    let (mut ca_pem, key_pem) = (read(ca)?, read(key)?);
    if let Some(agent_ca) = agent_ca {
        ca_pem.push(b'\n');
        ca_pem.extend(read(agent_ca)?);
    }
    let quic = Arc::new(quic_tls::server(&ca_pem, &cert_pem, &key_pem)?);
    let grpc = ServerTlsConfig::new()
        .identity(Identity::from_pem(cert_pem, key_pem))
        .client_ca_root(Certificate::from_pem(ca_pem));
    Ok(GatewayTls { grpc, quic })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_serves_only_with_a_node_certificate() {
        let dir = tempfile::tempdir().unwrap();
        crate::keygen::generate(dir.path(), &[1], &["admin".into()], &["x2go1".into()]).unwrap();
        let p = |f: &str| dir.path().join(f);
        assert!(server_config(&p("ca.pem"), &p("node1.pem"), &p("node1-key.pem"), None).is_ok());
        for name in ["admin", "agent-x2go1"] {
            let e = server_config(
                &p("ca.pem"),
                &p(&format!("{name}.pem")),
                &p(&format!("{name}-key.pem")),
                None,
            )
            .err()
            .unwrap()
            .to_string();
            assert!(e.contains("is not a node certificate"), "{e}");
        }
        let missing = server_config(&p("ca.pem"), &p("nope.pem"), &p("node1-key.pem"), None);
        assert!(matches!(missing, Err(GatewayTlsError::Read { .. })));
    }
}
