//! Python X2Go's broker client (Debian `python3-x2go`) against our broker
//! over HTTPS with real PAM: authenticate, list profiles, select a session,
//! following the authid cookie chain the way the real client does.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::accounts::*;
use common::processes::*;
use common::site::*;
use common::sockets::*;
use std::process::Command;

const PYTHON: &str = "/usr/bin/python3";

fn run_client(
    ca: &std::path::Path,
    url: &str,
    user: &str,
    password: &str,
    profile: &str,
) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/x2go_client.py");
    let out = Command::new(PYTHON)
        .arg(script)
        .args([url, user, password, profile])
        .env("REQUESTS_CA_BUNDLE", ca)
        .env("HOME", ca.parent().unwrap())
        .output()
        .expect("run the Python X2Go client");
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "client output {:?}: {e}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
#[ignore = "needs root (PAM test accounts) and python3-x2go"]
fn python_x2go_lists_and_selects_over_https_with_pam() {
    let user = TestUser::create("x2gopy");
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let profiles = format!(
        "[DEFAULT]\nuser=BROKER_USER\n\n[desk]\nname=Desktop\nhost=desk1 (127.0.0.1:{port})\ncommand=XFCE\n\n[other]\nname=Other\nhost=127.0.0.7\nacl-users-allow=nobody-else\nacl-users-order=allow-deny\n"
    );
    let site = Site::new("[global]\nrequire-password = true\ndefault-auth-mech = pam\n[broker_inifile]\nenable = true\n", &profiles);
    let (cert, key) = self_signed(site.dir.path());
    let https = loopback();
    let https_port = addr_of(&https).port();
    let ours = Ours::new(&site)
        .listen("--https", https)
        .args(&[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ])
        .start();
    let url = format!("https://127.0.0.1:{https_port}/json/");

    let r = run_client(&cert, &url, &user.name, &user.password, "desk");
    assert_eq!(r["authenticated"], true, "{r}");
    assert_eq!(
        r["profiles"],
        serde_json::json!(["desk"]),
        "ACLs hide 'other': {r}"
    );
    assert_eq!(r["names"]["desk"], "Desktop");
    assert_eq!(r["selected"]["server"], "127.0.0.1");
    assert_eq!(r["selected"]["port"], port.to_string());
    assert_eq!(
        r["authid"].as_str().map(str::len),
        Some(36),
        "cookie chain kept: {r}"
    );

    let bad = run_client(&cert, &url, &user.name, "wrong password", "desk");
    assert_eq!(bad["authenticated"], false, "{bad}");
    assert_eq!(bad["profiles"], serde_json::json!([]));
    assert!(
        ours.log_text().contains("authentication failed"),
        "failure logged"
    );
    assert!(
        !ours.log_text().contains(&user.password),
        "passwords never logged"
    );
}
