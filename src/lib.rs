//! x2gobroker-rs: a highly available X2Go session broker, drop-in
//! compatible with the reference Python broker.
//!
//! The pure core (`config`, `profiles`, `acl`, `placement`, `state`) has no
//! I/O; `storage`, `auth`, `broker` and `api` are the edges that talk to
//! the disk, the system and the network.

pub mod acl;
pub mod agent;
pub mod api;
pub mod auth;
pub mod broker;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod ctl;
pub mod docs;
pub mod enroll;
pub mod gateway;
pub mod keygen;
pub mod logging;
pub mod logsafe;
pub mod metrics;
pub mod placement;
pub mod profiles;
pub mod refagent;
pub mod server;
pub mod ssh_keygen;
pub mod sshkey;
pub mod sshmode;
pub mod sshpub;
pub mod state;
pub mod storage;
