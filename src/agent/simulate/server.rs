//! One simulated X2Go server: it connects to the brokers as `run` does
//! (Hello and the full SessionList on every connection, the same capped
//! jittered `Backoff`, the next broker address whenever a connection ends)
//! and streams what its `ServerModel` does: a SessionDelta for every change
//! (one every `change_every`, at a random phase), a LoadReport every
//! `load_every`, a Heartbeat after `HEARTBEAT_AFTER` of silence, and a
//! CommandResult (plus the delta it caused) for every BrokerCommand. One
//! timer per server, set to whichever of these is due first.

use super::churn::ServerModel;
use super::rng::Rng;
use super::stats::{Sent, Stats};
use crate::agent::proto::{self, agent_message::Body, AgentMessage};
use crate::agent::run::{with_causes, Backoff, CAPABILITIES, HEALTHY_AFTER, HEARTBEAT_AFTER};
use crate::agent::transport::{CommandStream, Transport, TransportError};
use crate::agent::watch::Changes;
use crate::agent::wire;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How often things happen on every simulated server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub load_every: Duration,
    pub change_every: Duration,
}

/// Why one connection ended.
#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("broker {addr} closed the stream")]
    Closed { addr: String },
}

/// A simulated server and its way to the brokers.
pub struct SimServer {
    pub(super) model: ServerModel,
    pub(super) link: Transport,
    pub(super) brokers: Arc<[String]>,
    /// The index of the broker address to try first.
    pub(super) first: usize,
    pub(super) timing: Timing,
    pub(super) stats: Arc<Stats>,
    pub(super) rng: Rng,
}

/// When each periodic thing is due next.
struct Due {
    change: Instant,
    load: Instant,
}

fn unix_now() -> i64 {
    i64::try_from(wire::unix_ms(SystemTime::now()) / 1000).unwrap_or(i64::MAX)
}

fn message(body: Body) -> AgentMessage {
    AgentMessage { body: Some(body) }
}

/// The next time after `at` on a `period` grid that is in the future.
fn next_after(at: Instant, period: Duration, now: Instant) -> Instant {
    let next = at + period;
    if next > now {
        next
    } else {
        now + period
    }
}

impl SimServer {
    /// Stay connected until the task is aborted.
    pub async fn run(mut self) {
        let now = Instant::now();
        let mut due = Due {
            change: now + self.timing.change_every.mul_f64(self.rng.unit()),
            load: now + self.timing.load_every.mul_f64(self.rng.unit()),
        };
        let mut backoff = Backoff::default();
        let brokers = Arc::clone(&self.brokers);
        for addr in brokers.iter().cycle().skip(self.first) {
            let started = Instant::now();
            let (was_up, err) = match self.stream(addr, &mut due).await {
                Ok(never) => match never {},
                Err(e) => e,
            };
            if started.elapsed() >= HEALTHY_AFTER {
                backoff.reset();
            }
            let wait = backoff.next_wait();
            let why = with_causes(&err);
            tracing::debug!(hostname = %self.model.hostname(), "{why}; next broker in {wait:?}");
            self.stats.ended(was_up, why);
            tokio::time::sleep(wait).await;
        }
    }

    fn hello(&self) -> proto::Hello {
        proto::Hello {
            hostname: self.model.hostname().to_string(),
            addresses: Vec::new(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            capabilities: CAPABILITIES.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// One connection to `addr` until it ends: the error, and whether the
    /// connection was up.
    async fn stream(&mut self, addr: &str, due: &mut Due) -> Result<Infallible, (bool, LinkError)> {
        let (tx, rx) = mpsc::channel(256);
        let closed = || LinkError::Closed {
            addr: addr.to_string(),
        };
        let list = wire::session_list(self.model.listing(unix_now()), SystemTime::now());
        for (body, kind) in [
            (Body::Hello(self.hello()), Sent::Other),
            (Body::SessionList(list), Sent::SessionList),
        ] {
            tx.try_send(message(body)).map_err(|_| (false, closed()))?;
            self.stats.sent(kind);
        }
        let mut commands = self
            .link
            .open(addr, rx)
            .await
            .map_err(|e| (false, e.into()))?;
        let _connected = self.stats.connected();
        self.connected(addr, &tx, &mut commands, due)
            .await
            .map_err(|e| (true, e))
    }

    async fn connected(
        &mut self,
        addr: &str,
        tx: &mpsc::Sender<AgentMessage>,
        commands: &mut CommandStream,
        due: &mut Due,
    ) -> Result<Infallible, LinkError> {
        let mut last_sent = Instant::now();
        let timer = tokio::time::sleep_until(last_sent);
        tokio::pin!(timer);
        loop {
            let heartbeat = last_sent + HEARTBEAT_AFTER;
            timer
                .as_mut()
                .reset(due.change.min(due.load).min(heartbeat));
            tokio::select! {
                () = &mut timer => {
                    let now = Instant::now();
                    let mut sent = false;
                    if now >= due.change {
                        due.change = next_after(due.change, self.timing.change_every, now);
                        let changes = self.model.churn(&mut self.rng, unix_now());
                        sent |= self.send_changes(addr, tx, &changes).await?;
                    }
                    if now >= due.load {
                        due.load = next_after(due.load, self.timing.load_every, now);
                        let m = self.model.load(&mut self.rng);
                        let report = wire::load_report(&m, self.model.sessions(), SystemTime::now());
                        self.send(addr, tx, Body::LoadReport(report), Sent::LoadReport).await?;
                        sent = true;
                    }
                    if !sent && now >= heartbeat {
                        let beat = proto::Heartbeat {
                            sent_at_unix_ms: wire::unix_ms(SystemTime::now()),
                        };
                        self.send(addr, tx, Body::Heartbeat(beat), Sent::Heartbeat).await?;
                        sent = true;
                    }
                    if sent {
                        last_sent = Instant::now();
                    }
                }
                command = commands.message() => match command {
                    Ok(Some(cmd)) => {
                        self.execute(addr, tx, cmd).await?;
                        last_sent = Instant::now();
                    }
                    Ok(None) => return Err(LinkError::Closed { addr: addr.to_string() }),
                    Err(e) => return Err(e.into()),
                },
            }
        }
    }

    /// Answer one broker command, then send what it changed.
    async fn execute(
        &mut self,
        addr: &str,
        tx: &mpsc::Sender<AgentMessage>,
        cmd: proto::BrokerCommand,
    ) -> Result<(), LinkError> {
        self.stats.command();
        let (result, changes) = match wire::command(cmd) {
            Ok((id, command)) => {
                let (outcome, changes) = self.model.execute(&command, unix_now());
                (wire::command_result(id, &outcome), changes)
            }
            Err(e @ wire::WireError::NoCommand { command_id }) => {
                let refused = proto::CommandResult {
                    command_id,
                    ok: false,
                    message: e.to_string(),
                };
                (refused, Changes::default())
            }
        };
        self.send(addr, tx, Body::CommandResult(result), Sent::CommandResult)
            .await?;
        self.send_changes(addr, tx, &changes).await.map(|_| ())
    }

    /// A SessionDelta of `changes`, unless there are none; whether one was sent.
    async fn send_changes(
        &self,
        addr: &str,
        tx: &mpsc::Sender<AgentMessage>,
        changes: &Changes,
    ) -> Result<bool, LinkError> {
        if changes.is_empty() {
            return Ok(false);
        }
        self.stats
            .sessions_changed(changes.added.len(), changes.removed.len());
        let delta = wire::session_delta(changes, SystemTime::now());
        self.send(addr, tx, Body::SessionDelta(delta), Sent::SessionDelta)
            .await?;
        Ok(true)
    }

    async fn send(
        &self,
        addr: &str,
        tx: &mpsc::Sender<AgentMessage>,
        body: Body,
        kind: Sent,
    ) -> Result<(), LinkError> {
        tx.send(message(body))
            .await
            .map_err(|_| LinkError::Closed {
                addr: addr.to_string(),
            })?;
        self.stats.sent(kind);
        Ok(())
    }
}
