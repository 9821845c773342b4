//! Admission to a scarce blocking resource (PAM conversations, NSS group
//! lookups): at most `concurrency` run at once, at most `queue` callers
//! wait for a turn, and none waits longer than `max_wait`. A caller beyond
//! that is refused at once instead of queueing without bound, so a flood
//! of attempts costs honest callers a refusal, never an unbounded wait.
//! The permit is owned: moved into the blocking task, the turn ends when
//! the work ends, even when the caller has given up on it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a caller got no turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Busy {
    #[error("{0} callers already waiting")]
    QueueFull(usize),
    #[error("no turn within {0:?}")]
    Timeout(Duration),
}

#[derive(Clone)]
pub struct Gate {
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    queue: usize,
    max_wait: Duration,
}

/// Counts one waiting caller for as long as it lives.
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gate {
    pub fn new(concurrency: usize, queue: usize, max_wait: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            waiting: Arc::default(),
            queue,
            max_wait,
        }
    }

    /// A turn: at once when a slot is free, else after waiting in the
    /// bounded queue; `Busy` when the queue is full or the wait too long.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, Busy> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy::QueueFull(self.queue));
        }
        let _waiting = Waiting(self.waiting.clone());
        match tokio::time::timeout(self.max_wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; a closed one admits nobody.
            Ok(Err(_)) | Err(_) => Err(Busy::Timeout(self.max_wait)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_beyond_the_queue_and_after_the_wait() {
        let gate = Gate::new(1, 1, Duration::from_millis(200));
        let first = gate.enter().await.unwrap();
        let g = gate.clone();
        let queued = tokio::spawn(async move { g.enter().await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(gate.enter().await.unwrap_err(), Busy::QueueFull(1));
        // The queued caller gives up after max_wait; its place is free again.
        assert_eq!(
            queued.await.unwrap().unwrap_err(),
            Busy::Timeout(Duration::from_millis(200))
        );
        drop(first);
        let _again = gate.enter().await.unwrap();
    }

    #[tokio::test]
    async fn a_waiter_gets_the_turn_that_ends() {
        let gate = Gate::new(1, 4, Duration::from_secs(5));
        let first = gate.enter().await.unwrap();
        let g = gate.clone();
        let queued = tokio::spawn(async move { g.enter().await.is_ok() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(first);
        assert!(queued.await.unwrap());
    }
}
