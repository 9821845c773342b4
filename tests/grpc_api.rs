//! The public gRPC API against a running broker: the same authentication
//! and cookie chain as the HTTP frontends, profiles, selection, the user's
//! placements, status, and server reflection listing the service.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::processes::*;
use common::site::*;
use common::sockets::*;
use tonic::Code;
use x2gobroker::api::grpc::proto::broker_client::BrokerClient;
use x2gobroker::api::grpc::proto::*;

fn creds(user: &str, password: &str, authid: &str) -> Option<Credentials> {
    Some(Credentials {
        user: user.into(),
        password: password.into(),
        authid: authid.into(),
    })
}

#[test]
fn profiles_selection_sessions_and_reflection() {
    let live = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = live.local_addr().unwrap().port();
    let site = Site::new(
        "[global]\nrequire-password = true\ndefault-auth-mech = none\n",
        &format!("[desk]\nname=Desk\nhost=d1 (127.0.0.1:{port})\ncommand=MATE\n\n[hidden]\nhost=127.0.0.8\nacl-users-deny=ALL\n"),
    );
    let listener = loopback();
    let grpc = addr_of(&listener);
    let _b = Ours::new(&site).listen("--grpc", listener).start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = None;
        for _ in 0..100 {
            if let Ok(client) = BrokerClient::connect(format!("http://{grpc}")).await {
                c = Some(client);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let mut c = c.expect("gRPC API reachable");

        let listed = c
            .list_profiles(ListProfilesRequest {
                credentials: creds("alice", "pw", ""),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.profiles.len(), 1, "ACLs apply");
        let p = &listed.profiles[0];
        assert_eq!(
            (p.id.as_str(), p.name.as_str(), p.hosts.clone()),
            ("desk", "Desk", vec!["d1".to_string()])
        );
        assert_eq!(p.settings["command"], "MATE");
        assert_eq!(p.settings["rootless"], "0");
        assert_eq!(p.settings["user"], "alice");
        assert_eq!(listed.next_authid.len(), 36);

        // The cookie chain works as over HTTP: single use.
        let sel = c
            .select_session(SelectSessionRequest {
                credentials: creds("alice", "", &listed.next_authid),
                profile_id: "desk".into(),
                login: String::new(),
                pubkey: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (sel.server.as_str(), sel.port),
            ("127.0.0.1", u32::from(port))
        );
        let reused = c
            .list_profiles(ListProfilesRequest {
                credentials: creds("alice", "", &listed.next_authid),
            })
            .await
            .unwrap_err();
        assert_eq!(reused.code(), Code::Unauthenticated);

        let sessions = c
            .list_sessions(ListSessionsRequest {
                credentials: creds("alice", "pw", ""),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            sessions.sessions.len(),
            0,
            "a single-host profile makes no placement"
        );

        let missing = c
            .select_session(SelectSessionRequest {
                credentials: creds("alice", "pw", ""),
                profile_id: String::new(),
                login: String::new(),
                pubkey: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(missing.code(), Code::InvalidArgument);

        let status = c
            .cluster_status(ClusterStatusRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(status.node.unwrap().role, "Standalone");

        // Reflection names the service, as grpcurl would list it.
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::{
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
            ServerReflectionRequest,
        };
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut r = ServerReflectionClient::new(channel);
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = r
            .server_reflection_info(tokio_stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        let reply = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
            panic!("no service list")
        };
        assert!(
            list.service
                .iter()
                .any(|s| s.name == "x2gobroker.broker.v1.Broker"),
            "{list:?}"
        );
    });
}
