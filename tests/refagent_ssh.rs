//! Query mode `SSH` without agents of ours: the broker logs in to the
//! X2Go servers as the broker's agent user with its own key (made by
//! `x2gobroker keygen --ssh`, installed by Debian's
//! `x2gobroker-pubkeyauthorizer` from our `/pubkeys/`), runs the
//! reference's Perl agent there as the reference does, and answers
//! `listsessions` and `selectsession` exactly as the reference broker in
//! SSH mode against the same sshd and session database (the line's age
//! field aside; its last-use field too where a status change stamped it).
//! A host key that is not in known_hosts, or differs from it, is refused:
//! the broker places by port scan as without agents.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::farm::{ask_reference as ask, comparable, form_encoded, list, select, select_in};
use common::processes::*;
use common::refcompare::resume_like_the_reference;
use common::site::Site;
use common::ssh_mode::{authorize, keygen_ssh, write_known_hosts};
use common::sshd::{ed25519_key, AgentAccount, Sshd};
use common::wait_until;
use common::x2go::*;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use x2gobroker::refagent::{HostKeyPolicy, RefAgent, SshAgents, SshTarget};

const ADDRESSES: [&str; 2] = ["127.0.0.61", "127.0.0.62"];

/// Everything the SSH mode needs: the agent account, its sshd on both
/// servers' addresses, a site in SSH mode whose directory is the broker's
/// home (keys, known_hosts) for ours and the reference, our broker, and
/// the broker key installed on the "servers" by the pubkeyauthorizer.
/// (The reference, as root, takes root's home for its own: it runs with
/// the site directory mounted there.)
struct SshSite {
    sshd: Sshd,
    /// sshd's files (dropped after it).
    _sshd_dir: tempfile::TempDir,
    account: AgentAccount,
    site: Site,
    ours: Running,
}

impl SshSite {
    /// The site with profile `pool`, `extra_profiles` (`{p}`: the SSH
    /// port) and our broker started with `args`.
    fn start(extra_profiles: &str, args: &[&str]) -> SshSite {
        let account = AgentAccount::create("agsh");
        let sshd_dir = tempfile::tempdir().unwrap();
        let sshd = Sshd::start(sshd_dir.path(), &ADDRESSES, &account.name);
        let p = sshd.port;
        let site = Site::new(
            "[global]\nrequire-password = false\ndefault-agent-query-mode = SSH\n[broker_inifile]\nenable = true\n",
            &format!(
                "[pool]\nname=Pool\nhost=x2go1 (127.0.0.61:{p}), x2go2 (127.0.0.62:{p})\ncommand=XFCE\n{}",
                extra_profiles.replace("{p}", &p.to_string())
            ),
        );
        let home = site.dir.path().to_str().unwrap().to_string();
        keygen_ssh(Path::new(&home));
        let ours = Ours::new(&site)
            .args(&["--broker-home", &home, "--ssh-agent-timeout", "5"])
            .args(args)
            .env("X2GOBROKER_AGENT_USER", &account.name)
            .start();
        authorize(&ours.url("/pubkeys/"), &account);
        let s = SshSite {
            sshd,
            _sshd_dir: sshd_dir,
            account,
            site,
            ours,
        };
        s.known_hosts(&s.sshd.host_key.clone());
        s
    }

    /// The brokers' known_hosts: `key` for both servers.
    fn known_hosts(&self, key: &str) {
        write_known_hosts(
            self.site.dir.path(),
            &self.sshd.known_hosts_line(&ADDRESSES, key),
        );
    }

    fn reference(&self) -> Running {
        let env = [("X2GOBROKER_AGENT_USER", self.account.name.as_str())];
        start_reference_with_home(&self.site, &env, self.site.dir.path())
    }
}

#[test]
#[ignore = "needs root (sshd, x2goserver session database, test accounts) and the reference broker with its agent (x2gobroker-daemon, x2gobroker-agent, openssh-server, sudo)"]
fn ssh_mode_answers_like_the_reference_through_the_perl_agent() {
    let _db = session_db_blocking();
    let s = SshSite::start("", &[]);
    let reference = s.reference();
    let user = X2goUser::create("agsu");
    resume_like_the_reference(&s.ours, &reference, user.name(), s.sshd.port);
    assert!(
        s.ours
            .log_text()
            .contains("suspended by x2gobroker-agent on x2go"),
        "{}",
        s.ours.log_text()
    );
}

#[test]
#[ignore = "needs root (sshd, x2goserver session database, test accounts) and the reference broker with its agent (x2gobroker-daemon, x2gobroker-agent, openssh-server, sudo)"]
fn unknown_and_changed_host_keys_are_refused() {
    let _db = session_db_blocking();
    let s = SshSite::start("", &[]);
    let user = X2goUser::create("agsk");
    let name = user.name();
    let sid = new_session(name, "x2go2", true);
    change_status(name, "S", &sid);
    let other = ed25519_key(&s.site.path("other_host_key"));
    // Unknown (known_hosts names other hosts only), then changed.
    for (what, known) in [("unknown", None), ("changed", Some(other.as_str()))] {
        match known {
            Some(key) => s.known_hosts(key),
            None => std::fs::write(s.site.path(".ssh/known_hosts"), "[127.0.0.9]:22 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ\n").unwrap(),
        }
        // A fresh broker each time: no agent remembered as down yet.
        let ours = Ours::new(&s.site)
            .data_dir(&s.site.path(&format!("data-{what}")))
            .args(&["--broker-home", s.site.dir.path().to_str().unwrap()])
            .env("X2GOBROKER_AGENT_USER", &s.account.name)
            .start();
        let reference = s.reference();
        // The listing degrades as the reference's: no status, all hosts.
        let request = list("plain", name);
        let listed = ask(&ours, &request);
        assert_eq!(
            comparable(&listed),
            comparable(&ask(&reference, &request)),
            "{what}"
        );
        assert!(!listed.body.contains("status="), "{what}: {}", listed.body);
        // Selecting places by port scan (the reference refuses to place at all).
        let selected = ask(&ours, &select("plain", name));
        assert_eq!(selected.status, 200, "{what}");
        assert!(
            selected.body.contains("SERVER:127.0.0.6") && !selected.body.contains("|S|"),
            "{what}: {}",
            selected.body
        );
        let log = ours.log_text();
        assert!(log.contains("agent host key refused"), "{what}: {log}");
        let why = if known.is_some() {
            "differs from the one recorded"
        } else {
            "RejectPolicy"
        };
        assert!(log.contains(why), "{what}: {log}");
    }
    assert_eq!(status_of("x2go2", &sid).as_deref(), Some("S"));
}

/// The tasks the selection does not use, through the real sshd and Perl
/// agent: ping, the load factor, adding and removing an authorized key.
#[test]
#[ignore = "needs root (sshd, test accounts) and the reference broker's agent (x2gobroker-agent, openssh-server, x2gobroker-daemon for the pubkeyauthorizer)"]
fn ping_checkload_and_keys_over_ssh() {
    let s = SshSite::start("", &[]);
    let user = X2goUser::create("agsa");
    let agents = SshAgents::new(
        s.site.dir.path(),
        &s.account.name,
        Duration::from_secs(5),
        Duration::from_secs(60),
    );
    let target = SshTarget {
        name: "x2go1".into(),
        address: "127.0.0.61".into(),
        port: s.sshd.port,
        policy: HostKeyPolicy::Reject,
    };
    let agent = RefAgent::Ssh(Arc::new(agents), target);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let logins = s.sshd.logins();
    rt.block_on(async {
        agent.ping().await.expect("ping");
        let factor = agent.load_factor().await.expect("checkload");
        assert!(factor > 0, "{factor}");
        let line = "no-X11-forwarding,no-pty,no-user-rc ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ u@127.0.0.1";
        let file = "%h/.x2go/authorized_keys";
        agent.add_key(user.name(), line, file).await.expect("addauthkey");
        let keys = user.home.join(".x2go/authorized_keys");
        assert_eq!(read(&keys).lines().filter(|l| *l == line).count(), 1, "{}", read(&keys));
        agent.remove_key(user.name(), line, file).await.expect("delauthkey");
        assert!(!read(&keys).contains(line));
        // The agent's refusal is a failure, not a down host.
        assert!(agent.list_sessions("root").await.is_err());
        agent.ping().await.expect("still reachable");
    });
    // Six calls, one channel each, on one kept connection: one login.
    assert_eq!(s.sshd.logins() - logins, 1, "{}", s.sshd.log_text());
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
#[ignore = "needs root (sshd, test accounts) and the reference broker's agent (x2gobroker-agent, openssh-server, x2gobroker-daemon for the pubkeyauthorizer)"]
fn session_autologin_keys_go_through_the_perl_agent_over_ssh() {
    let auto = "[auto]\nname=Auto\nhost=x2go2 (127.0.0.62:{p})\ncommand=XFCE\nbroker-session-autologin = true\n";
    // The selection lists the user's sessions: not while another test makes the database anew.
    let _db = session_db_blocking();
    let s = SshSite::start(auto, &["--autologin-key-ttl", "2"]);
    let user = X2goUser::create("agsl");
    let name = user.name();
    let keys = user.home.join(".x2go/authorized_keys");
    // The client's own key: accepted, on the server, gone after the TTL.
    let client_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ7tEi3IKdWAtgjRdcR3nq8e4yRO9ddBtG37iMVgdvfI other@127.0.0.1";
    let accepted = ask(
        &s.ours,
        &select_in(
            "json",
            name,
            "auto",
            &format!("&pubkey={}", form_encoded(client_key)),
        ),
    );
    assert!(
        accepted
            .body
            .contains("\"authentication_pubkey\": \"ACCEPTED\""),
        "{}\n{}",
        accepted.body,
        s.ours.log_text()
    );
    assert!(read(&keys).contains(client_key), "{}", read(&keys));
    wait_until("the client key's removal", Duration::from_secs(20), || {
        !read(&keys).contains(client_key)
    });
    // No client key: a one-off key pair, its public half on the server.
    let made = ask(&s.ours, &select_in("plain", name, "auto", ""));
    assert!(
        made.body.contains("-----BEGIN RSA PRIVATE KEY-----"),
        "{}",
        made.body
    );
    let line = read(&keys);
    assert!(
        line.starts_with("no-X11-forwarding,no-pty,no-user-rc ssh-rsa ")
            && line.trim_end().ends_with(&format!(" {name}@127.0.0.1")),
        "{line}"
    );
    wait_until("the key pair's removal", Duration::from_secs(20), || {
        !read(&keys).contains("ssh-rsa")
    });
    assert!(s.ours.log_text().contains("session autologin key removed"));
}

/// A listener that accepts connections and never says a word (an SSH
/// server that hangs), on `addr`; its port. It lives as long as the test.
fn silent_server(addr: &str) -> u16 {
    let listener = std::net::TcpListener::bind((addr, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    port
}

#[test]
fn hanging_agents_cost_one_timeout_at_once_then_nothing_until_the_retry() {
    let (p1, p2) = (silent_server("127.0.0.71"), silent_server("127.0.0.72"));
    let site = Site::new(
        "[global]\nrequire-password = false\ndefault-agent-query-mode = SSH\n[broker_inifile]\nenable = true\n",
        &format!(
            "[one]\nhost=a (127.0.0.71:{p1})\ncommand=XFCE\n[two]\nhost=b (127.0.0.72:{p2})\ncommand=XFCE\n"
        ),
    );
    let home = site.dir.path().to_str().unwrap().to_string();
    keygen_ssh(Path::new(&home));
    let ours = Ours::new(&site)
        .args(&[
            "--broker-home",
            &home,
            "--ssh-agent-timeout",
            "3",
            "--ssh-agent-retry",
            "60",
        ])
        .start();
    let timed = |user: &str| {
        let start = std::time::Instant::now();
        let reply = ask(&ours, &list("plain", user));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(
            reply.body.contains("[one]")
                && reply.body.contains("[two]")
                && !reply.body.contains("status="),
            "{}",
            reply.body
        );
        start.elapsed()
    };
    // Both profiles' agents at once: the timeout (3 s) once, not twice (6 s).
    let first = timed("alice");
    assert!(
        first >= Duration::from_millis(2900) && first < Duration::from_millis(5000),
        "{first:?}"
    );
    // Remembered as down: no wait at all.
    for user in ["bob", "carol", "dave"] {
        let later = timed(user);
        assert!(later < Duration::from_millis(500), "{later:?}");
    }
    let log = ours.log_text();
    assert_eq!(log.matches("did not answer within 3s").count(), 2, "{log}");
}
