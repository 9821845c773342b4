//! Session profiles from `x2gobroker-sessionprofiles.conf` with the
//! reference's semantics: `[DEFAULT]` over the built-in defaults, typed
//! values, host lists, and the `broker-*` / `acl-*` keys kept apart from what
//! clients see.

pub mod hosts;
pub mod render;

use crate::acl::Acls;
use crate::config::ini::{self, Entry, IniDocument};
use crate::config::value::{coerce, Kind, Value};
use crate::config::ConfigError;
use hosts::{parse_host, HostItem};
use std::collections::HashMap;
use std::sync::Arc;

/// Built-in profile defaults, in the reference's order.
pub const BUILTIN_DEFAULTS: &[(&str, &str, Kind)] = &[
    ("command", "TERMINAL", Kind::Str),
    ("kdrive", "false", Kind::Bool),
    ("defsndport", "true", Kind::Bool),
    ("useiconv", "false", Kind::Bool),
    ("iconvfrom", "UTF-8", Kind::Str),
    ("height", "600", Kind::Int),
    ("export", "", Kind::Str),
    ("quality", "9", Kind::Int),
    ("fullscreen", "false", Kind::Bool),
    ("layout", "", Kind::Str),
    ("useexports", "true", Kind::Bool),
    ("width", "800", Kind::Int),
    ("speed", "2", Kind::Int),
    ("soundsystem", "pulse", Kind::Str),
    ("print", "true", Kind::Bool),
    ("type", "auto", Kind::Str),
    ("sndport", "4713", Kind::Int),
    ("xinerama", "true", Kind::Bool),
    ("variant", "", Kind::Str),
    ("usekbd", "true", Kind::Bool),
    ("fstunnel", "true", Kind::Bool),
    (
        "applications",
        "TERMINAL, WWWBROWSER, MAILCLIENT, OFFICE",
        Kind::List,
    ),
    ("multidisp", "false", Kind::Bool),
    ("sshproxyport", "22", Kind::Int),
    ("sound", "true", Kind::Bool),
    ("rootless", "true", Kind::Bool),
    ("iconvto", "UTF-8", Kind::Str),
    ("soundtunnel", "true", Kind::Bool),
    ("dpi", "96", Kind::Int),
    ("sshport", "22", Kind::Int),
    ("setdpi", "0", Kind::Int),
    ("pack", "16m-jpeg", Kind::Str),
    ("user", "BROKER_USER", Kind::Str),
    ("host", "localhost", Kind::List),
    ("directrdp", "false", Kind::Bool),
    ("acl-users-allow", "", Kind::List),
    ("acl-users-deny", "", Kind::List),
    ("acl-users-order", "", Kind::Str),
    ("acl-groups-allow", "", Kind::List),
    ("acl-groups-deny", "", Kind::List),
    ("acl-groups-order", "", Kind::Str),
    ("acl-clients-allow", "", Kind::List),
    ("acl-clients-deny", "", Kind::List),
    ("acl-clients-order", "", Kind::Str),
    ("acl-any-order", "deny-allow", Kind::Str),
];

/// Session types that are full desktops: `rootless` is forced off for them.
pub const DESKTOP_SESSIONS: &[&str] = &[
    "KDE", "GNOME", "XFCE", "CINNAMON", "MATE", "LXDE", "TRINITY", "UNITY", "ICEWM", "OPENBOX",
    "XDMCP",
];

fn kind_of(key: &str) -> Kind {
    BUILTIN_DEFAULTS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, _, kind)| *kind)
        .unwrap_or(Kind::Str)
}

/// One session profile as the broker holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub id: String,
    /// Client-visible keys in the reference's order, `not-set` values included
    /// (they are dropped per user, as the reference does).
    pub entries: Vec<(String, Value)>,
    /// The `host=` items, parsed.
    pub hosts: Vec<HostItem>,
    /// The profile's `sshport` (22 when unusable).
    pub sshport: i64,
    /// `broker-*` keys with non-empty values, as strings.
    pub broker: HashMap<String, String>,
    pub acls: Acls,
}

impl Profile {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn command(&self) -> &str {
        self.get("command").and_then(Value::as_str).unwrap_or("")
    }

    pub fn is_shadow(&self) -> bool {
        self.command() == "SHADOW"
    }

    pub fn host_names(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.name.clone()).collect()
    }

    /// The address handed out for host `name` (the name itself without a mapping).
    pub fn address_of(&self, name: &str) -> String {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .and_then(|h| h.address.clone())
            .unwrap_or_else(|| name.to_string())
    }

    /// The SSH port for host `name`.
    pub fn port_of(&self, name: &str) -> i64 {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .and_then(|h| h.port)
            .unwrap_or(self.sshport)
    }

    /// A `broker-*` option read as the reference reads booleans there.
    pub fn broker_flag(&self, key: &str) -> Option<bool> {
        self.broker
            .get(key)
            .map(|v| matches!(v.to_lowercase().as_str(), "1" | "true"))
    }
}

/// All profiles of one file, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileSet {
    pub path: String,
    pub profiles: Vec<Arc<Profile>>,
}

impl ProfileSet {
    pub fn parse(name: &str, text: &str) -> Result<Self, ConfigError> {
        let doc = ini::parse(name, text)?;
        Self::from_doc(name, &doc)
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Profile>> {
        self.profiles.iter().find(|p| p.id == id)
    }

    fn from_doc(name: &str, doc: &IniDocument) -> Result<Self, ConfigError> {
        let typed = |section: &str, e: &Entry| -> Result<Value, ConfigError> {
            coerce(kind_of(&e.key), &e.value).map_err(|invalid| {
                ConfigError::at(name, e.line, invalid).key(&e.key, Some(section))
            })
        };
        // The effective [DEFAULT]: the file's keys in file order, then the
        // built-in ones it does not set.
        let mut defaults: Vec<(String, Value)> = Vec::new();
        for e in &doc.defaults {
            defaults.push((e.key.clone(), typed("DEFAULT", e)?));
        }
        for (key, raw, kind) in BUILTIN_DEFAULTS {
            if !defaults.iter().any(|(k, _)| k == key) {
                defaults.push((
                    key.to_string(),
                    coerce(*kind, raw).expect("built-in default"),
                ));
            }
        }
        let mut profiles = Vec::new();
        for section in &doc.sections {
            // The section's keys, then every default it does not override.
            let mut all: Vec<(String, Value)> = Vec::new();
            for e in &section.entries {
                all.push((e.key.clone(), typed(&section.name, e)?));
            }
            for (k, v) in &defaults {
                if !all.iter().any(|(key, _)| key == k) {
                    all.push((k.clone(), v.clone()));
                }
            }
            profiles.push(Arc::new(build_profile(&section.name, all)));
        }
        Ok(Self {
            path: name.to_string(),
            profiles,
        })
    }
}

fn build_profile(id: &str, all: Vec<(String, Value)>) -> Profile {
    let mut acl_values: Vec<(String, Value)> = Vec::new();
    let mut broker = HashMap::new();
    let mut entries = Vec::new();
    for (key, value) in all {
        if key.starts_with("acl-") {
            acl_values.push((key, value));
        } else if let Some(_opt) = key.strip_prefix("broker-") {
            let s = value.to_string();
            if !s.is_empty() {
                broker.insert(key, s);
            }
        } else if key == "default" {
            // The reference drops a key named `default` from every profile.
            continue;
        } else {
            // The reference drops empty items from list-typed default keys.
            let value = match (kind_of(&key), value) {
                (Kind::List, Value::List(l)) => {
                    Value::List(l.into_iter().filter(|v| !v.is_empty()).collect())
                }
                (_, v) => v,
            };
            entries.push((key, value));
        }
    }
    let sshport = entries
        .iter()
        .find(|(k, _)| k == "sshport")
        .and_then(|(_, v)| v.as_int())
        .unwrap_or(22);
    let mut hosts = Vec::new();
    if let Some((_, Value::List(items))) = entries.iter_mut().find(|(k, _)| k == "host") {
        hosts = items
            .iter()
            .map(|h| parse_host(h, sshport))
            .collect::<Vec<_>>();
        *items = hosts.iter().map(|h| h.name.clone()).collect();
    }
    Profile {
        id: id.to_string(),
        entries,
        hosts,
        sshport,
        broker,
        acls: Acls::from_values(&acl_values),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "[DEFAULT]\ncommand=TERMINAL\nuser=BROKER_USER\nwidth=1024\n\n[pool]\nname=Pool\nhost=srv1 (127.0.0.2), srv2 (127.0.0.3:2222), srv3\ncommand=KDE\nheight=not-set\nbroker-session-autologin=true\nacl-users-allow=alice\n";

    #[test]
    fn defaults_merge_in_reference_order() {
        let set = ProfileSet::parse("p", FILE).unwrap();
        let p = &set.profiles[0];
        let keys: Vec<&str> = p.entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            &keys[..6],
            &["name", "host", "command", "height", "user", "width"]
        );
        assert_eq!(p.get("width"), Some(&Value::Int(1024)));
        assert_eq!(p.get("height"), Some(&Value::Str("not-set".into())));
        assert_eq!(p.get("fullscreen"), Some(&Value::Bool(false)));
        assert!(p.get("broker-session-autologin").is_none());
        assert!(p.get("acl-users-allow").is_none());
        assert_eq!(p.broker_flag("broker-session-autologin"), Some(true));
        assert_eq!(p.host_names(), vec!["srv1", "srv2", "srv3"]);
        assert_eq!(p.address_of("srv2"), "127.0.0.3");
        assert_eq!(p.port_of("srv2"), 2222);
        assert_eq!(p.port_of("srv3"), 22);
        assert_eq!(p.acls.users_allow, vec!["alice"]);
    }

    #[test]
    fn bad_values_name_file_line_and_key() {
        let e = ProfileSet::parse("p.conf", "[x]\nwidth=wide\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p.conf:2: key 'width' in [x]"), "{e}");
        let e = ProfileSet::parse("p.conf", "[x]\nfullscreen=sometimes\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("fullscreen"), "{e}");
    }

    #[test]
    fn empty_list_items_dropped() {
        let set = ProfileSet::parse("p", "[x]\nhost=a,,b,\napplications=\n").unwrap();
        assert_eq!(set.profiles[0].host_names(), vec!["a", "b"]);
        assert_eq!(
            set.profiles[0].get("applications"),
            Some(&Value::List(vec![]))
        );
    }

    #[test]
    fn key_named_default_is_dropped() {
        let set =
            ProfileSet::parse("p", "[DEFAULT]\ndefault=1\n[x]\ndefault=yes\nname=x\n").unwrap();
        assert!(set.profiles[0].get("default").is_none());
        assert!(set.profiles[0].get("name").is_some());
    }
}
