//! Agents found unreachable, remembered for a while: a server whose SSH
//! agent does not answer costs a request the call's timeout once per
//! retry period, not on every listing.

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

    /// Whether `key` was found unreachable less than the retry period ago.
    pub fn is_down(&self, key: &str) -> bool {
        let mut until = self.until.lock();
        match until.get(key) {
            Some(t) if Instant::now() < *t => true,
            Some(_) => {
                until.remove(key);
                false
            }
            None => false,
        }
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
    fn down_agents_are_skipped_for_the_retry_period_only() {
        let cache = DownCache::new(Duration::from_millis(200));
        assert!(!cache.is_down("a"));
        cache.mark_down("a");
        assert!(cache.is_down("a") && !cache.is_down("b"));
        std::thread::sleep(Duration::from_millis(250));
        assert!(!cache.is_down("a"), "retried after the period");
        cache.mark_down("a");
        cache.mark_up("a");
        assert!(!cache.is_down("a"));
        let never = DownCache::new(Duration::ZERO);
        never.mark_down("a");
        assert!(!never.is_down("a"), "0 turns the cache off");
    }
}
