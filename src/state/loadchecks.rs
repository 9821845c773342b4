//! The load checker's replicated table: per (profile, profile host name)
//! what the reference's agent last said to `checkload` (a load factor, or
//! why there is none), as the reference's load checker keeps it per
//! backend, profile and host. The node that polls (the leader) proposes
//! `LoadsChecked` as answers come and `LoadChecksRetain` when the set of
//! checked profile hosts changed; placement reads it (`PlaceWeighed`).

use super::command::Millis;
use super::pairs::{self, Write};
use super::State;
use serde::{Deserialize, Serialize};

/// The command format of the load checker's commands (`LoadsChecked`,
/// `LoadChecksRetain`, `PlaceWeighed`).
pub const LOAD_CHECKS_FORMAT: u32 = 2;

/// What a server's agent answered to `checkload`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CheckedLoad {
    /// The reference's load factor (higher: less loaded).
    Factor(i64),
    /// The agent could not be asked (the reference's `HOST-UNREACHABLE`).
    Unreachable,
    /// It answered without usable load data (`LOAD-DATA-BOGUS`).
    Bogus,
}

impl CheckedLoad {
    pub fn factor(self) -> Option<i64> {
        match self {
            CheckedLoad::Factor(f) => Some(f),
            _ => None,
        }
    }
}

impl std::fmt::Display for CheckedLoad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckedLoad::Factor(n) => write!(f, "{n}"),
            CheckedLoad::Unreachable => f.write_str("HOST-UNREACHABLE"),
            CheckedLoad::Bogus => f.write_str("LOAD-DATA-BOGUS"),
        }
    }
}

/// One answer of the load checker: `host` of `profile` said `load`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadCheck {
    pub profile: String,
    pub host: String,
    pub load: CheckedLoad,
}

/// The latest answer for one profile host, stamped by the polling node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LoadCheckRecord {
    pub load: CheckedLoad,
    pub at: Millis,
}

impl State {
    /// The latest load check of `host` in `profile`.
    pub fn load_check(&self, profile: &str, host: &str) -> Option<&LoadCheckRecord> {
        self.load_checks
            .get(&(profile.to_string(), host.to_string()))
    }

    /// Every load check: (profile, host) -> record.
    pub fn load_checks(&self) -> impl Iterator<Item = (&(String, String), &LoadCheckRecord)> {
        self.load_checks.iter()
    }

    /// Record `checks`, answered at `at`.
    pub(super) fn loads_checked(
        &mut self,
        at: Millis,
        checks: &[LoadCheck],
        writes: &mut Vec<Write>,
    ) {
        for c in checks {
            let rec = LoadCheckRecord { load: c.load, at };
            writes.push(pairs::load_check_put(&c.profile, &c.host, &rec));
            self.load_checks
                .insert((c.profile.clone(), c.host.clone()), rec);
        }
    }

    /// Forget the load checks of every (profile, host) not in `keep`.
    pub(super) fn retain_load_checks(
        &mut self,
        keep: &[(String, String)],
        writes: &mut Vec<Write>,
    ) {
        let keep: std::collections::BTreeSet<&(String, String)> = keep.iter().collect();
        let gone: Vec<(String, String)> = self
            .load_checks
            .keys()
            .filter(|k| !keep.contains(k))
            .cloned()
            .collect();
        for (p, h) in gone {
            writes.push(pairs::load_check_delete(&p, &h));
            self.load_checks.remove(&(p, h));
        }
    }

    pub(super) fn insert_load_check(&mut self, id: (String, String), rec: LoadCheckRecord) {
        self.load_checks.insert(id, rec);
    }
}
