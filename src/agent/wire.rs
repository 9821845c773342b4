//! The agent's typed values as `agent.proto` messages and back: sessions,
//! session lists and deltas, load reports, and broker commands with their
//! results.

use super::commands::{Command, CommandError, Outcome};
use super::load::{self, LoadMetrics};
use super::proto;
use super::session::{Session, SessionStatus};
use super::watch::Changes;
use std::time::{SystemTime, UNIX_EPOCH};

/// A broker command that cannot be executed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("command {command_id} names no command (newer broker?)")]
    NoCommand { command_id: u64 },
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl From<SessionStatus> for proto::SessionStatus {
    fn from(s: SessionStatus) -> proto::SessionStatus {
        match s {
            SessionStatus::Running => proto::SessionStatus::Running,
            SessionStatus::Suspended => proto::SessionStatus::Suspended,
            SessionStatus::Terminated => proto::SessionStatus::Terminated,
            SessionStatus::Finished => proto::SessionStatus::Finished,
        }
    }
}

impl From<&Session> for proto::Session {
    fn from(s: &Session) -> proto::Session {
        proto::Session {
            agent_pid: s.agent_pid,
            session_id: s.session_id.clone(),
            display: s.display,
            server: s.server.clone(),
            status: proto::SessionStatus::from(s.status).into(),
            init_time: s.init_time.clone(),
            cookie: s.cookie.clone(),
            client: s.client.clone(),
            graphics_port: s.graphics_port,
            sound_port: s.sound_port,
            last_time: s.last_time.clone(),
            user: s.user.clone(),
            age_secs: s.age_secs,
            fs_port: s.fs_port,
            tekictrl_port: s.tekictrl_port,
            tekidata_port: s.tekidata_port,
            raw_line: s.raw_line.clone(),
        }
    }
}

/// Every session of this server, listed at `at`.
pub fn session_list(sessions: &[Session], at: SystemTime) -> proto::SessionList {
    proto::SessionList {
        sessions: sessions.iter().map(proto::Session::from).collect(),
        listed_at_unix_ms: unix_ms(at),
    }
}

/// What changed, seen at `at`.
pub fn session_delta(changes: &Changes, at: SystemTime) -> proto::SessionDelta {
    proto::SessionDelta {
        added: changes.added.iter().map(proto::Session::from).collect(),
        changed: changes.changed.iter().map(proto::Session::from).collect(),
        removed: changes.removed.clone(),
        listed_at_unix_ms: unix_ms(at),
    }
}

/// The load now, with the number of running or suspended sessions.
pub fn load_report(m: &LoadMetrics, sessions: &[Session], at: SystemTime) -> proto::LoadReport {
    let live = sessions.iter().filter(|s| s.status.is_live()).count();
    proto::LoadReport {
        loadavg1: m.loadavg[0],
        loadavg5: m.loadavg[1],
        loadavg15: m.loadavg[2],
        loadavg_xx: m.loadavg_xx,
        mem_avail: m.mem_avail,
        my_mem_avail: m.my_mem_avail,
        num_cpu: m.num_cpu,
        cpu_mhz: m.cpu_mhz,
        session_count: u32::try_from(live).unwrap_or(u32::MAX),
        load_factor: load::load_factor(m),
        measured_at_unix_ms: unix_ms(at),
    }
}

/// The command a broker sent, with its id.
pub fn command(msg: proto::BrokerCommand) -> Result<(u64, Command), WireError> {
    use proto::broker_command::Command as C;
    let id = msg.command_id;
    let cmd = match msg.command.ok_or(WireError::NoCommand { command_id: id })? {
        C::Ping(proto::Ping {}) => Command::Ping,
        C::SuspendSession(c) => Command::Suspend {
            session_id: c.session_id,
            user: c.user,
        },
        C::TerminateSession(c) => Command::Terminate {
            session_id: c.session_id,
            user: c.user,
        },
        C::AddAuthorizedKey(c) => Command::AddAuthorizedKey {
            user: c.user,
            key: c.public_key,
            key_file: c.key_file,
            remove_after: (c.remove_after_secs > 0)
                .then(|| std::time::Duration::from_secs(u64::from(c.remove_after_secs))),
        },
        C::DelAuthorizedKey(c) => Command::DelAuthorizedKey {
            user: c.user,
            key: c.public_key,
            key_file: c.key_file,
        },
    };
    Ok((id, cmd))
}

/// The answer to command `command_id`.
pub fn command_result(
    command_id: u64,
    result: &Result<Outcome, CommandError>,
) -> proto::CommandResult {
    let (ok, message) = match result {
        Ok(o) => (true, o.to_string()),
        Err(e) => (false, e.to_string()),
    };
    proto::CommandResult {
        command_id,
        ok,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::testing::{LOAD, SESSION_LINE as LINE};
    use prost::Message;

    #[test]
    fn a_session_keeps_every_field_and_its_line() {
        let s = Session::parse(LINE).unwrap();
        let p = proto::Session::from(&s);
        assert_eq!(p.status(), proto::SessionStatus::Suspended);
        assert_eq!(p.raw_line, LINE);
        assert_eq!(p.agent_pid, Some(4242));
        assert_eq!(p.tekictrl_port, Some(-1));
        let decoded = proto::Session::decode(p.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded, p);
        let inserted =
            Session::parse("|a-51-1795995018_stDX_dp24|51|x2go1|R|t|||||t|alice|0|||").unwrap();
        assert_eq!(proto::Session::from(&inserted).graphics_port, None);
    }

    #[test]
    fn lists_deltas_and_load_reports() {
        let s = Session::parse(LINE).unwrap();
        let at = UNIX_EPOCH + std::time::Duration::from_millis(1234);
        let list = session_list(std::slice::from_ref(&s), at);
        assert_eq!((list.sessions.len(), list.listed_at_unix_ms), (1, 1234));
        let changes = Changes {
            removed: vec!["gone".into()],
            ..Changes::default()
        };
        assert_eq!(
            session_delta(&changes, at).removed,
            vec!["gone".to_string()]
        );
        let finished = Session::parse(&LINE.replace("|S|", "|F|")).unwrap();
        let r = load_report(&LOAD, &[s, finished], at);
        assert_eq!(
            (r.session_count, r.load_factor, r.loadavg_xx),
            (1, 52873, 236)
        );
    }

    #[test]
    fn broker_commands_become_typed_commands() {
        let msg = proto::BrokerCommand {
            command_id: 7,
            command: Some(proto::broker_command::Command::SuspendSession(
                proto::SuspendSession {
                    session_id: "sid".into(),
                    user: "alice".into(),
                },
            )),
        };
        assert_eq!(
            command(msg).unwrap(),
            (
                7,
                Command::Suspend {
                    session_id: "sid".into(),
                    user: "alice".into()
                }
            )
        );
        let empty = proto::BrokerCommand {
            command_id: 8,
            command: None,
        };
        assert_eq!(command(empty), Err(WireError::NoCommand { command_id: 8 }));
    }

    #[test]
    fn results_carry_the_id_and_the_reason() {
        let ok = command_result(3, &Ok(Outcome::Pong));
        assert_eq!(
            (ok.command_id, ok.ok, ok.message.as_str()),
            (3, true, "pong")
        );
        let refused = command_result(
            4,
            &Err(CommandError::NotOnThisServer {
                session_id: "sid".into(),
                hostname: "x2go1".into(),
            }),
        );
        assert!(!refused.ok);
        assert!(refused.message.contains("not a session of this server"));
    }
}
