//! Mutual TLS between broker nodes and towards `x2gobrokerctl`: each side
//! presents a certificate signed by the cluster CA (`x2gobroker keygen`) and
//! accepts only such peers; a node starts only with its own node certificate.

use super::error::TransportError;
use super::identity::Role;
use super::NodeId;
use crate::keygen::NODE_NAME;
use std::path::Path;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// The TLS settings of one node, for both directions.
#[derive(Clone)]
pub struct NodeTls {
    pub server: ServerTlsConfig,
    pub client: ClientTlsConfig,
}

fn read(path: &Path) -> Result<Vec<u8>, TransportError> {
    std::fs::read(path).map_err(|source| TransportError::ReadFile {
        path: path.to_path_buf(),
        source,
    })
}

/// Refuse a certificate file that is not node `id`'s.
fn check_own_certificate(id: NodeId, path: &Path, pem: &[u8]) -> Result<(), TransportError> {
    let refuse = |found: String| TransportError::NotThisNode {
        path: path.to_path_buf(),
        node: id,
        found,
    };
    match Role::of_pem(pem).map_err(|e| refuse(e.to_string()))? {
        Role::Node(n) if n == id => Ok(()),
        other => Err(refuse(format!("it is the certificate of {other}"))),
    }
}

impl NodeTls {
    /// The cluster CA, node `id`'s certificate and its key.
    pub fn load(id: NodeId, ca: &Path, cert: &Path, key: &Path) -> Result<Self, TransportError> {
        let ca = Certificate::from_pem(read(ca)?);
        let cert_pem = read(cert)?;
        check_own_certificate(id, cert, &cert_pem)?;
        let identity = Identity::from_pem(cert_pem, read(key)?);
        Ok(NodeTls {
            server: ServerTlsConfig::new()
                .identity(identity.clone())
                .client_ca_root(ca.clone()),
            client: ClientTlsConfig::new()
                .ca_certificate(ca)
                .identity(identity)
                .domain_name(NODE_NAME),
        })
    }
}

/// Certificates for node `id` from a CA made for one test (the files are
/// gone when this returns; the configuration holds what it needs).
#[cfg(test)]
pub(crate) fn for_tests(id: u64) -> NodeTls {
    let pki = tempfile::tempdir().unwrap();
    crate::keygen::generate(pki.path(), &[id], &[], &[]).unwrap();
    let p = |f: &str| pki.path().join(f);
    NodeTls::load(
        id,
        &p("ca.pem"),
        &p(&format!("node{id}.pem")),
        &p(&format!("node{id}-key.pem")),
    )
    .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_starts_only_with_its_own_node_certificate() {
        let dir = tempfile::tempdir().unwrap();
        crate::keygen::generate(dir.path(), &[1, 2], &["admin".into()], &[]).unwrap();
        let p = |f: &str| dir.path().join(f);
        assert!(NodeTls::load(1, &p("ca.pem"), &p("node1.pem"), &p("node1-key.pem")).is_ok());
        for (cert, key) in [("node2", "node2-key"), ("admin", "admin-key")] {
            let e = NodeTls::load(
                1,
                &p("ca.pem"),
                &p(&format!("{cert}.pem")),
                &p(&format!("{key}.pem")),
            )
            .err()
            .unwrap()
            .to_string();
            assert!(e.contains("not the certificate of node 1"), "{e}");
        }
    }
}
