//! The reference's load checker without its daemon: for the profiles it
//! would check (`refagent::mode::uses_load_checker`, query mode `SSH`, not
//! desktop sharing), one node (the leader, or the only node) asks every
//! profile server without an agent of ours (ours report their load) its
//! reference agent's `checkload` over SSH and replicates the answers
//! (`LoadsChecked`), which `selectsession` weighs on every node.
//!
//! The timing is the reference's: the first round right away without
//! pauses, then `load-checker-intervals` seconds of sleep; from then on a
//! pause of `interval / (queries + 1)` after each query and at the end of
//! each round, so the queries spread over the interval. Unlike the
//! reference, a server named by several profiles (same address and port)
//! is asked once per round. A node that loses the lead stops between two
//! queries; the new leader starts with a round without pauses.

use super::Broker;
use crate::config::BrokerConf;
use crate::logsafe::escaped;
use crate::profiles::Profile;
use crate::refagent::mode::uses_load_checker;
use crate::refagent::{QueryMode, RefAgent, SshAgents, SshTarget};
use crate::state::{CheckedLoad, Command, LoadCheck, LOAD_CHECKS_FORMAT};
use std::sync::Arc;
use std::time::Duration;

/// How often a node that does not poll looks whether it should.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// One server to ask, and the (profile, host) pairs its answer is for.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub target: SshTarget,
    pub keys: Vec<(String, String)>,
}

/// The servers the load checker asks, in profile order, each once; not
/// those that have an agent of ours (`reports`: it reports their load).
pub fn plan<'p>(
    conf: &BrokerConf,
    profiles: impl Iterator<Item = &'p Profile>,
    reports: impl Fn(&str) -> bool,
) -> Vec<Query> {
    let mut queries: Vec<Query> = Vec::new();
    for p in profiles {
        if p.is_shadow() || QueryMode::of(conf, p) != QueryMode::Ssh || !uses_load_checker(conf, p)
        {
            continue;
        }
        for target in SshTarget::of_profile(conf, p) {
            if reports(&target.name) {
                continue;
            }
            let key = (p.id.clone(), target.name.clone());
            match queries
                .iter_mut()
                .find(|q| q.target.address == target.address && q.target.port == target.port)
            {
                Some(q) => q.keys.push(key),
                None => queries.push(Query {
                    target,
                    keys: vec![key],
                }),
            }
        }
    }
    queries
}

/// `load-checker-intervals` (at least one second).
fn interval(conf: &BrokerConf) -> Duration {
    Duration::from_secs(conf.int("global", "load-checker-intervals").max(1) as u64)
}

impl Broker {
    /// Whether this node is the one that polls (the leader, or a node
    /// without a cluster), and the cluster reads the load checker's commands.
    fn polls_loads(&self) -> bool {
        self.cluster_node().is_none_or(|n| n.is_leader()) && self.may_propose(LOAD_CHECKS_FORMAT)
    }

    /// Run the load checker for as long as the node runs.
    pub async fn check_loads_periodically(self: Arc<Self>) {
        let agents = Arc::new(SshAgents::new(
            &self.settings.broker_home,
            &crate::refagent::ssh::agent_user(),
            self.settings.ssh_agent_timeout,
            // Every round asks every server again: no skipping.
            Duration::ZERO,
        ));
        let mut pause = Duration::ZERO;
        loop {
            if !self.polls_loads() {
                pause = Duration::ZERO;
                tokio::time::sleep(IDLE_CHECK).await;
                continue;
            }
            let loaded = self.current();
            let queries = self.read_applied(|s| {
                plan(
                    &loaded.conf,
                    loaded.profiles.profiles.iter().map(|p| &**p),
                    |host| s.server_for(host).is_some(),
                )
            });
            let interval = interval(&loaded.conf);
            self.forget_unchecked(&queries).await;
            let (mut asked, mut failed) = (0usize, 0usize);
            for q in &queries {
                if !self.polls_loads() {
                    break;
                }
                if !self.check_one(&agents, q).await {
                    failed += 1;
                }
                asked += 1;
                tokio::time::sleep(pause).await;
            }
            if !queries.is_empty() {
                tracing::info!(queries = asked, failed, "load checker cycle done");
            }
            if pause.is_zero() {
                tokio::time::sleep(interval).await;
            }
            if asked > 0 {
                tokio::time::sleep(pause).await;
                pause = interval / (asked as u32 + 1);
            } else {
                pause = Duration::ZERO;
            }
        }
    }

    /// Ask one server and propose its answer; false when it failed.
    async fn check_one(&self, agents: &Arc<SshAgents>, q: &Query) -> bool {
        let agent = RefAgent::Ssh(agents.clone(), q.target.clone());
        let host = escaped(&q.target.name);
        let load = match agent.check_load().await {
            Ok(load) => {
                match load {
                    CheckedLoad::Factor(f) => {
                        tracing::info!(host = %host, load_factor = f, "load checked")
                    }
                    _ => {
                        tracing::warn!(host = %host, load = %load, "load check failed: the agent's load data are not usable")
                    }
                }
                load
            }
            Err(e) => {
                tracing::warn!(host = %host, error = %e, "load check failed");
                CheckedLoad::Unreachable
            }
        };
        let cmd = Command::LoadsChecked {
            at: super::now_ms(),
            checks: q
                .keys
                .iter()
                .map(|(profile, host)| LoadCheck {
                    profile: profile.clone(),
                    host: host.clone(),
                    load,
                })
                .collect(),
        };
        if let Err(e) = self.submit(cmd).await {
            tracing::warn!(host = %host, error = %e, "recording a load check failed");
        }
        load.factor().is_some()
    }

    /// Forget the checks of profile hosts no longer checked (a profile or
    /// host removed, the load checker switched off for it).
    async fn forget_unchecked(&self, queries: &[Query]) {
        let keep: Vec<(String, String)> = queries.iter().flat_map(|q| q.keys.clone()).collect();
        let stale = self.read_applied(|s| {
            s.load_checks()
                .any(|(k, _)| !keep.iter().any(|kept| kept == k))
        });
        if stale {
            if let Err(e) = self.submit(Command::LoadChecksRetain { keep }).await {
                tracing::warn!(error = %e, "forgetting old load checks failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::ProfileSet;

    /// Address, port and (profile, host) pairs of each planned query.
    type Planned = Vec<(String, u16, Vec<(String, String)>)>;

    fn planned(conf: &str, profiles: &str) -> Planned {
        let conf = BrokerConf::parse("x2gobroker.conf", conf).unwrap();
        let set = ProfileSet::parse("profiles.conf", profiles).unwrap();
        plan(&conf, set.profiles.iter().map(|p| &**p), |host| {
            host == "ours"
        })
        .into_iter()
        .map(|q| (q.target.address, q.target.port, q.keys))
        .collect()
    }

    fn key(p: &str, h: &str) -> (String, String) {
        (p.to_string(), h.to_string())
    }

    #[test]
    fn the_profiles_the_reference_checks_each_server_once() {
        let ssh = "[global]\ndefault-agent-query-mode = SSH\n";
        let profiles = "[a]\nhost=x1 (127.0.0.2:2201), x2 (127.0.0.3)\n\
                        [b]\nhost=other (127.0.0.2:2201), x3, ours\nsshport=2222\n\
                        [one]\nhost=x4\n\
                        [off]\nhost=x5,x6\nbroker-use-load-checker = false\n\
                        [shadow]\nhost=x7,x8\ncommand=SHADOW\n\
                        [local]\nhost=x9,x10\nbroker-agent-query-mode = LOCAL\n";
        assert_eq!(
            planned(ssh, profiles),
            vec![
                (
                    "127.0.0.2".into(),
                    2201,
                    vec![key("a", "x1"), key("b", "other")]
                ),
                ("127.0.0.3".into(), 22, vec![key("a", "x2")]),
                ("x3".into(), 2222, vec![key("b", "x3")]),
            ]
        );
        // Query mode NONE (the default): nothing to ask.
        assert!(planned("", profiles).is_empty());
    }

    #[test]
    fn the_interval_is_at_least_a_second() {
        let conf = |t: &str| BrokerConf::parse("x2gobroker.conf", t).unwrap();
        assert_eq!(interval(&conf("")), Duration::from_secs(300));
        assert_eq!(
            interval(&conf("[global]\nload-checker-intervals = 0\n")),
            Duration::from_secs(1)
        );
    }
}
