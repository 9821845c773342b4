//! Proposing what the agents reported: every `BATCH_EVERY` the pending
//! reports become one `AgentReports` command through the broker's ledger
//! (put back when it fails, under whatever came since), and every
//! `DOWN_CHECK_EVERY` the leader (or a single node) marks down the servers
//! silent for longer than the timeout, proposing only when one is.

use super::coalesce::Pending;
use crate::broker::Broker;
use crate::state::{Command, Millis};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often pending reports are proposed.
pub const BATCH_EVERY: Duration = Duration::from_millis(200);
/// How often silent servers are looked for.
pub const DOWN_CHECK_EVERY: Duration = Duration::from_secs(1);
/// A server is down when its agent was silent this long (`--agent-timeout-ms`).
pub const DEFAULT_AGENT_TIMEOUT: Duration = Duration::from_secs(10);

fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// Propose `pending` and mark silent servers down, for as long as the task runs.
pub async fn propose_periodically(
    broker: Arc<Broker>,
    pending: Arc<Mutex<Pending>>,
    timeout: Duration,
) {
    let node = broker.cluster_node().map(|n| n.id).unwrap_or(0);
    let timeout_ms = timeout.as_millis() as Millis;
    let mut tick = tokio::time::interval(BATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_down_check = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        propose_reports(&broker, &pending, node).await;
        if last_down_check.elapsed() >= DOWN_CHECK_EVERY {
            last_down_check = tokio::time::Instant::now();
            mark_silent_down(&broker, timeout_ms).await;
        }
    }
}

async fn propose_reports(broker: &Broker, pending: &Mutex<Pending>, node: u64) {
    let reports = pending.lock().take();
    if reports.is_empty() {
        return;
    }
    let servers = reports.len();
    crate::metrics::METRICS.agent_reports.inc_by(servers as u64);
    let cmd = Command::AgentReports {
        node,
        at: now_ms(),
        reports,
    };
    if let Err(e) = broker.submit(cmd.clone()).await {
        tracing::warn!(servers, error = %e, "proposing agent reports failed; retrying with the next batch");
        let Command::AgentReports { reports, .. } = cmd else {
            unreachable!("built above")
        };
        let mut p = pending.lock();
        let newer = p.take();
        for r in reports.into_iter().chain(newer) {
            p.absorb(r);
        }
    }
}

async fn mark_silent_down(broker: &Broker, timeout_ms: Millis) {
    if !broker.cluster_node().is_none_or(|n| n.is_leader()) {
        return;
    }
    let at = now_ms();
    let any_silent = broker.read_applied(|s| {
        s.servers()
            .any(|(_, r)| r.up && at.saturating_sub(r.last_report) > timeout_ms)
    });
    if any_silent {
        if let Err(e) = broker.submit(Command::ServersDown { at, timeout_ms }).await {
            tracing::warn!(error = %e, "marking silent X2Go servers down failed");
        }
    }
}
