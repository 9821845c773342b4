//! Profile lists pre-rendered per configuration load: each profile's plain
//! section and JSON object are laid out once, with a slot for the user name
//! (the only per-user part without agent data), so a listsessions answer is
//! an ACL check and a few string copies per profile.

use super::pyjson::{self, Json};
use crate::broker::Loaded;
use crate::config::value::Value;
use crate::profiles::render::{render, RenderContext};
use crate::profiles::Profile;
use parking_lot::RwLock;
use std::sync::Arc;

/// Stands for the user name while laying out; control characters never
/// survive in a user name (the form parser turns them into spaces).
const USER_SLOT: &str = "\u{1}x2gobroker-user-slot\u{1}";

/// Text with at most one slot for the user name.
#[derive(Debug, Clone)]
pub struct Template {
    head: String,
    tail: Option<String>,
}

impl Template {
    fn split(text: String, slot: &str) -> Option<Self> {
        match text.matches(slot).count() {
            0 => Some(Template {
                head: text,
                tail: None,
            }),
            1 => {
                let (head, tail) = text.split_once(slot)?;
                Some(Template {
                    head: head.to_string(),
                    tail: Some(tail.to_string()),
                })
            }
            _ => None,
        }
    }

    /// Append with `user` in the slot (`json` escapes it as a JSON string body).
    pub fn fill(&self, out: &mut String, user: &str, json: bool) {
        out.push_str(&self.head);
        if let Some(tail) = &self.tail {
            if json {
                let mut quoted = String::with_capacity(user.len() + 2);
                pyjson::write_str(&mut quoted, user);
                out.push_str(&quoted[1..quoted.len() - 1]);
            } else {
                out.push_str(user);
            }
            out.push_str(tail);
        }
    }
}

/// One profile, laid out.
#[derive(Debug)]
pub struct Laid {
    pub profile: Arc<Profile>,
    /// `[id]\nkey=value\n...\n\n`
    pub plain: Template,
    /// The profile object as it sits inside `"profiles": {...}` (two levels deep).
    pub json: Template,
}

/// All profiles of one load, sorted by id; `None` for a profile that could
/// not be laid out (it is rendered per request instead).
#[derive(Debug)]
pub struct Listing {
    pub generation: u64,
    pub profiles: Vec<(Arc<Profile>, Option<Laid>)>,
}

/// A profile as a plain-protocol section: `[id]`, `key=value` lines, a blank line.
pub fn plain_section(id: &str, entries: &[(String, Value)]) -> String {
    let mut out = format!("[{id}]\n");
    for (k, v) in entries {
        out.push_str(k);
        out.push('=');
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out.push('\n');
    out
}

/// A profile as a JSON object laid out two levels deep (inside `"profiles"`).
pub fn json_object(entries: &[(String, Value)]) -> String {
    Json::object(
        entries
            .iter()
            .map(|(k, v)| (k.clone(), Json::from(v)))
            .collect(),
    )
    .to_text_at(2, 4)
}

fn lay_out(profile: &Arc<Profile>, default_autologin: bool) -> Option<Laid> {
    let entries = render(
        profile,
        &RenderContext {
            user: USER_SLOT,
            default_autologin,
        },
    );
    let plain = plain_section(&profile.id, &entries);
    let json = json_object(&entries);
    let mut escaped_slot = String::new();
    pyjson::write_str(&mut escaped_slot, USER_SLOT);
    let escaped_slot = &escaped_slot[1..escaped_slot.len() - 1];
    Some(Laid {
        profile: profile.clone(),
        plain: Template::split(plain, USER_SLOT)?,
        json: Template::split(json, escaped_slot)?,
    })
}

impl Listing {
    pub fn build(loaded: &Loaded) -> Self {
        let default_autologin = loaded.conf.global_bool("default-session-autologin");
        let mut profiles: Vec<(Arc<Profile>, Option<Laid>)> = loaded
            .profiles
            .profiles
            .iter()
            .map(|p| (p.clone(), lay_out(p, default_autologin)))
            .collect();
        profiles.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        Listing {
            generation: loaded.generation,
            profiles,
        }
    }
}

/// The listing of the configuration in force, rebuilt when it changes.
#[derive(Default)]
pub struct ListingCache {
    current: RwLock<Option<Arc<Listing>>>,
}

impl ListingCache {
    pub fn get(&self, loaded: &Loaded) -> Arc<Listing> {
        if let Some(l) = self.current.read().as_ref() {
            if l.generation == loaded.generation {
                return l.clone();
            }
        }
        let fresh = Arc::new(Listing::build(loaded));
        *self.current.write() = Some(fresh.clone());
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConf;
    use crate::profiles::ProfileSet;

    fn loaded(profiles: &str) -> Loaded {
        Loaded {
            conf: BrokerConf::defaults(),
            profiles: ProfileSet::parse("t", profiles).unwrap(),
            my_cookie: None,
            generation: 7,
        }
    }

    #[test]
    fn templates_match_direct_rendering() {
        let l = loaded("[b]\nname=B\nuser=BROKER_USER\n[a]\nname=A \"quoted\"\nuser=fixed\n");
        let listing = Listing::build(&l);
        assert_eq!(listing.profiles[0].0.id, "a");
        for (profile, laid) in &listing.profiles {
            let laid = laid.as_ref().unwrap();
            let user = "Zoë \"x\"";
            let entries = render(
                profile,
                &RenderContext {
                    user,
                    default_autologin: false,
                },
            );
            let mut plain = String::new();
            laid.plain.fill(&mut plain, user, false);
            assert_eq!(plain, plain_section(&profile.id, &entries));
            assert!(plain.contains("user=Zoë \"x\"\n") || profile.id == "a");
            let mut json = String::new();
            laid.json.fill(&mut json, user, true);
            assert_eq!(json, json_object(&entries));
        }
    }

    #[test]
    fn cache_follows_generation() {
        let cache = ListingCache::default();
        let mut l = loaded("[a]\n");
        let first = cache.get(&l);
        assert!(Arc::ptr_eq(&first, &cache.get(&l)));
        l.generation = 8;
        assert!(!Arc::ptr_eq(&first, &cache.get(&l)));
    }
}
