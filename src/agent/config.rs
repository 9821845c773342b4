//! The settings of `x2gobroker-agent run`: the brokers to connect to, the
//! transport, the TLS files, the server's name and the timings, from a TOML file
//! (`--config`) and the command line, each flag winning over the file.

use super::transport::TransportKind;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often the sessions are listed by default (`--interval-ms`).
pub const DEFAULT_INTERVAL_MS: u64 = 1000;
/// How often the load is reported by default (`--load-every-ms`).
pub const DEFAULT_LOAD_EVERY_MS: u64 = 5000;

/// The settings as the TOML file or the command line give them; every
/// one may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RunSettings {
    /// Broker agent gateway addresses, `HOST:PORT`, in order of preference.
    pub brokers: Option<Vec<String>>,
    /// `grpc` (the default) or `quic`.
    pub transport: Option<TransportKind>,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub hostname: Option<String>,
    pub interval_ms: Option<u64>,
    pub load_every_ms: Option<u64>,
    /// Report this load factor instead of the measured one (tests and
    /// demonstrations of load balancing).
    pub load_factor: Option<u64>,
}

/// The settings `run` works with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunConfig {
    pub brokers: Vec<String>,
    pub transport: TransportKind,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// `None`: the name in /etc/hostname.
    pub hostname: Option<String>,
    pub interval: Duration,
    pub load_every: Duration,
    /// A fixed load factor to report instead of the measured one.
    pub load_factor: Option<u64>,
}

/// Settings that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("no {0} given (flag --{0} or key `{0}` in the --config file)")]
    Missing(&'static str),
    #[error("no broker address given (--brokers ADDR[,ADDR...])")]
    NoBrokers,
    #[error("{name} must be at least 1 ms")]
    Zero { name: &'static str },
}

impl RunSettings {
    /// The settings of a TOML file.
    pub fn from_file(path: &Path) -> Result<RunSettings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source: Box::new(source),
        })
    }

    /// Each setting of `self` (the flags), else the one of `file`.
    pub fn over(self, file: RunSettings) -> RunSettings {
        RunSettings {
            brokers: self.brokers.or(file.brokers),
            transport: self.transport.or(file.transport),
            ca: self.ca.or(file.ca),
            cert: self.cert.or(file.cert),
            key: self.key.or(file.key),
            hostname: self.hostname.or(file.hostname),
            interval_ms: self.interval_ms.or(file.interval_ms),
            load_every_ms: self.load_every_ms.or(file.load_every_ms),
            load_factor: self.load_factor.or(file.load_factor),
        }
    }

    /// Check that everything needed is there; fill in the defaults.
    pub fn resolve(self) -> Result<RunConfig, ConfigError> {
        let brokers: Vec<String> = self
            .brokers
            .unwrap_or_default()
            .into_iter()
            .map(|b| b.trim().to_string())
            .filter(|b| !b.is_empty())
            .collect();
        if brokers.is_empty() {
            return Err(ConfigError::NoBrokers);
        }
        let ms = |v: Option<u64>, default: u64, name| match v.unwrap_or(default) {
            0 => Err(ConfigError::Zero { name }),
            n => Ok(Duration::from_millis(n)),
        };
        Ok(RunConfig {
            brokers,
            transport: self.transport.unwrap_or_default(),
            ca: self.ca.ok_or(ConfigError::Missing("ca"))?,
            cert: self.cert.ok_or(ConfigError::Missing("cert"))?,
            key: self.key.ok_or(ConfigError::Missing("key"))?,
            hostname: self.hostname,
            interval: ms(self.interval_ms, DEFAULT_INTERVAL_MS, "interval-ms")?,
            load_every: ms(self.load_every_ms, DEFAULT_LOAD_EVERY_MS, "load-every-ms")?,
            load_factor: self.load_factor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let file: RunSettings = toml::from_str(
            "brokers = [\"10.0.0.1:7000\", \"10.0.0.2:7000\"]\nca = \"/etc/x/ca.pem\"\n\
             cert = \"/etc/x/agent.pem\"\nkey = \"/etc/x/agent-key.pem\"\ninterval-ms = 500\n",
        )
        .unwrap();
        let flags = RunSettings {
            brokers: Some(vec!["127.0.0.1:7000".into()]),
            hostname: Some("x2go1".into()),
            ..RunSettings::default()
        };
        let c = flags.over(file).resolve().unwrap();
        assert_eq!(c.brokers, vec!["127.0.0.1:7000".to_string()]);
        assert_eq!(c.ca, PathBuf::from("/etc/x/ca.pem"));
        assert_eq!(c.hostname.as_deref(), Some("x2go1"));
        assert_eq!(c.transport, TransportKind::Grpc);
        assert_eq!(c.interval, Duration::from_millis(500));
        assert_eq!(c.load_every, Duration::from_millis(DEFAULT_LOAD_EVERY_MS));
    }

    #[test]
    fn missing_or_unknown_settings_are_refused() {
        let none = RunSettings::default().resolve().unwrap_err();
        assert!(matches!(none, ConfigError::NoBrokers), "{none}");
        let no_ca = RunSettings {
            brokers: Some(vec!["a:1".into()]),
            ..RunSettings::default()
        };
        assert_eq!(
            no_ca.resolve().unwrap_err().to_string(),
            "no ca given (flag --ca or key `ca` in the --config file)"
        );
        assert!(toml::from_str::<RunSettings>("transport = \"udp\"").is_err());
        assert!(toml::from_str::<RunSettings>("brokers-list = []").is_err());
        let quic: RunSettings = toml::from_str("transport = \"quic\"").unwrap();
        assert_eq!(quic.transport, Some(TransportKind::Quic));
        let zero = RunSettings {
            brokers: Some(vec!["a:1".into()]),
            ca: Some("c".into()),
            cert: Some("c".into()),
            key: Some("k".into()),
            interval_ms: Some(0),
            ..RunSettings::default()
        };
        assert!(matches!(zero.resolve(), Err(ConfigError::Zero { .. })));
    }
}
