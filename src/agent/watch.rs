//! Change detection between two session lists of one server: sessions
//! added, changed (status above all, but any field other than the age,
//! which grows by itself) and removed, keyed by session id. Pure.

use super::session::Session;
use std::collections::{HashMap, HashSet};

/// What differs from one list to the next.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Changes {
    /// Sessions not in the previous list, in the new list's order.
    pub added: Vec<Session>,
    /// Sessions in both whose state differs, as they are now, in the new
    /// list's order.
    pub changed: Vec<Session>,
    /// Ids of sessions no longer listed, in the previous list's order.
    pub removed: Vec<String>,
}

impl Changes {
    /// Nothing to report.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// The changes from `before` to `after`. A session id listed twice counts
/// once (its last line).
pub fn diff(before: &[Session], after: &[Session]) -> Changes {
    let old: HashMap<&str, &Session> = before.iter().map(|s| (s.session_id.as_str(), s)).collect();
    let new: HashMap<&str, &Session> = after.iter().map(|s| (s.session_id.as_str(), s)).collect();
    let mut changes = Changes::default();
    let mut seen = HashSet::new();
    for s in after {
        let id = s.session_id.as_str();
        if !seen.insert(id) {
            continue;
        }
        let now = new[id];
        match old.get(id) {
            None => changes.added.push(now.clone()),
            Some(prev) if !prev.same_state(now) => changes.changed.push(now.clone()),
            Some(_) => {}
        }
    }
    let mut gone = HashSet::new();
    for s in before {
        let id = s.session_id.as_str();
        if !new.contains_key(id) && gone.insert(id) {
            changes.removed.push(id.to_string());
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::session::SessionStatus;
    use proptest::prelude::*;

    fn session(id: &str, status: char, age: i64) -> Session {
        Session::parse(&format!(
            "7|{id}|50|x2go1|{status}|2026-01-01T00:00:00|c|127.0.0.1|1|2|2026-01-01T00:00:00|alice|{age}|3|-1|-1"
        ))
        .unwrap()
    }

    #[test]
    fn added_changed_removed() {
        let before = [
            session("a", 'R', 1),
            session("b", 'R', 1),
            session("c", 'S', 1),
        ];
        let after = [
            session("a", 'S', 2),
            session("c", 'S', 9),
            session("d", 'R', 0),
        ];
        let c = diff(&before, &after);
        assert_eq!(c.added, vec![session("d", 'R', 0)]);
        assert_eq!(c.changed.len(), 1);
        assert_eq!(c.changed[0].session_id, "a");
        assert_eq!(c.changed[0].status, SessionStatus::Suspended);
        assert_eq!(c.removed, vec!["b".to_string()]);
    }

    #[test]
    fn the_age_alone_is_no_change() {
        let c = diff(&[session("a", 'R', 1)], &[session("a", 'R', 60)]);
        assert!(c.is_empty(), "{c:?}");
    }

    #[test]
    fn a_pid_set_later_is_a_change() {
        let inserted = Session::parse("|a|50|x2go1|R|t|||||t|alice|0|||").unwrap();
        let created = session("a", 'R', 1);
        let c = diff(&[inserted], std::slice::from_ref(&created));
        assert_eq!(c.changed, vec![created]);
    }

    #[test]
    fn from_nothing_everything_is_added_and_back() {
        let all = [session("a", 'R', 1), session("b", 'S', 1)];
        assert_eq!(diff(&[], &all).added.len(), 2);
        assert_eq!(
            diff(&all, &[]).removed,
            vec!["a".to_string(), "b".to_string()]
        );
    }

    fn list() -> impl Strategy<Value = Vec<Session>> {
        proptest::collection::vec(
            (0u8..12, prop::sample::select(vec!['R', 'S', 'T']), 0i64..5),
            0..10,
        )
        .prop_map(|v| {
            v.into_iter()
                .map(|(id, st, age)| session(&format!("s{id}"), st, age))
                .collect()
        })
    }

    /// `after` as the broker would know it from `before` and the changes:
    /// the set of ids and each one's state.
    fn apply(before: &[Session], c: &Changes) -> HashMap<String, Session> {
        let mut known: HashMap<String, Session> = before
            .iter()
            .map(|s| (s.session_id.clone(), s.clone()))
            .collect();
        for id in &c.removed {
            known.remove(id);
        }
        for s in c.added.iter().chain(&c.changed) {
            known.insert(s.session_id.clone(), s.clone());
        }
        known
    }

    proptest! {
        #[test]
        fn applying_the_changes_gives_the_new_state(before in list(), after in list()) {
            let c = diff(&before, &after);
            let known = apply(&before, &c);
            let want: HashMap<String, Session> =
                after.iter().map(|s| (s.session_id.clone(), s.clone())).collect();
            prop_assert_eq!(known.len(), want.len());
            for (id, s) in &want {
                prop_assert!(known[id].same_state(s), "{}", id);
            }
        }

        #[test]
        fn a_list_has_no_changes_against_itself(l in list()) {
            prop_assert!(diff(&l, &l).is_empty());
        }
    }
}
