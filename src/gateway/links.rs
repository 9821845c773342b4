//! The agents connected to this node, by server: each link is the sending
//! half of its stream's command channel plus the commands still waiting
//! for their result. `command` sends one command to a server's agent and
//! waits for the matching `CommandResult`; a newer connection of the same
//! server replaces the older one (whose stream then ends). Each link knows
//! its certificate's fingerprint, so `cut` can end the links of revoked
//! certificates (their transports close them with the reason).

use super::proto::{broker_command, BrokerCommand, CommandResult};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Commands queued per connection before `command` reports the agent busy.
const QUEUE: usize = 64;

/// A command could not be carried out through an agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum CommandError {
    #[error("the agent of {0:?} is not connected to this node")]
    NotConnected(String),
    #[error("the agent of {0:?} has too many commands queued")]
    Busy(String),
    #[error("the agent of {host:?} did not answer within {waited:?}")]
    Timeout { host: String, waited: Duration },
    #[error("the agent of {0:?} disconnected before answering")]
    Disconnected(String),
}

struct Link {
    conn: u64,
    transport: &'static str,
    /// SHA-256 of the agent's certificate.
    fingerprint: String,
    tx: mpsc::Sender<BrokerCommand>,
    waiting: HashMap<u64, oneshot::Sender<CommandResult>>,
    /// Cancelled when the certificate is revoked.
    revoked: CancellationToken,
}

/// The connected agents of this node.
#[derive(Default)]
pub struct Links {
    links: Mutex<HashMap<String, Link>>,
    next: AtomicU64,
}

/// One attached connection: its id (for `detach`), the commands to send,
/// and the signal that its certificate was revoked (the transport then
/// closes the connection).
pub struct Attached {
    pub conn: u64,
    pub commands: mpsc::Receiver<BrokerCommand>,
    pub revoked: CancellationToken,
}

impl Links {
    fn next_id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// `host`'s agent connected over `transport` with the certificate of
    /// `fingerprint`: commands for it go to this connection from now on
    /// (an older connection's commands fail as disconnected).
    pub fn attach(&self, host: &str, transport: &'static str, fingerprint: &str) -> Attached {
        let (tx, commands) = mpsc::channel(QUEUE);
        let conn = self.next_id();
        let revoked = CancellationToken::new();
        let link = Link {
            conn,
            transport,
            fingerprint: fingerprint.to_string(),
            tx,
            waiting: HashMap::new(),
            revoked: revoked.clone(),
        };
        self.links.lock().insert(host.to_string(), link);
        Attached {
            conn,
            commands,
            revoked,
        }
    }

    /// Signal every link whose (host, certificate fingerprint) `refused`
    /// refuses; the servers cut off.
    pub fn cut(&self, refused: impl Fn(&str, &str) -> bool) -> Vec<String> {
        let links = self.links.lock();
        links
            .iter()
            .filter(|(host, link)| !link.revoked.is_cancelled() && refused(host, &link.fingerprint))
            .map(|(host, link)| {
                link.revoked.cancel();
                host.clone()
            })
            .collect()
    }

    /// Connection `conn` of `host` ended (a newer one stays).
    pub fn detach(&self, host: &str, conn: u64) {
        let mut links = self.links.lock();
        if links.get(host).is_some_and(|l| l.conn == conn) {
            links.remove(host);
        }
    }

    /// Whether `host`'s agent is connected here.
    pub fn is_connected(&self, host: &str) -> bool {
        self.links.lock().contains_key(host)
    }

    /// How many agents are connected here.
    pub fn connected(&self) -> usize {
        self.links.lock().len()
    }

    /// How many agents are connected here over each transport.
    pub fn connected_by_transport(&self) -> Vec<(&'static str, usize)> {
        let links = self.links.lock();
        ["grpc", "quic"]
            .into_iter()
            .map(|t| (t, links.values().filter(|l| l.transport == t).count()))
            .collect()
    }

    /// A `CommandResult` came from `host`'s agent.
    pub fn result(&self, host: &str, result: CommandResult) {
        let waiter = self
            .links
            .lock()
            .get_mut(host)
            .and_then(|l| l.waiting.remove(&result.command_id));
        match waiter {
            Some(w) => {
                let _ = w.send(result);
            }
            None => {
                tracing::debug!(server = %host, command = result.command_id, "a result for no waiting command")
            }
        }
    }

    /// Carry out `order` through `host`'s agent (connected here).
    pub async fn order(
        &self,
        host: &str,
        order: &super::orders::Order,
        wait: Duration,
    ) -> Result<super::orders::OrderResult, CommandError> {
        let result = self.command(host, order.command(), wait).await;
        match &result {
            Ok(r) => {
                tracing::info!(server = %host, order = order.kind(), ok = r.ok, message = %crate::logsafe::escaped(&r.message), "agent order done")
            }
            Err(e) => {
                tracing::warn!(server = %host, order = order.kind(), error = %e, "agent order failed")
            }
        }
        result.map(Into::into)
    }

    /// Send `command` to `host`'s agent and wait up to `wait` for its result.
    pub async fn command(
        &self,
        host: &str,
        command: broker_command::Command,
        wait: Duration,
    ) -> Result<CommandResult, CommandError> {
        let command_id = self.next_id();
        let (done, answer) = oneshot::channel();
        let tx = {
            let mut links = self.links.lock();
            let link = links
                .get_mut(host)
                .ok_or_else(|| CommandError::NotConnected(host.to_string()))?;
            link.waiting.insert(command_id, done);
            link.tx.clone()
        };
        let msg = BrokerCommand {
            command_id,
            command: Some(command),
        };
        let sent = tx.try_send(msg);
        let outcome = match sent {
            Err(mpsc::error::TrySendError::Full(_)) => Err(CommandError::Busy(host.to_string())),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Err(CommandError::Disconnected(host.to_string()))
            }
            Ok(()) => match tokio::time::timeout(wait, answer).await {
                Ok(Ok(result)) => return Ok(result),
                Ok(Err(_)) => Err(CommandError::Disconnected(host.to_string())),
                Err(_) => Err(CommandError::Timeout {
                    host: host.to_string(),
                    waited: wait,
                }),
            },
        };
        if let Some(link) = self.links.lock().get_mut(host) {
            link.waiting.remove(&command_id);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::proto::Ping;

    fn ping() -> broker_command::Command {
        broker_command::Command::Ping(Ping {})
    }

    #[tokio::test]
    async fn a_command_gets_the_result_with_its_id() {
        let links = std::sync::Arc::new(Links::default());
        let mut a = links.attach("x2go1", "grpc", "f1");
        let agent = {
            let links = links.clone();
            tokio::spawn(async move {
                let cmd = a.commands.recv().await.unwrap();
                links.result(
                    "x2go1",
                    CommandResult {
                        command_id: cmd.command_id + 1000,
                        ok: false,
                        message: "not mine".into(),
                    },
                );
                links.result(
                    "x2go1",
                    CommandResult {
                        command_id: cmd.command_id,
                        ok: true,
                        message: "pong".into(),
                    },
                );
            })
        };
        let r = links
            .command("x2go1", ping(), Duration::from_secs(5))
            .await
            .unwrap();
        assert!(r.ok);
        assert_eq!(r.message, "pong");
        agent.await.unwrap();
    }

    #[tokio::test]
    async fn unknown_silent_and_replaced_agents_fail_clearly() {
        let links = Links::default();
        assert_eq!(
            links
                .command("nope", ping(), Duration::from_millis(10))
                .await,
            Err(CommandError::NotConnected("nope".into()))
        );
        let _silent = links.attach("x2go1", "grpc", "f1");
        let r = links
            .command("x2go1", ping(), Duration::from_millis(20))
            .await;
        assert!(matches!(r, Err(CommandError::Timeout { .. })), "{r:?}");
        let old = links.attach("x2go2", "grpc", "f2");
        let new = links.attach("x2go2", "grpc", "f2");
        links.detach("x2go2", old.conn);
        assert!(links.is_connected("x2go2"), "a newer connection stays");
        links.detach("x2go2", new.conn);
        assert!(!links.is_connected("x2go2"));
        drop(old);
        assert_eq!(links.connected(), 1);
    }

    #[test]
    fn cut_signals_the_refused_links_once() {
        let links = Links::default();
        let a = links.attach("x2go1", "grpc", "old");
        let b = links.attach("x2go2", "grpc", "fine");
        let cut = links.cut(|host, fp| host == "x2go1" && fp == "old");
        assert_eq!(cut, vec!["x2go1".to_string()]);
        assert!(a.revoked.is_cancelled() && !b.revoked.is_cancelled());
        assert!(links.cut(|_, fp| fp == "old").is_empty(), "signalled once");
    }

    #[tokio::test]
    async fn a_closed_connection_fails_the_command() {
        let links = Links::default();
        let a = links.attach("x2go1", "grpc", "f1");
        drop(a.commands);
        assert_eq!(
            links.command("x2go1", ping(), Duration::from_secs(1)).await,
            Err(CommandError::Disconnected("x2go1".into()))
        );
    }
}
