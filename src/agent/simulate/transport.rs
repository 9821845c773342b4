//! Which of the agent's transports each simulated server uses
//! (`--transport`): all gRPC, all QUIC, or mixed. The connection itself is
//! the agent's own `agent::transport::Transport`, made from the server's
//! in-memory certificate by `link`.

use crate::agent::transport::{Transport, TransportError, TransportKind};
use serde::Serialize;

/// The transports of the simulated servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportChoice {
    /// Every server over gRPC (TCP), as `run --transport grpc`.
    Grpc,
    /// Every server over QUIC (UDP), as `run --transport quic`.
    Quic,
    /// Even-numbered servers over gRPC, odd ones over QUIC.
    Mixed,
}

impl TransportChoice {
    /// The transport of server number `index`.
    pub fn for_server(self, index: usize) -> TransportKind {
        match self {
            TransportChoice::Grpc => TransportKind::Grpc,
            TransportChoice::Quic => TransportKind::Quic,
            TransportChoice::Mixed if index.is_multiple_of(2) => TransportKind::Grpc,
            TransportChoice::Mixed => TransportKind::Quic,
        }
    }
}

/// A server's credentials: the cluster CA and its agent certificate and key (PEM).
pub struct Identity<'a> {
    pub ca_pem: &'a [u8],
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

/// Server number `index`, `hostname`: its way to the brokers.
pub fn link(
    choice: TransportChoice,
    index: usize,
    hostname: &str,
    id: Identity<'_>,
) -> Result<Transport, TransportError> {
    let kind = choice.for_server(index);
    Transport::from_pem(kind, hostname, id.ca_pem, id.cert_pem, id.key_pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_alternates_and_links_are_made_from_memory() {
        let kinds: Vec<TransportKind> = (0..4)
            .map(|i| TransportChoice::Mixed.for_server(i))
            .collect();
        use TransportKind::{Grpc, Quic};
        assert_eq!(kinds, vec![Grpc, Quic, Grpc, Quic]);
        assert_eq!(TransportChoice::Quic.for_server(0), Quic);
        let dir = tempfile::tempdir().unwrap();
        crate::keygen::generate(dir.path(), &[], &[], &[]).unwrap();
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
        let ca = read("ca.pem");
        let (cert, key) = crate::keygen::issue_agent(&ca, &read("ca-key.pem"), "sim00001").unwrap();
        for (i, kind) in [(0, Grpc), (1, Quic)] {
            let id = Identity {
                ca_pem: ca.as_bytes(),
                cert_pem: cert.clone().into_bytes(),
                key_pem: key.clone().into_bytes(),
            };
            let t = link(TransportChoice::Mixed, i, "sim00001", id).unwrap();
            assert_eq!(t.kind(), kind);
        }
        let id = Identity {
            ca_pem: ca.as_bytes(),
            cert_pem: cert.into_bytes(),
            key_pem: key.into_bytes(),
        };
        let e = link(TransportChoice::Quic, 0, "sim00002", id)
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .contains("not the agent certificate of \"sim00002\""),
            "{e}"
        );
    }
}
