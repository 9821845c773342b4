//! What a new administrator does in the first hour, replayed: the README's
//! quick start on a clean checkout (its commands as written, the account
//! created as it says), the README calling our binaries by path so that the
//! reference's `/usr/bin/x2gobroker` never runs in their place, and a
//! three-node start whose default log stays readable.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::accounts::is_root;
use common::cluster::*;
use common::http::*;
use common::site::*;
use common::wait_until;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const README: &str = include_str!("../README.md");
/// Where the README's example broker listens.
const EXAMPLE: &str = "127.0.0.1:8080";

/// The lines of the README's ```sh blocks, each block as a list of commands
/// (comments after `#` and blank lines dropped).
fn readme_sh_blocks() -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in README.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), text) => {
                let command = strip_comment(text).trim_end();
                if !command.is_empty() {
                    block.push(command.to_string());
                }
            }
            (None, _) => {}
        }
    }
    blocks
}

/// A shell line without its trailing comment (a `#` outside quotes after a space).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev.is_whitespace() => return &line[..i],
            _ => {}
        }
        prev = c;
    }
    line
}

/// Shell keywords: they stand where commands stand but run nothing.
const KEYWORDS: [&str; 9] = [
    "for", "in", "do", "done", "if", "then", "else", "fi", "while",
];

/// The words of a shell line that stand in command position.
fn commands_of(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut at_start = true;
    // `for NAME in WORDS;` names no command until its `do`.
    let mut loop_header = false;
    for word in line.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
        if word.is_empty() {
            continue;
        }
        if word == "for" || (loop_header && word != "do") {
            loop_header = true;
            continue;
        }
        loop_header = false;
        let separator = matches!(word, ";" | "&&" | "||" | "|" | "&") || word.ends_with(';');
        if at_start && !separator && !word.contains('=') && !KEYWORDS.contains(&word) {
            out.push(word.trim_end_matches(';'));
            at_start = false;
        }
        if separator || matches!(word, "do" | "then" | "else") {
            at_start = true;
        }
    }
    out
}

#[test]
fn the_readme_calls_our_binaries_by_path() {
    let blocks = readme_sh_blocks();
    assert!(blocks.len() >= 3, "the README has its command blocks");
    for line in blocks.iter().flatten() {
        for cmd in commands_of(line) {
            assert!(
                cmd != "x2gobroker" && cmd != "x2gobrokerctl",
                "{line:?} runs {cmd:?} through PATH, which is the reference's \
                 /usr/bin/x2gobroker where that is installed"
            );
        }
    }
    // Where the reference is installed, a bare name would indeed run it.
    if Path::new("/usr/bin/x2gobroker").exists() {
        let which = Command::new("sh")
            .args(["-c", "command -v x2gobroker"])
            .output()
            .unwrap();
        let found = String::from_utf8_lossy(&which.stdout);
        assert!(!found.contains("target/release"), "{found}");
    }
}

#[test]
fn a_three_node_start_logs_no_line_over_500_characters() {
    let site = Site::new(
        "[global]\nrequire-password = false\n",
        "[p]\nname=P\nhost=127.0.0.9\n",
    );
    let mut nodes = cluster_nodes(&site, 3, "");
    for n in nodes.iter_mut() {
        n.rust_log = None;
    }
    start_all(&site, &mut nodes);
    for n in &nodes {
        let r = n.post("/plain/", "task=listsessions&user=u");
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // A leader change logs too.
    let leader = agreed_leader(&nodes).unwrap();
    nodes[(leader - 1) as usize].kill();
    wait_until("a new leader", Duration::from_secs(20), || {
        agreed_leader(&nodes).is_some_and(|l| l != leader)
    });
    let logs: Vec<PathBuf> = std::fs::read_dir(site.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    assert_eq!(logs.len(), 3);
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("listening"), "{}: {text}", log.display());
        for line in text.lines() {
            assert!(
                line.chars().count() <= 500,
                "{}: a line of {} characters: {line}",
                log.display(),
                line.chars().count()
            );
        }
    }
}

/// A process group that is killed (with everything in it) on drop.
struct Group(std::process::Child);

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: signalling our own child's process group.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// The target directory this test was built in.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// A clean checkout of this repository (its committed state) in `dir`,
/// whose `target/` is this build's, so that the README's commands find
/// `target/release/...` where they say while compiled dependencies are reused.
fn clean_checkout(dir: &Path) -> PathBuf {
    let checkout = dir.join("x2gobroker-rs");
    let status = Command::new("git")
        .args(["clone", "--quiet", env!("CARGO_MANIFEST_DIR")])
        .arg(&checkout)
        .status()
        .unwrap();
    assert!(status.success(), "git clone");
    std::os::unix::fs::symlink(target_dir(), checkout.join("target")).unwrap();
    checkout
}

#[test]
#[ignore = "needs root (creates the README's account) and a release build"]
fn the_readme_quick_start_works_on_a_clean_checkout() {
    assert!(is_root());
    let example: SocketAddr = EXAMPLE.parse().unwrap();
    assert!(
        TcpStream::connect_timeout(&example, Duration::from_millis(200)).is_err(),
        "{EXAMPLE} is taken: stop whatever listens there first"
    );
    let blocks = readme_sh_blocks();
    let run = blocks
        .iter()
        .flatten()
        .find(|l| l.starts_with("scripts/run.sh"))
        .expect("the README starts the broker with scripts/run.sh")
        .clone();
    let tries = blocks
        .iter()
        .find(|b| {
            b.iter()
                .any(|l| l.contains(&format!("http://{EXAMPLE}/plain/")))
        })
        .expect("the README's example requests")
        .clone();
    let had_alice = Command::new("id")
        .arg("alice")
        .output()
        .unwrap()
        .status
        .success();

    let dir = tempfile::tempdir().unwrap();
    let checkout = clean_checkout(dir.path());
    let log = dir.path().join("run.log");
    let child = Command::new("bash")
        .args(["-c", &run])
        .current_dir(&checkout)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("run.err")).unwrap())
        .process_group(0)
        .spawn()
        .unwrap();
    let _broker = Group(child);
    // scripts/run.sh builds a release first: that takes minutes on a fresh machine.
    wait_until("the example broker", Duration::from_secs(1500), || {
        get_within(
            example,
            "/healthz",
            Duration::from_millis(200),
            Duration::from_secs(2),
        )
        .is_ok_and(|r| r.status == 200)
    });

    let mut answers = Vec::new();
    for line in &tries {
        let out = Command::new("bash")
            .args(["-c", line])
            .current_dir(&checkout)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        answers.push((
            line.clone(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ));
    }
    if !had_alice {
        let _ = Command::new("userdel").args(["-r", "alice"]).output();
    }
    let answer = |task: &str| {
        answers
            .iter()
            .find(|(l, _)| l.contains(task))
            .map(|(_, a)| a.as_str())
            .unwrap_or_else(|| panic!("the README runs {task}"))
    };
    let listing = answer("task=listsessions");
    assert!(listing.contains("Access granted"), "{listing}");
    assert!(
        listing.contains("[pool-xfce]") && listing.contains("[single-mate]"),
        "{listing}"
    );
    assert!(!listing.contains("[admin-terminal]"), "{listing}");
    assert!(
        answer("sid=single-mate").contains("SERVER:127.0.0.14:2222"),
        "{answers:?}"
    );
    assert!(
        answer("sid=pool-xfce").contains("SERVER:no-X2Go-Server-available:22"),
        "{answers:?}"
    );
}

#[test]
#[ignore = "needs root (starts the README's fixed local-3 ports) and a release build"]
fn the_readme_three_node_cluster_starts_with_its_commands() {
    let block = readme_sh_blocks()
        .into_iter()
        .find(|b| b.iter().any(|l| l.contains("cluster-config/local-3/node")))
        .expect("the README's three-node block");
    let (starts, checks): (Vec<String>, Vec<String>) = block
        .into_iter()
        .partition(|l| !l.starts_with("curl") && !l.contains("x2gobrokerctl"));
    let dir = tempfile::tempdir().unwrap();
    let checkout = clean_checkout(dir.path());
    // The build, the certificates and the three nodes, as one shell would run them.
    let script = format!("set -e\n{}\nwait\n", starts.join("\n"));
    let nodes = Command::new("bash")
        .args(["-c", &script])
        .current_dir(&checkout)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.path().join("nodes.log")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("nodes.err")).unwrap())
        .process_group(0)
        .spawn()
        .unwrap();
    let _nodes = Group(nodes);
    let status_of = |check: &str| {
        let out = Command::new("bash")
            .args(["-c", check])
            .current_dir(&checkout)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let curl = checks.iter().find(|l| l.starts_with("curl")).unwrap();
    wait_until(
        "the three nodes to agree on a leader",
        Duration::from_secs(1500),
        || {
            status_of(curl).contains("\"leader\": ")
                && !status_of(curl).contains("\"leader\": null")
        },
    );
    let ctl = checks.iter().find(|l| l.contains("x2gobrokerctl")).unwrap();
    let table = status_of(ctl);
    for id in 1..=3 {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(&id.to_string()) && l.contains("127.0.0.1:1908")),
            "{ctl}: {table}"
        );
    }
    assert!(table.contains("Leader"), "{table}");
}

#[test]
fn shell_lines_are_read_as_a_shell_would() {
    assert_eq!(strip_comment("a b   # note"), "a b   ");
    assert_eq!(strip_comment("echo 'x # y'"), "echo 'x # y'");
    assert_eq!(
        commands_of("for n in 1 2; do target/release/x2gobroker serve & done"),
        ["target/release/x2gobroker"]
    );
    assert_eq!(
        commands_of("id a || useradd -m a; echo 'a:b' | chpasswd"),
        ["id", "useradd", "echo", "chpasswd"]
    );
}
