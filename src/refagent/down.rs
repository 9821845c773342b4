//! Agents found unreachable, remembered for a while: a server whose SSH
//! agent does not answer costs a request the call's timeout once per
//! retry period, not on every listing. When the period is over, one
//! request tries again; the others keep skipping the agent while it does
//! (for at most the call's timeout), so a busy broker does not open a
//! connection per request to a dead server every period.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Unreachable agents by key, until when they are skipped.
#[derive(Debug)]
pub struct DownCache {
    retry: Duration,
    until: Mutex<HashMap<String, Instant>>,
}

impl DownCache {
    pub fn new(retry: Duration) -> Self {
        DownCache {
            retry,
            until: Mutex::new(HashMap::new()),
        }
    }

    /// How long an unreachable agent is skipped.
    pub fn retry(&self) -> Duration {
        self.retry
    }

    /// Whether `key` is to be skipped now: found unreachable less than the
    /// retry period ago, or being tried again by another request. When
    /// the period is over, the first caller gets false and holds the retry
    /// for `lease` (the call's timeout).
    pub fn skip(&self, key: &str, lease: Duration) -> bool {
        let mut until = self.until.lock();
        let now = Instant::now();
        match until.get_mut(key) {
            Some(t) if now < *t => true,
            Some(t) => {
                *t = now + lease;
                false
            }
            None => false,
        }
    }

    /// Whether `key` is remembered as unreachable (or being tried again).
    pub fn is_down(&self, key: &str) -> bool {
        self.until
            .lock()
            .get(key)
            .is_some_and(|t| Instant::now() < *t)
    }

    /// `key` did not answer now.
    pub fn mark_down(&self, key: &str) {
        if self.retry.is_zero() {
            return;
        }
        self.until
            .lock()
            .insert(key.to_string(), Instant::now() + self.retry);
    }

    /// `key` answered.
    pub fn mark_up(&self, key: &str) {
        self.until.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_agents_are_skipped_for_the_retry_period_then_retried_once() {
        let lease = Duration::from_millis(300);
        let cache = DownCache::new(Duration::from_millis(200));
        assert!(!cache.skip("a", lease));
        cache.mark_down("a");
        assert!(cache.skip("a", lease) && !cache.skip("b", lease));
        assert!(cache.is_down("a") && !cache.is_down("b"));
        std::thread::sleep(Duration::from_millis(250));
        assert!(
            !cache.skip("a", lease),
            "one caller retries after the period"
        );
        assert!(cache.skip("a", lease), "the others wait for its answer");
        cache.mark_up("a");
        assert!(!cache.skip("a", lease) && !cache.skip("a", lease));
        cache.mark_down("a");
        std::thread::sleep(Duration::from_millis(250));
        assert!(!cache.skip("a", lease));
        std::thread::sleep(Duration::from_millis(350));
        assert!(
            !cache.skip("a", lease),
            "a retry that never ended frees the agent after its lease"
        );
        let never = DownCache::new(Duration::ZERO);
        never.mark_down("a");
        assert!(!never.skip("a", lease), "0 turns the cache off");
    }
}
