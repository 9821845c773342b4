//! `x2gobroker-agent`, the agent on every X2Go server: it collects this
//! server's sessions from x2goserver's own tools (`sessions`, `session`)
//! and its load from /proc (`load`), notices what changed (`watch`), and
//! executes the broker's commands as the session's user (`commands`,
//! `authkeys`, `as_user`, `user`). `wire` turns all of it into the
//! `agent.proto` messages; `run` streams them to a broker through a
//! `transport`: `grpc` (a gRPC stream over TCP) or `quic` (one QUIC stream
//! of `frames` over UDP at the same address, TLS from `quic_tls`), both
//! with mutual TLS from the cluster CA; its settings come from `config`,
//! the server's addresses from `addresses`; `status` and `cli` are the
//! command line. `simulate` plays many X2Go servers with the same messages
//! and transports against the brokers, for load tests.

pub mod addresses;
pub mod as_user;
pub mod authkeys;
pub mod cli;
pub mod codec;
pub mod commands;
pub mod config;
pub mod frames;
pub mod grpc;
pub mod hostname;
pub mod load;
pub mod quic;
pub mod quic_tls;
pub mod run;
pub mod session;
pub mod sessions;
pub mod simulate;
pub mod status;
#[cfg(test)]
mod testing;
pub mod tools;
pub mod transport;
pub mod user;
pub mod watch;
pub mod wire;

/// The proto-generated messages and gRPC code of `proto/agent.proto`.
pub mod proto {
    tonic::include_proto!("x2gobroker.agent");
}
