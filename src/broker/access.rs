//! The access check (the reference's `check_access()`): password through
//! the configured mechanism behind the failed-login limiter, the
//! pre-shared cookie, and single-use authid cookies kept in the ledger.
//! A presented authid cookie is looked up in the applied state first (after
//! the read barrier when this node does not know it): only a cookie that
//! exists becomes a state command; an unknown one is refused without a
//! write and counts against the client address like a failed password.

use super::{now_ms, Backend, Broker, BrokerError, Loaded};
use crate::auth::ratelimit::Settled;
use crate::auth::{self, AuthError, Mechanism};
use crate::logsafe::escaped;
use crate::metrics::METRICS;
use crate::state::{Command, CookieRefusal, Outcome};
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
        self.access(loaded, backend, creds, issue_cookie, false)
            .await
    }

    /// The access check of SSH broker mode: the user logged in over SSH, so
    /// the password counts as accepted (the reference's
    /// `override_password_auth`); cookies are checked and issued as usual.
    pub async fn check_access_logged_in(
        &self,
        loaded: &Loaded,
        backend: Backend,
        creds: Credentials<'_>,
    ) -> Result<Access, BrokerError> {
        self.access(loaded, backend, creds, true, true).await
    }

    async fn access(
        &self,
        loaded: &Loaded,
        backend: Backend,
        creds: Credentials<'_>,
        issue_cookie: bool,
        logged_in: bool,
    ) -> Result<Access, BrokerError> {
        let Credentials {
            user,
            password,
            cookie,
            ..
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
        let presented_my_cookie = loaded
            .my_cookie
            .as_deref()
            .is_some_and(|c| crate::auth::constant_time_eq(c.as_bytes(), cookie.as_bytes()));
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
                .password_login(loaded, backend, creds, issue_cookie, logged_in)
                .await;
        }
        self.cookie_login(loaded, creds).await
    }

    /// A login with an authid cookie: refused without a state command when
    /// the cookie does not exist (counted against the client address),
    /// else redeemed through the ledger, chaining to the next cookie.
    async fn cookie_login(
        &self,
        loaded: &Loaded,
        creds: Credentials<'_>,
    ) -> Result<Access, BrokerError> {
        let Credentials {
            user, cookie, ip, ..
        } = creds;
        if !self.cookie_known(user, cookie) {
            if let Some(wait) = self.cookie_blocked_for(ip).await {
                tracing::warn!(user = %escaped(user), client = %ip, "authid cookie refused: too many failed attempts");
                return Ok(Access::Limited(wait));
            }
            // Issued through another node, it may be committed but not applied here yet.
            self.ledger.read_barrier().await?;
            if !self.cookie_known(user, cookie) {
                self.cookie_failed(ip).await;
                tracing::warn!(user = %escaped(user), client = %ip, reason = ?CookieRefusal::Unknown, "authid cookie refused");
                return Ok(Access::Denied);
            }
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

    /// Whether `user`'s `cookie` is in the state this node has applied (a
    /// read: nothing is proposed for a cookie that does not exist).
    fn cookie_known(&self, user: &str, cookie: &str) -> bool {
        self.ledger.read(|s| s.cookie(user, cookie).is_some())
    }

    /// A password login behind the failed-login limiter (none when
    /// `logged_in` over SSH); on success a fresh cookie (stored in the
    /// ledger when `issue_cookie`).
    async fn password_login(
        &self,
        loaded: &Loaded,
        backend: Backend,
        creds: Credentials<'_>,
        issue_cookie: bool,
        logged_in: bool,
    ) -> Result<Access, BrokerError> {
        let Credentials { user, ip, .. } = creds;
        let mechanism = Mechanism::from_conf(&loaded.conf, backend.name());
        if logged_in {
            // Authenticated by the SSH login (see `check_access_logged_in`).
        } else if mechanism.checks_password() {
            if let Err(refused) = self.check_password(&mechanism, creds).await? {
                return Ok(refused);
            }
        } else {
            if let Some(wait) = self.login_blocked_for(user, ip).await {
                tracing::warn!(user = %escaped(user), client = %ip, "login refused: too many failed attempts");
                return Ok(Access::Limited(wait));
            }
            self.login_succeeded(user).await;
        }
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

    /// Ask `mechanism` about the password, the attempt reserved against the
    /// failed-login limits first: `Ok(Ok(()))` accepted, `Ok(Err(answer))`
    /// refused or limited, `Err` when the mechanism was too busy to ask. A
    /// mechanism that gives no answer refuses (and says why in the log).
    pub(super) async fn check_password(
        &self,
        mechanism: &Mechanism,
        creds: Credentials<'_>,
    ) -> Result<Result<(), Access>, BrokerError> {
        let Credentials { user, ip, .. } = creds;
        let attempt = match self.login_attempt(user, ip).await {
            Ok(attempt) => attempt,
            Err(wait) => {
                tracing::warn!(user = %escaped(user), client = %ip, "login refused: too many failed attempts");
                METRICS.login_refused("rate_limited");
                return Ok(Err(Access::Limited(wait)));
            }
        };
        let accepted = match mechanism.verify(&self.pam, user, creds.password).await {
            Ok(accepted) => accepted,
            Err(e @ AuthError::Busy { .. }) => {
                self.login_settled(attempt, Settled::NotTried).await;
                tracing::warn!(user = %escaped(user), client = %ip, error = %e, "login refused: authentication busy");
                METRICS.login_refused("busy");
                return Err(BrokerError::AuthBusy(e));
            }
            Err(e) => {
                tracing::error!(user = %escaped(user), error = %escaped(&e), "authentication mechanism failed; refusing login");
                false
            }
        };
        if !accepted {
            self.login_settled(attempt, Settled::Failed).await;
            tracing::warn!(user = %escaped(user), client = %ip, "authentication failed");
            METRICS.login_failures.inc();
            return Ok(Err(Access::Denied));
        }
        self.login_settled(attempt, Settled::Succeeded).await;
        Ok(Ok(()))
    }
}
