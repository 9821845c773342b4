//! `x2gobroker keygen`: a cluster CA and one certificate per node and per
//! administrator, for the mutual TLS of the node-to-node listener. Each
//! certificate carries its role (`cluster::identity`) as a URI subject
//! alternative name, which decides the RPCs it may call. Node certificates
//! also name `x2gobroker-node` (the server name nodes and `x2gobrokerctl`
//! verify, so certificates do not depend on addresses) and may act as server
//! and client; admin certificates are client certificates only.
//!
//! `agent_ca` makes the separate agent-signing CA the brokers enroll agents
//! with (`crate::enroll`): a root of its own, which only the agent gateway
//! trusts, so its key may live on the brokers.

use crate::cluster::identity::Role;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::path::{Path, PathBuf};

mod issue;
pub use issue::{issue_agent, AgentIssuer};

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
    #[error(
        "agent host name {0:?}: use the X2Go server's host name (letters, digits, '-' and '.')"
    )]
    BadHost(String),
    #[error("the CA certificate and key cannot issue certificates: {0}")]
    NotTheCa(&'static str),
    #[error("name {0:?} would overwrite the CAs' or a node's files (ca, nodeN, *-key, agent-*; agent ca): choose another")]
    ReservedName(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeygenError + '_ {
    move |source| KeygenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Write a private key: mode 0600, also when the file existed with another
/// mode (set after truncating, before the key is written).
fn write_private(path: &Path, text: &str) -> Result<(), KeygenError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error(path))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io_error(path))?;
    f.write_all(text.as_bytes()).map_err(io_error(path))
}

fn write_public(path: &Path, text: &str) -> Result<(), KeygenError> {
    std::fs::write(path, text).map_err(io_error(path))
}

fn ca_params() -> CertificateParams {
    ca_params_named("x2gobroker cluster CA")
}

/// The agent-signing CA's certificate request (its name is what every
/// enrolled agent certificate names as its issuer).
pub(crate) fn agent_ca_params() -> CertificateParams {
    ca_params_named("x2gobroker agent CA")
}

fn ca_params_named(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// A client name may not name the files of the CA or of a node: `ca`,
/// `nodeN` and anything ending in `-key` are taken.
fn check_client_name(name: &str) -> Result<(), KeygenError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(KeygenError::BadName(name.to_string()));
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with(AGENT_PREFIX) {
        return Err(KeygenError::ReservedName(name.to_string()));
    }
    let node_file = lower
        .strip_prefix("node")
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
    if lower == "ca" || lower.ends_with("-key") || node_file {
        return Err(KeygenError::ReservedName(name.to_string()));
    }
    Ok(())
}

/// Agent files are named `agent-HOST.pem`: admin client names may not start so.
const AGENT_PREFIX: &str = "agent-";

/// An agent's name is its X2Go server's host name (as in `/etc/hostname`):
/// letters, digits, '-' and '.', not starting or ending with '.' or '-';
/// not `ca` (whose files would be the agent-signing CA's).
pub(crate) fn check_agent_host(host: &str) -> Result<(), KeygenError> {
    if host.eq_ignore_ascii_case("ca") {
        return Err(KeygenError::ReservedName(host.to_string()));
    }
    let fine = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !host.starts_with(['.', '-'])
        && !host.ends_with(['.', '-'])
        && !host.contains("..");
    if fine {
        Ok(())
    } else {
        Err(KeygenError::BadHost(host.to_string()))
    }
}

/// The certificate request for `role`.
pub(crate) fn params_for(role: &Role) -> Result<CertificateParams, KeygenError> {
    let mut params = match role {
        Role::Node(id) => {
            let mut p = CertificateParams::new(vec![NODE_NAME.to_string()])?;
            p.subject_alt_names.push(SanType::DnsName(
                format!("node{id}.{NODE_NAME}").try_into()?,
            ));
            p.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            p
        }
        Role::Admin(_) | Role::Agent(_) => {
            let mut p = CertificateParams::default();
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            p
        }
    };
    let common_name = match role {
        Role::Node(id) => format!("x2gobroker node {id}"),
        Role::Admin(name) => format!("x2gobroker admin {name}"),
        Role::Agent(name) => format!("x2gobroker agent {name}"),
    };
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params
        .subject_alt_names
        .push(SanType::URI(role.uri().try_into()?));
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    Ok(params)
}

/// Create `ca.pem`, `ca-key.pem` (unless the CA exists), `node{id}.pem`,
/// `node{id}-key.pem` for every id, `{name}.pem`, `{name}-key.pem` for
/// every admin client name (for `x2gobrokerctl`), and `agent-{host}.pem`,
/// `agent-{host}-key.pem` for every X2Go server's agent, in `dir`. Returns
/// the files written. Names are checked before anything is written.
pub fn generate(
    dir: &Path,
    node_ids: &[u64],
    clients: &[String],
    agents: &[String],
) -> Result<Vec<String>, KeygenError> {
    for name in clients {
        check_client_name(name)?;
    }
    for host in agents {
        check_agent_host(host)?;
    }
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
        .map(|id| (format!("node{id}"), Role::Node(*id)))
        .chain(clients.iter().map(|c| (c.clone(), Role::Admin(c.clone()))))
        .chain(
            agents
                .iter()
                .map(|h| (format!("{AGENT_PREFIX}{h}"), Role::Agent(h.clone()))),
        );
    for (name, role) in subjects {
        let key = KeyPair::generate()?;
        let cert = params_for(&role)?.signed_by(&key, &ca, &ca_key)?;
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

/// The agent-signing CA's files in `dir`.
pub const AGENT_CA: &str = "agent-ca.pem";
pub const AGENT_CA_KEY: &str = "agent-ca-key.pem";

/// Create the agent-signing CA, `agent-ca.pem` and `agent-ca-key.pem` in
/// `dir`, unless both exist. Returns the files written.
pub fn agent_ca(dir: &Path) -> Result<Vec<String>, KeygenError> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let (cert_path, key_path) = (dir.join(AGENT_CA), dir.join(AGENT_CA_KEY));
    if cert_path.exists() && key_path.exists() {
        return Ok(Vec::new());
    }
    let key = KeyPair::generate()?;
    let cert = agent_ca_params().self_signed(&key)?;
    write_public(&cert_path, &cert.pem())?;
    write_private(&key_path, &key.serialize_pem())?;
    Ok(vec![
        cert_path.display().to_string(),
        key_path.display().to_string(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_ca_once_and_node_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let first = generate(dir.path(), &[1, 2], &[], &[]).unwrap();
        assert_eq!(first.len(), 6);
        let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
        let mode = std::fs::metadata(dir.path().join("node1-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // A later run adds nodes under the same CA.
        let second = generate(dir.path(), &[3], &["admin".to_string()], &[]).unwrap();
        assert_eq!(second.len(), 4);
        assert!(dir.path().join("admin-key.pem").exists());
        assert!(generate(dir.path(), &[], &["../x".to_string()], &[]).is_err());
        assert_eq!(std::fs::read(dir.path().join("ca.pem")).unwrap(), ca);
    }

    fn role_in(path: &Path) -> Role {
        let pem = std::fs::read(path).unwrap();
        let der = rustls_pemfile::certs(&mut pem.as_slice())
            .next()
            .unwrap()
            .unwrap();
        Role::of_certificate(&der).unwrap()
    }

    #[test]
    fn agent_certificates_name_their_server() {
        let dir = tempfile::tempdir().unwrap();
        let files = generate(
            dir.path(),
            &[],
            &[],
            &["x2go1".into(), "x2go2.example.org".into()],
        )
        .unwrap();
        assert!(
            files.iter().any(|f| f.ends_with("agent-x2go1-key.pem")),
            "{files:?}"
        );
        assert_eq!(
            role_in(&dir.path().join("agent-x2go1.pem")),
            Role::Agent("x2go1".into())
        );
        assert_eq!(
            role_in(&dir.path().join("agent-x2go2.example.org.pem")),
            Role::Agent("x2go2.example.org".into())
        );
        let mode = std::fs::metadata(dir.path().join("agent-x2go1-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        for bad in ["", "../etc", "x2go1/..", ".x2go", "x2go1-", "a b"] {
            let e = generate(dir.path(), &[], &[], &[bad.to_string()]).unwrap_err();
            assert!(matches!(e, KeygenError::BadHost(_)), "{bad:?}: {e}");
        }
        // An admin client cannot take an agent's files, nor an agent the agent CA's.
        let e = generate(dir.path(), &[], &["agent-x2go1".into()], &[]).unwrap_err();
        assert!(matches!(e, KeygenError::ReservedName(_)), "{e}");
        let e = generate(dir.path(), &[], &[], &["CA".into()]).unwrap_err();
        assert!(matches!(e, KeygenError::ReservedName(_)), "{e}");
    }

    #[test]
    fn certificates_carry_their_role() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), &[3], &["ops".to_string()], &[]).unwrap();
        assert_eq!(role_in(&dir.path().join("node3.pem")), Role::Node(3));
        assert_eq!(
            role_in(&dir.path().join("ops.pem")),
            Role::Admin("ops".into())
        );
    }

    #[test]
    fn finding9_client_names_cannot_take_the_ca_or_node_files() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), &[1], &[], &[]).unwrap();
        let before: Vec<Vec<u8>> = ["ca.pem", "ca-key.pem", "node1.pem", "node1-key.pem"]
            .iter()
            .map(|f| std::fs::read(dir.path().join(f)).unwrap())
            .collect();
        for name in [
            "ca",
            "CA",
            "node1",
            "Node2",
            "ca-key",
            "node1-key",
            "admin-key",
        ] {
            let e = generate(dir.path(), &[], &[name.to_string()], &[]).unwrap_err();
            assert!(matches!(e, KeygenError::ReservedName(_)), "{name}: {e}");
        }
        let after: Vec<Vec<u8>> = ["ca.pem", "ca-key.pem", "node1.pem", "node1-key.pem"]
            .iter()
            .map(|f| std::fs::read(dir.path().join(f)).unwrap())
            .collect();
        assert_eq!(before, after);
        // Names that merely start like them are fine.
        generate(
            dir.path(),
            &[],
            &["node-admin".into(), "cadmin".into()],
            &[],
        )
        .unwrap();
    }

    #[test]
    fn the_agent_ca_is_a_root_of_its_own_made_once() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), &[1], &[], &[]).unwrap();
        let files = agent_ca(dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        let read = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
        assert_ne!(read(AGENT_CA), read("ca.pem"));
        let mode = std::fs::metadata(dir.path().join(AGENT_CA_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let first = read(AGENT_CA_KEY);
        assert!(agent_ca(dir.path()).unwrap().is_empty(), "reused");
        assert_eq!(read(AGENT_CA_KEY), first);
    }

    #[test]
    fn finding9_a_rewritten_private_key_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("node1-key.pem");
        std::fs::write(&key, "old").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        generate(dir.path(), &[1], &[], &[]).unwrap();
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(std::fs::read_to_string(&key)
            .unwrap()
            .contains("PRIVATE KEY"));
    }
}
