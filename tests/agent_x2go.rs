//! The agent against the real X2Go server installation (Debian
//! `x2goserver`): its session list is what `x2golistsessions_root` prints,
//! it sees status changes, its executor suspends and terminates sessions
//! in the session database as their users and refuses what the reference
//! agent refuses, it keeps authorized keys as the user, `x2gobroker-agent
//! status --json` shows the sessions; and its load metrics equal the
//! reference agent's `checkload` on this machine.
//!
//! Every test that touches the session database holds `session_db()` and
//! uses its own users and server names.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::x2go::*;
use std::os::unix::fs::MetadataExt;
use x2gobroker::agent::authkeys::KeyOutcome;
use x2gobroker::agent::commands::{Command, CommandError, Executor, Outcome};
use x2gobroker::agent::session::SessionStatus;
use x2gobroker::agent::tools::Tools;
use x2gobroker::agent::user::UserError;
use x2gobroker::agent::{load, watch};

/// A server name of this test's own.
fn server(tag: &str) -> String {
    format!("agt{tag}{}n{}", std::process::id(), common::unique())
}

fn executor(hostname: &str) -> Executor {
    Executor::new(hostname, Tools::default())
}

fn suspend(sid: &str, user: &str) -> Command {
    Command::Suspend {
        session_id: sid.to_string(),
        user: user.to_string(),
    }
}

#[tokio::test]
#[ignore = "needs root (x2goserver session database, test accounts)"]
async fn the_agents_list_is_what_x2golistsessions_root_prints() {
    let _db = session_db().await;
    let alice = X2goUser::create("agtl");
    let host = server("l");
    let created = new_session(alice.name(), &host, true);
    change_status(alice.name(), "S", &created);
    let inserted = new_session(alice.name(), &host, false);
    let elsewhere = new_session(alice.name(), &server("o"), true);

    let listing = executor(&host).sessions().await.unwrap();
    let printed = list_root(&host);
    assert_eq!(printed.len(), 2, "{printed:?}");
    let ours: Vec<String> = listing
        .sessions
        .iter()
        .map(|s| without_age(&s.raw_line))
        .collect();
    let theirs: Vec<String> = printed.iter().map(|l| without_age(l)).collect();
    assert_eq!(ours, theirs);
    assert!(listing.skipped.is_empty());

    let by_id = |id: &str| {
        listing
            .sessions
            .iter()
            .find(|s| s.session_id == id)
            .unwrap()
    };
    let s = by_id(&created);
    assert_eq!(s.status, SessionStatus::Suspended);
    assert_eq!(
        (s.user.as_str(), s.server.as_str()),
        (alice.name(), host.as_str())
    );
    assert_eq!(s.agent_pid, Some(std::process::id()));
    assert_eq!(
        (s.graphics_port, s.sound_port, s.fs_port),
        (Some(30001), Some(30002), Some(30003))
    );
    let i = by_id(&inserted);
    assert_eq!(
        (i.status, i.agent_pid, i.graphics_port),
        (SessionStatus::Running, None, None)
    );
    assert!(listing.sessions.iter().all(|s| s.session_id != elsewhere));
}

#[tokio::test]
#[ignore = "needs root (x2goserver session database, test accounts)"]
async fn watch_sees_suspension_new_sessions_and_ends() {
    let _db = session_db().await;
    let bob = X2goUser::create("agtw");
    let host = server("w");
    let ex = executor(&host);
    let first = new_session(bob.name(), &host, true);
    let before = ex.sessions().await.unwrap().sessions;

    change_status(bob.name(), "S", &first);
    let second = new_session(bob.name(), &host, true);
    let after = ex.sessions().await.unwrap().sessions;
    let changes = watch::diff(&before, &after);
    assert_eq!(changes.changed.len(), 1, "{changes:?}");
    assert_eq!(changes.changed[0].session_id, first);
    assert_eq!(changes.changed[0].status, SessionStatus::Suspended);
    assert_eq!(changes.added.len(), 1);
    assert_eq!(changes.added[0].session_id, second);
    assert!(changes.removed.is_empty());

    // Nothing happened: only the age grew.
    let again = ex.sessions().await.unwrap().sessions;
    assert!(watch::diff(&after, &again).is_empty());

    // A finished session (its process gone) is listed once as F, then purged.
    change_status(bob.name(), "F", &second);
    let finished = ex.sessions().await.unwrap().sessions;
    let changes = watch::diff(&again, &finished);
    assert_eq!(changes.changed.len(), 1);
    assert_eq!(changes.changed[0].status, SessionStatus::Finished);
    let purged = ex.sessions().await.unwrap().sessions;
    assert_eq!(watch::diff(&finished, &purged).removed, vec![second]);
}

#[tokio::test]
#[ignore = "needs root (x2goserver session database, test accounts)"]
async fn suspend_and_terminate_change_the_database() {
    let _db = session_db().await;
    let carol = X2goUser::create("agts");
    let host = server("s");
    let ex = executor(&host);
    let sid = new_session(carol.name(), &host, true);
    assert_eq!(status_of(&host, &sid).as_deref(), Some("R"));

    let done = ex.execute(&suspend(&sid, carol.name())).await.unwrap();
    assert_eq!(
        done,
        Outcome::Status {
            session_id: sid.clone(),
            status: SessionStatus::Suspended,
            changed: true
        }
    );
    assert_eq!(status_of(&host, &sid).as_deref(), Some("S"));
    let as_user = x2go_as(carol.name(), "x2gogetstatus", &[&sid]);
    assert_eq!(as_user.trim(), "S");

    let done = ex
        .execute(&Command::Terminate {
            session_id: sid.clone(),
            user: String::new(),
        })
        .await
        .unwrap();
    assert!(matches!(
        done,
        Outcome::Status {
            status: SessionStatus::Terminated,
            changed: true,
            ..
        }
    ));
    assert_eq!(status_of(&host, &sid).as_deref(), Some("T"));

    // A terminated session is not suspended again.
    let err = ex.execute(&suspend(&sid, "")).await.unwrap_err();
    assert!(matches!(err, CommandError::NotLive { .. }), "{err}");
    assert_eq!(status_of(&host, &sid).as_deref(), Some("T"));
}

#[tokio::test]
#[ignore = "needs root (x2goserver session database, test accounts)"]
async fn another_servers_session_and_system_users_are_refused() {
    let _db = session_db().await;
    let dave = X2goUser::create("agtr");
    let system = SystemUser::create("agtsys");
    let (host, other) = (server("r"), server("x"));
    let ex = executor(&host);

    let theirs = new_session(dave.name(), &other, true);
    let err = ex
        .execute(&suspend(&theirs, dave.name()))
        .await
        .unwrap_err();
    assert!(matches!(err, CommandError::NotOnThisServer { .. }), "{err}");
    assert_eq!(status_of(&other, &theirs).as_deref(), Some("R"));

    let sys = new_session(&system.name, &host, true);
    let err = ex.execute(&suspend(&sys, "")).await.unwrap_err();
    assert!(
        matches!(err, CommandError::User(UserError::System { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("system user"), "{err}");
    assert_eq!(status_of(&host, &sys).as_deref(), Some("R"));

    let mine = new_session(dave.name(), &host, true);
    let err = ex.execute(&suspend(&mine, &system.name)).await.unwrap_err();
    assert!(matches!(err, CommandError::WrongUser { .. }), "{err}");
    assert_eq!(status_of(&host, &mine).as_deref(), Some("R"));

    let err = ex
        .execute(&Command::AddAuthorizedKey {
            user: system.name.clone(),
            key: "ssh-ed25519 AAAAC3Nza test".into(),
            key_file: "/tmp/%u-never".into(),
            remove_after: None,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, CommandError::User(UserError::System { .. })),
        "{err}"
    );
    assert!(!std::path::Path::new(&format!("/tmp/{}-never", system.name)).exists());
}

#[tokio::test]
#[ignore = "needs root (x2goserver session database, test accounts)"]
async fn authorized_keys_are_added_and_removed_as_the_user() {
    let erin = X2goUser::create("agtk");
    let ex = executor("unused");
    let key1 = "no-X11-forwarding,no-pty,no-user-rc ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC1 erin@127.0.0.1";
    let key2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl erin@laptop";
    let add = |key: &str, file: &str| Command::AddAuthorizedKey {
        user: erin.name().to_string(),
        key: key.to_string(),
        key_file: file.to_string(),
        remove_after: None,
    };
    let del = |key: &str, file: &str| Command::DelAuthorizedKey {
        user: erin.name().to_string(),
        key: key.to_string(),
        key_file: file.to_string(),
    };
    let file = erin.home.join(".x2go/authorized_keys");

    let done = ex
        .execute(&add(key1, "%h/.x2go/authorized_keys"))
        .await
        .unwrap();
    assert_eq!(done, Outcome::Key(KeyOutcome::Added(file.clone())));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{key1}\n"));
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (erin.uid, erin.gid, 0o600)
    );
    let dir = std::fs::metadata(erin.home.join(".x2go")).unwrap();
    assert_eq!((dir.uid(), dir.mode() & 0o777), (erin.uid, 0o700));

    // Again: nothing changes. The default file is the same one.
    let done = ex.execute(&add(key1, "")).await.unwrap();
    assert_eq!(done, Outcome::Key(KeyOutcome::AlreadyPresent(file.clone())));
    ex.execute(&add(key2, "")).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("{key1}\n{key2}\n")
    );

    let done = ex.execute(&del(key1, "")).await.unwrap();
    assert_eq!(done, Outcome::Key(KeyOutcome::Removed(file.clone())));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{key2}\n"));
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (erin.uid, 0o600));
    let done = ex.execute(&del(key1, "")).await.unwrap();
    assert_eq!(done, Outcome::Key(KeyOutcome::NotPresent(file.clone())));

    // The other expansions.
    let custom = erin
        .home
        .join(format!("keys/{}-{}-{}", erin.name(), erin.uid, erin.gid));
    let done = ex.execute(&add(key2, "%h/keys/%u-%U-%G")).await.unwrap();
    assert_eq!(done, Outcome::Key(KeyOutcome::Added(custom.clone())));
    assert_eq!(std::fs::metadata(&custom).unwrap().uid(), erin.uid);

    // Done as the user: a link to a place only root may write is no way in.
    let target = std::path::PathBuf::from(format!("/root/agt-key-target-{}", std::process::id()));
    let link = erin.home.join("evil");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = ex.execute(&add(key1, "%h/evil")).await.unwrap_err();
    assert!(matches!(err, CommandError::Key(_)), "{err}");
    assert!(err.to_string().contains("Permission denied"), "{err}");
    assert!(!target.exists());
    // And the key is never in the message.
    assert!(!err.to_string().contains("AAAAB3"), "{err}");

    // A key of two lines would smuggle in a second key.
    let err = ex
        .execute(&add("ssh-rsa A\nssh-rsa B", ""))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not one line"), "{err}");
    // Nor may a key run a command.
    let err = ex
        .execute(&add(&format!("command=\"/bin/sh\" {key2}"), ""))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a restriction"), "{err}");

    // A temporary key: the agent removes it by itself after the delay.
    let temporary = Command::AddAuthorizedKey {
        user: erin.name().to_string(),
        key: key1.to_string(),
        key_file: String::new(),
        remove_after: Some(std::time::Duration::from_millis(500)),
    };
    ex.execute(&temporary).await.unwrap();
    assert!(std::fs::read_to_string(&file).unwrap().contains(key1));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(!std::fs::read_to_string(&file).unwrap().contains(key1));
    assert!(std::fs::read_to_string(&file).unwrap().contains(key2));
}

#[test]
#[ignore = "needs root (x2goserver session database, test accounts)"]
fn status_json_shows_the_sessions() {
    let _db = session_db_blocking();
    let fred = X2goUser::create("agtj");
    let host = server("j");
    let sid = new_session(fred.name(), &host, true);
    change_status(fred.name(), "S", &sid);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_x2gobroker-agent"))
        .args(["status", "--json", "--hostname", &host])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["hostname"], host.as_str());
    let sessions = v["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{text}");
    assert_eq!(sessions[0]["session_id"], sid.as_str());
    assert_eq!(sessions[0]["status"], "S");
    assert_eq!(sessions[0]["user"], fred.name());
    assert!(v["load_factor"].as_u64().is_some());
    assert!(!text.contains("cookie"), "no cookie: {text}");

    let plain = std::process::Command::new(env!("CARGO_BIN_EXE_x2gobroker-agent"))
        .args(["status", "--hostname", &host])
        .output()
        .unwrap();
    let plain = String::from_utf8(plain.stdout).unwrap();
    assert!(
        plain.contains(&sid) && plain.contains("load factor:"),
        "{plain}"
    );
}

/// The reference agent's `checkload` lines as (key, value).
fn reference_checkload() -> Vec<(String, f64)> {
    let out = std::process::Command::new("/usr/lib/x2go/x2gobroker-agent.pl")
        .args(["root", "checkload"])
        .output()
        .expect("the reference agent (apt-get install x2gobroker-agent)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("OK"), "{text}");
    lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

#[test]
#[ignore = "needs the reference broker's agent (x2gobroker-agent)"]
fn load_metrics_equal_the_reference_agents_checkload() {
    let before = load::read().unwrap();
    let reference = reference_checkload();
    let after = load::read().unwrap();
    let get = |k: &str| reference.iter().find(|(key, _)| key == k).unwrap().1;
    // Between two readings of ours (memory moves a little; CPU speeds may
    // be scaled by the hardware between the readings).
    let within = |name: &str, theirs: f64, a: f64, b: f64, slack: f64| {
        let (lo, hi) = (
            a.min(b) * (1.0 - slack) - 1.0,
            a.max(b) * (1.0 + slack) + 1.0,
        );
        assert!(
            lo <= theirs && theirs <= hi,
            "{name}: reference {theirs}, ours {a} and {b}"
        );
    };
    within(
        "loadavgXX",
        get("loadavgXX"),
        before.loadavg_xx as f64,
        after.loadavg_xx as f64,
        0.0,
    );
    within(
        "memAvail",
        get("memAvail"),
        before.mem_avail as f64,
        after.mem_avail as f64,
        0.02,
    );
    within(
        "myMemAvail",
        get("myMemAvail"),
        before.my_mem_avail as f64,
        after.my_mem_avail as f64,
        0.02,
    );
    within(
        "typeCPU",
        get("typeCPU"),
        before.cpu_mhz as f64,
        after.cpu_mhz as f64,
        0.1,
    );
    assert_eq!(get("numCPU"), f64::from(before.num_cpu));

    // The load factor of the reference's numbers, by the reference
    // broker's own Python arithmetic, equals ours over the same numbers.
    let theirs = load::LoadMetrics {
        loadavg: before.loadavg,
        loadavg_xx: get("loadavgXX") as u64,
        mem_avail: get("memAvail") as u64,
        my_mem_avail: get("myMemAvail") as u64,
        num_cpu: get("numCPU") as u32,
        cpu_mhz: get("typeCPU") as u64,
    };
    let python = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "p = {{'memAvail': {}.0, 'myMemAvail': {}.0, 'numCPU': {}.0, 'typeCPU': {}.0, 'loadavgXX': {}.0}}\n\
             if p['memAvail'] == 0: p['memAvail'] = p['myMemAvail']\n\
             print(int(((p['memAvail']/1000) * p['numCPU'] * p['typeCPU'] * 100) / p['loadavgXX']))",
            theirs.mem_avail, theirs.my_mem_avail, theirs.num_cpu, theirs.cpu_mhz, theirs.loadavg_xx
        ))
        .output()
        .unwrap();
    let python: u64 = String::from_utf8(python.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(load::load_factor(&theirs), python);
}
