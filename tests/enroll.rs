//! Agent enrollment on real brokers over real TLS: `x2gobrokerctl
//! agent-token` prints a join token, `x2gobroker-agent enroll` trades it
//! over HTTPS for an agent certificate that the agent gateway accepts
//! (gRPC and QUIC). A token works once in the whole cluster (issued on
//! node 1, redeemed on node 2, refused when reused on node 3); expired,
//! forged, malformed and wrong-server tokens are refused with their
//! reason, bad requests with a 4xx JSON error. Certificates of the
//! agent-signing CA never act as a node or an administrator.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::agents::{enroll, open_stream as open};
use common::cluster::*;
use common::http::request;
use common::site::*;
use common::wait_until;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;
use x2gobroker::agent::proto::{agent_message::Body, AgentMessage, Hello};
use x2gobroker::agent::transport::TransportKind;
use x2gobroker::cluster::identity::Role;

const CONF: &str = "[global]\nrequire-password = false\n";
const PROFILES: &str = "[p]\nname=P\nhost=127.0.0.9\nbroker-portscan-x2goservers = false\n";
const TIMING: &str = common::cluster::FAST_TIMING;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A started cluster of `n` nodes that enroll agents; the HTTPS certificate.
fn enrolling_cluster(site: &Site, n: u64) -> (Vec<ClusterNode>, std::path::PathBuf) {
    let mut nodes = cluster_nodes(site, n, TIMING);
    let https_ca = enable_enrollment(site, &mut nodes);
    start_all(site, &mut nodes);
    (nodes, https_ca)
}

fn https_url(node: &ClusterNode) -> String {
    format!("https://{}/", node.https.unwrap())
}

/// A join token from `node` with `args` (`--ttl`, `--hostname`).
fn token(site: &Site, node: &ClusterNode, args: &[&str]) -> String {
    let mut all = vec!["agent-token"];
    all.extend_from_slice(args);
    let (ok, out) = ctl(site, node, &all);
    assert!(ok, "agent-token: {out}");
    let token = out.trim().to_string();
    assert!(
        token.starts_with("x2gbat_") && !token.contains('\n'),
        "{out}"
    );
    token
}

/// The servers `node`'s gateway has connected now.
fn connected_here(node: &ClusterNode) -> u64 {
    let reply = request(node.http, "GET", "/status/agents", &[], b"");
    let v: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    v["connected_here"].as_u64().unwrap()
}

#[test]
fn a_single_node_enrolls_an_agent_over_https_whose_certificate_the_gateway_takes() {
    let site = Site::new(CONF, PROFILES);
    let (nodes, https_ca) = enrolling_cluster(&site, 1);
    let node = &nodes[0];
    let url = https_url(node);
    let out = site.path("agent");
    let t = token(&site, node, &["--ttl", "10m"]);
    let (ok, text) = enroll(&url, &t, &out, "x2go-e1", &https_ca);
    assert!(ok, "{text}");
    assert!(text.contains("enrolled x2go-e1"), "{text}");
    let key = out.join("agent-x2go-e1-key.pem");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let cert = std::fs::read(out.join("agent-x2go-e1.pem")).unwrap();
    assert_eq!(Role::of_pem(&cert).unwrap(), Role::Agent("x2go-e1".into()));
    let cluster_ca = std::fs::read(site.path("pki/ca.pem")).unwrap();
    assert_eq!(std::fs::read(out.join("ca.pem")).unwrap(), cluster_ca);

    // The gateway takes the enrolled certificate over both transports.
    let gateway = node.agents.unwrap();
    let rt = runtime();
    for kind in [TransportKind::Grpc, TransportKind::Quic] {
        let (_stream, _tx) = rt
            .block_on(open(kind, &out, "x2go-e1", gateway))
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        wait_until(
            "the enrolled agent connected",
            Duration::from_secs(10),
            || connected_here(node) == 1,
        );
    }

    // The token is used now; the agent says so and keeps its files.
    let before = std::fs::read(&key).unwrap();
    let (ok, text) = enroll(&url, &t, &out, "x2go-e1", &https_ca);
    assert!(!ok && text.contains("used already"), "{text}");
    assert!(text.contains("403"), "{text}");
    assert_eq!(
        std::fs::read(&key).unwrap(),
        before,
        "a refusal writes nothing"
    );
}

#[test]
fn expired_forged_malformed_and_other_server_tokens_are_refused_with_their_reason() {
    let site = Site::new(CONF, PROFILES);
    let (nodes, https_ca) = enrolling_cluster(&site, 1);
    let node = &nodes[0];
    let url = https_url(node);
    let out = site.path("agent");
    let short = token(&site, node, &["--ttl", "1s"]);
    let forged = format!("x2gbat_{}", "A".repeat(43));
    let bound = token(&site, node, &["--hostname", "x2go-b1"]);
    std::thread::sleep(Duration::from_millis(1500));
    for (t, host, reason) in [
        (short.as_str(), "x2go-b1", "expired"),
        (forged.as_str(), "x2go-b1", "not known to the brokers"),
        ("hello", "x2go-b1", "not a join token"),
        (bound.as_str(), "x2go-b2", "another server name"),
    ] {
        let (ok, text) = enroll(&url, t, &out, host, &https_ca);
        assert!(!ok && text.contains(reason), "{reason}: {text}");
        if t != forged && t.starts_with("x2gbat_") {
            assert!(!text.contains(t), "the token is not echoed: {text}");
        }
    }
    assert!(!out.join("agent-x2go-b1-key.pem").exists());
    // The bound token still works for its own server.
    let (ok, text) = enroll(&url, &bound, &out, "x2go-b1", &https_ca);
    assert!(ok, "{text}");
    // A broker certificate the agent does not trust: no token leaves it.
    let other = tempfile::tempdir().unwrap();
    let (wrong_ca, _) = self_signed(other.path());
    let t = token(&site, node, &[]);
    let (ok, text) = enroll(&url, &t, &out, "x2go-b3", &wrong_ca);
    assert!(!ok && text.contains("TLS"), "{text}");
    let (ok, text) = enroll(&url, &t, &out, "x2go-b3", &https_ca);
    assert!(
        ok,
        "the token was not spent by the refused handshake: {text}"
    );
}

#[test]
fn bad_enrollment_requests_get_a_4xx_json_error_never_a_5xx() {
    let site = Site::new(CONF, PROFILES);
    let (nodes, _) = enrolling_cluster(&site, 1);
    let http = nodes[0].http;
    let json = [("Content-Type", "application/json")];
    let big = format!(
        r#"{{"token":"x","hostname":"h","csr":"{}"}}"#,
        "A".repeat(20_000)
    );
    let cases: [(&str, &[u8], u16, &str); 7] = [
        ("GET", b"", 405, "POST"),
        ("POST", b"not json", 400, "enrollment JSON"),
        ("POST", br#"{"token":"x"}"#, 400, "enrollment JSON"),
        ("POST", br#"{"token":"x","hostname":"h","csr":"c","extra":1}"#, 400, "unknown field"),
        ("POST", br#"{"token":"x","hostname":"h","csr":"c"}"#, 400, "not a join token"),
        ("POST", big.as_bytes(), 413, "larger than"),
        (
            "POST",
            br#"{"token":"x2gbat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","hostname":"-x","csr":"c"}"#,
            400,
            "host name",
        ),
    ];
    for (method, body, status, reason) in cases {
        let r = request(http, method, "/enroll/", &json, body);
        assert_eq!(
            r.status,
            status,
            "{method} {}: {}",
            String::from_utf8_lossy(body),
            r.body
        );
        assert_eq!(r.content_type(), "application/json");
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        let error = v["error"].as_str().unwrap();
        assert!(error.contains(reason), "{reason}: {error}");
    }
}

#[test]
fn a_token_issued_on_one_node_is_redeemed_on_another_and_refused_on_a_third() {
    let site = Site::new(CONF, PROFILES);
    let (nodes, https_ca) = enrolling_cluster(&site, 3);
    let t = token(&site, &nodes[0], &["--ttl", "10m", "--hostname", "x2go-c1"]);
    let (ok, text) = enroll(
        &https_url(&nodes[1]),
        &t,
        &site.path("a"),
        "x2go-c1",
        &https_ca,
    );
    assert!(ok, "{text}");
    let (ok, text) = enroll(
        &https_url(&nodes[2]),
        &t,
        &site.path("b"),
        "x2go-c1",
        &https_ca,
    );
    assert!(!ok && text.contains("used already"), "{text}");
    // The enrolled certificate works on every node's gateway.
    let rt = runtime();
    let mut open_streams = Vec::new();
    for node in &nodes {
        open_streams.push(
            rt.block_on(open(
                TransportKind::Grpc,
                &site.path("a"),
                "x2go-c1",
                node.agents.unwrap(),
            ))
            .unwrap(),
        );
        wait_until("connected", Duration::from_secs(10), || {
            connected_here(node) == 1
        });
        open_streams.clear();
    }
}

/// A certificate for `role` signed with the agent CA's key (as a thief of
/// that key could make), in `dir` as NAME.pem and NAME-key.pem.
fn forged_by_agent_ca(site: &Site, role: &str, dir: &Path, name: &str) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let ca_key =
        KeyPair::from_pem(&std::fs::read_to_string(site.path("pki/agent-ca-key.pem")).unwrap())
            .unwrap();
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "x2gobroker agent CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let issuer = ca.self_signed(&ca_key).unwrap();
    let mut params = CertificateParams::new(vec!["x2gobroker-node".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::URI(role.to_string().try_into().unwrap()));
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer, &ca_key).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}-key.pem")), key.serialize_pem()).unwrap();
}

/// Client TLS towards the node-to-node listener with `dir/name.pem`.
fn tls_with(site: &Site, dir: &Path, name: &str) -> tonic::transport::ClientTlsConfig {
    let read = |p: std::path::PathBuf| std::fs::read(p).unwrap();
    tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(read(
            site.path("pki/ca.pem"),
        )))
        .identity(tonic::transport::Identity::from_pem(
            read(dir.join(format!("{name}.pem"))),
            read(dir.join(format!("{name}-key.pem"))),
        ))
        .domain_name("x2gobroker-node")
}

/// The outcome of an admin Status and a Raft ReadIndex on `node` with `tls`.
async fn node_rpcs(node: &ClusterNode, tls: tonic::transport::ClientTlsConfig) -> [bool; 2] {
    use x2gobroker::cluster::proto::admin_client::AdminClient;
    use x2gobroker::cluster::proto::raft_transport_client::RaftTransportClient;
    use x2gobroker::cluster::proto::Payload;
    let endpoint = tonic::transport::Endpoint::from_shared(format!("https://{}", node.raft))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_timeout(Duration::from_secs(5));
    let Ok(channel) = endpoint.connect().await else {
        return [false, false];
    };
    let admin = AdminClient::new(channel.clone())
        .status(Payload::default())
        .await
        .is_ok();
    let raft = RaftTransportClient::new(channel)
        .read_index(Payload::default())
        .await
        .is_ok();
    [admin, raft]
}

#[test]
fn agent_ca_certificates_cannot_act_as_nodes_or_administrators() {
    let site = Site::new(CONF, PROFILES);
    let (nodes, https_ca) = enrolling_cluster(&site, 1);
    let node = &nodes[0];
    let dir = site.path("agent");
    let t = token(&site, node, &[]);
    let (ok, text) = enroll(&https_url(node), &t, &dir, "x2go-n1", &https_ca);
    assert!(ok, "{text}");
    forged_by_agent_ca(&site, "urn:x2gobroker:node:1", &dir, "node-forged");
    forged_by_agent_ca(&site, "urn:x2gobroker:admin:admin", &dir, "admin-forged");
    let rt = runtime();
    rt.block_on(async {
        assert!(
            node_rpcs(node, client_tls(&site, "admin")).await[0],
            "sanity"
        );
        for name in ["agent-x2go-n1", "node-forged", "admin-forged"] {
            let got = node_rpcs(node, tls_with(&site, &dir, name)).await;
            assert_eq!(got, [false, false], "{name} reached a node RPC");
        }
    });
    // On the agent gateway a node certificate of the agent CA is no agent.
    let gateway = node.agents.unwrap();
    let refused = rt.block_on(async {
        use x2gobroker::agent::proto::agent_gateway_client::AgentGatewayClient;
        let channel = tonic::transport::Endpoint::from_shared(format!("https://{gateway}"))
            .unwrap()
            .tls_config(tls_with(&site, &dir, "node-forged"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let (tx, rx) = mpsc::channel(1);
        let hello = Body::Hello(Hello {
            hostname: "x2go-n1".into(),
            ..Default::default()
        });
        tx.send(AgentMessage { body: Some(hello) }).await.unwrap();
        AgentGatewayClient::new(channel)
            .connect(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .expect_err("refused")
    });
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
}
