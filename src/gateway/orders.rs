//! What the broker orders an X2Go server's agent to do, in a form that
//! travels between broker nodes (serde) as well as to the agent (the
//! `BrokerCommand` of `agent.proto`), and what came back.

use super::links::CommandError;
use super::proto::{self, broker_command::Command};
use serde::{Deserialize, Serialize};

/// One order for an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    Ping,
    /// Suspend `session_id` of `user` (x2gochangestatus S, as that user).
    Suspend {
        session_id: String,
        user: String,
    },
    /// Terminate `session_id` of `user`.
    Terminate {
        session_id: String,
        user: String,
    },
    /// Add one authorized_keys line for `user` (see `AddAuthorizedKey`),
    /// removed again by the agent after `remove_after_secs` (0: kept).
    AddKey {
        user: String,
        public_key: String,
        key_file: String,
        remove_after_secs: u32,
    },
    /// Remove that line again.
    DelKey {
        user: String,
        public_key: String,
        key_file: String,
    },
}

/// The agent's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderResult {
    pub ok: bool,
    /// What was done, or why it was refused or failed.
    pub message: String,
}

/// What the node holding the agent's stream answers another node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderAnswer {
    Done(OrderResult),
    Failed(CommandError),
}

impl Order {
    /// The order as the agent protocol's command.
    pub fn command(&self) -> Command {
        match self.clone() {
            Order::Ping => Command::Ping(proto::Ping {}),
            Order::Suspend { session_id, user } => {
                Command::SuspendSession(proto::SuspendSession { session_id, user })
            }
            Order::Terminate { session_id, user } => {
                Command::TerminateSession(proto::TerminateSession { session_id, user })
            }
            Order::AddKey {
                user,
                public_key,
                key_file,
                remove_after_secs,
            } => Command::AddAuthorizedKey(proto::AddAuthorizedKey {
                user,
                public_key,
                key_file,
                remove_after_secs,
            }),
            Order::DelKey {
                user,
                public_key,
                key_file,
            } => Command::DelAuthorizedKey(proto::DelAuthorizedKey {
                user,
                public_key,
                key_file,
            }),
        }
    }

    /// What it is, for logs (no key material).
    pub fn kind(&self) -> &'static str {
        match self {
            Order::Ping => "ping",
            Order::Suspend { .. } => "suspend",
            Order::Terminate { .. } => "terminate",
            Order::AddKey { .. } => "add authorized key",
            Order::DelKey { .. } => "remove authorized key",
        }
    }
}

impl From<proto::CommandResult> for OrderResult {
    fn from(r: proto::CommandResult) -> Self {
        OrderResult {
            ok: r.ok,
            message: r.message,
        }
    }
}
