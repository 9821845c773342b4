//! `x2gobroker-agent run`: stay connected to one of the brokers and stream
//! this server's state to it. On each connection: Hello, the full
//! SessionList, then a SessionDelta whenever a listing (every interval)
//! differs from the previous one, a LoadReport every `load_every`, a
//! Heartbeat when nothing else was sent for `HEARTBEAT_AFTER`, and a
//! CommandResult (with the command's id) for every BrokerCommand, over the
//! configured transport (gRPC or QUIC). When the stream ends or a broker
//! cannot be reached, the next address is tried after a capped, jittered
//! exponential backoff.

use super::commands::Executor;
use super::config::RunConfig;
use super::hostname::{self, HostnameError};
use super::proto::{self, agent_message::Body, AgentMessage};
use super::session::Session;
use super::tools::{ToolError, Tools};
use super::transport::{Transport, TransportError};
use super::{addresses, load, watch, wire};
use std::convert::Infallible;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

/// A Heartbeat goes out when nothing else was sent for this long.
pub const HEARTBEAT_AFTER: Duration = Duration::from_secs(2);
/// The first wait before reconnecting, and the cap of its doubling.
pub const BACKOFF_MIN: Duration = Duration::from_millis(200);
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A stream that lasted this long was healthy: the backoff starts over.
pub const HEALTHY_AFTER: Duration = Duration::from_secs(10);
/// What the agent can do (Hello's capabilities).
pub const CAPABILITIES: [&str; 3] = ["suspend", "terminate", "authorized-keys"];

/// The agent cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Hostname(#[from] HostnameError),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Why one connection ended.
#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("listing this server's sessions: {0}")]
    List(#[from] ToolError),
    #[error("broker {addr} closed the stream")]
    Closed { addr: String },
}

/// Capped exponential backoff with jitter (each wait is between half and
/// all of the current step).
#[derive(Debug)]
pub struct Backoff {
    step: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { step: BACKOFF_MIN }
    }
}

impl Backoff {
    /// The next wait; the step doubles up to `BACKOFF_MAX`.
    pub fn next_wait(&mut self) -> Duration {
        let step = self.step;
        self.step = (step * 2).min(BACKOFF_MAX);
        let mut r = [0u8; 4];
        let fraction = match getrandom::getrandom(&mut r) {
            Ok(()) => f64::from(u32::from_le_bytes(r)) / f64::from(u32::MAX),
            Err(_) => 1.0,
        };
        step / 2 + step.mul_f64(fraction / 2.0)
    }

    pub fn reset(&mut self) {
        self.step = BACKOFF_MIN;
    }
}

/// One agent: this server's name, its executor and its transport.
struct Agent {
    config: RunConfig,
    hostname: String,
    executor: Executor,
    transport: Transport,
}

/// Run until the process is stopped; an error only if it cannot start.
pub async fn run(config: RunConfig) -> Result<Infallible, RunError> {
    let hostname = hostname::resolve(config.hostname.as_deref())?;
    let transport = Transport::load(
        config.transport,
        &hostname,
        &config.ca,
        &config.cert,
        &config.key,
    )?;
    let agent = Agent {
        executor: Executor::new(hostname.clone(), Tools::default()),
        hostname,
        transport,
        config,
    };
    let mut backoff = Backoff::default();
    let brokers = agent.config.brokers.clone();
    for addr in brokers.iter().cycle() {
        let started = Instant::now();
        let err = agent.stream_to(addr).await;
        if started.elapsed() >= HEALTHY_AFTER {
            backoff.reset();
        }
        let wait = backoff.next_wait();
        let why = with_causes(&err);
        tracing::warn!(hostname = %agent.hostname, "{why}; next broker in {wait:?}");
        tokio::time::sleep(wait).await;
    }
    unreachable!("the broker list is never empty (checked by the configuration)")
}

/// An error and its causes, `: `-separated (tonic's transport errors say
/// only "transport error" themselves), each cause once.
pub fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    text
}

fn message(body: Body) -> AgentMessage {
    AgentMessage { body: Some(body) }
}

impl Agent {
    fn hello(&self) -> proto::Hello {
        proto::Hello {
            hostname: self.hostname.clone(),
            addresses: addresses::local(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            capabilities: CAPABILITIES.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// One connection to the broker at `addr`, until it ends.
    async fn stream_to(&self, addr: &str) -> StreamError {
        match self.stream(addr).await {
            Ok(never) => match never {},
            Err(e) => e,
        }
    }

    async fn stream(&self, addr: &str) -> Result<Infallible, StreamError> {
        let mut last: Vec<Session> = self.executor.sessions().await?.sessions;
        let (tx, rx) = mpsc::channel(256);
        let closed = || StreamError::Closed {
            addr: addr.to_string(),
        };
        tx.try_send(message(Body::Hello(self.hello())))
            .map_err(|_| closed())?;
        tx.try_send(message(Body::SessionList(wire::session_list(
            &last,
            SystemTime::now(),
        ))))
        .map_err(|_| closed())?;
        let mut commands = self.transport.open(addr, rx).await?;
        tracing::info!(hostname = %self.hostname, broker = %addr, transport = %self.transport.kind(), sessions = last.len(), "connected");
        let mut list_tick = tokio::time::interval(self.config.interval);
        let mut load_tick = tokio::time::interval(self.config.load_every);
        let mut beat_tick = tokio::time::interval(HEARTBEAT_AFTER / 4);
        for t in [&mut list_tick, &mut load_tick, &mut beat_tick] {
            t.set_missed_tick_behavior(MissedTickBehavior::Delay);
        }
        list_tick.tick().await; // the full list was just taken
        let mut last_sent = Instant::now();
        loop {
            let body = tokio::select! {
                _ = list_tick.tick() => match self.executor.sessions().await {
                    Ok(listing) => {
                        let changes = watch::diff(&last, &listing.sessions);
                        last = listing.sessions;
                        if changes.is_empty() {
                            continue;
                        }
                        Body::SessionDelta(wire::session_delta(&changes, SystemTime::now()))
                    }
                    Err(e) => {
                        tracing::warn!(hostname = %self.hostname, "listing sessions: {e}");
                        continue;
                    }
                },
                _ = load_tick.tick() => match load::read() {
                    Ok(m) => {
                        let mut report = wire::load_report(&m, &last, SystemTime::now());
                        if let Some(factor) = self.config.load_factor {
                            report.load_factor = factor;
                        }
                        Body::LoadReport(report)
                    }
                    Err(e) => {
                        tracing::warn!(hostname = %self.hostname, "reading the load: {e}");
                        continue;
                    }
                },
                _ = beat_tick.tick() => {
                    if last_sent.elapsed() < HEARTBEAT_AFTER {
                        continue;
                    }
                    Body::Heartbeat(proto::Heartbeat {
                        sent_at_unix_ms: wire::unix_ms(SystemTime::now()),
                    })
                }
                command = commands.message() => {
                    match command {
                        Ok(Some(cmd)) => self.execute(cmd, tx.clone()),
                        Ok(None) => return Err(closed()),
                        Err(e) => return Err(e.into()),
                    }
                    continue;
                }
            };
            tx.send(message(body)).await.map_err(|_| closed())?;
            last_sent = Instant::now();
        }
    }

    /// Execute one command in the background; its result goes back on `tx`.
    fn execute(&self, cmd: proto::BrokerCommand, tx: mpsc::Sender<AgentMessage>) {
        let executor = self.executor.clone();
        tokio::spawn(async move {
            let result = match wire::command(cmd) {
                Ok((id, command)) => wire::command_result(id, &executor.execute(&command).await),
                Err(e @ wire::WireError::NoCommand { command_id }) => proto::CommandResult {
                    command_id,
                    ok: false,
                    message: e.to_string(),
                },
            };
            // The stream may be gone; the next connection sends the full list.
            let _ = tx.send(message(Body::CommandResult(result))).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_told_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = TransportError::ReadFile {
            path: "/x/ca.pem".into(),
            source: io,
        };
        assert_eq!(with_causes(&err), "reading /x/ca.pem: refused");
        let outer = RunError::Transport(err);
        assert_eq!(with_causes(&outer), "reading /x/ca.pem: refused");
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap_with_jitter() {
        let mut b = Backoff::default();
        let mut step = BACKOFF_MIN;
        for _ in 0..12 {
            let w = b.next_wait();
            assert!(w >= step / 2 && w <= step, "{w:?} for step {step:?}");
            step = (step * 2).min(BACKOFF_MAX);
        }
        assert!(b.next_wait() <= BACKOFF_MAX);
        b.reset();
        assert!(b.next_wait() <= BACKOFF_MIN);
    }
}
