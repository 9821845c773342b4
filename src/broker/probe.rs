//! Reachability of X2Go servers' SSH ports (the reference's "portscan"),
//! with a short-lived cache so a burst of selectsession requests costs one
//! probe per host.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// The reference waits this long for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Prober {
    ttl: Duration,
    cache: Mutex<HashMap<(String, i64), (Instant, bool)>>,
}

impl Prober {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            cache: Mutex::default(),
        }
    }

    /// Whether `addr:port` accepts TCP connections (cached for the TTL).
    pub async fn reachable(&self, addr: &str, port: i64) -> bool {
        let key = (addr.to_string(), port);
        if let Some((at, up)) = self.cache.lock().get(&key) {
            if at.elapsed() < self.ttl {
                return *up;
            }
        }
        let up = probe(addr, port).await;
        let mut cache = self.cache.lock();
        if cache.len() > 100_000 {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), up));
        up
    }
}

async fn probe(addr: &str, port: i64) -> bool {
    let Ok(port) = u16::try_from(port) else {
        return false;
    };
    let host = addr
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let attempt = async move {
        let addrs = tokio::net::lookup_host((host.as_str(), port)).await.ok()?;
        for a in addrs {
            if TcpStream::connect(a).await.is_ok() {
                return Some(());
            }
        }
        None
    };
    matches!(
        tokio::time::timeout(CONNECT_TIMEOUT, attempt).await,
        Ok(Some(()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_and_closed_ports() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = i64::from(l.local_addr().unwrap().port());
        let p = Prober::new(Duration::from_secs(5));
        assert!(p.reachable("127.0.0.1", port).await);
        drop(l);
        // Cached as up for the TTL.
        assert!(p.reachable("127.0.0.1", port).await);
        let fresh = Prober::new(Duration::ZERO);
        assert!(!fresh.reachable("127.0.0.1", port).await);
        assert!(!fresh.reachable("127.0.0.1", 70000).await);
    }
}
