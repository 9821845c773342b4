//! The configuration in force: reading and parsing the two files (what a
//! cluster replicates), the pre-shared cookie, and replacing the whole on
//! reload, locally or through the cluster log.

use super::{Broker, BrokerError, Ledger, Settings};
use crate::cluster;
use crate::config::value::Value;
use crate::config::{BrokerConf, ConfigError};
use crate::profiles::ProfileSet;
use crate::state::{Command, ConfigTexts, Outcome};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The configuration in force: replaced whole on reload.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub conf: BrokerConf,
    pub profiles: ProfileSet,
    /// The pre-shared cookie (`my-cookie-file`, else `my-cookie`), if configured.
    pub my_cookie: Option<String>,
    /// Distinguishes each load, so frontends can cache what they derive from it.
    pub generation: u64,
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// The placeholder the packaged configuration ships instead of a cookie.
const UNCONFIGURED_COOKIE: &str = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

/// Why the configuration files could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: not valid UTF-8")]
    NotUtf8 { file: String },
    /// A file does not parse; the error names file, line and key.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

/// Read both configuration files; errors name file, line and key.
pub fn load_config(settings: &Settings) -> Result<Loaded, LoadError> {
    parse_config(&read_config_texts(settings)?)
}

/// A file's text, or why it cannot be had (`NotFound` is the caller's business).
fn read_text(path: &std::path::Path, file: &str) -> Result<String, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        file: file.to_string(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| LoadError::NotUtf8 {
        file: file.to_string(),
    })
}

/// The two files' texts, as this node reads them (what a cluster replicates).
pub fn read_config_texts(settings: &Settings) -> Result<ConfigTexts, LoadError> {
    let conf_name = settings.x2gobroker_conf.display().to_string();
    let conf_text = match read_text(&settings.x2gobroker_conf, &conf_name) {
        Ok(text) => Some(text),
        Err(LoadError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(file = %conf_name, "broker configuration not found, using built-in defaults");
            None
        }
        Err(e) => return Err(e),
    };
    let conf = match &conf_text {
        Some(text) => BrokerConf::parse(&conf_name, text)?,
        None => BrokerConf::defaults(),
    };
    let profiles_path = match &settings.session_profiles {
        Some(p) => p.clone(),
        None => match std::env::var_os("X2GOBROKER_SESSIONPROFILES") {
            Some(p) => PathBuf::from(p),
            None => PathBuf::from(conf.str("broker_inifile", "session-profiles")),
        },
    };
    let profiles_name = profiles_path.display().to_string();
    let profiles = if conf.backend_enabled("inifile") {
        Some(read_text(&profiles_path, &profiles_name)?)
    } else {
        None
    };
    Ok(ConfigTexts {
        conf_name,
        conf: conf_text,
        profiles_name,
        profiles,
    })
}

/// Parse configuration texts; errors name file, line and key.
pub fn parse_config(texts: &ConfigTexts) -> Result<Loaded, LoadError> {
    let conf = match &texts.conf {
        Some(text) => BrokerConf::parse(&texts.conf_name, text)?,
        None => {
            let mut defaults = BrokerConf::defaults();
            defaults.path = texts.conf_name.clone();
            defaults
        }
    };
    let profiles = match &texts.profiles {
        Some(text) => ProfileSet::parse(&texts.profiles_name, text)?,
        None => ProfileSet::default(),
    };
    let my_cookie = read_my_cookie(&conf);
    Ok(Loaded {
        conf,
        profiles,
        my_cookie,
        generation: GENERATION.fetch_add(1, Ordering::Relaxed),
    })
}

fn read_my_cookie(conf: &BrokerConf) -> Option<String> {
    let file = conf.global_str("my-cookie-file");
    let from_file = std::fs::read_to_string(file).ok().and_then(|text| {
        text.split('\n')
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .and_then(|l| l.split(' ').next())
            .map(str::to_string)
    });
    let configured = conf
        .get("global", "my-cookie")
        .and_then(Value::as_str)
        .map(str::to_string);
    [from_file, configured]
        .into_iter()
        .flatten()
        .find(|c| c != UNCONFIGURED_COOKIE && !c.is_empty())
}

impl Broker {
    /// Re-read both files; a broken file keeps the running configuration.
    /// In a cluster the new version goes through the log and every node
    /// installs it when applied (see `follow_replicated_config`).
    pub async fn reload(&self) -> Result<(), BrokerError> {
        let texts = read_config_texts(&self.settings)?;
        let fresh = parse_config(&texts)?;
        match &self.ledger {
            Ledger::Local(_) => {
                self.install(fresh);
                Ok(())
            }
            Ledger::Cluster(_) => match self.ledger.submit(Command::SetConfig(texts)).await? {
                Outcome::ConfigVersion(v) => {
                    tracing::info!(version = v, "configuration proposed to the cluster");
                    Ok(())
                }
                other => Err(BrokerError::unexpected("SetConfig", &other)),
            },
        }
    }

    /// Serve `loaded` from now on.
    pub fn install(&self, loaded: Loaded) {
        *self.loaded.write() = Arc::new(loaded);
    }

    /// In a cluster: install every configuration version the log brings, and
    /// propose this node's files when the cluster has none yet (first start).
    pub async fn follow_replicated_config(self: Arc<Self>, node: Arc<cluster::Node>) {
        let mut installed = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tick.tick().await;
            match node.applied_config() {
                Some((version, texts)) if version != installed => match parse_config(&texts) {
                    Ok(loaded) => {
                        tracing::info!(
                            version,
                            profiles = loaded.profiles.profiles.len(),
                            "installed replicated configuration"
                        );
                        self.install(loaded);
                        installed = version;
                    }
                    Err(e) => {
                        tracing::error!(version, error = %e, "replicated configuration does not parse here; keeping the running one");
                        installed = version;
                    }
                },
                Some(_) => {}
                None if node.is_leader() => {
                    if let Err(e) = self.reload().await {
                        tracing::warn!(error = %e, "could not propose the configuration files; retrying in 5 s");
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                }
                None => {}
            }
        }
    }
}
