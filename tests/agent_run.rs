//! `x2gobroker-agent run` against real gRPC servers in this test (the
//! generated `AgentGateway` server, mutual TLS with node1's certificate
//! from `x2gobroker keygen --nodes 1 --agents HOST`) and the real X2Go
//! session database: Hello then the full list on connect, a status change
//! as a delta within 2 s, a SuspendSession command executed and answered
//! with its id, and after its broker dies the agent on the next address
//! with the full list again within 5 s; an agent started before its
//! broker keeps trying until it is there, answers Ping and refuses a
//! session that is not its server's, each with the command's id, and sends
//! heartbeats when it has nothing else to say.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::x2go::*;
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};
use x2gobroker::agent::proto::agent_gateway_server::{AgentGateway, AgentGatewayServer};
use x2gobroker::agent::proto::agent_message::Body;
use x2gobroker::agent::proto::{self, AgentMessage, BrokerCommand, SessionStatus};

/// Which test broker got what.
type Event = (u32, AgentMessage);
type CommandSender = mpsc::Sender<Result<BrokerCommand, Status>>;

/// The broker side of the stream, as the test sees it.
struct Gateway {
    id: u32,
    events: mpsc::UnboundedSender<Event>,
    commands: Arc<Mutex<Option<CommandSender>>>,
}

#[tonic::async_trait]
impl AgentGateway for Gateway {
    type ConnectStream = ReceiverStream<Result<BrokerCommand, Status>>;

    async fn connect(
        &self,
        req: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let presented = req.peer_certs().is_some_and(|c| !c.is_empty());
        if !presented {
            return Err(Status::unauthenticated("no client certificate"));
        }
        let mut inbound = req.into_inner();
        let (tx, rx) = mpsc::channel(16);
        *self.commands.lock() = Some(tx);
        let (events, id) = (self.events.clone(), self.id);
        tokio::spawn(async move {
            while let Ok(Some(m)) = inbound.message().await {
                let _ = events.send((id, m));
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// A test broker in a runtime of its own, so that killing it drops every
/// connection at once, as a dying process would.
struct TestBroker {
    runtime: Option<tokio::runtime::Runtime>,
    commands: Arc<Mutex<Option<CommandSender>>>,
}

impl TestBroker {
    fn start(
        id: u32,
        listener: std::net::TcpListener,
        pki: &Path,
        events: mpsc::UnboundedSender<Event>,
    ) -> TestBroker {
        let read = |f: &str| std::fs::read(pki.join(f)).unwrap();
        let tls = ServerTlsConfig::new()
            .identity(Identity::from_pem(read("node1.pem"), read("node1-key.pem")))
            .client_ca_root(Certificate::from_pem(read("ca.pem")));
        let commands = Arc::new(Mutex::new(None));
        let gateway = Gateway {
            id,
            events,
            commands: commands.clone(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        listener.set_nonblocking(true).unwrap();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            Server::builder()
                .tls_config(tls)
                .unwrap()
                .add_service(AgentGatewayServer::new(gateway))
                .serve_with_incoming(TcpListenerStream::new(listener))
                .await
                .unwrap();
        });
        TestBroker {
            runtime: Some(runtime),
            commands,
        }
    }

    async fn send(&self, cmd: BrokerCommand) {
        let tx = self.commands.lock().clone().expect("an agent is connected");
        tx.send(Ok(cmd)).await.unwrap();
    }

    fn kill(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The agent process, killed on drop.
struct AgentProcess(Child);

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn keygen(dir: &Path, host: &str) {
    common::processes::ours_keygen(dir, &["--nodes", "1", "--agents", host]);
}

fn start_agent(pki: &Path, host: &str, brokers: &[String], load_every_ms: &str) -> AgentProcess {
    let file = |f: String| -> PathBuf { pki.join(f) };
    let child = Command::new(env!("CARGO_BIN_EXE_x2gobroker-agent"))
        .arg("run")
        .arg("--brokers")
        .arg(brokers.join(","))
        .arg("--ca")
        .arg(file("ca.pem".into()))
        .arg("--cert")
        .arg(file(format!("agent-{host}.pem")))
        .arg("--key")
        .arg(file(format!("agent-{host}-key.pem")))
        .args(["--hostname", host, "--interval-ms", "300"])
        .args(["--load-every-ms", load_every_ms])
        .spawn()
        .unwrap();
    AgentProcess(child)
}

/// The next message that `want` accepts, within `timeout`; the others
/// are skipped.
async fn next_where(
    events: &mut mpsc::UnboundedReceiver<Event>,
    timeout: Duration,
    what: &str,
    mut want: impl FnMut(&Event) -> bool,
) -> Event {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(e)) if want(&e) => return e,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("event channel closed waiting for {what}"),
            Err(_) => panic!("timed out after {timeout:?} waiting for {what}"),
        }
    }
}

/// The next message from broker `id`, whatever it is.
async fn next_from(events: &mut mpsc::UnboundedReceiver<Event>, id: u32, what: &str) -> Body {
    let (_, m) = next_where(events, Duration::from_secs(5), what, |(from, _)| {
        *from == id
    })
    .await;
    m.body.expect("a message with a body")
}

fn status_in<'a>(sessions: &'a [proto::Session], sid: &str) -> Option<&'a proto::Session> {
    sessions.iter().find(|s| s.session_id == sid)
}

fn bind() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

#[tokio::test]
#[ignore = "needs root (x2goserver session database, test accounts)"]
async fn the_agent_streams_to_its_broker_executes_commands_and_moves_on_when_it_dies() {
    let _db = session_db().await;
    let alice = X2goUser::create("agtr");
    let host = format!("agtr{}n{}", std::process::id(), common::unique());
    let first = new_session(alice.name(), &host, true);

    let pki = tempfile::tempdir().unwrap();
    keygen(pki.path(), &host);
    let (l1, l2) = (bind(), bind());
    let addrs = [
        l1.local_addr().unwrap().to_string(),
        l2.local_addr().unwrap().to_string(),
    ];
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut broker1 = TestBroker::start(1, l1, pki.path(), events_tx.clone());
    let _agent = start_agent(pki.path(), &host, &addrs, "1000");

    // Hello first, then the full list, as x2golistsessions_root prints it.
    let Body::Hello(hello) = next_from(&mut events, 1, "hello").await else {
        panic!("the first message is not Hello");
    };
    assert_eq!(hello.hostname, host);
    assert_eq!(hello.version, env!("CARGO_PKG_VERSION"));
    assert!(
        hello.capabilities.iter().any(|c| c == "suspend"),
        "{hello:?}"
    );
    let Body::SessionList(list) = next_from(&mut events, 1, "the full list").await else {
        panic!("the second message is not the SessionList");
    };
    let ours: Vec<String> = list
        .sessions
        .iter()
        .map(|s| without_age(&s.raw_line))
        .collect();
    let theirs: Vec<String> = list_root(&host).iter().map(|l| without_age(l)).collect();
    assert_eq!(ours, theirs);
    assert_eq!(
        status_in(&list.sessions, &first).unwrap().status(),
        SessionStatus::Running
    );

    // A status change arrives as a delta within 2 s.
    let changed_at = Instant::now();
    change_status(alice.name(), "S", &first);
    let (_, delta) = next_where(&mut events, Duration::from_secs(2), "the delta", |(_, m)| {
        matches!(&m.body, Some(Body::SessionDelta(d))
            if status_in(&d.changed, &first).is_some_and(|s| s.status() == SessionStatus::Suspended))
    })
    .await;
    assert!(changed_at.elapsed() < Duration::from_secs(2));
    let Some(Body::SessionDelta(d)) = delta.body else {
        unreachable!()
    };
    assert!(d.added.is_empty() && d.removed.is_empty(), "{d:?}");

    // A load report comes on its own.
    let (_, load) = next_where(
        &mut events,
        Duration::from_secs(3),
        "a load report",
        |(_, m)| matches!(m.body, Some(Body::LoadReport(_))),
    )
    .await;
    let Some(Body::LoadReport(load)) = load.body else {
        unreachable!()
    };
    assert!(load.num_cpu >= 1 && load.load_factor > 0, "{load:?}");

    // The broker suspends a running session: the database changes, the
    // result carries the command's id.
    let second = new_session(alice.name(), &host, true);
    next_where(&mut events, Duration::from_secs(2), "the new session", |(_, m)| {
        matches!(&m.body, Some(Body::SessionDelta(d)) if status_in(&d.added, &second).is_some())
    })
    .await;
    broker1
        .send(BrokerCommand {
            command_id: 42,
            command: Some(proto::broker_command::Command::SuspendSession(
                proto::SuspendSession {
                    session_id: second.clone(),
                    user: alice.name().to_string(),
                },
            )),
        })
        .await;
    let (_, result) = next_where(
        &mut events,
        Duration::from_secs(5),
        "the result",
        |(_, m)| matches!(m.body, Some(Body::CommandResult(_))),
    )
    .await;
    let Some(Body::CommandResult(result)) = result.body else {
        unreachable!()
    };
    assert_eq!(result.command_id, 42);
    assert!(result.ok, "{result:?}");
    assert_eq!(status_of(&host, &second).as_deref(), Some("S"));

    // Its broker dies: the agent moves to the next address and sends the
    // full list again within 5 s.
    let _broker2 = TestBroker::start(2, l2, pki.path(), events_tx);
    broker1.kill();
    let killed_at = Instant::now();
    let (_, hello) = next_where(
        &mut events,
        Duration::from_secs(5),
        "hello on broker 2",
        |(from, _)| *from == 2,
    )
    .await;
    assert!(
        matches!(hello.body, Some(Body::Hello(ref h)) if h.hostname == host),
        "{hello:?}"
    );
    let Body::SessionList(list) = next_from(&mut events, 2, "the full list on broker 2").await
    else {
        panic!("broker 2's second message is not the SessionList");
    };
    assert!(
        killed_at.elapsed() < Duration::from_secs(5),
        "{:?}",
        killed_at.elapsed()
    );
    for sid in [&first, &second] {
        assert_eq!(
            status_in(&list.sessions, sid).map(|s| s.status()),
            Some(SessionStatus::Suspended),
            "{sid}"
        );
    }
}

async fn command_result(
    events: &mut mpsc::UnboundedReceiver<Event>,
    broker: &TestBroker,
    command_id: u64,
    command: proto::broker_command::Command,
) -> proto::CommandResult {
    broker
        .send(BrokerCommand {
            command_id,
            command: Some(command),
        })
        .await;
    let (_, m) = next_where(events, Duration::from_secs(5), "a result", |(_, m)| {
        matches!(m.body, Some(Body::CommandResult(_)))
    })
    .await;
    let Some(Body::CommandResult(r)) = m.body else {
        unreachable!()
    };
    r
}

#[tokio::test]
#[ignore = "needs root (x2goserver session database, test accounts)"]
async fn an_agent_waits_for_its_broker_answers_commands_by_id_and_sends_heartbeats() {
    let _db = session_db().await;
    let host = format!("agtw{}n{}", std::process::id(), common::unique());
    let pki = tempfile::tempdir().unwrap();
    keygen(pki.path(), &host);
    // Nobody listens there yet: the agent's attempts are refused.
    let addr = bind().local_addr().unwrap();
    let _agent = start_agent(pki.path(), &host, &[addr.to_string()], "60000");
    std::thread::sleep(Duration::from_millis(1500));
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let broker = TestBroker::start(
        1,
        std::net::TcpListener::bind(addr).unwrap(),
        pki.path(),
        events_tx,
    );
    let Body::Hello(hello) = next_from(&mut events, 1, "hello").await else {
        panic!("the first message is not Hello");
    };
    assert_eq!(hello.hostname, host);
    let Body::SessionList(list) = next_from(&mut events, 1, "the full list").await else {
        panic!("the second message is not the SessionList");
    };
    assert!(list.sessions.is_empty(), "{list:?}");

    use proto::broker_command::Command as C;
    let pong = command_result(&mut events, &broker, 7, C::Ping(proto::Ping {})).await;
    assert_eq!(
        (pong.command_id, pong.ok, pong.message.as_str()),
        (7, true, "pong")
    );
    let suspend = C::SuspendSession(proto::SuspendSession {
        session_id: "nobody-50-1_stDXFCE_dp24".into(),
        user: "nobody".into(),
    });
    let refused = command_result(&mut events, &broker, 8, suspend).await;
    assert_eq!((refused.command_id, refused.ok), (8, false));
    assert!(
        refused.message.contains("not a session of this server"),
        "{refused:?}"
    );

    // Nothing changes and the next load report is a minute away.
    next_where(
        &mut events,
        Duration::from_secs(4),
        "a heartbeat",
        |(_, m)| matches!(m.body, Some(Body::Heartbeat(ref h)) if h.sent_at_unix_ms > 0),
    )
    .await;
}

/// End to end: the real agent, on this machine's X2Go session database,
/// reports to a real three-node cluster through the gateway; a session made
/// with X2Go's own tools is in every node's replicated session table within
/// 2 s, and the server is marked down when its agent dies.
#[test]
#[ignore = "needs root (x2goserver session database, test accounts)"]
fn a_real_agent_reports_real_sessions_to_every_node() {
    use common::cluster::*;
    use common::site::Site;
    let _db = session_db_blocking();
    let site = Site::new(
        "[global]\nrequire-password = false\n",
        "[p]\nname=P\nhost=x2go-test (127.0.0.9)\n",
    );
    let mut nodes = cluster_nodes(
        &site,
        3,
        "heartbeat_ms = 50\nelection_min_ms = 300\nelection_max_ms = 600\ndeadline_ms = 2000\n",
    );
    for n in nodes.iter_mut() {
        n.args = vec!["--agent-timeout-ms".into(), "3000".into()];
    }
    start_all(&site, &mut nodes);
    let user = X2goUser::create("x2goe2e");
    let first = new_session(user.name(), TEST_AGENT, true);
    change_status(user.name(), "S", &first);
    let brokers: Vec<String> = nodes
        .iter()
        .map(|n| n.agents.unwrap().to_string())
        .collect();
    let agent = start_agent(&site.path("pki"), TEST_AGENT, &brokers, "1000");
    let mut before = 0;
    common::wait_until(
        "the agent's server and sessions on every node",
        Duration::from_secs(10),
        || {
            let counts: Vec<_> = nodes.iter().map(|n| agent_counts(n.http)).collect();
            match counts[0] {
                Some((1, 1, n)) if n >= 1 && counts.iter().all(|c| *c == counts[0]) => {
                    before = n;
                    true
                }
                _ => false,
            }
        },
    );
    // A new suspended session, made with X2Go's tools, reaches every node.
    let second = new_session(user.name(), TEST_AGENT, true);
    change_status(user.name(), "S", &second);
    common::wait_until(
        "the new session on every node",
        Duration::from_secs(2),
        || {
            nodes
                .iter()
                .all(|n| agent_counts(n.http).is_some_and(|(_, _, s)| s == before + 1))
        },
    );
    // The agent dies: its server is marked down by the cluster.
    drop(agent);
    common::wait_until("the server marked down", Duration::from_secs(10), || {
        nodes
            .iter()
            .all(|n| agent_counts(n.http).is_some_and(|(servers, up, _)| servers == 1 && up == 0))
    });
}
