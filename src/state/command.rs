//! The state machine's vocabulary: the commands a proposer stamps with
//! everything they need (times, candidate hosts, new cookies) and the
//! outcomes applying them answers. Both are replicated, so their serde
//! form is the wire format between cluster nodes.
//!
//! That form is bincode (in the Raft log on disk and between nodes), which
//! is not self-describing: `#[serde(default)]` does not help it, and a
//! field added to a variant makes every older entry unreadable. Hence:
//! variants and their fields are never removed, reordered or retyped; a
//! new command, or a new field of one, is a new variant appended at the
//! end (older entries keep decoding), `Command::format` names the format
//! that brought it, and `COMMAND_FORMAT` goes up. Node-to-node requests
//! carry the format of what they hold (see `cluster::network`), so that a
//! node of an older build refuses such requests by name instead of failing
//! to decode them, and nothing proposes a newer command before every
//! member reads it (`State::command_format`, `cluster::formats`).

use super::config::ConfigTexts;
use super::loadchecks::LoadCheck;
use super::requests::RequestId;
use super::servers::LoadRecord;
use super::sessions::SessionRecord;
use serde::{Deserialize, Serialize};

/// The encoding of `Command` and `Outcome` this build writes (and the
/// newest it reads); see the module comment for how they evolve.
pub const COMMAND_FORMAT: u32 = 2;

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
    /// A batch of X2Go servers' agent reports received by `node` at `at`
    /// (one per server, coalesced by the node's agent gateway).
    AgentReports {
        node: u64,
        at: Millis,
        reports: Vec<AgentReport>,
    },
    /// Mark down every server whose last report is older than `timeout_ms` at `at`.
    ServersDown { at: Millis, timeout_ms: Millis },
    /// Set or clear a known server's drained flag (answers `Done`, or
    /// `UnknownServer`).
    DrainServer { hostname: String, drained: bool },
    /// A new agent join token, by the SHA-256 of its text (hex), valid
    /// until `expires_at`, for `hostname` only when given (answers `Done`
    /// or `TokenRefused`).
    IssueAgentToken {
        hash: String,
        hostname: Option<String>,
        at: Millis,
        expires_at: Millis,
    },
    /// Use the token with `hash` at `now` to enroll `cert` for `hostname`
    /// (answers `TokenRedeemed` or `TokenRefused`).
    RedeemAgentToken {
        hash: String,
        hostname: String,
        now: Millis,
        cert: EnrolledCert,
    },
    /// Refuse the agent certificates of `hostname` made or enrolled before
    /// `at` (certificates enrolled later are trusted again).
    RevokeAgent { hostname: String, at: Millis },
    // Format 2:
    /// Every member reads command format `format` (proposed by the leader
    /// once each said so): from now on commands of that format may be
    /// proposed. The floor only rises.
    RaiseFormat { format: u32 },
    /// What the load checker's `checkload` calls answered at `at`.
    LoadsChecked { at: Millis, checks: Vec<LoadCheck> },
    /// Forget the load checks of the (profile, host) pairs not in `keep`.
    LoadChecksRetain { keep: Vec<(String, String)> },
    /// `Place` for a profile the load checker weighs: the candidates'
    /// load checks count, with `sessions` (by profile host name; absent:
    /// none) as the reference's agent counts them (`getservers`).
    PlaceWeighed {
        profile: String,
        user: String,
        candidates: Vec<Candidate>,
        sessions: Vec<(String, u32)>,
        now: Millis,
        window_ms: Millis,
    },
}

impl Command {
    /// The oldest command format that has this command (and everything
    /// it holds): what a node must read to be sent it.
    pub fn format(&self) -> u32 {
        match self {
            Command::RaiseFormat { .. } => 2,
            Command::LoadsChecked { .. }
            | Command::LoadChecksRetain { .. }
            | Command::PlaceWeighed { .. } => super::loadchecks::LOAD_CHECKS_FORMAT,
            Command::Batch(cmds) => cmds.iter().map(Command::format).max().unwrap_or(1),
            Command::Request { cmd, .. } => cmd.format(),
            _ => 1,
        }
    }
}

/// An agent certificate issued through enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EnrolledCert {
    /// SHA-256 of its DER, lowercase hex.
    pub fingerprint: String,
    /// Its serial number, hex.
    pub serial: String,
    /// When it was enrolled (the proposer's clock).
    pub at: Millis,
}

/// Why a join token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenRefusal {
    /// No such token (forged, mistyped, or forgotten long after its expiry).
    Unknown,
    /// It was used already.
    Used,
    Expired,
    /// It is bound to another server name.
    OtherHost,
    /// Too many token records outstanding (`MAX_TOKENS`).
    TooMany,
    /// A token with this hash exists (a new one was drawn the same).
    Duplicate,
}

impl std::fmt::Display for TokenRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenRefusal::Unknown => {
                "the join token is not known to the brokers (mistyped or forged?)"
            }
            TokenRefusal::Used => {
                "the join token was used already (tokens are single-use: ask for a new one)"
            }
            TokenRefusal::Expired => "the join token has expired (ask for a new one)",
            TokenRefusal::OtherHost => "the join token is for another server name",
            TokenRefusal::TooMany => "too many join tokens outstanding; let some expire first",
            TokenRefusal::Duplicate => "a join token with the same hash exists",
        })
    }
}

/// What one server's agent reported since the last batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentReport {
    pub hostname: String,
    /// Its sessions: a full list or changes (None: no session news).
    pub sessions: Option<SessionChange>,
    /// Its latest load report, if one came.
    pub load: Option<LoadRecord>,
    /// The agent's time stamp of the oldest news in this report (for the
    /// report-to-visible latency; not part of the state).
    pub since: Option<Millis>,
}

/// A server's sessions as reported: all of them, or what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionChange {
    /// Every session of the server now; replaces what was known.
    Full(Vec<SessionRecord>),
    /// Sessions added or changed, and the ids of sessions gone.
    Delta {
        upsert: Vec<SessionRecord>,
        removed: Vec<String>,
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
    /// A `DrainServer` for a server no agent ever reported.
    UnknownServer,
    /// A `RedeemAgentToken` used its token.
    TokenRedeemed,
    /// An `IssueAgentToken` or `RedeemAgentToken` was refused.
    TokenRefused(TokenRefusal),
}

/// The result of a `Place` command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PlacedOutcome {
    /// The least loaded usable host.
    Host(String),
    NoneAvailable,
    /// The host the user was placed on recently (still usable).
    Sticky(String),
}
