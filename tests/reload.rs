//! Configuration reloads (SIGHUP): a valid change takes effect, a broken
//! file is refused with file, line and key named, and the running
//! configuration stays in force. Plus start-up refusals.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::processes::*;
use common::site::*;
use common::wait_until;
use std::process::Command;
use std::time::Duration;

fn hup(b: &Running) {
    let ok = Command::new("kill")
        .args(["-HUP", &b.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn sighup_reloads_and_a_broken_file_keeps_the_running_config() {
    let site = Site::new(
        "[global]\nrequire-password = false\n",
        "[one]\nname=One\nhost=127.0.0.2\n",
    );
    let b = start_ours(&site, &[]);
    let list = || b.post("/plain/", "task=listsessions&user=u").body;
    assert!(list().contains("[one]"));

    std::fs::write(
        site.profiles(),
        "[one]\nname=One\nhost=127.0.0.2\n\n[two]\nname=Two\nhost=127.0.0.3\n",
    )
    .unwrap();
    hup(&b);
    wait_until("profile two", Duration::from_secs(10), || {
        list().contains("[two]")
    });

    std::fs::write(site.profiles(), "[one]\nname=One\nwidth=very wide\n").unwrap();
    hup(&b);
    wait_until(
        "the reload error in the log",
        Duration::from_secs(10),
        || b.log_text().contains("reload failed"),
    );
    let log = b.log_text();
    assert!(
        log.contains("profiles.conf:3") && log.contains("width"),
        "error names file, line and key: {log}"
    );
    let body = list();
    assert!(
        body.contains("[one]") && body.contains("[two]"),
        "old configuration kept: {body}"
    );
}

/// Run `serve` with an HTTP listener on `host` (any port) and wait for it
/// to exit: it must refuse to start, and is killed if it does not within 30 s.
fn serve_once(site: &Site, host: &str) -> std::process::Output {
    let (out, err) = (site.path("serve-once.out"), site.path("serve-once.err"));
    let mut child = Command::new(ours_bin())
        .args(["serve", "--x2gobroker-conf"])
        .arg(site.conf())
        .arg("--session-profiles")
        .arg(site.profiles())
        .arg("--data-dir")
        .arg(site.path("d"))
        .args(["--http", &format!("{host}:0")])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let mut status = None;
    wait_until("serve to exit", Duration::from_secs(30), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    std::process::Output {
        status: status.unwrap(),
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    }
}

#[test]
fn broken_files_are_refused_at_start() {
    let site = Site::new("[global]\nverify-ip = perhaps\n", "[one]\nhost=127.0.0.2\n");
    let out = Command::new(ours_bin())
        .args(["check-config", "--x2gobroker-conf"])
        .arg(site.conf())
        .arg("--session-profiles")
        .arg(site.profiles())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("x2gobroker.conf:") && err.contains("verify-ip"),
        "{err}"
    );

    let site = Site::new("[global]\n", "[one]\nhost=127.0.0.2\n[one]\n");
    let out = serve_once(&site, "127.0.0.1");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("profiles.conf:3"));
}

#[test]
fn plain_http_only_on_loopback_unless_asked() {
    let site = Site::new("[global]\n", "[one]\nhost=127.0.0.2\n");
    let out = serve_once(&site, "0.0.0.0");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing plain HTTP"));
}
