//! Session autologin end to end: a profile with `broker-session-autologin`
//! on server x2go2 of the agent farm (three nodes, real agents on this
//! machine's X2Go installation). The answers have the reference's shape
//! (the reference with its Perl agent in `default-agent-query-mode =
//! LOCAL` on the same machine; key material aside); the public key is in
//! the user's `~/.x2go/authorized_keys` when the answer arrives and gone
//! after `--autologin-key-ttl`; the private key logs the user into a real
//! `sshd` serving x2go2's address (`AuthorizedKeysFile .ssh/authorized_keys
//! .x2go/authorized_keys`), and is refused there after the delay; Python
//! X2Go's own broker client gets its key accepted and logs in with it.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::farm::*;
use common::http::Reply;
use common::processes::start_reference;
use common::x2go::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The autologin profile: x2go2 only, so that both brokers pick it.
const AUTO: &str = "[auto]\nname=Auto\nhost=x2go2 (127.0.0.62:{p2})\ncommand=XFCE\nbroker-session-autologin = true\n";
/// Seconds our agents keep a key (the reference: 20).
const TTL: u64 = 3;

/// What Python X2Go sends as `pubkey`: restricting options, then the key.
const CLIENT_KEY: &str = "no-X11-forwarding,no-pty,no-user-rc ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl someone@127.0.0.1";
/// Another client's key, sent to ours only (the reference shares the file).
const OTHER_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ7tEi3IKdWAtgjRdcR3nq8e4yRO9ddBtG37iMVgdvfI other@127.0.0.1";

fn farm() -> Farm {
    Farm::start_with("10000", AUTO, &["--autologin-key-ttl", &TTL.to_string()])
}

/// The PEM block of a plain answer, or a JSON answer's `key`.
fn private_key(reply: &Reply) -> Option<String> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&reply.body) {
        return v["selected_session"]["key"].as_str().map(str::to_string);
    }
    let start = reply.body.find("-----BEGIN RSA PRIVATE KEY-----")?;
    let end = reply.body.find("-----END RSA PRIVATE KEY-----\n")?;
    Some(reply.body[start..end + "-----END RSA PRIVATE KEY-----\n".len()].to_string())
}

/// An answer with its key material replaced by `KEY`.
fn shape(reply: &Reply) -> String {
    let mut text = comparable(reply);
    if let Some(key) = private_key(reply) {
        let json_key = serde_json::to_string(&key).unwrap();
        text = text
            .replace(&json_key, "\"KEY\"")
            .replace(key.trim_end(), "KEY");
    }
    text
}

/// The OpenSSH public key (type and data) of a private key PEM.
fn public_of(pem: &str, dir: &Path) -> String {
    let file = dir.join(format!("key-{}", common::unique()));
    std::fs::write(&file, pem).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen -y: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn authorized_keys(user: &X2goUser) -> String {
    std::fs::read_to_string(user.home.join(".x2go/authorized_keys")).unwrap_or_default()
}

#[test]
#[ignore = "needs root (x2goserver session database, test accounts) and the reference broker with its agent (x2gobroker-daemon, x2gobroker-agent, sudo)"]
fn autologin_answers_like_the_reference_and_the_key_lives_for_its_ttl() {
    let _db = session_db_blocking();
    let farm = farm();
    let reference = start_reference(&farm.site);
    let user = X2goUser::create("agal");
    let name = user.name();

    // The listing marks the profile as the reference does.
    for request in [list("plain", name), list("json", name)] {
        let theirs = comparable(&ask_reference(&reference, &request));
        assert_eq!(
            comparable(&ask_node(farm.node(2), &request)),
            theirs,
            "{request}"
        );
    }
    let listed = ask_node(farm.node(1), &list("plain", name)).body;
    assert!(
        listed.contains("autologin=1\nkey=<will-be-exchanged-during-session-selection>\n"),
        "{listed}"
    );

    // Without a client key: a private key after SERVER (plain) / in `key` (JSON).
    let pubkey = format!("&pubkey={}", form_encoded(CLIENT_KEY));
    for (dialect, extra) in [("plain", ""), ("json", ""), ("json", pubkey.as_str())] {
        let request = select_in(dialect, name, "auto", extra);
        let ours = ask_node(farm.node(3), &request);
        let theirs = ask_reference(&reference, &request);
        assert_eq!(shape(&ours), shape(&theirs), "{dialect} {extra}");
        assert_eq!(
            private_key(&ours).is_some(),
            extra.is_empty(),
            "{}",
            ours.body
        );
    }

    // The key's public half is there when the answer arrives, gone after the TTL.
    let ours = ask_node(farm.node(1), &select_in("plain", name, "auto", ""));
    let key = private_key(&ours).expect("a private key");
    let public = public_of(&key, farm.site.dir.path());
    let keys = authorized_keys(&user);
    let line = keys
        .lines()
        .find(|l| l.contains(&public))
        .expect("the key on the server");
    assert!(
        line.starts_with("no-X11-forwarding,no-pty,no-user-rc ssh-rsa "),
        "{line}"
    );
    assert!(line.ends_with(&format!(" {name}@127.0.0.1")), "{line}");
    let accepted = ask_node(
        farm.node(2),
        &select_in(
            "json",
            name,
            "auto",
            &format!("&pubkey={}", form_encoded(OTHER_KEY)),
        ),
    );
    assert!(
        accepted
            .body
            .contains("\"authentication_pubkey\": \"ACCEPTED\""),
        "{}",
        accepted.body
    );
    assert!(
        authorized_keys(&user).contains(OTHER_KEY),
        "the client's key is on the server"
    );
    common::wait_until(
        "the keys removed after the TTL",
        Duration::from_secs(TTL + 3),
        || {
            let now = authorized_keys(&user);
            !now.contains(&public) && !now.contains(OTHER_KEY)
        },
    );
}

/// Serve SSH on x2go2's port: `sshd -i` for each connection accepted there.
fn serve_ssh(farm: &Farm, dir: &Path) {
    let host_key = dir.join("ssh_host_ed25519_key");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&host_key)
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::create_dir_all("/run/sshd").unwrap();
    let listener = farm.ports[1].try_clone().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let fd = std::os::fd::OwnedFd::from(conn);
            let stdin = Stdio::from(fd.try_clone().unwrap());
            let _ = Command::new("/usr/sbin/sshd")
                .args(["-i", "-e", "-f", "/dev/null", "-h"])
                .arg(&host_key)
                .args([
                    "-o",
                    "AuthorizedKeysFile .ssh/authorized_keys .x2go/authorized_keys",
                    "-o",
                    "UsePAM no",
                    "-o",
                    "PasswordAuthentication no",
                    "-o",
                    "KbdInteractiveAuthentication no",
                ])
                .stdin(stdin)
                .stdout(Stdio::from(fd))
                .stderr(Stdio::null())
                .spawn();
        }
    });
}

/// `echo autologin-ok` over SSH to x2go2 as `user` with the key in `pem`.
fn ssh_with(pem: &str, user: &str, port: u16, dir: &Path) -> (bool, String) {
    let file: PathBuf = dir.join(format!("id-{}", common::unique()));
    std::fs::write(&file, pem).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new("ssh")
        .arg("-i")
        .arg(&file)
        .args(["-p", &port.to_string()])
        .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"])
        .arg(format!("{user}@127.0.0.62"))
        .arg("echo autologin-ok")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.contains("autologin-ok"), text)
}

/// A login shell for the test user (test accounts get nologin).
fn with_shell(user: &X2goUser) {
    let ok = Command::new("usermod")
        .args(["-s", "/bin/sh", user.name()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
#[ignore = "needs root (x2goserver session database, test accounts, sshd) and python3-x2go"]
fn the_key_logs_into_a_real_sshd_until_its_ttl_and_python_x2go_uses_its_own() {
    let _db = session_db_blocking();
    let farm = farm();
    let dir = farm.site.dir.path().to_path_buf();
    serve_ssh(&farm, &dir);
    let user = X2goUser::create("agas");
    with_shell(&user);
    let name = user.name();

    let answer = ask_node(farm.node(2), &select_in("plain", name, "auto", ""));
    assert!(
        answer
            .body
            .contains(&format!("SERVER:127.0.0.62:{}\n", farm.port(1))),
        "{}",
        answer.body
    );
    let pem = private_key(&answer).expect("a private key");
    let (ok, text) = ssh_with(&pem, name, farm.port(1), &dir);
    assert!(ok, "login with the broker's key: {text}");
    common::wait_until(
        "the key refused after the TTL",
        Duration::from_secs(TTL + 5),
        || {
            let (ok, text) = ssh_with(&pem, name, farm.port(1), &dir);
            !ok && text.contains("Permission denied")
        },
    );

    // Python X2Go: its own key pair, accepted, then used to log in.
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/x2go_autologin.py"
    );
    let url = farm.node(1).url("/json/");
    let out = Command::new("/usr/bin/python3")
        .arg(script)
        .args([url.as_str(), name, "auto"])
        .env("HOME", &dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        result["selected"]["authentication_pubkey"], "ACCEPTED",
        "{result}"
    );
    assert_eq!(result["key"], "client-key", "{result}");
    assert_eq!(result["output"], "autologin-ok", "{result}");
}
