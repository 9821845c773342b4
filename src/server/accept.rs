//! The one accept step of every listener: wait for a free connection slot
//! (at most `max_connections` per listener; further clients wait in the
//! kernel's backlog), then for a client, with TCP_NODELAY set.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// A listener with its connection slots.
pub struct CappedListener {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    what: &'static str,
}

/// An accepted connection and the slot it holds until dropped.
pub struct Accepted {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub slot: OwnedSemaphorePermit,
}

impl CappedListener {
    /// `listener` with `max_connections` slots; `what` names it in logs.
    pub fn new(listener: TcpListener, max_connections: usize, what: &'static str) -> Self {
        CappedListener {
            listener,
            slots: Arc::new(Semaphore::new(max_connections.max(1))),
            what,
        }
    }

    /// The next connection once a slot is free; None once `stop` changes.
    pub async fn accept(&self, stop: &mut watch::Receiver<bool>) -> Option<Accepted> {
        let slot = tokio::select! {
            p = self.slots.clone().acquire_owned() => p.ok()?,
            _ = stop.changed() => return None,
        };
        loop {
            tokio::select! {
                r = self.listener.accept() => match r {
                    Ok((stream, peer)) => {
                        // Small requests: Nagle and delayed ACKs would add ~40 ms to each.
                        let _ = stream.set_nodelay(true);
                        return Some(Accepted { stream, peer, slot });
                    }
                    Err(e) => {
                        tracing::warn!(listener = self.what, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = stop.changed() => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn holds_at_most_max_connections() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let capped = CappedListener::new(l, 1, "test");
        let (_tx, mut stop) = watch::channel(false);
        let _c1 = TcpStream::connect(addr).await.unwrap();
        let _c2 = TcpStream::connect(addr).await.unwrap();
        let first = capped.accept(&mut stop).await.unwrap();
        let waiting =
            tokio::time::timeout(Duration::from_millis(200), capped.accept(&mut stop)).await;
        assert!(waiting.is_err(), "a second connection while one is open");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), capped.accept(&mut stop)).await;
        assert!(matches!(second, Ok(Some(_))));
    }

    #[tokio::test]
    async fn stops_waiting_on_shutdown() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let capped = CappedListener::new(l, 1, "test");
        let (tx, mut stop) = watch::channel(false);
        let waiting = tokio::spawn(async move { capped.accept(&mut stop).await.is_none() });
        tx.send(true).unwrap();
        assert!(waiting.await.unwrap());
    }
}
