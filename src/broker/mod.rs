//! The broker service: the reference's tasks (access check with authid
//! cookies, profile listing, session selection) over the loaded
//! configuration, the durable state and the server probes. Frontends call
//! this; it knows nothing of HTTP or gRPC.
//!
//! One file per task: `task` (what a request asks for), `access`
//! (passwords, cookies, rate limiting), `listing` (profiles and placements
//! a user may see, after the read barrier), `selection` (choosing a server),
//! `resume` (the user's own session, as the agents report it),
//! `refquery` (the reference's agents, local or over SSH, where none of ours reports), `autologin`
//! (the temporary key on the chosen server),
//! `pubkeys`, `orders` (for the X2Go servers' agents); and what they stand on: `limits` (failed-login counts, the
//! leader's in a cluster), `loaded` (the configuration in
//! force), `ledger` (where state commands go), `probe` (server port scans),
//! `error`.

pub mod access;
pub mod admin;
mod autologin;
pub mod error;
pub mod ledger;
mod limits;
pub mod listing;
mod loadchecker;
pub mod loaded;
mod orders;
pub mod probe;
pub mod pubkeys;
mod refquery;
pub mod resume;
pub mod selection;
pub mod task;

#[cfg(test)]
pub(crate) mod tests;

pub use access::{Access, Credentials};
pub use error::BrokerError;
pub use ledger::{Ledger, LedgerError};
pub use listing::Lister;
pub use loaded::{load_config, parse_config, read_config_texts, LoadError, Loaded};
pub use selection::{Selected, Selection};
pub use task::{Backend, Dialect, Task, TaskError};

use crate::auth::nss::GroupCache;
use crate::auth::pam::Pam;
use crate::auth::ratelimit::{Limit, RateLimiter};
use crate::cluster;
use parking_lot::RwLock;
use probe::Prober;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Operator settings that are ours, not the reference's.
#[derive(Debug, Clone)]
pub struct Settings {
    pub x2gobroker_conf: PathBuf,
    pub session_profiles: Option<PathBuf>,
    pub data_dir: PathBuf,
    /// A user placed within this window goes back to the same host and counts on it.
    pub placement_window: Duration,
    /// How long a port probe result is reused.
    pub probe_ttl: Duration,
    pub pam_service: String,
    pub user_limit: Limit,
    pub client_limit: Limit,
    /// Honour GET on /plain/ and /json/ (the packaged reference always does).
    pub allow_get: bool,
    /// Where the legacy SSH key pair lives (`/pubkeys/`).
    pub broker_home: PathBuf,
    /// How long a session autologin key stays on the server (reference: 20 s).
    pub autologin_key_ttl: Duration,
    /// Members of this group may use the status dashboard (`/admin/` on
    /// HTTPS); None turns the dashboard off.
    pub admin_group: Option<String>,
    /// How long one call of the reference's agent over SSH may take.
    pub ssh_agent_timeout: Duration,
    /// How long an agent that did not answer over SSH is skipped.
    pub ssh_agent_retry: Duration,
}

pub struct Broker {
    pub settings: Settings,
    loaded: RwLock<Arc<Loaded>>,
    ledger: Ledger,
    prober: Prober,
    limiter: Arc<RateLimiter>,
    groups: GroupCache,
    pam: Pam,
    hostname: String,
    /// This node's agent gateway: pending reports and connected agents.
    agents: crate::gateway::Agents,
    /// The reference's agent on this host (query mode `LOCAL`).
    refagent: crate::refagent::LocalAgent,
    /// The reference's agents on the servers (query mode `SSH`).
    ssh_agents: Arc<crate::refagent::SshAgents>,
}

impl Broker {
    pub fn new(settings: Settings, ledger: Ledger) -> Result<Self, LoadError> {
        let loaded = load_config(&settings)?;
        let limiter = Arc::new(RateLimiter::new(settings.user_limit, settings.client_limit));
        let agents = crate::gateway::Agents::default();
        if let Ledger::Cluster(node) = &ledger {
            node.set_login_limiter(limiter.clone());
            node.set_agent_links(agents.links.clone());
        }
        Ok(Self {
            prober: Prober::new(settings.probe_ttl),
            limiter,
            groups: GroupCache::default(),
            pam: Pam::new(&settings.pam_service, crate::auth::pam::CONCURRENCY),
            hostname: hostname(),
            agents,
            refagent: crate::refagent::LocalAgent::default(),
            ssh_agents: Arc::new(crate::refagent::SshAgents::new(
                &settings.broker_home,
                &crate::refagent::ssh::agent_user(),
                settings.ssh_agent_timeout,
                settings.ssh_agent_retry,
            )),
            loaded: RwLock::new(Arc::new(loaded)),
            ledger,
            settings,
        })
    }

    /// The configuration in force.
    pub fn current(&self) -> Arc<Loaded> {
        self.loaded.read().clone()
    }

    /// This node's agent gateway (its listeners feed it).
    pub fn agents(&self) -> &crate::gateway::Agents {
        &self.agents
    }

    /// The cluster member this broker submits through, when clustered.
    pub fn cluster_node(&self) -> Option<&Arc<cluster::Node>> {
        match &self.ledger {
            Ledger::Local(_) => None,
            Ledger::Cluster(node) => Some(node),
        }
    }

    /// Whether commands of `format` may be proposed: every member of the
    /// cluster reads it (`cluster::formats`); always on a single node.
    pub fn may_propose(&self, format: u32) -> bool {
        self.cluster_node()
            .is_none_or(|n| n.read_state(|s| s.command_format()) >= format)
    }

    /// The cluster status, when clustered (this node's view; no barrier).
    pub fn status(&self) -> Option<cluster::Status> {
        self.cluster_node().map(|node| node.status())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The machine's host name (the reference hands it out for `localhost`).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
