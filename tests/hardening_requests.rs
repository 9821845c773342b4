//! Hardening of request handling (issue 7), against a running broker:
//! session selection follows the authenticated broker user, never the
//! client-chosen `login` (finding 1), on every frontend.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::http::*;
use common::processes::*;
use common::site::*;
use common::sockets::*;
use std::net::SocketAddr;
use x2gobroker::api::grpc::proto::broker_client::BrokerClient;
use x2gobroker::api::grpc::proto::*;

const NO_MECHANISM: &str = "[global]\nrequire-password = true\ndefault-auth-mech = none\n";

/// `locked` is for alice only; `pool` places users on one of two hosts.
fn profiles(port: u16) -> String {
    format!(
        "[locked]\nhost=desk (127.0.0.1:{port})\nbroker-portscan-x2goservers = false\n\
         acl-users-allow = alice\nacl-users-deny = ALL\nacl-users-order = allow-deny\n\n\
         [pool]\nhost=a (127.0.0.11:2201), b (127.0.0.12:2202)\nbroker-portscan-x2goservers = false\n"
    )
}

fn creds(user: &str) -> Option<Credentials> {
    Some(Credentials {
        user: user.into(),
        password: "pw".into(),
        authid: String::new(),
    })
}

async fn grpc_client(addr: SocketAddr) -> BrokerClient<tonic::transport::Channel> {
    for _ in 0..100 {
        if let Ok(c) = BrokerClient::connect(format!("http://{addr}")).await {
            return c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("gRPC API at {addr} not reachable");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Finding 1: a user the profile's ACLs deny does not get its server by
/// naming an allowed user in `login`; the allowed user gets it whatever
/// `login` says (plain, JSON and gRPC).
#[test]
fn finding1_login_does_not_lift_selection_acls() {
    let site = Site::new(NO_MECHANISM, &profiles(2222));
    let listener = loopback();
    let grpc = addr_of(&listener);
    let b = Ours::new(&site).listen("--grpc", listener).start();
    let select = |path: &str, sid: &str, user: &str, login: &str| {
        b.post(
            path,
            &form(&[
                ("task", "selectsession"),
                (sid, "locked"),
                ("user", user),
                ("password", "pw"),
                ("login", login),
            ]),
        )
    };

    // Per dialect: the field naming the profile, the answer for a denied
    // user and the one for the allowed user.
    let dialects = [
        (
            "/plain/",
            "sid",
            "SERVER:no-server-available:22\n",
            "SERVER:127.0.0.1:2222\n",
        ),
        (
            "/json/",
            "profile-id",
            "\"server\": \"no-server-available\"",
            "\"server\": \"127.0.0.1\"",
        ),
    ];
    for (path, sid, denied, allowed) in dialects {
        let r = select(path, sid, "mallory", "alice");
        assert_eq!(r.status, 200);
        assert!(r.body.contains(denied), "{path} mallory: {}", r.body);
        let r = select(path, sid, "alice", "someone-else");
        assert!(r.body.contains(allowed), "{path} alice: {}", r.body);
    }

    runtime().block_on(async {
        let mut c = grpc_client(grpc).await;
        let as_user = |user: &str, login: &str| SelectSessionRequest {
            credentials: creds(user),
            profile_id: "locked".into(),
            login: login.into(),
        };
        let denied = c
            .select_session(as_user("mallory", "alice"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(denied.server, "no-server-available");
        let allowed = c
            .select_session(as_user("alice", "someone-else"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((allowed.server.as_str(), allowed.port), ("127.0.0.1", 2222));
    });
}

/// Finding 1: a placement belongs to the broker user who asked for it,
/// whatever `login` names (placements are listed per broker user).
#[test]
fn finding1_placements_are_keyed_by_the_broker_user() {
    let site = Site::new(NO_MECHANISM, &profiles(2222));
    let listener = loopback();
    let grpc = addr_of(&listener);
    let b = Ours::new(&site).listen("--grpc", listener).start();
    let r = b.post(
        "/plain/",
        &form(&[
            ("task", "selectsession"),
            ("sid", "pool"),
            ("user", "alice"),
            ("password", "pw"),
            ("login", "bob"),
        ]),
    );
    assert!(r.body.contains("SERVER:127.0.0.11:2201\n"), "{}", r.body);
    runtime().block_on(async {
        let mut c = grpc_client(grpc).await;
        let sel = c
            .select_session(SelectSessionRequest {
                credentials: creds("carol"),
                profile_id: "pool".into(),
                login: "bob".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(sel.server, "127.0.0.12", "carol is the second user placed");
        let placed = |user: &str| {
            let mut c = c.clone();
            let user = user.to_string();
            async move {
                c.list_sessions(ListSessionsRequest {
                    credentials: creds(&user),
                })
                .await
                .unwrap()
                .into_inner()
                .sessions
                .into_iter()
                .map(|s| (s.profile_id, s.user, s.host))
                .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            placed("alice").await,
            vec![("pool".to_string(), "alice".to_string(), "a".to_string())]
        );
        assert_eq!(
            placed("carol").await,
            vec![("pool".to_string(), "carol".to_string(), "b".to_string())]
        );
        assert_eq!(placed("bob").await, Vec::new(), "login names no placement");
    });
}
