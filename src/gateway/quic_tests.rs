//! The QUIC gateway in process, on loopback UDP with real TLS: the agent
//! transport of `agent::quic` reports and answers a command; refusals,
//! revocations, oversized frames, a replacing connection and shutdown
//! close the connection with their code and reason.

use super::*;
use crate::agent::frames::{CloseCode, MAX_FRAME};
use crate::agent::proto::{agent_message::Body, broker_command, CommandResult, Hello, Ping};
use crate::agent::quic::{QuicCommands, QuicTransport};
use crate::agent::transport::TransportError;
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;

const HOST: &str = "x2go1";

fn read(pki: &Path, file: &str) -> Vec<u8> {
    std::fs::read(pki.join(file)).unwrap()
}

/// A gateway endpoint of node 1 on 127.0.0.1 with `limits`; its address,
/// its agents and the sender that stops it.
fn start(
    pki: &Path,
    limits: ListenerLimits,
) -> (
    SocketAddr,
    Agents,
    watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let p = |f: &str| pki.join(f);
    let tls = crate::gateway::tls::server_config(
        &p("ca.pem"),
        &p("node1.pem"),
        &p("node1-key.pem"),
        None,
    )
    .unwrap();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let endpoint = endpoint(socket, server_config(tls.quic, &limits)).unwrap();
    let agents = Agents::default();
    let (stop_tx, stop) = watch::channel(false);
    let served = tokio::spawn(serve(endpoint, agents.clone(), limits, stop));
    (addr, agents, stop_tx, served)
}

fn pki() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    crate::keygen::generate(dir.path(), &[1], &["admin".into()], &[HOST.into()]).unwrap();
    dir
}

fn hello(host: &str) -> AgentMessage {
    AgentMessage {
        body: Some(Body::Hello(Hello {
            hostname: host.into(),
            version: "test".into(),
            ..Default::default()
        })),
    }
}

/// Open a stream to `addr` with certificate `name` of `pki` and send a
/// Hello for `host`; the commands and the sender of further messages.
async fn open(
    pki: &Path,
    addr: SocketAddr,
    name: &str,
    host: &str,
) -> Result<(QuicCommands, mpsc::Sender<AgentMessage>), TransportError> {
    let transport = QuicTransport::new(
        &read(pki, "ca.pem"),
        &read(pki, &format!("{name}.pem")),
        &read(pki, &format!("{name}-key.pem")),
    )?;
    let (tx, rx) = mpsc::channel(16);
    tx.send(hello(host)).await.unwrap();
    let commands = transport.open(&addr.to_string(), rx).await?;
    Ok((commands, tx))
}

/// The error that ends `commands` (within 5 s).
async fn end_of(commands: &mut QuicCommands) -> String {
    let end = tokio::time::timeout(Duration::from_secs(5), commands.message())
        .await
        .expect("the connection ends in time");
    match end {
        Err(e) => e.to_string(),
        Ok(other) => panic!("a command instead of the end: {other:?}"),
    }
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..100 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn an_agent_reports_and_answers_a_command_over_quic() {
    let pki = pki();
    let (addr, agents, _stop, _served) = start(pki.path(), ListenerLimits::default());
    let transport = QuicTransport::from_pem(
        HOST,
        &read(pki.path(), "ca.pem"),
        &read(pki.path(), "agent-x2go1.pem"),
        &read(pki.path(), "agent-x2go1-key.pem"),
    )
    .unwrap();
    let (tx, rx) = mpsc::channel(16);
    tx.send(hello(HOST)).await.unwrap();
    let mut commands = transport.open(&addr.to_string(), rx).await.unwrap();
    wait_for("the agent connected", || agents.links.is_connected(HOST)).await;
    assert!(
        !agents.pending.lock().is_empty(),
        "the Hello counts as a report"
    );

    // The agent's side answers every command with its id.
    let answering = tokio::spawn(async move {
        while let Ok(Some(cmd)) = commands.message().await {
            let result = CommandResult {
                command_id: cmd.command_id,
                ok: true,
                message: "pong".into(),
            };
            let msg = AgentMessage {
                body: Some(Body::CommandResult(result)),
            };
            if tx.send(msg).await.is_err() {
                break;
            }
        }
    });
    let ping = broker_command::Command::Ping(Ping {});
    let result = agents
        .links
        .command(HOST, ping, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!((result.ok, result.message.as_str()), (true, "pong"));
    answering.abort();
    let _ = answering.await;
    wait_for("the agent disconnected", || {
        !agents.links.is_connected(HOST)
    })
    .await;
}

#[tokio::test]
async fn refusals_close_the_connection_with_the_reason() {
    let pki = pki();
    let (addr, agents, _stop, _served) = start(pki.path(), ListenerLimits::default());
    let (mut other_host, _tx) = open(pki.path(), addr, "agent-x2go1", "x2go-other")
        .await
        .unwrap();
    let e = end_of(&mut other_host).await;
    assert!(
        e.contains(r#"this certificate is the agent certificate of "x2go1", not of "x2go-other""#)
            && e.contains("code 1"),
        "{e}"
    );
    for (name, role) in [("node1", "node 1"), ("admin", "admin \"admin\"")] {
        let e = match open(pki.path(), addr, name, HOST).await {
            Ok((mut commands, _tx)) => end_of(&mut commands).await,
            Err(e) => e.to_string(),
        };
        assert!(
            e.contains(&format!("{role} may not connect as an agent")),
            "{name}: {e}"
        );
    }
    // A certificate of another CA fails the TLS handshake.
    let stranger = tempfile::tempdir().unwrap();
    crate::keygen::generate(stranger.path(), &[1], &[], &[HOST.into()]).unwrap();
    let transport = QuicTransport::new(
        &read(pki.path(), "ca.pem"),
        &read(stranger.path(), "agent-x2go1.pem"),
        &read(stranger.path(), "agent-x2go1-key.pem"),
    )
    .unwrap();
    let (tx, rx) = mpsc::channel(16);
    tx.send(hello(HOST)).await.unwrap();
    let e = match transport.open(&addr.to_string(), rx).await {
        Ok(mut commands) => end_of(&mut commands).await,
        Err(e) => e.to_string(),
    };
    assert!(e.contains("handshake failed"), "{e}");
    assert_eq!(agents.links.connected(), 0);
    assert!(agents.pending.lock().is_empty(), "no refused peer reported");
}

#[tokio::test]
async fn an_oversized_frame_closes_the_connection_saying_so() {
    let pki = pki();
    let (addr, agents, _stop, _served) = start(pki.path(), ListenerLimits::default());
    let crypto = crate::agent::quic_tls::client(
        &read(pki.path(), "ca.pem"),
        &read(pki.path(), "agent-x2go1.pem"),
        &read(pki.path(), "agent-x2go1-key.pem"),
    )
    .unwrap();
    let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let config = quinn::ClientConfig::new(Arc::new(crypto));
    let conn = client
        .connect_with(config, addr, crate::keygen::NODE_NAME)
        .unwrap()
        .await
        .unwrap();
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    send.write_all(&prost::Message::encode_length_delimited_to_vec(&hello(
        HOST,
    )))
    .await
    .unwrap();
    wait_for("the agent connected", || agents.links.is_connected(HOST)).await;
    let mut prefix = Vec::new();
    prost::encode_length_delimiter(MAX_FRAME + 1, &mut prefix).unwrap();
    send.write_all(&prefix).await.unwrap();
    match conn.closed().await {
        ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code, CloseCode::TooLarge.varint());
            let reason = String::from_utf8_lossy(&c.reason);
            assert!(
                reason.contains("larger than the limit of 4194304 bytes"),
                "{reason}"
            );
        }
        other => panic!("{other}"),
    }
    wait_for("the agent disconnected", || {
        !agents.links.is_connected(HOST)
    })
    .await;
}

#[tokio::test]
async fn a_newer_connection_replaces_the_older_and_shutdown_closes_all() {
    let pki = pki();
    let limits = ListenerLimits {
        max_connections: 2,
        ..ListenerLimits::default()
    };
    let (addr, agents, stop, served) = start(pki.path(), limits);
    let (mut older, _tx1) = open(pki.path(), addr, "agent-x2go1", HOST).await.unwrap();
    wait_for("the first connection", || agents.links.is_connected(HOST)).await;
    let (mut newer, _tx2) = open(pki.path(), addr, "agent-x2go1", HOST).await.unwrap();
    let e = end_of(&mut older).await;
    assert!(
        e.contains("a newer connection of this server took over"),
        "{e}"
    );
    assert!(agents.links.is_connected(HOST));
    stop.send(true).unwrap();
    let e = end_of(&mut newer).await;
    assert!(
        e.contains("the broker node is shutting down (code 4)"),
        "{e}"
    );
    tokio::time::timeout(Duration::from_secs(5), served)
        .await
        .expect("the endpoint stops")
        .unwrap();
    wait_for("the agent disconnected", || {
        !agents.links.is_connected(HOST)
    })
    .await;
}

#[tokio::test]
async fn connections_over_the_limit_are_refused() {
    let pki = pki();
    let limits = ListenerLimits {
        max_connections: 1,
        ..ListenerLimits::default()
    };
    let (addr, agents, _stop, _served) = start(pki.path(), limits);
    let (_first, _tx) = open(pki.path(), addr, "agent-x2go1", HOST).await.unwrap();
    wait_for("the first connection", || agents.links.is_connected(HOST)).await;
    let second = open(pki.path(), addr, "agent-x2go1", HOST).await;
    let e = match second {
        Ok((mut commands, _tx)) => end_of(&mut commands).await,
        Err(e) => e.to_string(),
    };
    assert!(e.to_lowercase().contains("refused"), "{e}");
}

#[tokio::test]
async fn a_revoked_certificate_is_cut_off_and_then_refused() {
    let pki = pki();
    let (addr, agents, _stop, _served) = start(pki.path(), ListenerLimits::default());
    let (mut commands, _tx) = open(pki.path(), addr, "agent-x2go1", HOST).await.unwrap();
    wait_for("the agent connected", || agents.links.is_connected(HOST)).await;
    let revoked = crate::state::HostTrust {
        revoked_at: Some(1),
        enrolled: Vec::new(),
    };
    agents.trust.set([(HOST.to_string(), revoked)].into());
    assert_eq!(
        agents.links.cut(|h, fp| agents.trust.refuses(h, fp)),
        vec![HOST.to_string()]
    );
    let end = end_of(&mut commands).await;
    assert!(end.contains("revoked"), "{end}");
    let again = match open(pki.path(), addr, "agent-x2go1", HOST).await {
        Ok((mut commands, _tx)) => end_of(&mut commands).await,
        Err(e) => e.to_string(),
    };
    assert!(again.contains("is revoked"), "{again}");
}
