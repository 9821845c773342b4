//! Reading a node's `/metrics` page in tests: one sample's value, and
//! `promtool check metrics` (Debian package `prometheus`) on a page.

use super::http::get_within;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The metrics page of the node whose metrics listener is `addr`.
pub fn scrape(addr: SocketAddr) -> String {
    let reply = get_within(
        addr,
        "/metrics",
        Duration::from_secs(2),
        Duration::from_secs(10),
    )
    .expect("the metrics page");
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        reply.headers
    );
    reply.body
}

/// The value of the sample `name{labels}` (labels as printed), 0 when absent.
pub fn sample(page: &str, series: &str) -> f64 {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
        .unwrap_or(0.0)
}

/// `promtool check metrics` accepts `page`.
pub fn promtool_accepts(page: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/test.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
