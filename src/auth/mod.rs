//! Authentication: the mechanisms (`none`, `pam`, `https_get`), group
//! lookups for ACLs, failed-login limiting, and authid cookie values.

pub mod https_get;
pub mod nss;
pub mod pam;
pub mod ratelimit;

use crate::config::BrokerConf;

/// A configured authentication mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    None,
    Pam,
    HttpsGet(https_get::Target),
    /// A mechanism this broker does not provide: every login fails.
    Unsupported(String),
}

impl Mechanism {
    /// The mechanism for `backend` as `x2gobroker.conf` configures it.
    pub fn from_conf(conf: &BrokerConf, backend: &str) -> Self {
        match conf.auth_mech(backend).as_str() {
            "none" => Mechanism::None,
            "pam" => Mechanism::Pam,
            "https_get" => {
                let s = "authmech_https_get";
                let host = match conf.str(s, "host") {
                    "" => "localhost",
                    h => h,
                };
                let path = match conf.str(s, "path") {
                    "" => "/auth",
                    p => p,
                };
                let port = conf.str(s, "port").parse().unwrap_or(443);
                Mechanism::HttpsGet(https_get::Target {
                    host: host.to_string(),
                    port,
                    path: path.to_string(),
                })
            }
            other => Mechanism::Unsupported(other.to_string()),
        }
    }
}

/// A fresh random cookie in the reference's format (a UUID version 4).
pub fn new_cookie() -> String {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).expect("the OS random source works");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_look_like_uuid4_and_differ() {
        let a = new_cookie();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert_ne!(a, new_cookie());
    }

    #[test]
    fn mechanism_from_conf() {
        let c = BrokerConf::parse("t", "[global]\ndefault-auth-mech=https_get\n[authmech_https_get]\nhost=127.0.0.1\nport=8443\n").unwrap();
        assert_eq!(
            Mechanism::from_conf(&c, "inifile"),
            Mechanism::HttpsGet(https_get::Target {
                host: "127.0.0.1".into(),
                port: 8443,
                path: "/auth".into()
            })
        );
        let c = BrokerConf::parse("t", "[broker_inifile]\nauth-mech=ldap\n").unwrap();
        assert_eq!(
            Mechanism::from_conf(&c, "inifile"),
            Mechanism::Unsupported("ldap".into())
        );
    }
}
