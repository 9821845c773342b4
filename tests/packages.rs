//! The Debian packages, for real: `scripts/build-deb.sh` packages the
//! binaries of this build, lintian reads both packages, `dpkg -i` installs
//! them beside the reference's packages (whose `/usr/bin/x2gobroker` is
//! diverted), the installed broker checks the installed configuration and
//! serves an X2Go client from the unit's own command line, as the unit's
//! user, with a real PAM login; the manual pages and completions are in
//! place; `dpkg --purge` gives the machine back byte for byte (also when
//! the test fails: a guard purges on drop, and leftovers are purged first).

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::accounts::TestUser;
use common::http::{form, post_form};
use common::processes::wait_healthy;
use common::sockets::{addr_of, inherit, loopback};
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const NODE: &str = "x2gobroker-rs";
const AGENT: &str = "x2gobroker-rs-agent";
const NODE_UNIT: &str = "/lib/systemd/system/x2gobroker-rs.service";
const AGENT_UNIT: &str = "/lib/systemd/system/x2gobroker-agent.service";
const EXAMPLES: &str = "/usr/share/x2gobroker-rs/examples";
const STATE: &str = "/var/lib/x2gobroker-rs";

/// Files of other packages (the reference's) that ours must leave as they
/// were, and the places our maintainer scripts write to.
const WATCHED_FILES: &[&str] = &[
    "/usr/bin/x2gobroker",
    "/usr/bin/x2gobroker-daemon",
    "/usr/bin/x2gobroker.reference",
    "/usr/bin/x2gobrokerctl",
    "/usr/bin/x2gobroker-agent",
    "/usr/share/man/man1/x2gobroker.1.gz",
    "/usr/share/man/man1/x2gobroker.reference.1.gz",
    "/usr/share/man/man8/x2gobroker.8.gz",
    "/etc/default/x2gobroker-rs",
    "/etc/x2go/x2gobroker.conf",
    "/etc/x2go/broker/x2gobroker-sessionprofiles.conf",
    "/etc/pam.d/x2gobroker",
    "/usr/lib/x2go/x2gobroker-agent",
    "/var/lib/dpkg/info/x2gobroker-common.list",
];
const WATCHED_TREES: &[&str] = &[
    "/etc/systemd/system",
    "/var/lib/systemd/deb-systemd-helper-enabled",
    "/var/lib/systemd/deb-systemd-helper-masked",
    "/lib/systemd/system",
    "/usr/share/x2gobroker-rs",
];

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

/// Run `cmd`, which must succeed; its standard output.
fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn purge() {
    // Not installed: dpkg warns and succeeds.
    let out = run(Command::new("dpkg").args(["--purge", NODE, AGENT]));
    assert!(
        out.status.success(),
        "dpkg --purge: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Purges both packages when dropped, so that a failing test leaves the
/// machine as it found it too.
struct PurgeOnDrop;

impl Drop for PurgeOnDrop {
    fn drop(&mut self) {
        let _ = run(Command::new("dpkg").args(["--purge", NODE, AGENT]));
    }
}

/// What installing and purging must leave unchanged.
#[derive(PartialEq, Debug)]
struct Machine {
    files: BTreeMap<String, Option<Vec<u8>>>,
    trees: BTreeMap<String, Vec<String>>,
    diversions: String,
    broker_user: String,
    state_dir: bool,
}

fn listing(root: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        out.push(path.display().to_string());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            listing(&path, out);
        }
    }
}

fn machine() -> Machine {
    let files = WATCHED_FILES
        .iter()
        .map(|f| (f.to_string(), std::fs::read(f).ok()))
        .collect();
    let trees = WATCHED_TREES
        .iter()
        .map(|t| {
            let mut v = Vec::new();
            listing(Path::new(t), &mut v);
            v.sort();
            (t.to_string(), v)
        })
        .collect();
    let mut diversions: Vec<String> = ok(Command::new("dpkg-divert").arg("--list"))
        .lines()
        .map(str::to_string)
        .collect();
    diversions.sort();
    Machine {
        files,
        trees,
        diversions: diversions.join("\n"),
        broker_user: String::from_utf8_lossy(
            &run(Command::new("getent").args(["passwd", "x2gobroker"])).stdout,
        )
        .into_owned(),
        state_dir: Path::new(STATE).exists(),
    }
}

/// Which parts differ (the files' bytes are not printed).
fn differences(a: &Machine, b: &Machine) -> Vec<String> {
    let mut d: Vec<String> = a
        .files
        .iter()
        .filter(|(k, v)| b.files.get(*k) != Some(v))
        .map(|(k, _)| format!("file {k}"))
        .collect();
    for (k, v) in &a.trees {
        let w = &b.trees[k];
        let gone: Vec<&String> = v.iter().filter(|p| !w.contains(p)).collect();
        let new: Vec<&String> = w.iter().filter(|p| !v.contains(p)).collect();
        if !gone.is_empty() || !new.is_empty() {
            d.push(format!("{k}: gone {gone:?}, new {new:?}"));
        }
    }
    if a.diversions != b.diversions {
        d.push(format!(
            "diversions:\n{}\nnow:\n{}",
            a.diversions, b.diversions
        ));
    }
    if a.broker_user != b.broker_user || a.state_dir != b.state_dir {
        d.push(format!(
            "user {:?} / state dir {} now {:?} / {}",
            a.broker_user, a.state_dir, b.broker_user, b.state_dir
        ));
    }
    d
}

/// The `[Service]` settings of a unit file, each key with all its values.
fn service_section(unit: &str) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut in_service = false;
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if in_service && !line.is_empty() && !line.starts_with('#') {
            if let Some((k, v)) = line.split_once('=') {
                map.entry(k.trim().into())
                    .or_default()
                    .push(v.trim().into());
            }
        }
    }
    map
}

fn setting<'a>(service: &'a BTreeMap<String, Vec<String>>, key: &str) -> &'a str {
    service
        .get(key)
        .and_then(|v| v.last())
        .map_or("", String::as_str)
}

/// `KEY=VALUE` lines of an environment file (quotes removed).
fn environment_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

/// A command line of `ExecStart=` with its variables expanded as systemd
/// does: `$NAME` alone is split into words, `${NAME}` stays one word.
fn expand(line: &str, env: &BTreeMap<String, String>) -> Vec<String> {
    let mut argv = Vec::new();
    for word in line.split_whitespace() {
        if let Some(name) = word.strip_prefix('$').filter(|n| !n.starts_with('{')) {
            let value = env.get(name).map_or("", String::as_str);
            argv.extend(value.split_whitespace().map(str::to_string));
        } else {
            let mut w = word.to_string();
            for (k, v) in env {
                w = w.replace(&format!("${{{k}}}"), v);
            }
            argv.push(w);
        }
    }
    argv
}

/// The installed node, started from its unit with `overrides` added to
/// its environment, listening on `addr`.
struct Node {
    addr: SocketAddr,
    child: Option<Child>,
    log: PathBuf,
    dropin: Option<PathBuf>,
    /// The unit's `RuntimeDirectory=`, made here as systemd makes it.
    runtime_dir: Option<PathBuf>,
}

impl Node {
    fn log_text(&self) -> String {
        match &self.child {
            Some(_) => std::fs::read_to_string(&self.log).unwrap_or_default(),
            None => String::from_utf8_lossy(
                &run(Command::new("journalctl").args(["-u", "x2gobroker-rs", "-n", "50"])).stdout,
            )
            .into_owned(),
        }
    }

    fn wait_ready(&mut self) {
        let addr = self.addr;
        let (child, log) = (&mut self.child, &self.log);
        let answered = wait_healthy(addr, || {
            if let Some(Ok(Some(status))) = child.as_mut().map(Child::try_wait) {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                panic!("the node exited ({status}): {text}");
            }
        });
        assert!(answered, "the node did not answer: {}", self.log_text());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = self.runtime_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(dropin) = self.dropin.take() {
            let _ = run(Command::new("systemctl").args(["stop", "x2gobroker-rs"]));
            let _ = std::fs::remove_dir_all(dropin.parent().unwrap());
            let _ = run(Command::new("systemctl").arg("daemon-reload"));
        }
    }
}

fn systemd_is_running() -> bool {
    let comm = ok(Command::new("ps").args(["-p", "1", "-o", "comm="]));
    comm.trim() == "systemd" && Path::new("/run/systemd/system").is_dir()
}

/// Start the installed unit's node: with systemd as PID 1 through
/// systemctl (the overrides in a runtime drop-in), otherwise its
/// `ExecStart=` line run as its `User=`, `Group=` and
/// `SupplementaryGroups=`, with `NoNewPrivileges=` and an empty
/// capability bounding set as the unit says.
fn start_unit_node(overrides: &[(&str, &str)], dir: &Path) -> Node {
    let unit = std::fs::read_to_string(NODE_UNIT).unwrap();
    let service = service_section(&unit);
    let log = dir.join("node.log");
    if systemd_is_running() {
        let port = addr_of(&loopback()).port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let env_file = dir.join("test.env");
        let mut text: String = overrides
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\"\n"))
            .collect();
        text.push_str(&format!("X2GOBROKER_OPTS=\"--http {addr}\"\n"));
        std::fs::write(&env_file, text).unwrap();
        let dropin_dir = PathBuf::from("/run/systemd/system/x2gobroker-rs.service.d");
        std::fs::create_dir_all(&dropin_dir).unwrap();
        let dropin = dropin_dir.join("test.conf");
        std::fs::write(
            &dropin,
            format!("[Service]\nEnvironmentFile={}\n", env_file.display()),
        )
        .unwrap();
        let mut node = Node {
            addr,
            child: None,
            log,
            dropin: Some(dropin),
            runtime_dir: None,
        };
        ok(Command::new("systemctl").arg("daemon-reload"));
        ok(Command::new("systemctl").args(["start", "x2gobroker-rs"]));
        node.wait_ready();
        return node;
    }

    let mut env = BTreeMap::new();
    for file in service.get("EnvironmentFile").into_iter().flatten() {
        let path = file.trim_start_matches('-');
        if let Ok(text) = std::fs::read_to_string(path) {
            env.extend(environment_file(&text));
        }
    }
    let listener: TcpListener = loopback();
    let addr = addr_of(&listener);
    for (k, v) in overrides {
        env.insert(k.to_string(), v.to_string());
    }
    env.insert("X2GOBROKER_OPTS".into(), format!("--http {addr}"));
    let argv = expand(setting(&service, "ExecStart"), &env);
    assert_eq!(argv[0], "/usr/bin/x2gobroker", "{argv:?}");
    // RuntimeDirectory=: /run/NAME, owned by the unit's user, in its mode.
    let runtime_dir = match setting(&service, "RuntimeDirectory") {
        "" => None,
        name => {
            let dir = Path::new("/run").join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let owner = format!(
                "{}:{}",
                setting(&service, "User"),
                setting(&service, "Group")
            );
            ok(Command::new("chown").arg(&owner).arg(&dir));
            let mode =
                u32::from_str_radix(setting(&service, "RuntimeDirectoryMode"), 8).unwrap_or(0o755);
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
            Some(dir)
        }
    };

    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={}", setting(&service, "User")))
        .arg(format!("--regid={}", setting(&service, "Group")));
    match setting(&service, "SupplementaryGroups") {
        "" => cmd.arg("--clear-groups"),
        groups => cmd.arg(format!("--groups={}", groups.replace(' ', ","))),
    };
    if setting(&service, "NoNewPrivileges") == "yes" {
        cmd.arg("--no-new-privs");
    }
    if setting(&service, "CapabilityBoundingSet").is_empty() {
        cmd.args(["--bounding-set=-all", "--inh-caps=-all"]);
    }
    cmd.arg("--").args(&argv).env_clear();
    cmd.env(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    )
    .envs(env.iter().filter(|(k, _)| k.as_str() != "X2GOBROKER_OPTS"));
    let sockets: Vec<OwnedFd> = vec![listener.into()];
    inherit(&mut cmd, &sockets);
    let file = std::fs::File::create(&log).unwrap();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("setpriv");
    drop(sockets);
    let mut node = Node {
        addr,
        child: Some(child),
        log,
        dropin: None,
        runtime_dir,
    };
    node.wait_ready();
    node
}

/// Build both packages from this build's binaries; their paths.
fn build_packages(out: &Path) -> (PathBuf, PathBuf) {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_x2gobroker"))
        .parent()
        .unwrap();
    for exe in [
        env!("CARGO_BIN_EXE_x2gobrokerctl"),
        env!("CARGO_BIN_EXE_x2gobroker-agent"),
    ] {
        assert_eq!(Path::new(exe).parent().unwrap(), bin_dir);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-deb.sh");
    let printed = ok(Command::new(script)
        .arg("--bin-dir")
        .arg(bin_dir)
        .arg("--out")
        .arg(out)
        // Speed over size for a package that is installed once and purged.
        .env("DEB_COMPRESSION", "gzip"));
    let debs: Vec<PathBuf> = printed.lines().map(PathBuf::from).collect();
    assert_eq!(debs.len(), 2, "{printed}");
    let find = |name: &str| {
        debs.iter()
            .find(|d| {
                d.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{name}_"))
            })
            .unwrap_or_else(|| panic!("no {name} package in {debs:?}"))
            .clone()
    };
    (find(NODE), find(AGENT))
}

/// The overall exposure `systemd-analyze security` gives a unit file.
fn exposure(unit: &str) -> f64 {
    let text = ok(Command::new("systemd-analyze").args(["security", "--offline=true", unit]));
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure level in {text}"));
    let value = line.split(':').nth(1).unwrap().split_whitespace().next();
    value.unwrap().parse().unwrap()
}

/// Installs and purges the node's package as on a machine without the
/// reference: empty file systems over /etc/x2go and /etc/pam.d, and dpkg's
/// file lists without the reference's configuration files, all in a mount
/// namespace of this step alone, so the machine's own files are never
/// touched. postinst copies the examples there, the installed broker
/// accepts them, and purge takes them (and the directories it made) away.
/// Returns the script's report.
fn install_on_a_bare_configuration(node_deb: &Path, scratch: &Path) -> String {
    const SCRIPT: &str = r#"
set -e
mount -t tmpfs -o mode=0755 x2gobroker-rs-test /etc/x2go
mount -t tmpfs -o mode=0755 x2gobroker-rs-test /etc/pam.d
deb=$1 scratch=$2
set -- -e /etc/x2go/x2gobroker.conf -e /etc/x2go/broker/x2gobroker-sessionprofiles.conf -e /etc/pam.d/x2gobroker
for list in $(grep -l -x "$@" /var/lib/dpkg/info/*.list || true); do
    grep -v -x "$@" "$list" >"$scratch/${list##*/}" || true
    mount --bind "$scratch/${list##*/}" "$list"
done
dpkg -i "$deb" >/dev/null 2>&1
cmp /usr/share/x2gobroker-rs/examples/x2gobroker.conf /etc/x2go/x2gobroker.conf
cmp /usr/share/x2gobroker-rs/examples/x2gobroker-sessionprofiles.conf /etc/x2go/broker/x2gobroker-sessionprofiles.conf
cmp /usr/share/x2gobroker-rs/pam.d/x2gobroker /etc/pam.d/x2gobroker
/usr/bin/x2gobroker check-config >/dev/null
echo "installed: $(cd /etc && find x2go pam.d -mindepth 1 | LC_ALL=C sort | tr '\n' ' ')"
dpkg --purge x2gobroker-rs >/dev/null 2>&1
echo "purged: $(cd /etc && find x2go pam.d -mindepth 1 | LC_ALL=C sort | tr '\n' ' ')"
"#;
    ok(Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--"])
        .args(["sh", "-c", SCRIPT, "sh"])
        .arg(node_deb)
        .arg(scratch))
}

#[test]
#[ignore = "needs root and dpkg-deb (builds, installs, runs and purges the Debian packages)"]
fn packages_install_run_and_purge_cleanly() {
    assert!(common::accounts::is_root());
    purge();
    let before = machine();
    let reference_bin = before.files["/usr/bin/x2gobroker"].clone();
    let _guard = PurgeOnDrop;
    let work = tempfile::tempdir().unwrap();
    let (node_deb, agent_deb) = build_packages(work.path());

    // lintian: no errors (warnings are listed in docs/packaging.md).
    let lint = run(Command::new("lintian")
        .args(["--tag-display-limit", "0"])
        .arg(&node_deb)
        .arg(&agent_deb));
    let lint_text = String::from_utf8_lossy(&lint.stdout);
    eprintln!("lintian:\n{lint_text}");
    assert!(
        !lint_text.lines().any(|l| l.starts_with("E:")),
        "{lint_text}"
    );

    ok(Command::new("dpkg")
        .arg("-i")
        .arg(&node_deb)
        .arg(&agent_deb));

    // Ours at /usr/bin/x2gobroker; the reference's moved aside unchanged.
    let installed = std::fs::read("/usr/bin/x2gobroker").unwrap();
    assert_eq!(&installed[..4], b"\x7fELF");
    if let Some(reference) = &reference_bin {
        assert_eq!(
            std::fs::read("/usr/bin/x2gobroker.reference").ok().as_ref(),
            Some(reference),
            "the reference's /usr/bin/x2gobroker, renamed"
        );
    }
    let diversions = ok(Command::new("dpkg-divert").args(["--list", "x2gobroker-rs"]));
    assert!(
        diversions.contains("/usr/bin/x2gobroker to /usr/bin/x2gobroker.reference"),
        "{diversions}"
    );
    // An existing configuration is not replaced.
    for f in [
        "/etc/x2go/x2gobroker.conf",
        "/etc/x2go/broker/x2gobroker-sessionprofiles.conf",
        "/etc/pam.d/x2gobroker",
    ] {
        if let Some(Some(old)) = before.files.get(f) {
            assert_eq!(&std::fs::read(f).unwrap(), old, "{f} changed");
        } else {
            assert!(Path::new(f).exists(), "{f} not created");
        }
    }

    // The installed broker accepts the installed configuration.
    let checked = run(Command::new("/usr/bin/x2gobroker").arg("check-config"));
    assert!(
        checked.status.success(),
        "check-config: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // The units: systemd finds nothing to complain about, and the node's is
    // tighter than the agent's, which must switch to the sessions' users.
    let verify = run(Command::new("systemd-analyze")
        .arg("verify")
        .args([NODE_UNIT, AGENT_UNIT]));
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(
        verify.status.success() && complaints.trim().is_empty(),
        "{complaints}"
    );
    let (node_exposure, agent_exposure) = (exposure(NODE_UNIT), exposure(AGENT_UNIT));
    eprintln!("systemd-analyze security: node {node_exposure}, agent {agent_exposure}");
    assert!(node_exposure <= 2.0, "node exposure {node_exposure}");
    assert!(agent_exposure <= 4.0, "agent exposure {agent_exposure}");

    // The state directory, owned by the broker's user and closed to others.
    let meta = std::fs::metadata(STATE).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    let uid = ok(Command::new("id").args(["-u", "x2gobroker"]));
    assert_eq!(meta.uid().to_string(), uid.trim());

    // The node from its unit, as its user, on the bundled example; a real
    // PAM login through the plain frontend lists the user's profiles.
    let user = TestUser::create("x2gopkg");
    let mut node = start_unit_node(
        &[
            ("X2GOBROKER_CONFIG", &format!("{EXAMPLES}/x2gobroker.conf")),
            (
                "X2GOBROKER_SESSIONPROFILES",
                &format!("{EXAMPLES}/x2gobroker-sessionprofiles.conf"),
            ),
        ],
        work.path(),
    );
    node.wait_ready();
    let reply = post_form(
        node.addr,
        "/plain/",
        &form(&[
            ("task", "listsessions"),
            ("user", &user.name),
            ("password", &user.password),
        ]),
    );
    assert_eq!(reply.status, 200, "{} {}", reply.body, node.log_text());
    assert!(reply.body.contains("Access granted"), "{}", reply.body);
    assert!(
        reply.body.contains("[pool-xfce]") && reply.body.contains("[single-mate]"),
        "{}",
        reply.body
    );
    assert!(
        !reply.body.contains("[admin-terminal]"),
        "for the group sudo only"
    );
    assert!(
        Path::new(STATE).join("state.sled").exists(),
        "the node keeps its state in {STATE}"
    );
    // SSH broker mode through the unit's socket: the installed
    // `x2gobroker --task` run as the user (as sshd runs it) gets the same
    // profiles, without a password (the SSH login is the authentication).
    let socket = Path::new("/run/x2gobroker/broker.sock");
    let mode = std::fs::metadata(socket)
        .unwrap_or_else(|e| panic!("{}: {e}; {}", socket.display(), node.log_text()))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o666, "the socket is for every user");
    let over_ssh = ok(Command::new("setpriv")
        .arg(format!("--reuid={}", user.name))
        .arg(format!("--regid={}", user.name))
        .arg("--init-groups")
        .args(["/usr/bin/x2gobroker", "--task", "listsessions"]));
    assert!(
        over_ssh.contains("[pool-xfce]") && over_ssh.contains("[single-mate]"),
        "{over_ssh}"
    );
    assert!(!over_ssh.contains("[admin-terminal]"), "{over_ssh}");
    drop(node);

    // The manual page renders; the reference's is still reachable.
    let page = ok(Command::new("man").args(["-w", "x2gobroker"]));
    assert_eq!(page.trim(), "/usr/share/man/man8/x2gobroker.8.gz");
    let text = ok(Command::new("man")
        .args(["-P", "cat", "x2gobroker"])
        .env("MANWIDTH", "200"));
    assert!(
        text.contains("x2gobroker(8)") && text.contains("check-config") && text.contains("serve"),
        "{text}"
    );
    for name in ["x2gobrokerctl", "x2gobroker-agent"] {
        let page = ok(Command::new("man").args(["-w", name]));
        assert_eq!(page.trim(), format!("/usr/share/man/man8/{name}.8.gz"));
    }
    if before.files["/usr/share/man/man1/x2gobroker.1.gz"].is_some() {
        ok(Command::new("man").args(["-w", "x2gobroker.reference"]));
    }
    // Completions: bash registers them; zsh's and fish's are in place.
    for name in ["x2gobroker", "x2gobrokerctl", "x2gobroker-agent"] {
        let script =
            format!(". /usr/share/bash-completion/completions/{name} && complete -p {name}");
        let registered = ok(Command::new("bash").args(["-c", &script]));
        assert!(registered.contains(name), "{registered}");
        assert!(Path::new(&format!("/usr/share/zsh/vendor-completions/_{name}")).exists());
        assert!(Path::new(&format!("/usr/share/fish/vendor_completions.d/{name}.fish")).exists());
    }

    // The agent package: its binary runs and its unit is enabled.
    let version = ok(Command::new("/usr/bin/x2gobroker-agent").arg("--version"));
    assert!(version.starts_with("x2gobroker-agent "), "{version}");
    let wants = "/etc/systemd/system/multi-user.target.wants/x2gobroker-agent.service";
    assert_eq!(
        std::fs::read_link(wants).ok(),
        Some(PathBuf::from(AGENT_UNIT)),
        "the agent's unit is enabled"
    );
    // The node's stays disabled beside the reference's daemon (switching
    // is the administrator's step), and is enabled where there is none.
    let node_wants = Path::new("/etc/systemd/system/multi-user.target.wants/x2gobroker-rs.service");
    let reference_daemon = Path::new("/lib/systemd/system/x2gobroker-daemon.service").exists();
    assert_eq!(node_wants.is_symlink(), !reference_daemon);

    // Purge: everything back as it was, the reference's files byte for byte.
    drop(user);
    purge();

    // Where no configuration exists, the package brings its examples.
    let report = install_on_a_bare_configuration(&node_deb, work.path());
    assert_eq!(
        report,
        "installed: pam.d/x2gobroker x2go/broker x2go/broker/x2gobroker-sessionprofiles.conf \
         x2go/x2gobroker.conf \npurged: \n",
        "{report}"
    );
    let after = machine();
    let diff = differences(&before, &after);
    assert!(diff.is_empty(), "the machine changed: {diff:#?}");
    assert_eq!(before, after);
}
