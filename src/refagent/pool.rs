//! Logged-in SSH connections to the agents, kept for reuse: a call opens
//! a new channel on the connection of an earlier one instead of a new
//! connection (TCP, key exchange, login), for as long as the connection
//! was used within `idle`. Calls share a connection (SSH multiplexes
//! channels); one that cannot open a channel on it (closed by the
//! server, or the server's `MaxSessions` reached) replaces it.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connections (`T`) by agent key, with when each was last used.
pub struct Pool<T> {
    idle: Duration,
    conns: Mutex<HashMap<String, (Arc<T>, Instant)>>,
}

impl<T> Pool<T> {
    pub fn new(idle: Duration) -> Self {
        Pool {
            idle,
            conns: Mutex::new(HashMap::new()),
        }
    }

    /// How long an unused connection is kept.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// The connection to `key`, when one was used within the idle time
    /// (connections unused for longer are dropped).
    pub fn get(&self, key: &str) -> Option<Arc<T>> {
        let now = Instant::now();
        let mut conns = self.conns.lock();
        conns.retain(|_, (_, used)| now.duration_since(*used) < self.idle);
        conns.get(key).map(|(c, _)| c.clone())
    }

    /// Keep `conn` as the connection to `key`, used now.
    pub fn put(&self, key: &str, conn: Arc<T>) {
        self.conns
            .lock()
            .insert(key.to_string(), (conn, Instant::now()));
    }

    /// Drop `conn` as the connection to `key` (unless another replaced it).
    pub fn forget(&self, key: &str, conn: &Arc<T>) {
        let mut conns = self.conns.lock();
        if conns.get(key).is_some_and(|(c, _)| Arc::ptr_eq(c, conn)) {
            conns.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_reused_until_idle_and_forgotten_only_when_current() {
        let pool = Pool::new(Duration::from_millis(200));
        let first = Arc::new(1);
        pool.put("a", first.clone());
        assert!(Arc::ptr_eq(&pool.get("a").unwrap(), &first));
        assert!(pool.get("b").is_none());
        // A replacement is not dropped by forgetting the one it replaced.
        let second = Arc::new(2);
        pool.put("a", second.clone());
        pool.forget("a", &first);
        assert!(Arc::ptr_eq(&pool.get("a").unwrap(), &second));
        pool.forget("a", &second);
        assert!(pool.get("a").is_none());
        // Unused for the idle time: gone.
        pool.put("a", first.clone());
        std::thread::sleep(Duration::from_millis(250));
        assert!(pool.get("a").is_none());
        assert!(pool.conns.lock().is_empty());
    }
}
