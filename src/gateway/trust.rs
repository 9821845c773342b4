//! Revoked agent certificates at the gateway: a copy of the applied
//! state's agent trust table (`state::HostTrust`, by server), refreshed
//! every `REFRESH_EVERY` on every node, which the gateway consults when an
//! agent connects; at each refresh the connections of certificates it
//! refuses are cut (their transport closes them with the reason). A
//! revocation is thus enforced by every node within the time to replicate
//! it plus `REFRESH_EVERY`, far inside 2 s.
//!
//! A certificate the copy refuses is checked once more against the state
//! after the read barrier (`Source`) before it is refused, so a server
//! enrolled again a moment ago through another node is not turned away
//! while this node's copy catches up.

use super::connection::Agents;
use crate::broker::Broker;
use crate::state::HostTrust;
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How often the table is copied from the applied state.
pub const REFRESH_EVERY: Duration = Duration::from_millis(250);

/// Whether the state, read after the read barrier, refuses the
/// certificate with a fingerprint (second argument) for a server (first);
/// when it cannot be read, it refuses.
pub type Source =
    Arc<dyn Fn(String, String) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// The gateway's copy of the agent trust table.
#[derive(Default)]
pub struct Trust {
    table: RwLock<BTreeMap<String, HostTrust>>,
    source: OnceLock<Source>,
}

impl Trust {
    /// Whether the certificate with `fingerprint` may not act for `host`,
    /// by the copy.
    pub fn refuses(&self, host: &str, fingerprint: &str) -> bool {
        self.table
            .read()
            .get(host)
            .is_some_and(|t| t.refuses(fingerprint))
    }

    /// Whether a connecting certificate is refused: by the copy, confirmed
    /// by the state after the read barrier when there is a `Source`.
    pub async fn refuses_now(&self, host: &str, fingerprint: &str) -> bool {
        if !self.refuses(host, fingerprint) {
            return false;
        }
        match self.source.get() {
            Some(source) => source(host.to_string(), fingerprint.to_string()).await,
            None => true,
        }
    }

    /// Install the state to confirm refusals with (set once, by the node).
    pub fn set_source(&self, source: Source) {
        let _ = self.source.set(source);
    }

    /// A `Source` reading `broker`'s state (while it exists).
    pub fn source_of(broker: &Arc<Broker>) -> Source {
        let broker = Arc::downgrade(broker);
        Arc::new(move |host: String, fingerprint: String| {
            let broker = broker.clone();
            Box::pin(async move {
                let Some(broker) = broker.upgrade() else {
                    return true;
                };
                broker
                    .read_fresh(|s| s.agent_certificate_refused(&host, &fingerprint))
                    .await
                    .unwrap_or(true)
            })
        })
    }

    /// Replace the table (tests).
    #[cfg(test)]
    pub(crate) fn set(&self, table: BTreeMap<String, HostTrust>) {
        *self.table.write() = table;
    }

    /// Take the table of `broker`'s applied state.
    pub fn refresh(&self, broker: &Broker) {
        let table: BTreeMap<String, HostTrust> = broker.read_applied(|s| {
            s.host_trusts()
                .map(|(h, t)| (h.clone(), t.clone()))
                .collect()
        });
        *self.table.write() = table;
    }
}

/// Refresh `agents`' trust table and cut refused connections, for as long
/// as the task runs.
pub async fn enforce_periodically(broker: Arc<Broker>, agents: Agents) {
    let mut tick = tokio::time::interval(REFRESH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        agents.trust.refresh(&broker);
        // Every tick, not only on a change: a connection admitted just
        // before a revocation may say its Hello (and attach) after the
        // refresh that brought it.
        for host in agents.links.cut(|h, fp| agents.trust.refuses(h, fp)) {
            tracing::warn!(server = %crate::logsafe::escaped(&host), "closing the connection of a revoked agent certificate");
        }
    }
}
