//! The agent-signing CA on a broker: `agent_ca` and `agent_ca_key` from
//! `x2gobroker keygen --agent-ca`, a root of its own (never the cluster
//! CA, whose key stays off the brokers). It signs agent certificates only
//! (the role `urn:x2gobroker:agent:HOST`, client authentication), and only
//! the agent gateway trusts it, so nothing it signs can act as a node or
//! an administrator. At start the pair is checked: the key must be the
//! certificate's, and a certificate it signs must verify against it.

use crate::cluster::identity::Role;
use crate::keygen::{agent_ca_params, params_for, KeygenError};
use rcgen::{KeyPair, PublicKeyData, SerialNumber};
use rustls::pki_types::{CertificateDer, UnixTime};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An enrolled certificate is valid from an hour before it was signed
/// (clocks differ) for ten years; revocation ends it sooner.
const BACKDATE: Duration = Duration::from_secs(3600);
const VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Why the agent CA cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AgentCaError {
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {why}", path.display())]
    Unusable { path: PathBuf, why: String },
    #[error("the agent CA is the cluster CA: make a separate one with `x2gobroker keygen --agent-ca` (the cluster CA's key must stay off the brokers)")]
    SameAsClusterCa,
    #[error("agent_ca and agent_ca_key do not belong together, or agent_ca was not made by `x2gobroker keygen --agent-ca`: {0}")]
    Mismatch(String),
    #[error("signing an agent certificate: {0}")]
    Sign(#[from] KeygenError),
    #[error("drawing a serial number: {0}")]
    Random(String),
    #[error("the certificate's validity: {0}")]
    Validity(String),
}

/// A certificate the agent CA signed.
#[derive(Debug, Clone)]
pub struct Issued {
    pub pem: String,
    pub der: Vec<u8>,
    /// SHA-256 of the DER, hex.
    pub fingerprint: String,
    /// The serial number, hex.
    pub serial: String,
}

/// The agent-signing CA, ready to sign, and the cluster CA the agents must
/// trust for the brokers.
pub struct AgentCa {
    issuer: rcgen::Certificate,
    key: KeyPair,
    cert_der: CertificateDer<'static>,
    cluster_ca_pem: String,
}

fn read(path: &Path) -> Result<String, AgentCaError> {
    std::fs::read_to_string(path).map_err(|source| AgentCaError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The first certificate of a PEM file.
fn first_certificate(path: &Path, pem: &str) -> Result<CertificateDer<'static>, AgentCaError> {
    match rustls_pemfile::certs(&mut pem.as_bytes()).next() {
        Some(Ok(der)) => Ok(der),
        _ => Err(AgentCaError::Unusable {
            path: path.to_path_buf(),
            why: "no PEM certificate in it".into(),
        }),
    }
}

impl AgentCa {
    /// The agent CA's certificate and key, and the cluster CA's certificate.
    pub fn load(cert: &Path, key: &Path, cluster_ca: &Path) -> Result<AgentCa, AgentCaError> {
        let cert_pem = read(cert)?;
        let cert_der = first_certificate(cert, &cert_pem)?;
        let key = KeyPair::from_pem(&read(key)?).map_err(|e| AgentCaError::Unusable {
            path: key.to_path_buf(),
            why: e.to_string(),
        })?;
        let cluster_ca_pem = read(cluster_ca)?;
        for ca in rustls_pemfile::certs(&mut cluster_ca_pem.as_bytes()).flatten() {
            let raw = key.public_key_raw();
            if ca.as_ref() == cert_der.as_ref() || ca.windows(raw.len()).any(|w| w == raw) {
                return Err(AgentCaError::SameAsClusterCa);
            }
        }
        first_certificate(cluster_ca, &cluster_ca_pem)?;
        let issuer = agent_ca_params()
            .self_signed(&key)
            .map_err(|e| AgentCaError::Mismatch(e.to_string()))?;
        let ca = AgentCa {
            issuer,
            key,
            cert_der,
            cluster_ca_pem,
        };
        ca.check()?;
        Ok(ca)
    }

    /// Sign a throwaway certificate and verify it against the CA's file.
    fn check(&self) -> Result<(), AgentCaError> {
        let probe = KeyPair::generate().map_err(KeygenError::from)?;
        let issued = self.sign("probe", &probe, SystemTime::now())?;
        self.verify(&issued.der, SystemTime::now())
            .map_err(AgentCaError::Mismatch)
    }

    /// Whether `der` chains to this agent CA as a client certificate at `at`.
    pub fn verify(&self, der: &[u8], at: SystemTime) -> Result<(), String> {
        let anchor = webpki::anchor_from_trusted_cert(&self.cert_der).map_err(|e| e.to_string())?;
        let leaf = CertificateDer::from(der.to_vec());
        let cert = webpki::EndEntityCert::try_from(&leaf).map_err(|e| e.to_string())?;
        let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        cert.verify_for_usage(
            &[webpki::ring::ECDSA_P256_SHA256],
            &[anchor],
            &[],
            UnixTime::since_unix_epoch(since),
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    /// The cluster CA (PEM): what an agent trusts for the brokers.
    pub fn cluster_ca_pem(&self) -> &str {
        &self.cluster_ca_pem
    }

    /// An agent certificate for `hostname` (already checked) and `key`,
    /// with a random serial number.
    pub fn sign(
        &self,
        hostname: &str,
        key: &impl PublicKeyData,
        now: SystemTime,
    ) -> Result<Issued, AgentCaError> {
        let mut params = params_for(&Role::Agent(hostname.to_string()))?;
        let mut serial = [0u8; 16];
        getrandom::getrandom(&mut serial).map_err(|e| AgentCaError::Random(e.to_string()))?;
        serial[0] &= 0x7f;
        serial[0] |= 0x01;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        let secs =
            |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
        let at = |t: SystemTime| {
            time::OffsetDateTime::from_unix_timestamp(secs(t))
                .map_err(|e| AgentCaError::Validity(e.to_string()))
        };
        params.not_before = at(now - BACKDATE)?;
        params.not_after = at(now + VALIDITY)?;
        let cert = params
            .signed_by(key, &self.issuer, &self.key)
            .map_err(KeygenError::from)?;
        let der = cert.der().to_vec();
        Ok(Issued {
            pem: cert.pem(),
            fingerprint: super::fingerprint(&der),
            serial: super::hex(&serial),
            der,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pki() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        crate::keygen::generate(dir.path(), &[1], &[], &[]).unwrap();
        crate::keygen::agent_ca(dir.path()).unwrap();
        dir
    }

    #[test]
    fn signs_agent_certificates_that_chain_to_it_alone() {
        let dir = pki();
        let p = |f: &str| dir.path().join(f);
        let ca = AgentCa::load(&p("agent-ca.pem"), &p("agent-ca-key.pem"), &p("ca.pem")).unwrap();
        assert!(ca.cluster_ca_pem().contains("BEGIN CERTIFICATE"));
        let key = KeyPair::generate().unwrap();
        let a = ca.sign("x2go1", &key, SystemTime::now()).unwrap();
        let b = ca.sign("x2go1", &key, SystemTime::now()).unwrap();
        assert_ne!(a.serial, b.serial, "random serials");
        assert_ne!(a.fingerprint, b.fingerprint);
        assert_eq!(a.fingerprint, crate::enroll::fingerprint(&a.der));
        let role = Role::of_certificate(&CertificateDer::from(a.der.clone())).unwrap();
        assert_eq!(role, Role::Agent("x2go1".into()));
        ca.verify(&a.der, SystemTime::now()).unwrap();
        // Not valid long before it was signed.
        let early = SystemTime::now() - Duration::from_secs(3 * 3600);
        assert!(ca.verify(&a.der, early).is_err());
        // The cluster CA does not vouch for it.
        let cluster = std::fs::read(p("ca.pem")).unwrap();
        let cluster = rustls_pemfile::certs(&mut cluster.as_slice())
            .next()
            .unwrap()
            .unwrap();
        let anchor = webpki::anchor_from_trusted_cert(&cluster).unwrap();
        let leaf = CertificateDer::from(a.der.clone());
        let cert = webpki::EndEntityCert::try_from(&leaf).unwrap();
        let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        assert!(cert
            .verify_for_usage(
                &[webpki::ring::ECDSA_P256_SHA256],
                &[anchor],
                &[],
                UnixTime::since_unix_epoch(since),
                webpki::KeyUsage::client_auth(),
                None,
                None,
            )
            .is_err());
    }

    #[test]
    fn the_cluster_ca_or_a_foreign_key_is_refused() {
        let dir = pki();
        let p = |f: &str| dir.path().join(f);
        let same = AgentCa::load(&p("ca.pem"), &p("ca-key.pem"), &p("ca.pem"));
        assert!(
            matches!(same, Err(AgentCaError::SameAsClusterCa)),
            "{:?}",
            same.err()
        );
        let mixed = AgentCa::load(&p("agent-ca.pem"), &p("node1-key.pem"), &p("ca.pem"));
        assert!(
            matches!(mixed, Err(AgentCaError::Mismatch(_))),
            "{:?}",
            mixed.err()
        );
        let missing = AgentCa::load(&p("nope.pem"), &p("agent-ca-key.pem"), &p("ca.pem"));
        assert!(matches!(missing, Err(AgentCaError::Read { .. })));
    }
}
