//! The agent gateway of a broker node: X2Go servers' agents connect here
//! (mutual TLS from the cluster CA) and stream their sessions and load.
//! `connection` checks who connects and what each message does, whatever
//! the transport; `service` is the gRPC transport (TCP) and `quic` the QUIC
//! transport (UDP, the same address); `coalesce` buffers the
//! reports per server; `links` holds the connected agents and sends them
//! commands (`orders`, also between nodes); `propose` turns the buffer into one `AgentReports` command
//! every `BATCH_EVERY` and marks silent servers down; `tls` is the
//! listeners' identity (both transports); `trust` refuses and cuts off
//! revoked agent certificates; `counts` what `/status/agents` shows.

pub mod coalesce;
pub mod connection;
pub mod counts;
pub mod links;
pub mod orders;
pub mod propose;
pub mod quic;
pub mod service;
pub mod tls;
pub mod trust;

pub use crate::agent::proto;
pub use coalesce::Pending;
pub use connection::Agents;
pub use links::{CommandError, Links};
pub use propose::{propose_periodically, BATCH_EVERY, DEFAULT_AGENT_TIMEOUT};
pub use service::{server, Gateway};
