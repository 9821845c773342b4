//! The reference's SSH key steps on our broker: `x2gobroker keygen --ssh`
//! writes the key pair as `x2gobroker-keygen` does, `/pubkeys/` answers
//! byte for byte as the reference does for it, and Debian's own
//! `x2gobroker-pubkeyauthorizer` installs that line into the broker
//! user's `authorized_keys` on an X2Go server.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::accounts::TestUser;
use common::processes::*;
use common::site::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

const CONF: &str = "[global]\nrequire-password = false\n";
const PROFILES: &str = "[p]\nhost=127.0.0.9\n";
const OPTIONS: &str = "command=\"/usr/lib/x2go/x2gobroker-agent\",no-port-forwarding,no-X11-forwarding,no-agent-forwarding,no-pty";

/// `x2gobroker keygen --ssh` with `args` and `env`: (success, output).
fn keygen_ssh(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(ours_bin())
        .args(["keygen", "--ssh"])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn keygen_ssh_writes_the_reference_key_pair_and_pubkeys_serves_it() {
    let site = Site::new(CONF, PROFILES);
    let home = site.path("home");
    std::fs::create_dir(&home).unwrap();
    let h = home.to_str().unwrap();
    let (ok, text) = keygen_ssh(&["--home", h], &[]);
    assert!(ok, "{text}");
    let (private, public) = (home.join(".ssh/id_rsa"), home.join(".ssh/id_rsa.pub"));
    assert_eq!(mode(&home.join(".ssh")), 0o750);
    assert_eq!((mode(&private), mode(&public)), (0o600, 0o644));
    let pem = std::fs::read_to_string(&private).unwrap();
    assert!(
        pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
        "PKCS#1 as paramiko writes it"
    );
    let line = std::fs::read_to_string(&public).unwrap();
    assert!(
        line.starts_with("ssh-rsa AAAAB3NzaC1yc2EA") && !line.ends_with('\n'),
        "{line:?}"
    );

    // No overwrite without --force.
    let (ok, text) = keygen_ssh(&["--home", h], &[]);
    assert!(!ok && text.contains("--force"), "{text}");
    assert_eq!(std::fs::read_to_string(&private).unwrap(), pem);
    let (ok, text) = keygen_ssh(&["--home", h, "--force"], &[]);
    assert!(ok, "{text}");
    let line = std::fs::read_to_string(&public).unwrap();

    let b = start_ours(&site, &["--broker-home", h]);
    let r = b.get("/pubkeys/");
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type(), "text/html; charset=UTF-8");
    let prefix = format!("{OPTIONS} {line} x2gobroker@");
    assert!(
        r.body.starts_with(&prefix) && r.body.ends_with('\n'),
        "{}",
        r.body
    );
    assert_eq!(r.body.lines().count(), 1);
}

/// A broker user with a temporary home holding a key pair from our
/// `keygen --ssh` run as root for that user (`X2GOBROKER_DAEMON_USER`).
fn broker_user(site: &Site) -> (TestUser, std::path::PathBuf) {
    let home = site.path("brokerhome");
    std::fs::create_dir(&home).unwrap();
    let user = TestUser::with_home("x2gbk", &home);
    let env = [
        ("X2GOBROKER_DAEMON_USER", user.name.as_str()),
        ("X2GOBROKER_DAEMON_GROUP", user.name.as_str()),
    ];
    let (ok, text) = keygen_ssh(&[], &env);
    assert!(ok, "{text}");
    let key = std::fs::metadata(home.join(".ssh/id_rsa")).unwrap();
    let account = std::fs::metadata(&home).unwrap();
    assert_eq!(
        (key.uid(), key.gid()),
        (account.uid(), account.gid()),
        "owned by the broker user"
    );
    (user, home)
}

#[test]
#[ignore = "needs root (test accounts) and the reference broker (x2gobroker-daemon)"]
fn pubkeys_answers_byte_for_byte_as_the_reference() {
    let site = Site::new(CONF, PROFILES);
    let (user, _home) = broker_user(&site);
    let env = [("X2GOBROKER_DAEMON_USER", user.name.as_str())];
    let reference = start_reference_with_env(&site, &env);
    let ours = Ours::new(&site).env(env[0].0, env[0].1).start();
    for path in ["/pubkeys/", "/pubkeys"] {
        let (r, o) = (reference.get(path), ours.get(path));
        assert_eq!(
            (r.status, r.content_type()),
            (o.status, o.content_type()),
            "{path}"
        );
        assert_eq!(o.body, r.body, "{path}");
        assert!(o.body.starts_with(OPTIONS), "{}", o.body);
        assert!(o
            .body
            .trim_end()
            .ends_with(&format!(" {}@{}", user.name, reference_host())));
    }
}

/// The host name as the reference computes it (`X2GOBROKER_HOSTNAME`).
fn reference_host() -> String {
    let out = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import x2gobroker.defaults as d; print(d.X2GOBROKER_HOSTNAME)",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
#[ignore = "needs root (test accounts) and the reference broker's agent (x2gobroker-agent)"]
fn the_reference_pubkeyauthorizer_installs_our_line() {
    let site = Site::new(CONF, PROFILES);
    let (user, home) = broker_user(&site);
    let env = [
        ("X2GOBROKER_DAEMON_USER", user.name.as_str()),
        ("X2GOBROKER_DAEMON_GROUP", user.name.as_str()),
    ];
    let ours = Ours::new(&site).env(env[0].0, env[0].1).start();
    let served = ours.get("/pubkeys/").body;
    let url = ours.url("/pubkeys/");
    for _ in 0..2 {
        // The system's Python, as the package's (a python3 earlier in PATH may lack its modules).
        let out = Command::new("/usr/bin/python3")
            .args([
                "/usr/sbin/x2gobroker-pubkeyauthorizer",
                "--broker-url",
                &url,
            ])
            .envs(env)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let keys = home.join(".ssh/authorized_keys");
    assert_eq!(
        std::fs::read_to_string(&keys).unwrap(),
        served,
        "once, as served"
    );
    let meta = std::fs::metadata(&keys).unwrap();
    let account = std::fs::metadata(&home).unwrap();
    assert_eq!((meta.uid(), mode(&keys)), (account.uid(), 0o644));
}

/// Mode, owner and group of `path`.
fn stat(path: &Path) -> (u32, u32, u32) {
    let m = std::fs::metadata(path).unwrap();
    (m.permissions().mode() & 0o777, m.uid(), m.gid())
}

#[test]
#[ignore = "needs root (test accounts) and the reference broker (x2gobroker-keygen)"]
fn keygen_ssh_writes_what_x2gobroker_keygen_writes() {
    let site = Site::new(CONF, PROFILES);
    let (ours, ours_home) = broker_user(&site);
    let theirs_home = site.path("theirs");
    std::fs::create_dir(&theirs_home).unwrap();
    let theirs = TestUser::with_home("x2gbr", &theirs_home);
    let out = Command::new("/usr/bin/python3")
        .arg("/usr/sbin/x2gobroker-keygen")
        .envs([
            ("X2GOBROKER_DAEMON_USER", theirs.name.as_str()),
            ("X2GOBROKER_DAEMON_GROUP", theirs.name.as_str()),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let owner = |home: &Path| {
        let m = std::fs::metadata(home).unwrap();
        (m.uid(), m.gid())
    };
    for file in [".ssh", ".ssh/id_rsa", ".ssh/id_rsa.pub"] {
        let (o, t) = (stat(&ours_home.join(file)), stat(&theirs_home.join(file)));
        assert_eq!(o.0, t.0, "mode of {file}");
        assert_eq!(
            (o.1, o.2),
            owner(&ours_home),
            "{file} belongs to {}",
            ours.name
        );
        assert_eq!((t.1, t.2), owner(&theirs_home), "{file} of the reference");
    }
    let read = |home: &Path, f: &str| std::fs::read_to_string(home.join(".ssh").join(f)).unwrap();
    let first_line = |text: String| text.lines().next().unwrap_or_default().to_string();
    assert_eq!(
        first_line(read(&ours_home, "id_rsa")),
        first_line(read(&theirs_home, "id_rsa"))
    );
    let (o, t) = (
        read(&ours_home, "id_rsa.pub"),
        read(&theirs_home, "id_rsa.pub"),
    );
    assert_eq!(
        (o.len(), o.ends_with('\n')),
        (t.len(), t.ends_with('\n')),
        "{o:?}\n{t:?}"
    );
    assert_eq!(
        o.split(' ').count(),
        t.split(' ').count(),
        "type and data, no comment"
    );
    assert_eq!(&o[..20], &t[..20], "ssh-rsa with exponent 65537");
}
