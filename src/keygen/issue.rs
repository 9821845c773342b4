//! Agent certificates issued in memory (the simulator's servers): from the
//! cluster CA's certificate and key as `generate` wrote them, nothing
//! written to disk.

use super::{ca_params, check_agent_host, params_for, KeygenError};
use crate::cluster::identity::Role;
use rcgen::KeyPair;

/// Issues agent certificates in memory from a CA that `generate` made
/// (the simulator's servers; nothing is written).
pub struct AgentIssuer {
    ca: rcgen::Certificate,
    key: KeyPair,
}

impl AgentIssuer {
    /// The CA of `ca.pem` and `ca-key.pem`: refused unless the key is the
    /// certificate's and the certificate is one `generate` made (the
    /// issuer name of every certificate must be the CA's subject).
    pub fn from_pem(ca_cert_pem: &str, ca_key_pem: &str) -> Result<AgentIssuer, KeygenError> {
        let key = KeyPair::from_pem(ca_key_pem)?;
        let ca = ca_params().self_signed(&key)?;
        let given = rustls_pemfile::certs(&mut ca_cert_pem.as_bytes())
            .next()
            .and_then(Result::ok)
            .ok_or(KeygenError::NotTheCa("no certificate in it"))?;
        let anchor = |der| {
            webpki::anchor_from_trusted_cert(der)
                .map(|a| (a.subject.to_vec(), a.subject_public_key_info.to_vec()))
        };
        let (subject, spki) =
            anchor(&given).map_err(|_| KeygenError::NotTheCa("not a readable certificate"))?;
        let (our_subject, our_spki) =
            anchor(ca.der()).map_err(|_| KeygenError::NotTheCa("not a readable certificate"))?;
        if spki != our_spki {
            return Err(KeygenError::NotTheCa("the key is not this certificate's"));
        }
        if subject != our_subject {
            return Err(KeygenError::NotTheCa("not a CA made by x2gobroker keygen"));
        }
        Ok(AgentIssuer { ca, key })
    }

    /// A new key and an agent certificate naming the X2Go server `host`:
    /// (certificate PEM, private key PEM).
    pub fn issue(&self, host: &str) -> Result<(String, String), KeygenError> {
        check_agent_host(host)?;
        let key = KeyPair::generate()?;
        let cert =
            params_for(&Role::Agent(host.to_string()))?.signed_by(&key, &self.ca, &self.key)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// One agent certificate for `host` from the CA's PEM texts (see
/// `AgentIssuer` to issue many).
pub fn issue_agent(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    host: &str,
) -> Result<(String, String), KeygenError> {
    AgentIssuer::from_pem(ca_cert_pem, ca_key_pem)?.issue(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keygen::generate;
    use std::path::Path;

    #[test]
    fn agent_certificates_are_issued_in_memory_by_the_ca_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), &[1], &[], &[]).unwrap();
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
        let (cert, key) = issue_agent(&read("ca.pem"), &read("ca-key.pem"), "sim00001").unwrap();
        assert_eq!(
            Role::of_pem(cert.as_bytes()).unwrap(),
            Role::Agent("sim00001".into())
        );
        assert!(key.contains("PRIVATE KEY"));
        // It chains to ca.pem: rustls accepts it as a client of that CA.
        let mut roots = rustls::RootCertStore::empty();
        let ca_der = rustls_pemfile::certs(&mut read("ca.pem").as_bytes())
            .next()
            .unwrap()
            .unwrap();
        roots.add(ca_der).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.into(),
            rustls::crypto::ring::default_provider().into(),
        )
        .build()
        .unwrap();
        let leaf = rustls_pemfile::certs(&mut cert.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        let now = rustls::pki_types::UnixTime::now();
        verifier.verify_client_cert(&leaf, &[], now).unwrap();
        assert_eq!(files_in(dir.path()), 4, "nothing written");
        // A bad host name, a key of another CA, a node's key are refused.
        let e = issue_agent(&read("ca.pem"), &read("ca-key.pem"), "../x").unwrap_err();
        assert!(matches!(e, KeygenError::BadHost(_)), "{e}");
        let other = tempfile::tempdir().unwrap();
        generate(other.path(), &[], &[], &[]).unwrap();
        let other_key = std::fs::read_to_string(other.path().join("ca-key.pem")).unwrap();
        let e = issue_agent(&read("ca.pem"), &other_key, "x").err().unwrap();
        assert!(
            e.to_string().contains("the key is not this certificate's"),
            "{e}"
        );
        let e = issue_agent(&read("node1.pem"), &read("node1-key.pem"), "x")
            .err()
            .unwrap();
        assert!(matches!(e, KeygenError::NotTheCa(_)), "{e}");
    }

    fn files_in(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }
}
