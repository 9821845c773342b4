//! Mutual TLS between broker nodes: each side presents a certificate signed
//! by the cluster CA (`x2gobroker keygen`) and accepts only such peers.

use super::error::TransportError;
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

impl NodeTls {
    pub fn load(ca: &Path, cert: &Path, key: &Path) -> Result<Self, TransportError> {
        let ca = Certificate::from_pem(read(ca)?);
        let identity = Identity::from_pem(read(cert)?, read(key)?);
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
