//! What a request asks for, parsed once from the protocol's words: the
//! task (its name spelled per dialect, plus the profile id it needs) and
//! the profile source (backend) it addresses.

/// Which profile source a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Inifile,
    Zeroconf,
    Base,
}

impl Backend {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "inifile" => Some(Backend::Inifile),
            "zeroconf" => Some(Backend::Zeroconf),
            "base" => Some(Backend::Base),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Inifile => "inifile",
            Backend::Zeroconf => "zeroconf",
            Backend::Base => "base",
        }
    }
}

/// The two spellings of the broker protocol: `/plain/` lists with
/// `listsessions`, `/json/` with `listprofiles` (and takes `listsessions`
/// for it too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Plain,
    Json,
}

/// A broker task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// No task: the access check alone (Python X2Go logs in that way).
    AuthCheck,
    /// `testcon`: the access check, answered with a short fixed text.
    TestCon,
    /// `listsessions` (plain) / `listprofiles` (json): the profiles the user may use.
    ListProfiles,
    /// `selectsession`: choose a server for one profile.
    SelectSession { profile_id: String },
    /// `setpass`: answered like the access check (no password is changed).
    SetPass,
}

/// A request that names no task the broker runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// Not a task of this dialect (the name is cut to 64 characters).
    #[error("unknown task '{0}'")]
    Unknown(String),
    #[error("selectsession without a profile id")]
    NoProfileId,
}

impl Task {
    /// The task `name` names in `dialect`; `profile_id` is the request's
    /// profile id field ("" when absent).
    pub fn parse(dialect: Dialect, name: &str, profile_id: &str) -> Result<Task, TaskError> {
        let task = match (name, dialect) {
            ("", _) => Task::AuthCheck,
            ("testcon", _) => Task::TestCon,
            ("listsessions", _) | ("listprofiles", Dialect::Json) => Task::ListProfiles,
            ("selectsession", _) if profile_id.is_empty() => return Err(TaskError::NoProfileId),
            ("selectsession", _) => Task::SelectSession {
                profile_id: profile_id.to_string(),
            },
            ("setpass", _) => Task::SetPass,
            (other, _) => return Err(TaskError::Unknown(other.chars().take(64).collect())),
        };
        Ok(task)
    }

    /// The task's name in `dialect` (the JSON answer echoes it).
    pub fn name(&self, dialect: Dialect) -> &'static str {
        match (self, dialect) {
            (Task::AuthCheck, _) => "",
            (Task::TestCon, _) => "testcon",
            (Task::ListProfiles, Dialect::Plain) => "listsessions",
            (Task::ListProfiles, Dialect::Json) => "listprofiles",
            (Task::SelectSession { .. }, _) => "selectsession",
            (Task::SetPass, _) => "setpass",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_per_dialect() {
        use Dialect::{Json, Plain};
        assert_eq!(Task::parse(Plain, "", ""), Ok(Task::AuthCheck));
        assert_eq!(
            Task::parse(Plain, "listsessions", ""),
            Ok(Task::ListProfiles)
        );
        assert_eq!(
            Task::parse(Json, "listsessions", ""),
            Ok(Task::ListProfiles)
        );
        assert_eq!(
            Task::parse(Json, "listprofiles", ""),
            Ok(Task::ListProfiles)
        );
        assert_eq!(
            Task::parse(Plain, "listprofiles", ""),
            Err(TaskError::Unknown("listprofiles".into()))
        );
        assert_eq!(Task::ListProfiles.name(Json), "listprofiles");
        assert_eq!(Task::ListProfiles.name(Plain), "listsessions");
        for (name, task) in [
            ("testcon", Task::TestCon),
            ("setpass", Task::SetPass),
            ("", Task::AuthCheck),
        ] {
            assert_eq!(Task::parse(Json, name, "p").as_ref(), Ok(&task));
            assert_eq!(task.name(Json), name);
        }
    }

    #[test]
    fn selectsession_needs_a_profile() {
        assert_eq!(
            Task::parse(Dialect::Plain, "selectsession", ""),
            Err(TaskError::NoProfileId)
        );
        assert_eq!(
            Task::parse(Dialect::Json, "selectsession", "p"),
            Ok(Task::SelectSession {
                profile_id: "p".into()
            })
        );
    }

    #[test]
    fn unknown_names_are_cut_for_the_log() {
        let long = "x".repeat(100);
        let Err(TaskError::Unknown(shown)) = Task::parse(Dialect::Plain, &long, "") else {
            panic!("accepted an unknown task");
        };
        assert_eq!(shown.len(), 64);
        assert_eq!(
            TaskError::NoProfileId.to_string(),
            "selectsession without a profile id"
        );
    }
}
