//! Selection and listing on what agents report: resuming a suspended
//! session, taking over a running one through the agent, load balancing
//! on load factors, drained and down servers, the listing's status.

use super::Fixture;
use crate::broker::{Backend, Selected};
use crate::gateway::proto::broker_command::Command as AgentCommand;
use crate::gateway::proto::CommandResult;
use crate::state::{AgentReport, Command, LoadRecord, SessionChange, SessionRecord};

const CONF: &str = "[global]\nrequire-password = true\ndefault-auth-mech = none\n";
const POOL: &str = "[pool]\nname=Pool\nhost=x2go1 (127.0.0.61), x2go2 (127.0.0.62)\nsshport=2222\nbroker-portscan-x2goservers = false\n";

fn line(id: &str, server: &str, status: char, user: &str) -> String {
    format!("123|{id}|50|{server}|{status}|2026-11-30T01:00:00|cookie|127.0.0.1|30001|30002|2026-11-30T01:00:00|{user}|10|30003|-1|-1")
}

fn session(id: &str, server: &str, status: char, user: &str) -> SessionRecord {
    SessionRecord {
        id: id.into(),
        user: user.into(),
        status,
        line: line(id, server, status, user),
    }
}

fn load(factor: u64) -> LoadRecord {
    LoadRecord {
        loadavg_xx: 100,
        mem_avail: 1000,
        num_cpu: 2,
        cpu_mhz: 2000,
        load_factor: factor,
        measured_at: 1,
    }
}

impl Fixture {
    async fn report(&self, host: &str, sessions: Vec<SessionRecord>, factor: u64) {
        let cmd = Command::AgentReports {
            node: 0,
            at: crate::broker::now_ms(),
            reports: vec![AgentReport {
                hostname: host.into(),
                sessions: Some(SessionChange::Full(sessions)),
                load: Some(load(factor)),
                since: None,
            }],
        };
        self.broker.submit(cmd).await.unwrap();
    }

    async fn pick(&self, user: &str) -> Selected {
        let loaded = self.broker.current();
        self.broker
            .select_session(
                &loaded,
                Backend::Inifile,
                &crate::broker::Selection {
                    profile_id: "pool",
                    user,
                    server_user: user,
                    client: None,
                    pubkey: None,
                },
            )
            .await
            .unwrap()
    }

    async fn status_of(&self, user: &str) -> Option<(char, String)> {
        let loaded = self.broker.current();
        let lister = self
            .broker
            .lister(&loaded, Backend::Inifile, user, None)
            .await
            .unwrap();
        let profile = loaded.profiles.get("pool").unwrap();
        lister
            .live_status(profile)
            .and_then(|l| Some((l.status?, l.host)))
    }
}

#[tokio::test]
async fn a_suspended_session_is_resumed_with_its_line() {
    let f = Fixture::new(CONF, POOL);
    f.report("x2go1", vec![session("s-run", "x2go1", 'R', "alice")], 9000)
        .await;
    f.report("x2go2", vec![session("s-sus", "x2go2", 'S', "alice")], 10)
        .await;
    let s = f.pick("alice").await;
    assert_eq!((s.server.as_str(), s.port), ("127.0.0.62", 2222));
    assert_eq!(s.session_info, Some(line("s-sus", "x2go2", 'S', "alice")));
    assert_eq!(f.status_of("alice").await, Some(('S', "x2go2".into())));
    assert_eq!(f.status_of("bob").await, None);
}

#[tokio::test]
async fn a_running_session_is_suspended_through_its_agent_then_handed_out() {
    let f = Fixture::new(CONF, POOL);
    f.report("x2go1", vec![session("s-run", "x2go1", 'R', "alice")], 10)
        .await;
    f.report("x2go2", vec![], 9000).await;
    assert_eq!(f.status_of("alice").await, Some(('R', "x2go1".into())));
    let links = f.broker.agents().links.clone();
    let mut agent = links.attach("x2go1", "grpc", "test");
    let answer = tokio::spawn(async move {
        let cmd = agent.commands.recv().await.unwrap();
        let Some(AgentCommand::SuspendSession(order)) = cmd.command else {
            panic!("expected a suspend order, got {cmd:?}");
        };
        links.result(
            "x2go1",
            CommandResult {
                command_id: cmd.command_id,
                ok: true,
                message: "suspended".into(),
            },
        );
        (order.session_id, order.user)
    });
    let s = f.pick("alice").await;
    assert_eq!(s.server, "127.0.0.61");
    assert_eq!(s.session_info, Some(line("s-run", "x2go1", 'S', "alice")));
    assert_eq!(
        answer.await.unwrap(),
        ("s-run".to_string(), "alice".to_string())
    );
}

#[tokio::test]
async fn new_users_go_to_the_better_load_score_and_never_to_drained_or_down_servers() {
    let f = Fixture::new(CONF, POOL);
    // x2go2: 4 sessions and load factor 1000 -> 1000/5 = 200; x2go1: none and 150 -> 150.
    let others: Vec<SessionRecord> = (0..4)
        .map(|i| session(&format!("o{i}"), "x2go2", 'R', &format!("other{i}")))
        .collect();
    f.report("x2go1", vec![], 150).await;
    f.report("x2go2", others.clone(), 1000).await;
    let s = f.pick("carol").await;
    assert_eq!(s.server, "127.0.0.62");
    assert_eq!(s.session_info, None);
    // carol's placement counts on x2go2 until her session shows: 1000/6 = 166 > 150.
    assert_eq!(f.pick("dave").await.server, "127.0.0.62");
    // Drained: no new sessions there.
    let drain = Command::DrainServer {
        hostname: "x2go2".into(),
        drained: true,
    };
    f.broker.submit(drain).await.unwrap();
    assert_eq!(f.pick("erin").await.server, "127.0.0.61");
    // ... but its users' sessions still resume.
    let mut with_frank = others;
    with_frank.push(session("f1", "x2go2", 'S', "frank"));
    f.report("x2go2", with_frank, 1000).await;
    let s = f.pick("frank").await;
    assert_eq!(s.server, "127.0.0.62");
    assert!(s.session_info.is_some());
    // Down (its agent went silent): neither new sessions nor resumes.
    let down = Command::ServersDown {
        at: crate::broker::now_ms() + 60_000,
        timeout_ms: 10_000,
    };
    f.broker.submit(down).await.unwrap();
    let s = f.pick("frank").await;
    assert_eq!(s.session_info, None);
    assert_eq!(f.status_of("frank").await, None);
}

/// Answer every order for `host` with ok, handing the orders to the test.
fn agent_answering(
    f: &Fixture,
    host: &'static str,
) -> tokio::sync::mpsc::UnboundedReceiver<AgentCommand> {
    let links = f.broker.agents().links.clone();
    let mut agent = links.attach(host, "grpc", "test");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(cmd) = agent.commands.recv().await {
            links.result(
                host,
                CommandResult {
                    command_id: cmd.command_id,
                    ok: true,
                    message: "done".into(),
                },
            );
            let _ = tx.send(cmd.command.unwrap());
        }
    });
    rx
}

#[tokio::test]
async fn autologin_deploys_a_one_off_key_or_the_clients_key_through_the_agent() {
    let profiles = format!("{POOL}broker-session-autologin = true\n");
    let f = Fixture::new(CONF, &profiles);
    f.report("x2go1", vec![], 10).await;
    f.report("x2go2", vec![], 9000).await;
    let mut orders = agent_answering(&f, "x2go2");
    let loaded = f.broker.current();
    let mut request = crate::broker::Selection {
        profile_id: "pool",
        user: "alice",
        server_user: "alice",
        client: Some("127.0.0.7".parse().unwrap()),
        pubkey: None,
    };
    let s = f
        .broker
        .select_session(&loaded, Backend::Inifile, &request)
        .await
        .unwrap();
    assert_eq!(s.server, "127.0.0.62");
    let pem = s.private_key.expect("a private key");
    assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(!s.pubkey_accepted);
    let Some(AgentCommand::AddAuthorizedKey(add)) = orders.recv().await else {
        panic!("expected an authorized key order");
    };
    assert_eq!(add.user, "alice");
    assert_eq!(add.remove_after_secs, 20);
    assert!(add
        .public_key
        .starts_with("no-X11-forwarding,no-pty,no-user-rc ssh-rsa "));
    assert!(add.public_key.ends_with(" alice@127.0.0.7"));

    let client_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop";
    request.pubkey = Some(client_key);
    let s = f
        .broker
        .select_session(&loaded, Backend::Inifile, &request)
        .await
        .unwrap();
    assert!(s.pubkey_accepted);
    assert_eq!(s.private_key, None);
    let Some(AgentCommand::AddAuthorizedKey(add)) = orders.recv().await else {
        panic!("expected an authorized key order");
    };
    assert_eq!(add.public_key, client_key);
}
