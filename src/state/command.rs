//! The state machine's vocabulary: the commands a proposer stamps with
//! everything they need (times, candidate hosts, new cookies) and the
//! outcomes applying them answers. Both are replicated, so their serde
//! form is the wire format between cluster nodes.

use super::config::ConfigTexts;
use super::requests::RequestId;
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, as stamped by the proposing node.
pub type Millis = u64;

/// One candidate host as the proposer saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub name: String,
    pub alive: bool,
}

/// A change to the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A password login succeeded: remember the new cookie.
    IssueCookie {
        user: String,
        cookie: String,
        ip: String,
        at: Millis,
    },
    /// A cookie is presented: consume it and, when valid, chain to `next`.
    RedeemCookie {
        user: String,
        cookie: String,
        ip: String,
        now: Millis,
        verify_ip: bool,
        timeout_ms: Millis,
        next: String,
    },
    /// Forget a cookie (a password login replaced it).
    RevokeCookie { user: String, cookie: String },
    /// Choose a host for `user` among a profile's candidates.
    Place {
        profile: String,
        user: String,
        candidates: Vec<Candidate>,
        now: Millis,
        window_ms: Millis,
    },
    /// Drop cookies older than `cookie_ttl_ms` and placements older than `placement_window_ms`.
    Purge {
        now: Millis,
        cookie_ttl_ms: Millis,
        placement_window_ms: Millis,
    },
    /// Several commands proposed together, applied in order.
    Batch(Vec<Command>),
    /// A new version of the configuration files (validated by the proposer).
    SetConfig(ConfigTexts),
    /// `cmd` as request `id`, stamped by its proposing node at `at`: applied
    /// once; proposed again (a retry), it answers the first outcome.
    Request {
        id: RequestId,
        at: Millis,
        cmd: Box<Command>,
    },
}

/// Why a cookie was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CookieRefusal {
    Unknown,
    IpMismatch,
    Expired,
}

/// What applying a command answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Done,
    CookieAccepted {
        next: String,
    },
    CookieRefused(CookieRefusal),
    Placed(PlacedOutcome),
    /// The outcomes of a `Batch`, in order.
    Batch(Vec<Outcome>),
    /// The version number a `SetConfig` got.
    ConfigVersion(u64),
}

/// The result of a `Place` command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PlacedOutcome {
    Host(String),
    NoneAvailable,
}
