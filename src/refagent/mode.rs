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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::ProfileSet;

    fn mode(conf: &str, profile: &str) -> QueryMode {
        let conf = BrokerConf::parse("x2gobroker.conf", conf).unwrap();
        let set = ProfileSet::parse("profiles.conf", profile).unwrap();
        QueryMode::of(&conf, &set.profiles[0])
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
