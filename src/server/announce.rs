//! Start-up notices: what configuration was loaded, which of its settings
//! this broker does not act on, which PAM service file checks passwords,
//! and a warning when anyone who reaches a non-loopback listener gets in
//! without a password.

use crate::broker::Broker;
use crate::config::broker_conf::BACKENDS;
use crate::config::BrokerConf;
use std::net::SocketAddr;
use std::path::Path;

/// Log what was loaded and warn about settings this broker does not act
/// on; `public` are the addresses clients reach (HTTP, HTTPS, gRPC).
pub fn announce(broker: &Broker, public: &[SocketAddr]) {
    let loaded = broker.current();
    if let Some((listener, why)) = unauthenticated_exposure(&loaded.conf, public) {
        tracing::warn!(listener = %listener, why, "no authentication on a non-loopback listener: anyone who reaches it logs in as any user (and each such login stores a cookie)");
    }
    tracing::info!(
        conf = %loaded.conf.path,
        profiles = %loaded.profiles.path,
        count = loaded.profiles.profiles.len(),
        data_dir = %broker.settings.data_dir.display(),
        "configuration loaded"
    );
    for key in [
        "pre_auth_scripts",
        "post_auth_scripts",
        "select_session_scripts",
    ] {
        let set = loaded
            .conf
            .get("global", key)
            .and_then(|v| v.as_list())
            .is_some_and(|l| l.iter().any(|s| !s.is_empty()));
        if set {
            tracing::warn!(
                key,
                "optional broker scripts are Python modules of the reference and are not run"
            );
        }
    }
    let mode = loaded.conf.agent_query_mode("inifile");
    let ssh_profiles = loaded
        .profiles
        .profiles
        .iter()
        .filter(|p| {
            crate::refagent::QueryMode::of(&loaded.conf, p) == crate::refagent::QueryMode::Ssh
        })
        .count();
    if ssh_profiles > 0 && !crate::refagent::ssh::key_present(&broker.settings.broker_home) {
        tracing::warn!(keys = %broker.settings.broker_home.join(".ssh").display(), "agent query mode SSH without an SSH key of the broker: servers without an agent of ours are placed by port scan; make one with `x2gobroker keygen --ssh` and install it with x2gobroker-pubkeyauthorizer");
    } else if ssh_profiles > 0 {
        tracing::info!(mode = %mode, profiles = ssh_profiles, user = %crate::refagent::ssh::agent_user(), keys = %broker.settings.broker_home.join(".ssh").display(), timeout_s = broker.settings.ssh_agent_timeout.as_secs(), retry_s = broker.settings.ssh_agent_retry.as_secs(), "the reference's agents are asked over SSH for servers without an agent of ours");
    }
    if loaded.conf.auth_mech("inifile") == "pam" {
        pam_service_notice(&broker.settings.pam_service, Path::new(PAM_DIR));
    }
}

/// The first non-loopback listener, and why logins need no password
/// there, when the configuration asks for none.
fn unauthenticated_exposure(
    conf: &BrokerConf,
    public: &[SocketAddr],
) -> Option<(SocketAddr, &'static str)> {
    let listener = *public.iter().find(|a| !a.ip().is_loopback())?;
    let (require_password, require_cookie) = conf.credential_policy();
    let why = if !require_password && !require_cookie {
        "check-credentials or require-password is off"
    } else if require_password
        && BACKENDS
            .iter()
            .any(|b| conf.backend_enabled(b) && conf.auth_mech(b) == "none")
    {
        "a backend's auth-mech is none"
    } else {
        return None;
    };
    Some((listener, why))
}

/// Where PAM service files live.
const PAM_DIR: &str = "/etc/pam.d";
/// The service file this repository ships (`cluster-config/pam.d/x2gobroker`).
const BUNDLED_PAM_SERVICE: &str = include_str!("../../cluster-config/pam.d/x2gobroker");

/// Which PAM service file password checks go through: ours, the reference's
/// (Debian's x2gobroker-common ships one with other includes), or another.
fn pam_service_notice(service: &str, dir: &Path) {
    let path = dir.join(service);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let includes = pam_includes(&text);
            let origin = if text == BUNDLED_PAM_SERVICE {
                "bundled with x2gobroker-rs"
            } else if includes == ["common-auth", "common-password"] {
                "the reference's (Debian x2gobroker-common): account checks (expiry, locks) are not made"
            } else {
                "site-specific"
            };
            tracing::info!(file = %path.display(), includes = %includes.join(", "), origin, "PAM service in use");
        }
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "PAM service file not readable; PAM falls back to its \"other\" service")
        }
    }
}

/// The `@include` lines of a PAM service file, in order.
fn pam_includes(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("@include"))
        .map(str::trim)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_of_no_authentication_on_non_loopback_listeners_only() {
        let conf = |text: &str| BrokerConf::parse("t", text).unwrap();
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let v6_loopback: SocketAddr = "[::1]:8080".parse().unwrap();
        let public: SocketAddr = "192.0.2.10:443".parse().unwrap();
        let none = conf("[global]\ndefault-auth-mech = none\n[broker_inifile]\nenable = true\n");
        assert_eq!(
            unauthenticated_exposure(&none, &[loopback, v6_loopback]),
            None
        );
        assert_eq!(
            unauthenticated_exposure(&none, &[loopback, public]),
            Some((public, "a backend's auth-mech is none"))
        );
        let open = conf("[global]\nrequire-password = false\n");
        assert_eq!(
            unauthenticated_exposure(&open, &[public]).map(|(_, why)| why),
            Some("check-credentials or require-password is off")
        );
        let pam = conf("[global]\ndefault-auth-mech = pam\n[broker_inifile]\nenable = true\n");
        assert_eq!(unauthenticated_exposure(&pam, &[public]), None);
        let shared =
            conf("[global]\nrequire-password = false\nrequire-cookie = true\nmy-cookie = x\n");
        assert_eq!(unauthenticated_exposure(&shared, &[public]), None);
    }

    #[test]
    fn reads_the_includes_of_both_service_files() {
        assert_eq!(
            pam_includes(BUNDLED_PAM_SERVICE),
            ["common-auth", "common-account"]
        );
        let reference = "#%PAM-1.0\n@include common-auth\n@include common-password\n";
        assert_eq!(pam_includes(reference), ["common-auth", "common-password"]);
    }
}
