//! `x2gobroker.conf`: every key the reference knows, with its default and
//! type, read from the unchanged file.

use super::ini::{self, IniDocument};
use super::value::{coerce, Kind, Value};
use super::ConfigError;
use std::collections::HashMap;

/// A default as the reference declares it (`None` is Python's `None`).
#[derive(Clone, Copy)]
enum Def {
    S(&'static str),
    B(bool),
    I(i64),
    /// An empty list default: the reference stores `[]` as `''`, read back as `['']`.
    L,
    None,
}

const DEFAULTS: &[(&str, &[(&str, Def)])] = &[
    (
        "global",
        &[
            ("check-credentials", Def::B(true)),
            ("require-password", Def::B(true)),
            ("require-cookie", Def::B(false)),
            ("use-static-cookie", Def::B(false)),
            ("auth-timeout", Def::I(36000)),
            ("cookie-directory", Def::S("/var/lib/x2gobroker/cookies")),
            ("verify-ip", Def::B(true)),
            ("pre_auth_scripts", Def::L),
            ("post_auth_scripts", Def::L),
            ("select_session_scripts", Def::L),
            ("my-cookie", Def::None),
            (
                "my-cookie-file",
                Def::S("/etc/x2go/broker/x2gobroker.authid"),
            ),
            ("enable-plain-output", Def::B(true)),
            ("enable-json-output", Def::B(true)),
            ("enable-uccs-output", Def::B(false)),
            ("my-uccs-url-base", Def::S("http://localhost:8080/")),
            ("default-auth-mech", Def::S("pam")),
            ("default-user-db", Def::S("libnss")),
            ("default-group-db", Def::S("libnss")),
            ("ignore-primary-group-memberships", Def::B(true)),
            ("default-session-autologin", Def::B(false)),
            (
                "default-authorized-keys",
                Def::S("%h/.x2go/authorized_keys"),
            ),
            (
                "default-sshproxy-authorized-keys",
                Def::S("%h/.x2go/authorized_keys"),
            ),
            ("default-agent-query-mode", Def::S("NONE")),
            ("default-agent-hostkey-policy", Def::S("RejectPolicy")),
            ("default-portscan-x2goservers", Def::B(true)),
            ("default-use-load-checker", Def::B(false)),
            ("load-checker-intervals", Def::I(300)),
        ],
    ),
    ("broker_base", &[("enable", Def::B(false))]),
    (
        "broker_zeroconf",
        &[
            ("enable", Def::B(false)),
            ("auth-mech", Def::S("pam")),
            ("user-db", Def::S("libnss")),
            ("group-db", Def::S("libnss")),
            ("desktop-shell", Def::S("KDE")),
            ("load-checker", Def::B(false)),
        ],
    ),
    (
        "broker_inifile",
        &[
            ("enable", Def::B(true)),
            (
                "session-profiles",
                Def::S("/etc/x2go/broker/x2gobroker-sessionprofiles.conf"),
            ),
            ("auth-mech", Def::S("")),
            ("user-db", Def::S("")),
            ("group-db", Def::S("")),
            ("use-load-checker", Def::B(true)),
        ],
    ),
    (
        "broker_ldap",
        &[
            ("enable", Def::B(false)),
            ("auth-mech", Def::S("ldap")),
            ("user-db", Def::S("ldap")),
            ("group-db", Def::S("ldap")),
            ("uri", Def::S("ldap://localhost:389")),
            ("base", Def::S("dc=example,dc=org")),
            (
                "user-search-filter",
                Def::S("(&(objectClass=posixAccount)(uid=*))"),
            ),
            (
                "host-search-filter",
                Def::S("(&(objectClass=ipHost)(serial=X2GoServer)(cn=*))"),
            ),
            (
                "group-search-filter",
                Def::S("(&(objectClass=posifxGroup)(cn=*))"),
            ),
            ("starttls", Def::B(false)),
            ("agent-query-mode", Def::S("SSH")),
            ("load-checker", Def::B(true)),
        ],
    ),
];

fn default_of(section: &str, key: &str) -> Option<Def> {
    DEFAULTS
        .iter()
        .find(|(s, _)| *s == section)
        .and_then(|(_, keys)| keys.iter().find(|(k, _)| *k == key))
        .map(|(_, d)| *d)
}

fn kind_of(def: Option<Def>) -> Kind {
    match def {
        Some(Def::B(_)) => Kind::Bool,
        Some(Def::I(_)) => Kind::Int,
        Some(Def::L) => Kind::List,
        _ => Kind::Str,
    }
}

/// The broker backends the reference ships.
pub const BACKENDS: &[&str] = &["inifile", "zeroconf", "base"];

/// The loaded `x2gobroker.conf`: typed values per section, defaults filled in.
#[derive(Debug, Clone)]
pub struct BrokerConf {
    pub path: String,
    values: HashMap<String, HashMap<String, Option<Value>>>,
}

impl BrokerConf {
    /// The built-in defaults alone (a missing file is not an error for the reference).
    pub fn defaults() -> Self {
        Self::from_doc("<defaults>", &IniDocument::default()).expect("defaults are valid")
    }

    pub fn parse(name: &str, text: &str) -> Result<Self, ConfigError> {
        let doc = ini::parse(name, text)?;
        Self::from_doc(name, &doc)
    }

    fn from_doc(name: &str, doc: &IniDocument) -> Result<Self, ConfigError> {
        let mut values: HashMap<String, HashMap<String, Option<Value>>> = HashMap::new();
        for (section, keys) in DEFAULTS {
            let map = values.entry(section.to_string()).or_default();
            for (key, def) in keys.iter() {
                let v = match def {
                    Def::S(s) => Some(Value::Str(s.to_string())),
                    Def::B(b) => Some(Value::Bool(*b)),
                    Def::I(i) => Some(Value::Int(*i)),
                    Def::L => Some(Value::List(vec![String::new()])),
                    Def::None => None,
                };
                map.insert(key.to_string(), v);
            }
        }
        let typed = |section: &str, e: &ini::Entry| -> Result<Value, ConfigError> {
            let kind = kind_of(default_of(section, &e.key));
            let wrong =
                |msg: String| Err(ConfigError::at(name, e.line, msg).key(&e.key, Some(section)));
            match coerce(kind, &e.value) {
                Ok(Value::Str(s)) if kind != Kind::Str => {
                    wrong(format!("{s:?} is not allowed here"))
                }
                Ok(v) => Ok(v),
                Err(invalid) => wrong(invalid.0),
            }
        };
        // [DEFAULT] keys apply to every section that does not set them.
        let mut sections: Vec<&str> = DEFAULTS.iter().map(|(s, _)| *s).collect();
        sections.extend(doc.sections.iter().map(|s| s.name.as_str()));
        for e in &doc.defaults {
            for section in &sections {
                let v = typed(section, e)?;
                values
                    .entry(section.to_string())
                    .or_default()
                    .insert(e.key.clone(), Some(v));
            }
        }
        for s in &doc.sections {
            for e in &s.entries {
                let v = typed(&s.name, e)?;
                values
                    .entry(s.name.clone())
                    .or_default()
                    .insert(e.key.clone(), Some(v));
            }
        }
        Ok(Self {
            path: name.to_string(),
            values,
        })
    }

    /// A value; `None` when the section or key is unknown or the value is Python's `None`.
    pub fn get(&self, section: &str, key: &str) -> Option<&Value> {
        self.values.get(section)?.get(key)?.as_ref()
    }

    pub fn has(&self, section: &str, key: &str) -> bool {
        self.values
            .get(section)
            .is_some_and(|m| m.contains_key(key))
    }

    pub fn str(&self, section: &str, key: &str) -> &str {
        self.get(section, key).and_then(Value::as_str).unwrap_or("")
    }

    pub fn bool(&self, section: &str, key: &str) -> bool {
        self.get(section, key).is_some_and(Value::truthy)
    }

    pub fn int(&self, section: &str, key: &str) -> i64 {
        self.get(section, key).and_then(Value::as_int).unwrap_or(0)
    }

    pub fn global_bool(&self, key: &str) -> bool {
        self.bool("global", key)
    }

    pub fn global_str(&self, key: &str) -> &str {
        self.str("global", key)
    }

    /// Whether `[broker_{backend}] enable` is set; unknown backends are never enabled.
    pub fn backend_enabled(&self, backend: &str) -> bool {
        BACKENDS.contains(&backend) && self.bool(&format!("broker_{backend}"), "enable")
    }

    /// The authentication mechanism for a backend: the backend's `auth-mech`,
    /// else `[global] default-auth-mech`, lower-cased.
    pub fn auth_mech(&self, backend: &str) -> String {
        let own = self.str(&format!("broker_{backend}"), "auth-mech");
        let mech = if own.is_empty() {
            self.global_str("default-auth-mech")
        } else {
            own
        };
        if mech.is_empty() {
            "pam".into()
        } else {
            mech.to_lowercase()
        }
    }

    /// The agent query mode as the reference resolves it (profile value aside).
    pub fn agent_query_mode(&self, backend: &str) -> String {
        let own = self.str(&format!("broker_{backend}"), "agent-query-mode");
        let global = self.global_str("default-agent-query-mode");
        let m = if !own.is_empty() { own } else { global };
        if m.is_empty() {
            "LOCAL".into()
        } else {
            m.to_uppercase()
        }
    }

    /// `require-password` and `require-cookie`, with the deprecated
    /// `check-credentials = false` switching both off.
    pub fn credential_policy(&self) -> (bool, bool) {
        if !self.global_bool("check-credentials") {
            return (false, false);
        }
        (
            self.global_bool("require-password"),
            self.global_bool("require-cookie"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_filled() {
        let c = BrokerConf::parse("t", "[global]\n").unwrap();
        assert!(c.global_bool("require-password"));
        assert_eq!(c.int("global", "auth-timeout"), 36000);
        assert_eq!(c.get("global", "my-cookie"), None);
        assert_eq!(
            c.get("global", "pre_auth_scripts"),
            Some(&Value::List(vec![String::new()]))
        );
        assert!(c.backend_enabled("inifile"));
        assert!(!c.backend_enabled("zeroconf"));
        assert!(!c.backend_enabled("nope"));
        assert_eq!(c.auth_mech("inifile"), "pam");
    }

    #[test]
    fn typed_values_and_errors() {
        let c = BrokerConf::parse(
            "t",
            "[global]\nrequire-password = no\nauth-timeout = 60\nmy-cookie = abc\n[broker_inifile]\nauth-mech = None\n",
        )
        .unwrap();
        assert_eq!(c.credential_policy(), (false, false));
        assert_eq!(c.int("global", "auth-timeout"), 60);
        assert_eq!(c.global_str("my-cookie"), "abc");
        assert_eq!(c.auth_mech("inifile"), "none");
        let e = BrokerConf::parse("b.conf", "[global]\nverify-ip = perhaps\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("b.conf:2") && e.contains("verify-ip"), "{e}");
        let e = BrokerConf::parse("b.conf", "[global]\nauth-timeout = not-set\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("auth-timeout"), "{e}");
    }

    #[test]
    fn deprecated_check_credentials() {
        let c = BrokerConf::parse("t", "[global]\ncheck-credentials = false\n").unwrap();
        assert_eq!(c.credential_policy(), (false, false));
    }
}
