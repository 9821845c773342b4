//! The agent's gRPC transport: mutual TLS from the cluster CA (the agent's
//! own certificate, the brokers' node certificates, which all carry the
//! name `x2gobroker-node`), one channel to one broker address, and the
//! `AgentGateway/Connect` stream on it. The agent starts only with a
//! certificate that names its own server (the broker accepts reports only
//! for that name), read from files (`load`) or given as PEM texts
//! (`from_pem`, the simulator's certificates made in memory).

use super::proto::agent_gateway_client::AgentGatewayClient;
use super::proto::{AgentMessage, BrokerCommand};
pub use super::transport::TransportError;
use super::transport::{check_agent_certificate, read};
use crate::keygen::NODE_NAME;
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tonic::Streaming;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// HTTP/2 pings, so that a broker that vanished (no FIN, no RST) is noticed.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Connects to brokers with the agent's certificate.
#[derive(Clone)]
pub struct GrpcTransport {
    tls: ClientTlsConfig,
}

impl GrpcTransport {
    /// The cluster CA, the agent's certificate (which must be `hostname`'s)
    /// and its key.
    pub fn load(
        hostname: &str,
        ca: &Path,
        cert: &Path,
        key: &Path,
    ) -> Result<GrpcTransport, TransportError> {
        let cert_pem = read(cert)?;
        check_agent_certificate(&cert.display().to_string(), &cert_pem, hostname)?;
        let (ca_pem, key_pem) = (read(ca)?, read(key)?);
        Ok(GrpcTransport::with_identity(&ca_pem, cert_pem, key_pem))
    }

    /// The same from PEM texts in memory (the simulator's certificates):
    /// the CA, `hostname`'s agent certificate and its key.
    pub fn from_pem(
        hostname: &str,
        ca_pem: &[u8],
        cert_pem: Vec<u8>,
        key_pem: Vec<u8>,
    ) -> Result<GrpcTransport, TransportError> {
        check_agent_certificate("the certificate given in memory", &cert_pem, hostname)?;
        Ok(GrpcTransport::with_identity(ca_pem, cert_pem, key_pem))
    }

    fn with_identity(ca_pem: &[u8], cert_pem: Vec<u8>, key_pem: Vec<u8>) -> GrpcTransport {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca_pem))
            .identity(Identity::from_pem(cert_pem, key_pem))
            .domain_name(NODE_NAME);
        GrpcTransport { tls }
    }

    /// Connect to the broker at `addr` (`HOST:PORT`) and open the agent
    /// stream: what `outbound` yields goes to the broker; the answer is
    /// the broker's commands.
    pub async fn open(
        &self,
        addr: &str,
        outbound: mpsc::Receiver<AgentMessage>,
    ) -> Result<Streaming<BrokerCommand>, TransportError> {
        let endpoint = |source| TransportError::Endpoint {
            addr: addr.to_string(),
            source,
        };
        let channel = Endpoint::from_shared(format!("https://{addr}"))
            .map_err(endpoint)?
            .tls_config(self.tls.clone())
            .map_err(endpoint)?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true)
            .connect()
            .await
            .map_err(|source| TransportError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        let mut client = AgentGatewayClient::new(channel);
        let answer = client
            .connect(ReceiverStream::new(outbound))
            .await
            .map_err(|status| TransportError::Refused {
                addr: addr.to_string(),
                status: Box::new(status),
            })?;
        Ok(answer.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_certificate_of_this_servers_agent_is_taken() {
        let pki = tempfile::tempdir().unwrap();
        crate::keygen::generate(pki.path(), &[1], &[], &["x2go1".to_string()]).unwrap();
        let p = |f: &str| pki.path().join(f);
        let load = |host: &str, cert: &str, key: &str| {
            GrpcTransport::load(host, &p("ca.pem"), &p(cert), &p(key))
        };
        assert!(load("x2go1", "agent-x2go1.pem", "agent-x2go1-key.pem").is_ok());
        let other = load("x2go2", "agent-x2go1.pem", "agent-x2go1-key.pem")
            .err()
            .unwrap();
        assert!(
            other
                .to_string()
                .contains("not the agent certificate of \"x2go2\""),
            "{other}"
        );
        let node = load("x2go1", "node1.pem", "node1-key.pem").err().unwrap();
        assert!(
            matches!(node, TransportError::NotThisAgent { .. }),
            "{node}"
        );
        let missing = load("x2go1", "agent-x2go9.pem", "agent-x2go1-key.pem")
            .err()
            .unwrap();
        assert!(missing.to_string().contains("agent-x2go9.pem"), "{missing}");
    }
}
