//! Authentication: the mechanisms (`none`, `pam`, `https_get`), group
//! lookups for ACLs, failed-login limiting, and authid cookie values;
//! `gate` (bounded admission to PAM and NSS) and `bounded` (capped tables)
//! keep what attackers can occupy finite.

pub mod bounded;
pub mod gate;
pub mod https_get;
pub mod nss;
pub mod pam;
pub mod ratelimit;

use crate::config::BrokerConf;

/// Why a mechanism gave no answer (as opposed to refusing the credentials).
/// The broker logs these and refuses the login; they never reach a client.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("authentication mechanism '{0}' is not available")]
    Unsupported(String),
    #[error("PAM service '{service}' could not start: {source}")]
    PamStart {
        service: String,
        source: ::pam::PamError,
    },
    #[error("PAM conversation for service '{service}' did not finish")]
    PamAborted { service: String },
    /// The mechanism was not asked: too many attempts wait for it.
    #[error("{what} busy: {why}")]
    Busy { what: &'static str, why: gate::Busy },
    #[error("https_get check at {host}:{port}: {source}")]
    HttpsGet {
        host: String,
        port: u16,
        source: https_get::HttpsGetError,
    },
}

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

    /// Whether a password is checked (every mechanism but `none`).
    pub fn checks_password(&self) -> bool {
        !matches!(self, Mechanism::None)
    }

    /// Check `login`'s `password`: `Ok(false)` is a refusal, `Err` means the
    /// mechanism gave no answer (the caller logs it and refuses the login).
    pub async fn verify(
        &self,
        pam: &pam::Pam,
        login: &str,
        password: &str,
    ) -> Result<bool, AuthError> {
        match self {
            Mechanism::None => Ok(true),
            Mechanism::Pam => pam.check(login, password).await,
            Mechanism::HttpsGet(target) => https_get::check(target, login, password).await,
            Mechanism::Unsupported(name) => Err(AuthError::Unsupported(name.clone())),
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

/// Whether `a` and `b` are equal, in a time that depends only on their
/// lengths, not on where they differ (for secrets such as `my-cookie`).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding9_constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"my-cookie-1", b"my-cookie-1"));
        assert!(!constant_time_eq(b"my-cookie-1", b"my-cookie-2"));
        assert!(!constant_time_eq(b"Xy-cookie-1", b"my-cookie-1"));
        assert!(!constant_time_eq(b"my-cookie", b"my-cookie-1"));
        assert!(!constant_time_eq(b"my-cookie-1", b""));
    }

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

    #[tokio::test]
    async fn verify_by_mechanism() {
        let pam = pam::Pam::new("x2gobroker-no-such-service", 1);
        assert!(Mechanism::None.verify(&pam, "u", "").await.unwrap());
        let e = Mechanism::Unsupported("ldap".into())
            .verify(&pam, "u", "p")
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "authentication mechanism 'ldap' is not available"
        );
        // Empty credentials never reach PAM.
        assert!(!Mechanism::Pam.verify(&pam, "", "p").await.unwrap());
    }
}
