//! Shared helpers for the integration tests, one module per job: the test
//! site's files, listening sockets handed to the processes under test,
//! starting those processes, a minimal HTTP/1.1 client, gRPC clients, test clusters,
//! round-robin X2Go client load, local accounts for PAM, sshd and the
//! broker's key for agent query mode SSH, and the reference's load checker.
//!
//! Each test binary uses only some of these helpers, so every test file
//! declares this module with `#[allow(dead_code)]`.

pub mod accounts;
pub mod agents;
pub mod cluster;
pub mod farm;
pub mod grpc;
pub mod http;
pub mod load;
pub mod loadchecker;
pub mod metrics;
pub mod processes;
pub mod refcompare;
pub mod site;
pub mod sockets;
pub mod ssh_mode;
pub mod sshd;
pub mod x2go;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A number not handed out before in this test process (for file and account names).
pub fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Wait until `f` holds (polling), or panic with `what`.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}
