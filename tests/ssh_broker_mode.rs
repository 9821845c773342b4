//! SSH broker mode: `x2gobroker --task ...` run as a real local user (as
//! sshd runs X2Go Client's command), talking to a real node over its Unix
//! socket, compared with the reference's `x2gobroker --task ...` run as the
//! same user on the same files; and the ways of claiming another user,
//! which must all fail.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::accounts::TestUser;
use common::processes::{ours_bin, Ours, Running, REFERENCE};
use common::site::Site;
use common::sshd::ed25519_key;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

const OPEN: &str = "[global]\nrequire-password = false\n";
/// Cookies as X2Go Client chains them (the password check is the SSH login).
const COOKIES: &str = "[global]\nrequire-password = true\ndefault-auth-mech = pam\n";

/// `shared` for everyone, `mine` for the user named FIRST only; `user=`
/// left empty, set to the broker user, and fixed.
fn profiles(first: &str) -> String {
    format!(
        "[shared]\nname=Shared\nhost=127.0.0.1\nuser=\ncommand=XFCE\n\
         [mine]\nname=Mine\nhost=127.0.0.2\nuser=BROKER_USER\n\
         acl-users-deny=ALL\nacl-users-allow={first}\nacl-users-order=allow-deny\n\
         [fixed]\nname=Fixed\nhost=127.0.0.3\nuser=someone\n"
    )
}

/// A site both brokers' users can read, and our node serving SSH mode on
/// a socket in it.
struct Setup {
    node: Running,
    socket: PathBuf,
    users: Vec<TestUser>,
    homes: Vec<PathBuf>,
    site: Site,
    /// Holds the homes; removed after the users.
    _homes: tempfile::TempDir,
}

impl Setup {
    /// `n` test users, the first one allowed profile `mine`.
    fn start(conf: &str, n: usize) -> Setup {
        let base = tempfile::tempdir().unwrap();
        std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut users = Vec::new();
        let mut homes = Vec::new();
        for i in 0..n {
            let home = base.path().join(format!("home{i}"));
            std::fs::create_dir(&home).unwrap();
            users.push(TestUser::with_home("sshm", &home));
            homes.push(home);
        }
        let site = Site::new(conf, &profiles(&users[0].name));
        for p in [site.dir.path().to_path_buf(), site.conf(), site.profiles()] {
            let mode = if p.is_dir() { 0o755 } else { 0o644 };
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let socket = site.path("run/broker.sock");
        let node = Ours::new(&site)
            .args(&["--unix-socket", socket.to_str().unwrap()])
            .start();
        Setup {
            node,
            socket,
            users,
            homes,
            site,
            _homes: base,
        }
    }

    /// Our command as user `i`, with `env` added and `args`.
    fn ours(&self, i: usize, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut cmd = as_user(&self.users[i].name);
        cmd.arg(format!("X2GOBROKER_SOCKET={}", self.socket.display()))
            .arg(format!("HOME={}", self.homes[i].display()))
            .args(env.iter().map(|(k, v)| format!("{k}={v}")))
            .arg(ours_bin())
            .args(args);
        cmd.output().unwrap()
    }

    /// The reference's SSH mode as user `i`, as sshd would start it.
    fn reference(&self, i: usize, args: &[&str]) -> Output {
        let name = &self.users[i].name;
        let mut cmd = as_user(name);
        cmd.arg(format!("LOGNAME={name}"))
            .arg(format!("USER={name}"))
            .arg(format!("HOME={}", self.homes[i].display()))
            .arg(format!("X2GOBROKER_CONFIG={}", self.site.conf().display()))
            .arg(format!(
                "X2GOBROKER_SESSIONPROFILES={}",
                self.site.profiles().display()
            ))
            .args(["/usr/bin/python3", REFERENCE])
            .args(args);
        cmd.output().unwrap()
    }

    /// X2Go Client's command line for user `i`: `--user <them> --task T ...`.
    fn client_args<'a>(&'a self, i: usize, rest: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["--user", self.users[i].name.as_str()];
        args.extend_from_slice(rest);
        args
    }

    /// Both as user `i` with X2Go Client's arguments; the two outputs.
    fn both(&self, i: usize, rest: &[&str]) -> (Output, Output) {
        let args = self.client_args(i, rest);
        (self.reference(i, &args), self.ours(i, &[], &args))
    }
}

/// `env -i` as `user` (no variable of ours leaks in), then `VAR=... cmd`.
fn as_user(user: &str) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={user}"),
        &format!("--regid={user}"),
        "--init-groups",
        "env",
        "-i",
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
    ]);
    cmd
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `AUTHID:<cookie>` lines masked, and the cookie given.
fn masked(text: &str) -> (String, Option<String>) {
    let mut cookie = None;
    let lines: Vec<String> = text
        .lines()
        .map(|l| match l.strip_prefix("AUTHID:") {
            Some(c) => {
                cookie = Some(c.to_string());
                "AUTHID:<cookie>".to_string()
            }
            None => l.to_string(),
        })
        .collect();
    (lines.join("\n"), cookie)
}

fn assert_same_output(what: &str, reference: &Output, ours: &Output) {
    assert!(
        reference.status.success(),
        "{what}: the reference failed: {}",
        stderr(reference)
    );
    assert!(
        ours.status.success(),
        "{what}: ours failed: {}",
        stderr(ours)
    );
    assert_eq!(stdout(ours), stdout(reference), "{what}");
}

#[test]
#[ignore = "needs root (test accounts) and the reference broker (x2gobroker-daemon)"]
fn tasks_print_what_the_reference_prints() {
    let s = Setup::start(OPEN, 2);
    for i in 0..2 {
        let (r, o) = s.both(i, &["--task", "listsessions"]);
        assert_same_output(&format!("listsessions as user {i}"), &r, &o);
        // The ACL follows the logged-in user: only the first sees `mine`.
        assert_eq!(stdout(&o).contains("[mine]"), i == 0, "{}", stdout(&o));
        assert!(stdout(&o).contains(&format!("user={}\n", s.users[i].name)));
        let (r, o) = s.both(i, &["--task", "listsessions", "--login", "serveruser"]);
        assert_same_output("listsessions --login", &r, &o);
        assert!(stdout(&o).contains("user=serveruser\n"));
        let (r, o) = s.both(i, &["--task", "testcon"]);
        assert_same_output("testcon", &r, &o);
        assert_eq!(stdout(&o), "OK\n");
        for sid in ["shared", "fixed", "no-such-profile"] {
            let (r, o) = s.both(i, &["--task", "selectsession", "--sid", sid]);
            assert_same_output(&format!("selectsession {sid}"), &r, &o);
        }
        let (r, o) = s.both(i, &["--task", "selectsession", "--profile-id", "mine"]);
        if i == 0 {
            assert_same_output("selectsession mine", &r, &o);
        } else {
            // A deliberate difference (docs/compat.md): the reference checks
            // no ACLs in selectsession; ours refuses the profile's server.
            assert_eq!(stdout(&r), "Access granted\nSERVER:127.0.0.2:22\n\n");
            assert_eq!(
                stdout(&o),
                "Access granted\nSERVER:no-server-available:22\n\n"
            );
        }
        let (r, o) = s.both(i, &["--task", "selectsession"]);
        assert_same_output("selectsession without a profile", &r, &o);
        // The access check alone: a task the broker does not run.
        let (r, o) = s.both(i, &["--task", "setpass"]);
        assert_same_output("setpass", &r, &o);
    }
    assert!(
        stdout(&s.ours(0, &[], &["--task", "selectsession", "--sid", "shared"]))
            .contains("SERVER:127.0.0.1:22\n")
    );
}

#[test]
#[ignore = "needs root (test accounts) and the reference broker (x2gobroker-daemon)"]
fn cookies_chain_as_in_the_reference() {
    let s = Setup::start(COOKIES, 1);
    let (r, o) = s.both(0, &["--task", "listsessions"]);
    assert!(r.status.success() && o.status.success(), "{}", stderr(&o));
    let (r_text, r_cookie) = masked(&stdout(&r));
    let (o_text, o_cookie) = masked(&stdout(&o));
    assert_eq!(o_text, r_text);
    let (r_cookie, o_cookie) = (r_cookie.unwrap(), o_cookie.unwrap());
    // The next call presents the cookie, and gets a new one.
    let (r2, o2) = (
        s.reference(
            0,
            &s.client_args(0, &["--authid", &r_cookie, "--task", "listsessions"]),
        ),
        s.ours(
            0,
            &[],
            &s.client_args(0, &["--authid", &o_cookie, "--task", "listsessions"]),
        ),
    );
    assert!(
        r2.status.success() && o2.status.success(),
        "{}",
        stderr(&o2)
    );
    let (_, next) = masked(&stdout(&o2));
    assert_ne!(next.as_deref(), Some(o_cookie.as_str()));
    assert_eq!(masked(&stdout(&o2)).0, masked(&stdout(&r2)).0);
    // The cookies are the node's: the one issued over SSH logs in over HTTP.
    let http = s.node.post(
        "/plain/",
        &common::http::form(&[
            ("task", "listsessions"),
            ("user", &s.users[0].name),
            ("authid", next.as_deref().unwrap()),
        ]),
    );
    assert_eq!(http.status, 200, "{}", http.body);
    assert!(http.body.contains("Access granted\n"));
    // A cookie used up, or made up: nothing on stdout from either.
    for bad in [o_cookie.as_str(), "00000000-0000-0000-0000-000000000000"] {
        let o = s.ours(
            0,
            &[],
            &s.client_args(0, &["--authid", bad, "--task", "listsessions"]),
        );
        assert!(!o.status.success());
        assert_eq!(stdout(&o), "");
        assert!(stderr(&o).contains("access denied"), "{}", stderr(&o));
    }
    let r = s.reference(
        0,
        &s.client_args(0, &["--authid", &r_cookie, "--task", "listsessions"]),
    );
    assert_eq!(stdout(&r), "");
}

/// The listing of user `i` as ours prints it for them.
fn own_listing(s: &Setup, i: usize) -> String {
    let o = s.ours(i, &[], &["--task", "listsessions"]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

#[test]
#[ignore = "needs root (test accounts)"]
fn nobody_acts_as_another_user() {
    let s = Setup::start(OPEN, 2);
    let (first, second) = (own_listing(&s, 0), own_listing(&s, 1));
    assert_ne!(first, second);
    let other = s.users[1].name.as_str();
    // --user naming someone else: refused, no answer on stdout.
    let o = s.ours(0, &[], &["--user", other, "--task", "listsessions"]);
    assert!(!o.status.success());
    assert_eq!(stdout(&o), "");
    assert!(stderr(&o).contains("may not act as"), "{}", stderr(&o));
    // The environment names nobody: the answer is the logged-in user's.
    let env = [("LOGNAME", other), ("USER", other), ("SUDO_USER", other)];
    let o = s.ours(0, &env, &["--task", "listsessions"]);
    assert_eq!(stdout(&o), first);
    // The command believing it is the daemon user: the node still refuses.
    let o = s.ours(
        0,
        &[("X2GOBROKER_DAEMON_USER", &s.users[0].name)],
        &["--user", other, "--task", "listsessions"],
    );
    assert!(!o.status.success());
    assert_eq!(stdout(&o), "");
    assert!(stderr(&o).contains("may not act as"), "{}", stderr(&o));
    // A client of its own on the socket, claiming the other user.
    let script = "import socket,sys\n\
        s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n\
        s.sendall(('{\"user\":\"'+sys.argv[2]+'\",\"task\":\"listsessions\"}\\n').encode())\n\
        print(s.makefile().readline())";
    let mut cmd = as_user(&s.users[0].name);
    cmd.args(["python3", "-c", script])
        .arg(&s.socket)
        .arg(other);
    let o = cmd.output().unwrap();
    let reply: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(reply["status"], "error", "{reply}");
    assert!(reply["error"].as_str().unwrap().contains("may not act as"));
    // Root is not the daemon user either (as in the reference).
    let o = Command::new(ours_bin())
        .env("X2GOBROKER_SOCKET", &s.socket)
        .args(["--user", other, "--task", "listsessions"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert_eq!(stdout(&o), "");
}

#[test]
#[ignore = "needs root (test accounts)"]
fn the_daemon_user_acts_for_others() {
    let mut s = Setup::start(OPEN, 2);
    let second = own_listing(&s, 1);
    s.node.child.kill().unwrap();
    s.node.child.wait().unwrap();
    // Now the node's daemon user is the first test user.
    let daemon = s.users[0].name.clone();
    let node = Ours::new(&s.site)
        .args(&["--unix-socket", s.socket.to_str().unwrap()])
        .env("X2GOBROKER_DAEMON_USER", &daemon)
        .start();
    let o = s.ours(
        0,
        &[("X2GOBROKER_DAEMON_USER", &daemon)],
        &["--user", &s.users[1].name, "--task", "listsessions"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), second);
    // The other user still may not act for the daemon user.
    let o = s.ours(1, &[], &["--user", &daemon, "--task", "listsessions"]);
    assert!(!o.status.success());
    drop(node);
}

#[test]
#[ignore = "needs root (test accounts)"]
fn the_socket_refuses_malformed_requests() {
    use std::io::{BufRead, BufReader, Write};
    let s = Setup::start(OPEN, 1);
    let mode = std::fs::metadata(&s.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666);
    let ask = |bytes: &[u8]| {
        let mut c = std::os::unix::net::UnixStream::connect(&s.socket).unwrap();
        // The node may answer before it read all of an oversized request.
        let _ = c.write_all(bytes);
        let mut line = String::new();
        BufReader::new(c).read_line(&mut line).unwrap();
        serde_json::from_str::<serde_json::Value>(&line).unwrap()
    };
    for bad in [
        b"not json\n".to_vec(),
        b"{\"task\":\"listsessions\",\"extra\":1}\n".to_vec(),
        vec![b'x'; 100_000],
    ] {
        let reply = ask(&bad);
        assert_eq!(reply["status"], "error", "{reply}");
    }
    // Still serving: root asks for itself (root has no listing ACL limits).
    let reply = ask(b"{\"task\":\"testcon\"}\n");
    assert_eq!(reply["status"], "ok");
    assert_eq!(reply["output"], "OK");
    // Unknown backend: an error, not an answer.
    let o = s.ours(0, &[], &["--task", "listsessions", "--backend", "nosuch"]);
    assert!(!o.status.success());
    assert_eq!(stdout(&o), "");
    // No node: a clear error.
    let o = s.ours(
        0,
        &[("X2GOBROKER_SOCKET", "/nonexistent/sock")],
        &["--task", "testcon"],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("/nonexistent/sock"), "{}", stderr(&o));
}

/// A private sshd on a loopback port, killed on drop.
struct Sshd {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    /// sshd with its own host key, key logins only, and the environment a
    /// site gives the broker's SSH users: `env` (here our command first on
    /// PATH, where a site's package diverts /usr/bin/x2gobroker to it).
    fn start(env: &[(&str, String)]) -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let host_key = dir.path().join("host_key");
        ed25519_key(&host_key);
        let port = common::sockets::addr_of(&common::sockets::loopback()).port();
        let set_env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nUsePAM no\nStrictModes no\n\
                 AuthorizedKeysFile .ssh/authorized_keys\nSetEnv {}\n",
                host_key.display(),
                dir.path().join("sshd.pid").display(),
                set_env.join(" ")
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("sshd.log")).unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stderr(log)
            .spawn()
            .unwrap();
        let sshd = Sshd { child, port, dir };
        common::wait_until("sshd to listen", std::time::Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        sshd
    }

    /// `command` run by `user` over SSH with `key`, as X2Go Client runs it.
    fn run(&self, user: &str, key: &std::path::Path, command: &str) -> Output {
        Command::new("ssh")
            .args(["-p", &self.port.to_string(), "-i"])
            .arg(key)
            .args([
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                &format!("{user}@127.0.0.1"),
                command,
            ])
            .output()
            .unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

#[test]
#[ignore = "needs root (test accounts, sshd) and the reference broker (x2gobroker-daemon)"]
fn x2go_clients_command_over_real_ssh() {
    let s = Setup::start(OPEN, 2);
    // A directory whose x2gobroker is ours.
    let bin = s.site.path("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(ours_bin(), bin.join("x2gobroker")).unwrap();
    let sshd = Sshd::start(&[
        (
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
        ),
        ("X2GOBROKER_SOCKET", s.socket.display().to_string()),
        ("X2GOBROKER_CONFIG", s.site.conf().display().to_string()),
        (
            "X2GOBROKER_SESSIONPROFILES",
            s.site.profiles().display().to_string(),
        ),
    ]);
    let key = sshd.dir.path().join("client_key");
    ed25519_key(&key);
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    for (user, home) in s.users.iter().zip(&s.homes) {
        let status = Command::new("usermod")
            .args(["-s", "/bin/sh", &user.name])
            .status()
            .unwrap();
        assert!(status.success());
        let ssh_dir = home.join(".ssh");
        std::fs::create_dir_all(&ssh_dir).unwrap();
        std::fs::write(ssh_dir.join("authorized_keys"), &public).unwrap();
        let status = Command::new("chown")
            .args(["-R", &user.name])
            .arg(&ssh_dir)
            .status()
            .unwrap();
        assert!(status.success());
    }
    for (i, user) in s.users.iter().enumerate() {
        let u = &user.name;
        for task in ["listsessions", "testcon", "selectsession --sid shared"] {
            // Exactly X2Go Client's command line: `x2gobroker` from PATH.
            let ours = sshd.run(u, &key, &format!("x2gobroker --user {u} --task {task}"));
            let reference = sshd.run(u, &key, &format!("{REFERENCE} --user {u} --task {task}"));
            assert!(ours.status.success(), "{}\n{}", stderr(&ours), sshd.log());
            assert!(reference.status.success(), "{}", stderr(&reference));
            assert_eq!(stdout(&ours), stdout(&reference), "{task} as user {i}");
        }
        // The same listing as the user gets locally: the SSH login is the identity.
        let listed = sshd.run(
            u,
            &key,
            &format!("x2gobroker --user {u} --task listsessions"),
        );
        assert_eq!(stdout(&listed), own_listing(&s, i));
        assert_eq!(stdout(&listed).contains("[mine]"), i == 0);
    }
    // Over SSH too, naming the other user is refused.
    let (first, other) = (&s.users[0].name, &s.users[1].name);
    let o = sshd.run(
        first,
        &key,
        &format!("x2gobroker --user {other} --task listsessions"),
    );
    assert!(!o.status.success());
    assert_eq!(stdout(&o), "");
}
