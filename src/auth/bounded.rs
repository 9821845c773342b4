//! A map with a hard cap on its entries, for tables that clients can grow
//! (failed-login counts, group lookups): keys are hashed with a per-map
//! random key (an entry costs the same whatever the client sent, and
//! collisions cannot be aimed at), and an index by last use lets expired
//! entries be dropped and, when the map is full, the least recently used
//! entry be evicted, each in O(log n) without scanning the map.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::time::Instant;

pub struct BoundedMap<V> {
    cap: usize,
    hasher: RandomState,
    entries: HashMap<u64, (Instant, V)>,
    /// (last use, key) of every entry, oldest first.
    by_use: BTreeSet<(Instant, u64)>,
}

impl<V> BoundedMap<V> {
    /// An empty map holding at most `cap` entries (at least one).
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            hasher: RandomState::new(),
            entries: HashMap::new(),
            by_use: BTreeSet::new(),
        }
    }

    /// The hashed key of `text`, for this map.
    pub fn key(&self, text: &str) -> u64 {
        self.hasher.hash_one(text)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: u64) -> Option<&V> {
        self.entries.get(&key).map(|(_, v)| v)
    }

    /// The entry, without marking it used.
    pub fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        self.entries.get_mut(&key).map(|(_, v)| v)
    }

    /// The entry for `key`, created with `make` when missing (evicting the
    /// least recently used entry when the map is full); marked used at `now`.
    pub fn entry(&mut self, key: u64, now: Instant, make: impl FnOnce() -> V) -> &mut V {
        match self.entries.get_mut(&key) {
            Some((used, _)) => {
                self.by_use.remove(&(*used, key));
                *used = now;
            }
            None => {
                while self.entries.len() >= self.cap {
                    let Some((_, oldest)) = self.by_use.pop_first() else {
                        break;
                    };
                    self.entries.remove(&oldest);
                }
                self.entries.insert(key, (now, make()));
            }
        }
        self.by_use.insert((now, key));
        &mut self.entries.get_mut(&key).expect("just inserted").1
    }

    /// Put `value` under `key` (replacing what was there), used at `now`.
    pub fn insert(&mut self, key: u64, now: Instant, value: V) {
        self.remove(key);
        self.entry(key, now, move || value);
    }

    pub fn remove(&mut self, key: u64) -> Option<V> {
        let (used, v) = self.entries.remove(&key)?;
        self.by_use.remove(&(used, key));
        Some(v)
    }

    /// Drop every entry last used before `cutoff`.
    pub fn drop_unused_since(&mut self, cutoff: Instant) {
        while let Some(&(used, key)) = self.by_use.first() {
            if used >= cutoff {
                break;
            }
            self.by_use.pop_first();
            self.entries.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn never_holds_more_than_its_cap_and_evicts_the_least_recently_used() {
        let mut m = BoundedMap::new(3);
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            *m.entry(m.key(name), at(i as u64), || 0) += 1;
        }
        // "a" used again: "b" is now the least recently used.
        *m.entry(m.key("a"), at(10), || 0) += 1;
        *m.entry(m.key("d"), at(11), || 0) += 1;
        assert_eq!(m.len(), 3);
        assert_eq!(m.get(m.key("a")), Some(&2));
        assert_eq!(m.get(m.key("b")), None);
        assert!(m.get(m.key("c")).is_some() && m.get(m.key("d")).is_some());
    }

    #[test]
    fn drops_what_was_not_used_since_a_cutoff() {
        let mut m = BoundedMap::new(10);
        let t0 = Instant::now();
        m.entry(m.key("old"), t0, || ());
        m.entry(m.key("new"), t0 + Duration::from_secs(5), || ());
        m.drop_unused_since(t0 + Duration::from_secs(1));
        assert_eq!(m.len(), 1);
        assert!(m.get(m.key("new")).is_some());
        assert_eq!(m.remove(m.key("new")), Some(()));
        assert!(m.is_empty());
    }
}
