//! `x2gobroker keygen`: a cluster CA and one certificate per node, for the
//! mutual TLS between broker nodes. Every node certificate names
//! `x2gobroker-node` (what nodes verify, so certificates do not depend on
//! addresses) and may act as server and client.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::path::{Path, PathBuf};

/// The name every node certificate carries and every node verifies.
pub const NODE_NAME: &str = "x2gobroker-node";

/// Why certificates could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KeygenError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    ReadKey { path: PathBuf, source: rcgen::Error },
    #[error("making a certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("certificate name {0:?}: use letters, digits, '-' and '_'")]
    BadName(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeygenError + '_ {
    move |source| KeygenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_private(path: &Path, text: &str) -> Result<(), KeygenError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error(path))?;
    f.write_all(text.as_bytes()).map_err(io_error(path))
}

fn write_public(path: &Path, text: &str) -> Result<(), KeygenError> {
    std::fs::write(path, text).map_err(io_error(path))
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "x2gobroker cluster CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// Create `ca.pem`, `ca-key.pem` (unless the CA exists), `node{id}.pem`,
/// `node{id}-key.pem` for every id, and `{name}.pem`, `{name}-key.pem` for
/// every client name (for `x2gobrokerctl`), in `dir`. Returns the files written.
pub fn generate(
    dir: &Path,
    node_ids: &[u64],
    clients: &[String],
) -> Result<Vec<String>, KeygenError> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let ca_cert_path = dir.join("ca.pem");
    let ca_key_path = dir.join("ca-key.pem");
    let mut written = Vec::new();
    let ca_key = if ca_key_path.exists() && ca_cert_path.exists() {
        let key_pem = std::fs::read_to_string(&ca_key_path).map_err(io_error(&ca_key_path))?;
        KeyPair::from_pem(&key_pem).map_err(|source| KeygenError::ReadKey {
            path: ca_key_path.clone(),
            source,
        })?
    } else {
        let key = KeyPair::generate()?;
        let cert = ca_params().self_signed(&key)?;
        write_public(&ca_cert_path, &cert.pem())?;
        write_private(&ca_key_path, &key.serialize_pem())?;
        written.extend([
            ca_cert_path.display().to_string(),
            ca_key_path.display().to_string(),
        ]);
        key
    };
    // The issuer for signing: same name and key as the CA on disk.
    let ca = ca_params().self_signed(&ca_key)?;
    let subjects = node_ids
        .iter()
        .map(|id| (format!("node{id}"), format!("x2gobroker node {id}")))
        .chain(
            clients
                .iter()
                .map(|c| (c.clone(), format!("x2gobroker client {c}"))),
        );
    for (name, common_name) in subjects {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(KeygenError::BadName(name));
        }
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![NODE_NAME.to_string()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .subject_alt_names
            .push(SanType::DnsName(format!("{name}.{NODE_NAME}").try_into()?));
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let cert = params.signed_by(&key, &ca, &ca_key)?;
        let cert_path = dir.join(format!("{name}.pem"));
        let key_path = dir.join(format!("{name}-key.pem"));
        write_public(&cert_path, &cert.pem())?;
        write_private(&key_path, &key.serialize_pem())?;
        written.extend([
            cert_path.display().to_string(),
            key_path.display().to_string(),
        ]);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_ca_once_and_node_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let first = generate(dir.path(), &[1, 2], &[]).unwrap();
        assert_eq!(first.len(), 6);
        let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
        let mode = std::fs::metadata(dir.path().join("node1-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // A later run adds nodes under the same CA.
        let second = generate(dir.path(), &[3], &["admin".to_string()]).unwrap();
        assert_eq!(second.len(), 4);
        assert!(dir.path().join("admin-key.pem").exists());
        assert!(generate(dir.path(), &[], &["../x".to_string()]).is_err());
        assert_eq!(std::fs::read(dir.path().join("ca.pem")).unwrap(), ca);
    }
}
