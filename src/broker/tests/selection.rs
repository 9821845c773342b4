//! Session selection: unknown profiles, ACL denial, the single-host
//! shortcut (no state command), placement among several hosts, hosts down.

use super::Fixture;
use crate::broker::{Backend, Selected, Selection};
use std::net::IpAddr;

const CONF: &str = "[global]\nrequire-password = true\ndefault-auth-mech = none\n";

/// A local port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn at(server: &str, port: i64) -> Selected {
    Selected {
        server: server.into(),
        port,
        session_info: None,
        private_key: None,
        pubkey_accepted: false,
        host: None,
    }
}

const CLIENT: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

impl Fixture {
    async fn select_as(&self, backend: Backend, profile: &str, user: &str) -> Selected {
        let loaded = self.broker.current();
        let request = Selection {
            profile_id: profile,
            user,
            server_user: user,
            client: CLIENT,
            pubkey: None,
        };
        let s = self
            .broker
            .select_session(&loaded, backend, &request)
            .await
            .expect("the local ledger answers");
        // Which profile host it was is not part of the answer.
        Selected { host: None, ..s }
    }

    async fn select(&self, profile: &str, user: &str) -> Selected {
        self.select_as(Backend::Inifile, profile, user).await
    }

    fn placed(&self, profile: &str, user: &str) -> Option<String> {
        self.broker
            .ledger
            .read(|s| s.placement(profile, user).map(|r| r.host.clone()))
    }

    fn placements(&self) -> usize {
        self.broker.ledger.read(|s| s.placement_count())
    }
}

#[tokio::test]
async fn unknown_profiles_and_other_backends() {
    let f = Fixture::new(CONF, "[p]\nhost=127.0.0.1\n");
    assert_eq!(
        f.select("nope", "alice").await,
        at("no-server-available", 22)
    );
    assert_eq!(
        f.select_as(Backend::Base, "p", "alice").await,
        at("no-server-available", 22)
    );
    assert_eq!(
        f.select_as(Backend::Zeroconf, "p", "alice").await,
        at("localhost", 22)
    );
}

#[tokio::test]
async fn acls_deny_selection() {
    let f = Fixture::new(
        CONF,
        "[p]\nhost=127.0.0.1\nbroker-portscan-x2goservers = false\nacl-users-allow = alice\nacl-users-deny = ALL\nacl-users-order = allow-deny\n",
    );
    assert_eq!(
        f.select("p", "mallory").await,
        at("no-server-available", 22)
    );
    assert_eq!(f.select("p", "alice").await, at("127.0.0.1", 22));
}

#[tokio::test]
async fn a_profile_without_hosts_has_no_server() {
    let f = Fixture::new(CONF, "[p]\nhost=\nsshport=2222\n");
    assert_eq!(
        f.select("p", "alice").await,
        at("no-server-available", 2222)
    );
}

#[tokio::test]
async fn a_single_host_is_the_answer_without_a_state_command() {
    let port = closed_port();
    let f = Fixture::new(
        CONF,
        &format!("[up]\nhost=srv (127.0.0.7:2022)\nbroker-portscan-x2goservers = false\n[down]\nhost=gone (127.0.0.1:{port})\n"),
    );
    assert_eq!(f.select("up", "alice").await, at("127.0.0.7", 2022));
    // Down, it is still handed out, as the reference does for one host.
    assert_eq!(
        f.select("down", "alice").await,
        at("127.0.0.1", i64::from(port))
    );
    assert_eq!(f.placements(), 0, "no placement was recorded");
}

#[tokio::test]
async fn a_shadow_profile_uses_its_first_host_only() {
    let port = closed_port();
    let f = Fixture::new(
        CONF,
        &format!("[share]\ncommand=SHADOW\nhost=first (127.0.0.1:{port}), second (127.0.0.2:22)\n"),
    );
    assert_eq!(
        f.select("share", "alice").await,
        at("no-X2Go-Server-available", i64::from(port))
    );
    assert_eq!(f.placements(), 0);
}

#[tokio::test]
async fn several_hosts_are_placed_spread_and_sticky() {
    let f = Fixture::new(
        CONF,
        "[pool]\nhost=a (127.0.0.11:2201), b (127.0.0.12:2202)\nbroker-portscan-x2goservers = false\n",
    );
    assert_eq!(f.select("pool", "u1").await, at("127.0.0.11", 2201));
    assert_eq!(f.select("pool", "u2").await, at("127.0.0.12", 2202));
    assert_eq!(
        f.select("pool", "u1").await,
        at("127.0.0.11", 2201),
        "a user goes back to the host placed on"
    );
    assert_eq!(f.placed("pool", "u1").as_deref(), Some("a"));
    assert_eq!(f.placed("pool", "u2").as_deref(), Some("b"));
    assert_eq!(f.placements(), 2);
}

#[tokio::test]
async fn only_live_hosts_are_placed() {
    let (down_a, down_b) = (closed_port(), closed_port());
    let live = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = live.local_addr().unwrap().port();
    let f = Fixture::new(
        CONF,
        &format!(
            "[pool]\nhost=a (127.0.0.1:{down_a}), b (127.0.0.1:{up})\n[dead]\nhost=a (127.0.0.1:{down_a}), b (127.0.0.1:{down_b})\n"
        ),
    );
    for user in ["u1", "u2", "u3"] {
        assert_eq!(f.select("pool", user).await, at("127.0.0.1", i64::from(up)));
    }
    assert_eq!(
        f.select("dead", "u1").await,
        at("no-X2Go-Server-available", i64::from(down_b))
    );
    assert_eq!(f.placed("dead", "u1"), None);
}
