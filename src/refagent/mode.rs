//! The agent query mode of a profile, with the reference's precedence: the
//! profile's `broker-agent-query-mode`, else the backend's
//! `agent-query-mode`, else `[global] default-agent-query-mode`.

use crate::config::BrokerConf;
use crate::profiles::Profile;

/// How the reference would ask about sessions and load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryMode {
    /// Not at all.
    None,
    /// The agent on this host (`/usr/lib/x2go/x2gobroker-agent`).
    Local,
    /// The agent on a server, over SSH (not queried by this broker yet).
    Ssh,
}

impl QueryMode {
    /// The mode `profile` (of the inifile backend) is queried with.
    pub fn of(conf: &BrokerConf, profile: &Profile) -> QueryMode {
        let mode = match profile.broker.get("broker-agent-query-mode") {
            Some(m) if !m.is_empty() => m.to_uppercase(),
            _ => conf.agent_query_mode("inifile"),
        };
        match mode.as_str() {
            "LOCAL" => QueryMode::Local,
            "SSH" => QueryMode::Ssh,
            _ => QueryMode::None,
        }
    }
}

/// Whether the reference's load checker would check `profile`'s servers
/// (inifile backend): it has at least two hosts, and its
/// `broker-use-load-checker` says so, or, where it does not say no,
/// `[global] default-use-load-checker` or `[broker_inifile]
/// use-load-checker` (default true) does. The reference also requires
/// the profile to have some `broker-*` option (see docs/compat.md).
pub fn uses_load_checker(conf: &BrokerConf, profile: &Profile) -> bool {
    if profile.hosts.len() < 2 {
        return false;
    }
    let own = profile
        .broker
        .get("broker-use-load-checker")
        .filter(|v| !v.is_empty())
        .map(|v| matches!(v.as_str(), "1" | "true" | "TRUE" | "True"));
    match own {
        Some(false) => false,
        Some(true) => true,
        None => {
            conf.global_bool("default-use-load-checker")
                || conf.bool("broker_inifile", "use-load-checker")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::ProfileSet;

    fn mode(conf: &str, profile: &str) -> QueryMode {
        let conf = BrokerConf::parse("x2gobroker.conf", conf).unwrap();
        let set = ProfileSet::parse("profiles.conf", profile).unwrap();
        QueryMode::of(&conf, &set.profiles[0])
    }

    fn checks(conf: &str, profile: &str) -> bool {
        let conf = BrokerConf::parse("x2gobroker.conf", conf).unwrap();
        let set = ProfileSet::parse("profiles.conf", profile).unwrap();
        uses_load_checker(&conf, &set.profiles[0])
    }

    #[test]
    fn load_checker_as_the_reference_decides() {
        let off = "[broker_inifile]\nuse-load-checker = false\n";
        // The backend's default (true) counts.
        assert!(checks("", "[p]\nhost=a,b\n"));
        assert!(!checks(off, "[p]\nhost=a,b\n"));
        // One host: never.
        assert!(!checks("", "[p]\nhost=a\nbroker-use-load-checker = true\n"));
        // The profile says yes or no; an empty value says nothing.
        assert!(checks(
            off,
            "[p]\nhost=a,b\nbroker-use-load-checker = true\n"
        ));
        assert!(!checks(
            "",
            "[p]\nhost=a,b\nbroker-use-load-checker = false\n"
        ));
        assert!(!checks(
            "",
            "[p]\nhost=a,b\nbroker-use-load-checker = yes\n"
        ));
        assert!(checks("", "[p]\nhost=a,b\nbroker-use-load-checker =\n"));
        // Global or backend: either switches it on.
        let global = "[global]\ndefault-use-load-checker = true\n[broker_inifile]\nuse-load-checker = false\n";
        assert!(checks(global, "[p]\nhost=a,b\n"));
    }

    #[test]
    fn profile_over_backend_over_global() {
        assert_eq!(mode("", "[p]\nhost=a\n"), QueryMode::None);
        let local = "[global]\ndefault-agent-query-mode = local\n";
        assert_eq!(mode(local, "[p]\nhost=a\n"), QueryMode::Local);
        let backend = "[global]\ndefault-agent-query-mode = LOCAL\n[broker_inifile]\nagent-query-mode = SSH\n";
        assert_eq!(mode(backend, "[p]\nhost=a\n"), QueryMode::Ssh);
        assert_eq!(
            mode(backend, "[p]\nhost=a\nbroker-agent-query-mode = NONE\n"),
            QueryMode::None
        );
    }
}
