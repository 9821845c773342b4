//! The agent's side of enrollment (`x2gobroker-agent enroll`): make an
//! ECDSA P-256 key pair here, send a certificate request for this server
//! with the join token, and write what comes back: `ca.pem` (the cluster
//! CA, to trust the brokers with), `agent-HOST.pem` (the certificate) and
//! `agent-HOST-key.pem` (mode 0600). The key never leaves the server, and
//! nothing is written unless the broker accepted: a failed attempt leaves
//! the files of an earlier enrollment as they were.

use super::post::{post_json, BrokerUrl, PostError};
use super::token::{MalformedToken, Token};
use super::wire::{EnrollRequest, EnrollResponse, ErrorBody, PATH};
use crate::cluster::identity::Role;
use crate::keygen::{check_agent_host, KeygenError};
use rcgen::{CertificateParams, DnType, KeyPair};
use std::path::{Path, PathBuf};

/// What `enroll` needs.
#[derive(Debug, Clone)]
pub struct EnrollOptions {
    /// The broker's URL (`https://BROKER:PORT/`).
    pub broker: String,
    pub token: String,
    /// Where the files go.
    pub out: PathBuf,
    /// This server's name (the agent's `--hostname`).
    pub hostname: String,
    /// The CA to verify the broker's HTTPS certificate with (default: the system's).
    pub broker_ca: Option<PathBuf>,
}

/// Why enrollment failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Token(#[from] MalformedToken),
    #[error("{0}")]
    Hostname(#[from] KeygenError),
    #[error("making the key pair or the certificate request: {0}")]
    Key(#[from] rcgen::Error),
    #[error(transparent)]
    Post(#[from] PostError),
    #[error("the broker refused the enrollment ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("the broker's answer is not the enrollment JSON: {0}")]
    Answer(String),
    #[error("the broker's certificate is not this server's: {0}")]
    WrongCertificate(String),
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What enrollment wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    pub hostname: String,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub serial: String,
    pub fingerprint: String,
}

/// Enroll this server with the broker; the files written.
pub async fn enroll(opts: &EnrollOptions) -> Result<Enrolled, ClientError> {
    let token = Token::parse(&opts.token)?;
    check_agent_host(&opts.hostname)?;
    let url = BrokerUrl::parse(&opts.broker)?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name.push(
        DnType::CommonName,
        format!("x2gobroker agent {}", opts.hostname),
    );
    let csr = params.serialize_request(&key)?.pem()?;
    let request = EnrollRequest {
        token: token.expose().to_string(),
        hostname: opts.hostname.clone(),
        csr,
    };
    let body = serde_json::to_vec(&request).map_err(|e| ClientError::Answer(e.to_string()))?;
    let (status, answer) = post_json(&url, PATH, body, opts.broker_ca.as_deref()).await?;
    if status != 200 {
        let message = serde_json::from_slice::<ErrorBody>(&answer)
            .map(|b| b.error)
            .unwrap_or_else(|_| {
                String::from_utf8_lossy(&answer)
                    .trim()
                    .chars()
                    .take(300)
                    .collect()
            });
        return Err(ClientError::Refused { status, message });
    }
    let got: EnrollResponse =
        serde_json::from_slice(&answer).map_err(|e| ClientError::Answer(e.to_string()))?;
    check_certificate(&got, &opts.hostname, &key)?;
    write_files(opts, &got, &key)
}

/// The certificate must name this server and carry this key.
fn check_certificate(
    got: &EnrollResponse,
    hostname: &str,
    key: &KeyPair,
) -> Result<(), ClientError> {
    let wrong = |why: String| ClientError::WrongCertificate(why);
    let der = rustls_pemfile::certs(&mut got.certificate.as_bytes())
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| wrong("no PEM certificate".into()))?;
    match Role::of_certificate(&der) {
        Ok(Role::Agent(name)) if name == hostname => {}
        Ok(other) => return Err(wrong(format!("it is the certificate of {other}"))),
        Err(e) => return Err(wrong(e.to_string())),
    }
    let raw = key.public_key_raw();
    if !der.windows(raw.len()).any(|w| w == raw) {
        return Err(wrong("it does not carry the key made here".into()));
    }
    if rustls_pemfile::certs(&mut got.ca.as_bytes())
        .next()
        .is_none()
    {
        return Err(wrong("no CA certificate came with it".into()));
    }
    Ok(())
}

/// Write `text` to `path` through a temporary file renamed into place;
/// `private` files are 0600 from the start.
fn write_atomic(path: &Path, text: &str, private: bool) -> Result<(), ClientError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |source| ClientError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&tmp)
        .map_err(fail)?;
    if private {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(fail)?;
    }
    f.write_all(text.as_bytes()).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

fn write_files(
    opts: &EnrollOptions,
    got: &EnrollResponse,
    key: &KeyPair,
) -> Result<Enrolled, ClientError> {
    std::fs::create_dir_all(&opts.out).map_err(|source| ClientError::Write {
        path: opts.out.clone(),
        source,
    })?;
    let host = &opts.hostname;
    let files = Enrolled {
        hostname: host.clone(),
        ca: opts.out.join("ca.pem"),
        cert: opts.out.join(format!("agent-{host}.pem")),
        key: opts.out.join(format!("agent-{host}-key.pem")),
        serial: got.serial.clone(),
        fingerprint: got.fingerprint.clone(),
    };
    write_atomic(&files.key, &key.serialize_pem(), true)?;
    write_atomic(&files.cert, &got.certificate, false)?;
    write_atomic(&files.ca, &got.ca, false)?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_file_is_0600_also_over_an_old_one() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("agent-x2go1-key.pem");
        std::fs::write(&key, "old").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&key, "new", true).unwrap();
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&key).unwrap(), "new");
    }

    #[tokio::test]
    async fn bad_input_is_refused_before_anything_is_sent() {
        let opts = EnrollOptions {
            broker: "https://127.0.0.1:1/".into(),
            token: "nope".into(),
            out: PathBuf::from("/nonexistent"),
            hostname: "x2go1".into(),
            broker_ca: None,
        };
        assert!(matches!(enroll(&opts).await, Err(ClientError::Token(_))));
        let token = Token::new().unwrap().expose().to_string();
        let bad_host = EnrollOptions {
            token: token.clone(),
            hostname: "../x".into(),
            ..opts.clone()
        };
        assert!(matches!(
            enroll(&bad_host).await,
            Err(ClientError::Hostname(_))
        ));
        let plain = EnrollOptions {
            token,
            broker: "http://broker.example/".into(),
            ..opts
        };
        assert!(matches!(
            enroll(&plain).await,
            Err(ClientError::Post(PostError::PlainHttp(_)))
        ));
    }
}
