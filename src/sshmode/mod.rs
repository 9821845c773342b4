//! SSH broker mode: X2Go Client with an `ssh://` broker URL logs in to the
//! broker host over SSH and runs `x2gobroker --user U --task T ...` there,
//! reading the plain answer from its standard output.
//!
//! That command (`client`) does not run the broker itself: it asks the
//! local node over a Unix socket (`node`), so cookies, placements and
//! sessions are the cluster's. The node knows who asks from the socket's
//! peer credentials (`SO_PEERCRED`), never from what the caller claims: the
//! SSH login is the authentication, as in the reference's SSH mode (its
//! password check is overridden; authid cookies are checked as usual).
//! Only the broker's daemon user (`X2GOBROKER_DAEMON_USER`, default
//! `x2gobroker`) may act for another user, as the reference allows its
//! "magic user" alone (`--user`).
//!
//! On the socket: one JSON line each way (`Request`, `Reply`), at most
//! `MAX_LINE` bytes, within `TIMEOUT`.

pub mod answer;
pub mod client;
pub mod node;

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Where the node listens and the command connects unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/x2gobroker/broker.sock";
/// The longest request or reply line (a selectsession reply may carry a
/// private key; a long profile list fits many times over).
pub const MAX_LINE: usize = 4 << 20;
/// The longest request line the node reads.
pub const MAX_REQUEST: usize = 64 << 10;
/// How long one exchange may take (a selectsession probes servers).
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// What the command asks the node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The broker user to act for; None: the caller itself.
    #[serde(default)]
    pub user: Option<String>,
    /// `listsessions`, `selectsession`, `testcon` (`setpass` and none: the access check alone).
    #[serde(default)]
    pub task: String,
    /// The profile id of a selectsession.
    #[serde(default)]
    pub sid: String,
    /// The user on the X2Go server ("" = the broker user).
    #[serde(default)]
    pub login: String,
    /// The authid cookie ("" = none).
    #[serde(default)]
    pub authid: String,
    /// The profile source ("" = inifile).
    #[serde(default)]
    pub backend: String,
    /// The client's address as the SSH server reported it (`SSH_CLIENT`).
    #[serde(default)]
    pub client: String,
}

/// What the node answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Reply {
    /// The plain answer, printed as it is.
    Ok { output: String },
    /// The access check refused the user (the reference prints nothing).
    Denied { user: String },
    /// The request was refused or failed; `error` says why.
    Error { error: String },
}
