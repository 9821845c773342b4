//! Regression tests of the security review's findings 8 (trust between
//! nodes), 9 (secrets at rest) and 13 (the daemon runs as root in the
//! Dockerfile), each failing on the code before its fix: node-to-node RPCs
//! authorised by the role in the peer's certificate, a private data
//! directory, and PAM logins through a broker that is not root.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::accounts::*;
use common::cluster::*;
use common::http::*;
use common::processes::*;
use common::site::*;
use common::sockets::{addr_of, inherit, loopback};
use common::unique;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tonic::Code;
use x2gobroker::cluster::admin::{AddNode, AdminResult};
use x2gobroker::cluster::network::{decode, encode};
use x2gobroker::cluster::proto::admin_client::AdminClient;
use x2gobroker::cluster::proto::raft_transport_client::RaftTransportClient;
use x2gobroker::cluster::proto::Payload;
use x2gobroker::cluster::Member;
use x2gobroker::state::Command as StateCommand;

const CONF: &str = "[global]\nrequire-password = false\n";
const PROFILES: &str = "[p]\nname=P\nhost=127.0.0.9\nbroker-portscan-x2goservers = false\n";
const TIMING: &str = common::cluster::FAST_TIMING;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The gRPC code of a call's failure (None: it succeeded), or a panic when
/// the node did not answer within five seconds.
async fn code_of<T>(
    what: &str,
    call: impl std::future::Future<Output = Result<T, tonic::Status>>,
) -> Option<Code> {
    match tokio::time::timeout(Duration::from_secs(5), call).await {
        Ok(result) => result.err().map(|s| s.code()),
        Err(_) => panic!("{what}: no answer within 5 s"),
    }
}

/// `(name, code)` of the call `client.method(payload)` (see `code_of`).
macro_rules! rpc {
    ($client:ident . $method:ident ( $payload:expr )) => {
        (
            stringify!($method),
            code_of(stringify!($method), $client.$method($payload)).await,
        )
    };
}

/// `program [wrapper args] <our broker> serve` on the site's files with its
/// state in `data`.
fn serve(site: &Site, data: &Path, program: &str, wrapper: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(wrapper);
    if program != ours_bin() {
        cmd.arg(ours_bin());
    }
    cmd.args(["serve", "--x2gobroker-conf"])
        .arg(site.conf())
        .arg("--session-profiles")
        .arg(site.profiles())
        .arg("--data-dir")
        .arg(data);
    cmd
}

/// Every directory under `dir` (itself included) is 0700 and every file 0600 or stricter.
fn assert_private(dir: &Path) {
    let meta = std::fs::metadata(dir).unwrap();
    let mode = meta.permissions().mode() & 0o777;
    if meta.is_dir() {
        assert_eq!(mode, 0o700, "{} has mode {mode:o}", dir.display());
        for entry in std::fs::read_dir(dir).unwrap() {
            assert_private(&entry.unwrap().path());
        }
    } else {
        assert_eq!(mode & 0o077, 0, "{} has mode {mode:o}", dir.display());
    }
}

#[test]
fn finding8_node_and_admin_certificates_are_told_apart_on_every_rpc() {
    let site = Site::new(CONF, PROFILES);
    let mut nodes = cluster_nodes(&site, 3, TIMING);
    let leader = start_all(&site, &mut nodes);
    let on_leader = &nodes[(leader - 1) as usize];
    let rt = runtime();
    rt.block_on(async {
        // An admin certificate is not a node: no state command, no Raft RPC.
        let mut admin_as_node =
            RaftTransportClient::new(raft_channel(on_leader, client_tls(&site, "admin")).await);
        let forged = StateCommand::IssueCookie {
            user: "root".into(),
            cookie: "forged-through-an-admin-certificate".into(),
            ip: "127.0.0.1".into(),
            at: 1,
        };
        let empty = Payload::default;
        let calls = [
            rpc!(admin_as_node.submit(encode(&forged).unwrap())),
            rpc!(admin_as_node.append_entries(empty())),
            rpc!(admin_as_node.vote(empty())),
            rpc!(admin_as_node.install_snapshot(empty())),
            rpc!(admin_as_node.read_index(empty())),
            rpc!(admin_as_node.login_limit(empty())),
        ];
        for (rpc, code) in calls {
            assert_eq!(
                code,
                Some(Code::PermissionDenied),
                "admin certificate on {rpc}"
            );
        }

        // A node certificate is not an admin: no membership change, reload or snapshot.
        let mut node_as_admin =
            AdminClient::new(raft_channel(on_leader, client_tls(&site, "node2")).await);
        let add = AddNode {
            id: 9,
            member: Member {
                raft: "127.0.0.1:1".into(),
                http: "127.0.0.1:2".into(),
            },
        };
        let calls = [
            rpc!(node_as_admin.add_node(encode(&add).unwrap())),
            rpc!(node_as_admin.remove_node(encode(&3u64).unwrap())),
            rpc!(node_as_admin.reload(empty())),
            rpc!(node_as_admin.snapshot(empty())),
        ];
        for (rpc, code) in calls {
            assert_eq!(
                code,
                Some(Code::PermissionDenied),
                "node certificate on {rpc}"
            );
        }
        // Status is for both.
        assert_eq!(rpc!(node_as_admin.status(empty())).1, None);

        // An agent certificate (keygen --agents) is neither node nor admin.
        let agent = format!("agent-{TEST_AGENT}");
        let mut agent_as_node =
            RaftTransportClient::new(raft_channel(on_leader, client_tls(&site, &agent)).await);
        let mut agent_as_admin =
            AdminClient::new(raft_channel(on_leader, client_tls(&site, &agent)).await);
        let calls = [
            rpc!(agent_as_node.submit(encode(&forged).unwrap())),
            rpc!(agent_as_node.append_entries(empty())),
            rpc!(agent_as_node.vote(empty())),
            rpc!(agent_as_node.read_index(empty())),
            rpc!(agent_as_node.login_limit(empty())),
            rpc!(agent_as_admin.add_node(encode(&add).unwrap())),
            rpc!(agent_as_admin.reload(empty())),
            rpc!(agent_as_admin.snapshot(empty())),
            rpc!(agent_as_admin.status(empty())),
        ];
        for (rpc, code) in calls {
            assert_eq!(
                code,
                Some(Code::PermissionDenied),
                "agent certificate on {rpc}"
            );
        }

        // The admin's add-node names its node by IP address and port, as a listener does.
        let mut admin = AdminClient::new(raft_channel(on_leader, client_tls(&site, "admin")).await);
        assert_eq!(rpc!(admin.status(empty())).1, None);
        for raft in ["evil.example:19084", "127.0.0.1:19084/path", "127.0.0.1"] {
            let add = AddNode {
                id: 4,
                member: Member {
                    raft: raft.into(),
                    http: "127.0.0.1:18084".into(),
                },
            };
            let reply = tokio::time::timeout(
                Duration::from_secs(5),
                admin.add_node(encode(&add).unwrap()),
            )
            .await
            .unwrap_or_else(|_| panic!("add-node {raft}: no answer within 5 s"))
            .unwrap();
            let answer: AdminResult<()> = decode(reply.get_ref()).unwrap();
            let refusal = answer.expect_err(raft);
            assert!(refusal.message.contains(raft), "{refusal:?}");
        }
    });
    // Nothing of the above reached the state or the membership.
    for n in &nodes {
        let s = n.status().unwrap();
        assert_eq!(s["cookies"], 0, "{s}");
        assert_eq!(s["members"].as_object().unwrap().len(), 3, "{s}");
    }
    // A node's data directory is private too (finding 9, the Raft store).
    assert_private(&site.path("data1"));
}

#[test]
fn finding9_the_data_directory_and_its_files_are_private() {
    let site = Site::new(CONF, PROFILES);
    let data = site.path("state");
    let b = start_ours_in(&site, &data, &[]);
    let r = b.post("/plain/", "task=selectsession&user=u&sid=p");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_private(&data);
}

#[test]
fn finding9_a_data_directory_open_to_others_is_refused() {
    let site = Site::new(CONF, PROFILES);
    let data = site.path("shared");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = serve(&site, &data, ours_bin(), &[])
        .args(["--http", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the broker started on a data directory others can read");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains(&data.display().to_string()) && stderr.contains("chmod 700"),
        "{stderr}"
    );
    // Nothing was created in it.
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0);
}

#[test]
fn finding13_the_dockerfile_runs_the_daemon_unprivileged() {
    let dockerfile = include_str!("../Dockerfile");
    let runtime_stage = dockerfile.rsplit("\nFROM ").next().unwrap();
    let user = runtime_stage
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("USER "));
    assert_eq!(user, Some("x2gobroker"), "{runtime_stage}");
    // pam_unix reads /etc/shadow itself (see the PAM test below).
    assert!(
        runtime_stage.contains("useradd") && runtime_stage.contains("--groups shadow"),
        "{runtime_stage}"
    );
    // The data directory belongs to the daemon and nobody else.
    assert!(
        runtime_stage
            .contains("install -d -m 0700 -o x2gobroker -g x2gobroker /var/lib/x2gobroker-rs"),
        "{runtime_stage}"
    );
    // No port below 1024 (an unprivileged process cannot bind it).
    for line in runtime_stage.lines().filter(|l| l.starts_with("EXPOSE")) {
        for port in line.split_whitespace().skip(1) {
            assert!(port.parse::<u16>().unwrap() >= 1024, "{line}");
        }
    }
}

/// Our broker as `runner` (with its supplementary groups, or none), PAM on.
fn start_as(site: &Site, runner: &str, groups: &str) -> Running {
    let data = site.path(&format!("data-{}", unique()));
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(Command::new("chown")
        .arg(format!("{runner}:"))
        .arg(&data)
        .status()
        .unwrap()
        .success());
    let http = loopback();
    let addr = addr_of(&http);
    let log = site.path(&format!("ours-{}.log", unique()));
    let wrapper = ["--reuid", runner, "--regid", runner, groups, "--"];
    let mut cmd = serve(site, &data, "setpriv", &wrapper);
    cmd.args(["--http", &addr.to_string()])
        .env("RUST_LOG", "x2gobroker=debug")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::OpenOptions::new().append(true).open(&log).unwrap());
    inherit(&mut cmd, std::slice::from_ref(&http));
    let child = cmd.spawn().unwrap();
    drop(http);
    let mut running = Running { child, addr, log };
    running.wait_ready();
    running
}

#[test]
#[ignore = "needs root (PAM test accounts)"]
fn finding13_pam_logins_work_for_an_unprivileged_broker_in_group_shadow() {
    let runner = TestUser::create("x2gorun");
    for attempt in 0.. {
        let ok = Command::new("usermod")
            .args(["--append", "--groups", "shadow", &runner.name])
            .status()
            .unwrap()
            .success();
        if ok {
            break;
        }
        assert!(attempt < 50, "usermod failed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let user = TestUser::create("x2gopam");
    let site = Site::new(
        "[global]\nrequire-password = true\ndefault-auth-mech = pam\n[broker_inifile]\nenable = true\n",
        PROFILES,
    );
    // The unprivileged broker reads the site's files.
    std::fs::set_permissions(site.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let login = |b: &Running, password: &str| {
        b.post(
            "/plain/",
            &form(&[
                ("task", "listsessions"),
                ("user", &user.name),
                ("password", password),
            ]),
        )
        .status
    };

    let b = start_as(&site, &runner.name, "--init-groups");
    let pid = b.child.id();
    let uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:").map(str::to_string))
        .unwrap();
    assert!(
        !uid.split_whitespace().any(|u| u == "0"),
        "the broker runs as root: {uid}"
    );
    assert_eq!(login(&b, &user.password), 200, "{}", b.log_text());
    assert_eq!(login(&b, "not the password"), 401);
    drop(b);

    // Why the group: unix_chkpwd checks only the caller's own password.
    let b = start_as(&site, &runner.name, "--clear-groups");
    assert_eq!(login(&b, &user.password), 401, "{}", b.log_text());
}
