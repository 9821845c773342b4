//! The agent gateway of a broker node: X2Go servers' agents connect here
//! (gRPC, mutual TLS from the cluster CA) and stream their sessions and
//! load. `service` checks who connects and folds each stream into the
//! `coalesce` buffer; `propose` turns that buffer into one `AgentReports`
//! command every `BATCH_EVERY` and marks silent servers down; `tls` is the
//! listener's identity; `counts` what `/status/agents` shows.

pub mod coalesce;
pub mod counts;
pub mod propose;
pub mod service;
pub mod tls;

pub use crate::agent::proto;
pub use coalesce::Pending;
pub use propose::{propose_periodically, BATCH_EVERY, DEFAULT_AGENT_TIMEOUT};
pub use service::{server, Gateway};
