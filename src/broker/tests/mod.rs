//! Unit tests of the broker tasks over a local ledger in a temporary
//! directory: the fixture here, the cases by task beside it.

mod access;
mod listing;
mod live;
mod selection;

use super::{Broker, Ledger, Settings};
use crate::auth::ratelimit::Limit;
use crate::storage::Store;
use std::time::Duration;
use tempfile::TempDir;

/// A broker over its own files and state store; the directory lives as long as it.
pub(crate) struct Fixture {
    pub broker: Broker,
    pub dir: TempDir,
}

/// Failed logins allowed per user and per client before the limiter refuses.
pub(crate) const MAX_FAILURES: usize = 3;

impl Fixture {
    /// A broker with these `x2gobroker.conf` and session profiles texts.
    pub fn new(conf: &str, profiles: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let conf_path = dir.path().join("x2gobroker.conf");
        let profiles_path = dir.path().join("x2gobroker-sessionprofiles.conf");
        std::fs::write(&conf_path, conf).expect("write x2gobroker.conf");
        std::fs::write(&profiles_path, profiles).expect("write session profiles");
        let limit = Limit {
            max_failures: MAX_FAILURES,
            window: Duration::from_secs(60),
        };
        let settings = Settings {
            x2gobroker_conf: conf_path,
            session_profiles: Some(profiles_path),
            data_dir: dir.path().join("state"),
            placement_window: Duration::from_secs(60),
            probe_ttl: Duration::from_secs(5),
            pam_service: "x2gobroker-unit-test-no-such-service".into(),
            user_limit: limit,
            client_limit: limit,
            allow_get: false,
            broker_home: dir.path().join("home"),
            autologin_key_ttl: Duration::from_secs(20),
            admin_group: None,
            ssh_agent_timeout: Duration::from_secs(5),
            ssh_agent_retry: Duration::from_secs(60),
        };
        let store = Store::open(&settings.data_dir).expect("open the state store");
        let broker = Broker::new(settings, Ledger::Local(store)).expect("configuration loads");
        Fixture { broker, dir }
    }
}
