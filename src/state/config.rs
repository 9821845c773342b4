//! The replicated configuration: the configuration file texts a proposer
//! read, and the version numbers (1, 2, ...) successive `SetConfig`
//! commands give them.

use super::State;
use serde::{Deserialize, Serialize};

/// The two configuration files as read by the proposing node: what the
/// cluster replicates so that every node serves the same version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConfigTexts {
    pub conf_name: String,
    /// `None`: the file was missing (built-in defaults).
    pub conf: Option<String>,
    pub profiles_name: String,
    /// `None`: the inifile backend is disabled.
    pub profiles: Option<String>,
}

impl State {
    /// The replicated configuration, if one was proposed.
    pub fn config(&self) -> Option<&(u64, ConfigTexts)> {
        self.config.as_ref()
    }

    /// Install `texts` as the next configuration version and return its
    /// number. Writes no key/value pair (`from_pairs` does not restore a
    /// configuration); snapshots carry it.
    pub(super) fn set_config(&mut self, texts: &ConfigTexts) -> u64 {
        let version = self.config.as_ref().map_or(0, |(v, _)| *v) + 1;
        self.config = Some((version, texts.clone()));
        version
    }
}
