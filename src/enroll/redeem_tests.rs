//! The broker's side of enrollment over a single node's store: a token
//! works once, for its server, before its expiry; forged tokens and bad
//! requests are refused with 4xx and their reason, without a write.

use super::*;
use crate::broker::tests::Fixture;
use rcgen::{CertificateParams, KeyPair};

const CONF: &str = "[global]\nrequire-password = false\n";

struct Setup {
    enrollment: Enrollment,
    /// The broker's files and store, removed last.
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let Fixture { broker, dir } = Fixture::new(CONF, "[p]\nhost=127.0.0.9\n");
    let pki = dir.path().join("pki");
    crate::keygen::generate(&pki, &[1], &[], &[]).unwrap();
    crate::keygen::agent_ca(&pki).unwrap();
    let ca = AgentCa::load(
        &pki.join("agent-ca.pem"),
        &pki.join("agent-ca-key.pem"),
        &pki.join("ca.pem"),
    )
    .unwrap();
    Setup {
        enrollment: Enrollment::new(ca, Arc::new(broker)),
        _dir: dir,
    }
}

/// Issue a token valid for `ttl_ms` (bound to `host` if given) through the state.
async fn issue(e: &Enrollment, host: Option<&str>, ttl_ms: u64) -> Token {
    let token = Token::new().unwrap();
    let now = millis(SystemTime::now());
    let cmd = Command::IssueAgentToken {
        hash: token.hash(),
        hostname: host.map(str::to_string),
        at: now,
        expires_at: now + ttl_ms,
    };
    assert_eq!(e.broker.submit(cmd).await.unwrap(), Outcome::Done);
    token
}

fn body(token: &str, host: &str) -> Vec<u8> {
    let key = KeyPair::generate().unwrap();
    let csr = CertificateParams::default()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    serde_json::to_vec(&EnrollRequest {
        token: token.into(),
        hostname: host.into(),
        csr,
    })
    .unwrap()
}

const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

#[tokio::test]
async fn a_token_enrolls_its_server_once() {
    let s = setup();
    let e = &s.enrollment;
    let token = issue(e, Some("x2go1"), 60_000).await;
    let wrong = e.enroll(&body(token.expose(), "x2go2"), CLIENT).await;
    let wrong = wrong.unwrap_err();
    assert_eq!(
        (wrong.status(), wrong.to_string()),
        (403, TokenRefusal::OtherHost.to_string())
    );
    let got = e
        .enroll(&body(token.expose(), "x2go1"), CLIENT)
        .await
        .unwrap();
    assert_eq!(got.hostname, "x2go1");
    assert!(got.ca.contains("BEGIN CERTIFICATE"));
    let trust = e
        .broker
        .read_applied(|st| st.host_trust("x2go1").cloned())
        .unwrap();
    assert_eq!(trust.enrolled[0].fingerprint, got.fingerprint);
    let again = e
        .enroll(&body(token.expose(), "x2go1"), CLIENT)
        .await
        .unwrap_err();
    assert_eq!(again.status(), 403);
    assert!(again.public_message().contains("used already"), "{again}");
}

#[tokio::test]
async fn expired_and_forged_tokens_are_refused_forged_ones_without_a_write() {
    let s = setup();
    let e = &s.enrollment;
    let token = issue(e, None, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let expired = e
        .enroll(&body(token.expose(), "x2go1"), CLIENT)
        .await
        .unwrap_err();
    assert_eq!(expired.status(), 403);
    assert!(expired.public_message().contains("expired"), "{expired}");
    let before = e.broker.read_applied(|st| st.digest());
    let forged = Token::new().unwrap();
    let refused = e
        .enroll(&body(forged.expose(), "x2go1"), CLIENT)
        .await
        .unwrap_err();
    assert_eq!(refused.status(), 403);
    assert!(refused.public_message().contains("not known"), "{refused}");
    assert_eq!(
        e.broker.read_applied(|st| st.digest()),
        before,
        "nothing written"
    );
}

#[tokio::test]
async fn bad_requests_get_400_with_their_reason() {
    let s = setup();
    let e = &s.enrollment;
    let token = issue(e, None, 60_000).await;
    let mut no_csr: serde_json::Value =
        serde_json::from_slice(&body(token.expose(), "x2go1")).unwrap();
    no_csr["csr"] =
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n".into();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{}".to_vec(), "enrollment JSON"),
        (body("x2gbat_short", "x2go1"), "not a join token"),
        (body(token.expose(), "../etc"), "host name"),
        (serde_json::to_vec(&no_csr).unwrap(), "certificate request"),
    ];
    for (bad, why) in cases {
        let err = e.enroll(&bad, CLIENT).await.unwrap_err();
        assert_eq!(err.status(), 400, "{err}");
        assert!(err.public_message().contains(why), "{why}: {err}");
    }
    // The token survived every bad request.
    assert!(e
        .enroll(&body(token.expose(), "x2go1"), CLIENT)
        .await
        .is_ok());
}

#[tokio::test]
async fn refused_tokens_count_against_the_address() {
    let s = setup();
    let e = &s.enrollment;
    let other = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
    for _ in 0..crate::broker::tests::MAX_FAILURES {
        let forged = Token::new().unwrap();
        let err = e
            .enroll(&body(forged.expose(), "x2go1"), other)
            .await
            .unwrap_err();
        assert_eq!(err.status(), 403);
    }
    let token = issue(e, None, 60_000).await;
    let blocked = e
        .enroll(&body(token.expose(), "x2go1"), other)
        .await
        .unwrap_err();
    assert_eq!(blocked.status(), 429, "{blocked}");
    assert!(blocked.public_message().contains("try again"), "{blocked}");
    // Another address is not blocked, and the token was not spent.
    assert!(e
        .enroll(&body(token.expose(), "x2go1"), CLIENT)
        .await
        .is_ok());
}
