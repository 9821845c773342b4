//! A test site: a temporary directory holding the two configuration files
//! (`x2gobroker.conf` and the session profiles), plus TLS files made for it.

use std::path::{Path, PathBuf};

/// A temporary directory with the two configuration files.
pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Site {
    /// `conf` is x2gobroker.conf, `profiles` the session profiles file.
    pub fn new(conf: &str, profiles: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Point the pre-shared cookie file into the site so the host's file never matters.
        let conf = if conf.contains("my-cookie-file") {
            conf.to_string()
        } else {
            add_global(
                conf,
                &format!(
                    "my-cookie-file = {}/x2gobroker.authid",
                    dir.path().display()
                ),
            )
        };
        std::fs::write(dir.path().join("x2gobroker.conf"), conf).unwrap();
        std::fs::write(dir.path().join("profiles.conf"), profiles).unwrap();
        Site { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn conf(&self) -> PathBuf {
        self.path("x2gobroker.conf")
    }

    pub fn profiles(&self) -> PathBuf {
        self.path("profiles.conf")
    }
}

/// Insert a line right after `[global]` (adding the section when missing).
pub fn add_global(conf: &str, line: &str) -> String {
    if let Some(pos) = conf.find("[global]") {
        let end = pos + "[global]".len();
        format!("{}\n{}{}", &conf[..end], line, &conf[end..])
    } else {
        format!("[global]\n{line}\n{conf}")
    }
}

/// A self-signed certificate for 127.0.0.1 and localhost, written as PEM files.
pub fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    (cert_path, key_path)
}
