//! Public gRPC API clients for the tests: a client that waits until the
//! API answers, and request credentials.

use std::net::SocketAddr;
use std::time::Duration;
use x2gobroker::api::grpc::proto::broker_client::BrokerClient;
use x2gobroker::api::grpc::proto::Credentials;

/// A client of the plain gRPC API at `addr`, once it accepts connections.
pub async fn client(addr: SocketAddr) -> BrokerClient<tonic::transport::Channel> {
    for _ in 0..100 {
        if let Ok(c) = BrokerClient::connect(format!("http://{addr}")).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gRPC API at {addr} not reachable");
}

/// Request credentials.
pub fn creds(user: &str, password: &str, authid: &str) -> Option<Credentials> {
    Some(Credentials {
        user: user.into(),
        password: password.into(),
        authid: authid.into(),
    })
}

/// A current-thread runtime for a test's gRPC calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
