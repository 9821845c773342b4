//! The access check (the reference's `check_access()`): password through
//! the configured mechanism behind the failed-login limiter, the
//! pre-shared cookie, and single-use authid cookies kept in the ledger.

use super::{now_ms, Backend, Broker, BrokerError, Loaded};
use crate::auth::{self, Mechanism};
use crate::logsafe::escaped;
use crate::state::{Command, Outcome};
use std::time::Duration;

/// The answer of an access check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Granted {
        next_cookie: Option<String>,
    },
    Denied,
    /// Too many failed logins; retry after this long.
    Limited(Duration),
}

/// What a client presents to be let in.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    pub user: &'a str,
    pub password: &'a str,
    /// The authid cookie, "" when none.
    pub cookie: &'a str,
    /// The client address as text.
    pub ip: &'a str,
}

impl Broker {
    /// The reference's `check_access()`, with cookies in the state machine.
    /// `issue_cookie` false (UCCS basic auth) skips storing a new cookie.
    /// `Err` when the ledger could not decide (nothing was granted).
    pub async fn check_access(
        &self,
        loaded: &Loaded,
        backend: Backend,
        creds: Credentials<'_>,
        issue_cookie: bool,
    ) -> Result<Access, BrokerError> {
        let Credentials {
            user,
            password,
            cookie,
            ip,
        } = creds;
        let (require_password, require_cookie) = loaded.conf.credential_policy();
        if !require_password && !require_cookie {
            return Ok(Access::Granted { next_cookie: None });
        }
        if user == "check-credentials" && password == "FALSE" {
            return Ok(Access::Denied);
        }
        if cookie.is_empty() && require_cookie {
            return Ok(Access::Denied);
        }
        let presented_my_cookie = loaded.my_cookie.as_deref().is_some_and(|c| c == cookie);
        if !require_password {
            return Ok(if presented_my_cookie {
                Access::Granted {
                    next_cookie: loaded.my_cookie.clone(),
                }
            } else {
                Access::Denied
            });
        }
        if presented_my_cookie || cookie.is_empty() {
            return self
                .password_login(loaded, backend, creds, issue_cookie)
                .await;
        }
        let next = if loaded.conf.global_bool("use-static-cookie") {
            cookie.to_string()
        } else {
            auth::new_cookie()
        };
        let timeout_s = loaded.conf.int("global", "auth-timeout").max(0) as u64;
        let cmd = Command::RedeemCookie {
            user: user.to_string(),
            cookie: cookie.to_string(),
            ip: ip.to_string(),
            now: now_ms(),
            verify_ip: loaded.conf.global_bool("verify-ip"),
            timeout_ms: timeout_s.saturating_mul(1000),
            next,
        };
        match self.ledger.submit(cmd).await? {
            Outcome::CookieAccepted { next } => Ok(Access::Granted {
                next_cookie: Some(next),
            }),
            Outcome::CookieRefused(why) => {
                tracing::warn!(user = %escaped(user), client = %ip, reason = ?why, "authid cookie refused");
                Ok(Access::Denied)
            }
            other => Err(BrokerError::unexpected("RedeemCookie", &other)),
        }
    }

    /// A password login behind the failed-login limiter; on success a fresh
    /// cookie (stored in the ledger when `issue_cookie`).
    async fn password_login(
        &self,
        loaded: &Loaded,
        backend: Backend,
        creds: Credentials<'_>,
        issue_cookie: bool,
    ) -> Result<Access, BrokerError> {
        let Credentials { user, ip, .. } = creds;
        if let Some(wait) = self.login_blocked_for(user, ip).await {
            tracing::warn!(user = %escaped(user), client = %ip, "login refused: too many failed attempts");
            return Ok(Access::Limited(wait));
        }
        if !self
            .authenticate(loaded, backend, user, creds.password)
            .await
        {
            self.login_failed(user, ip).await;
            tracing::warn!(user = %escaped(user), client = %ip, "authentication failed");
            return Ok(Access::Denied);
        }
        self.login_succeeded(user).await;
        tracing::info!(user = %escaped(user), client = %ip, "authentication succeeded");
        let next = auth::new_cookie();
        if !user.is_empty() && issue_cookie {
            let cmd = Command::IssueCookie {
                user: user.to_string(),
                cookie: next.clone(),
                ip: ip.to_string(),
                at: now_ms(),
            };
            self.ledger.submit(cmd).await?;
        }
        Ok(Access::Granted {
            next_cookie: Some(next),
        })
    }

    /// Whether the backend's mechanism accepts the password; a mechanism
    /// that gives no answer refuses (and says why in the log).
    async fn authenticate(
        &self,
        loaded: &Loaded,
        backend: Backend,
        user: &str,
        password: &str,
    ) -> bool {
        let mechanism = Mechanism::from_conf(&loaded.conf, backend.name());
        match mechanism.verify(&self.pam, user, password).await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::error!(user = %escaped(user), error = %escaped(&e), "authentication mechanism failed; refusing login");
                false
            }
        }
    }
}
