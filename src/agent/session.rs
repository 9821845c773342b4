//! One X2Go session as x2goserver prints it: the 16 `|`-separated fields of
//! an `x2golistsessions_root` line, typed, with the line kept as printed
//! (the broker hands it to clients as `SESSION_INFO`).
//!
//! Field order: `agent_pid|session_id|display|server|status|init_time|
//! cookie|client|gr_port|sound_port|last_time|uname|age_secs|fs_port|
//! tekictrl_port|tekidata_port`. A session being set up (inserted, not yet
//! created) has empty pid, cookie, client and port fields: those are absent,
//! not errors. The cookie is a secret: `Debug` and the JSON form leave it
//! (and the raw line, which holds it) out.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// The number of fields of a session line.
pub const FIELDS: usize = 16;

/// The status field: what x2goserver's database says about the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SessionStatus {
    /// `R`: running (an X2Go client is attached).
    #[serde(rename = "R")]
    Running,
    /// `S`: suspended, ready to be resumed.
    #[serde(rename = "S")]
    Suspended,
    /// `T`: termination requested (x2gocleansessions finishes it).
    #[serde(rename = "T")]
    Terminated,
    /// `F`: finished.
    #[serde(rename = "F")]
    Finished,
}

impl SessionStatus {
    /// The letter x2goserver uses.
    pub fn letter(self) -> char {
        match self {
            SessionStatus::Running => 'R',
            SessionStatus::Suspended => 'S',
            SessionStatus::Terminated => 'T',
            SessionStatus::Finished => 'F',
        }
    }

    /// Running or suspended: a session a user can get back to.
    pub fn is_live(self) -> bool {
        matches!(self, SessionStatus::Running | SessionStatus::Suspended)
    }
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.letter())
    }
}

impl FromStr for SessionStatus {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s {
            "R" => Ok(SessionStatus::Running),
            "S" => Ok(SessionStatus::Suspended),
            "T" => Ok(SessionStatus::Terminated),
            "F" => Ok(SessionStatus::Finished),
            other => Err(ParseError::Status(other.to_string())),
        }
    }
}

/// Why a line is not a session line. Never holds the line itself (it
/// carries the session cookie).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{found} fields instead of {FIELDS}")]
    FieldCount { found: usize },
    #[error("empty session id")]
    EmptySessionId,
    #[error("empty user name")]
    EmptyUser,
    #[error("unknown status {0:?} (expected R, S, T or F)")]
    Status(String),
    #[error("field {field}: {value:?} is not a number")]
    Number { field: &'static str, value: String },
}

/// One session line, typed.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    pub agent_pid: Option<u32>,
    pub session_id: String,
    pub display: u32,
    pub server: String,
    pub status: SessionStatus,
    /// Local time as printed, `YYYY-MM-DDTHH:MM:SS`.
    pub init_time: String,
    /// The X2Go session cookie (secret).
    #[serde(skip)]
    pub cookie: String,
    pub client: String,
    pub graphics_port: Option<i32>,
    pub sound_port: Option<i32>,
    pub last_time: String,
    pub user: String,
    /// Seconds since `init_time` when the line was printed.
    pub age_secs: i64,
    pub fs_port: Option<i32>,
    pub tekictrl_port: Option<i32>,
    pub tekidata_port: Option<i32>,
    /// The line as printed (holds the cookie).
    #[serde(skip)]
    pub raw_line: String,
}

impl Session {
    /// Parse one line of `x2golistsessions_root` (without its newline).
    pub fn parse(line: &str) -> Result<Session, ParseError> {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() != FIELDS {
            return Err(ParseError::FieldCount { found: f.len() });
        }
        if f[1].is_empty() {
            return Err(ParseError::EmptySessionId);
        }
        if f[11].is_empty() {
            return Err(ParseError::EmptyUser);
        }
        Ok(Session {
            agent_pid: optional(f[0], "agent_pid")?,
            session_id: f[1].to_string(),
            display: number(f[2], "display")?,
            server: f[3].to_string(),
            status: f[4].parse()?,
            init_time: f[5].to_string(),
            cookie: f[6].to_string(),
            client: f[7].to_string(),
            graphics_port: optional(f[8], "gr_port")?,
            sound_port: optional(f[9], "sound_port")?,
            last_time: f[10].to_string(),
            user: f[11].to_string(),
            age_secs: number(f[12], "age_secs")?,
            fs_port: optional(f[13], "fs_port")?,
            tekictrl_port: optional(f[14], "tekictrl_port")?,
            tekidata_port: optional(f[15], "tekidata_port")?,
            raw_line: line.to_string(),
        })
    }

    /// The line as `x2golistsessions_root` prints these fields (absent
    /// numbers empty): `parse` of it gives the same session back.
    pub fn to_line(&self) -> String {
        fn opt<T: fmt::Display>(v: Option<T>) -> String {
            v.map(|v| v.to_string()).unwrap_or_default()
        }
        format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            opt(self.agent_pid),
            self.session_id,
            self.display,
            self.server,
            self.status,
            self.init_time,
            self.cookie,
            self.client,
            opt(self.graphics_port),
            opt(self.sound_port),
            self.last_time,
            self.user,
            self.age_secs,
            opt(self.fs_port),
            opt(self.tekictrl_port),
            opt(self.tekidata_port),
        )
    }

    /// The same session in the same state: every field but the age (which
    /// grows by itself) and the raw line (which contains the age) is equal.
    pub fn same_state(&self, other: &Session) -> bool {
        let strip = |s: &Session| Session {
            age_secs: 0,
            raw_line: String::new(),
            ..s.clone()
        };
        strip(self) == strip(other)
    }
}

/// Not `derive(Debug)`: the cookie and the raw line stay out of logs.
impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("session_id", &self.session_id)
            .field("user", &self.user)
            .field("server", &self.server)
            .field("status", &self.status)
            .field("display", &self.display)
            .field("agent_pid", &self.agent_pid)
            .field("client", &self.client)
            .field("init_time", &self.init_time)
            .field("last_time", &self.last_time)
            .field("age_secs", &self.age_secs)
            .finish_non_exhaustive()
    }
}

fn number<T: FromStr>(value: &str, field: &'static str) -> Result<T, ParseError> {
    value.parse().map_err(|_| ParseError::Number {
        field,
        value: value.to_string(),
    })
}

fn optional<T: FromStr>(value: &str, field: &'static str) -> Result<Option<T>, ParseError> {
    if value.is_empty() {
        Ok(None)
    } else {
        number(value, field).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNING: &str = "4242|alice-50-1795995008_stDXFCE_dp24|50|x2go1|R|2026-11-29T23:30:08|cookie123|127.0.0.1|30001|30002|2026-11-29T23:30:08|alice|0|30003|-1|-1";
    const INSERTED: &str = "|alice-51-1795995018_stDXFCE_dp24|51|x2go1|R|2026-11-29T23:30:18|||||2026-11-29T23:30:18|alice|62|||";

    #[test]
    fn parses_a_created_session() {
        let s = Session::parse(RUNNING).unwrap();
        assert_eq!(s.agent_pid, Some(4242));
        assert_eq!(s.session_id, "alice-50-1795995008_stDXFCE_dp24");
        assert_eq!(s.display, 50);
        assert_eq!(s.server, "x2go1");
        assert_eq!(s.status, SessionStatus::Running);
        assert_eq!(s.init_time, "2026-11-29T23:30:08");
        assert_eq!(s.cookie, "cookie123");
        assert_eq!(s.client, "127.0.0.1");
        assert_eq!((s.graphics_port, s.sound_port), (Some(30001), Some(30002)));
        assert_eq!(s.user, "alice");
        assert_eq!(s.age_secs, 0);
        assert_eq!(
            (s.fs_port, s.tekictrl_port, s.tekidata_port),
            (Some(30003), Some(-1), Some(-1))
        );
        assert_eq!(s.raw_line, RUNNING);
    }

    #[test]
    fn a_session_being_set_up_has_absent_fields() {
        let s = Session::parse(INSERTED).unwrap();
        assert_eq!(s.agent_pid, None);
        assert_eq!(s.cookie, "");
        assert_eq!(s.graphics_port, None);
        assert_eq!(s.tekidata_port, None);
        assert_eq!(s.age_secs, 62);
    }

    #[test]
    fn malformed_lines_say_why() {
        assert_eq!(
            Session::parse("a|b|c"),
            Err(ParseError::FieldCount { found: 3 })
        );
        let bad_status = RUNNING.replace("|R|", "|X|");
        assert_eq!(
            Session::parse(&bad_status),
            Err(ParseError::Status("X".into()))
        );
        let bad_display = RUNNING.replace("|50|x2go1", "|fifty|x2go1");
        assert_eq!(
            Session::parse(&bad_display),
            Err(ParseError::Number {
                field: "display",
                value: "fifty".into()
            })
        );
        let no_id = RUNNING.replace("alice-50-1795995008_stDXFCE_dp24", "");
        assert_eq!(Session::parse(&no_id), Err(ParseError::EmptySessionId));
    }

    #[test]
    fn secrets_stay_out_of_debug_and_json() {
        let s = Session::parse(RUNNING).unwrap();
        assert!(!format!("{s:?}").contains("cookie123"));
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("cookie123"), "{json}");
        assert!(json.contains("\"status\":\"R\""), "{json}");
    }

    #[test]
    fn lines_are_printed_as_parsed() {
        for line in [RUNNING, INSERTED] {
            let s = Session::parse(line).unwrap();
            assert_eq!(s.to_line(), line);
            assert_eq!(Session::parse(&s.to_line()).unwrap(), s);
        }
    }

    #[test]
    fn age_alone_is_not_a_change() {
        let a = Session::parse(RUNNING).unwrap();
        let older = Session::parse(&RUNNING.replace("|alice|0|", "|alice|7|")).unwrap();
        assert!(a.same_state(&older));
        let suspended = Session::parse(&RUNNING.replace("|R|", "|S|")).unwrap();
        assert!(!a.same_state(&suspended));
    }

    #[test]
    fn status_letters_round_trip() {
        for s in ["R", "S", "T", "F"] {
            assert_eq!(s.parse::<SessionStatus>().unwrap().to_string(), s);
        }
        assert!(SessionStatus::Suspended.is_live());
        assert!(!SessionStatus::Terminated.is_live());
    }
}
