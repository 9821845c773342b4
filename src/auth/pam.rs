//! Password checks through the system's PAM stack (service `x2gobroker`,
//! as the reference uses). Runs on a blocking thread, a few at a time,
//! behind a bounded queue (`gate`): when `QUEUE` attempts already wait, or
//! one waits longer than `MAX_WAIT`, the check is refused as busy.

use super::gate::Gate;
use super::AuthError;
use pam::{Authenticator, Converse};
use std::ffi::{CStr, CString};
use std::time::Duration;

/// The PAM service name the reference authenticates against.
pub const SERVICE: &str = "x2gobroker";
/// PAM conversations running at once (failed ones sleep in `pam_unix`'s delay).
pub const CONCURRENCY: usize = 16;
/// Attempts waiting for a conversation at most; more are refused as busy.
pub const QUEUE: usize = 64;
/// The longest an attempt waits for a conversation before it is refused as busy.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

/// Answers PAM's prompts with the login and the password; says nothing itself.
struct Answers {
    login: String,
    password: String,
}

impl Converse for Answers {
    fn prompt_echo(&mut self, _msg: &CStr) -> Result<CString, ()> {
        CString::new(self.login.clone()).map_err(|_| ())
    }
    fn prompt_blind(&mut self, _msg: &CStr) -> Result<CString, ()> {
        CString::new(self.password.clone()).map_err(|_| ())
    }
    fn info(&mut self, _msg: &CStr) {}
    fn error(&mut self, msg: &CStr) {
        tracing::debug!(message = %msg.to_string_lossy(), "PAM error message");
    }
    fn username(&self) -> &str {
        &self.login
    }
}

/// A PAM checker that bounds how many conversations run at once (failed
/// attempts sleep inside PAM and must not exhaust the blocking pool) and
/// how many wait for one.
#[derive(Clone)]
pub struct Pam {
    gate: Gate,
    service: String,
}

impl Pam {
    pub fn new(service: &str, concurrency: usize) -> Self {
        Self {
            gate: Gate::new(concurrency, QUEUE, MAX_WAIT),
            service: service.to_string(),
        }
    }

    /// Authenticate: `Ok(false)` when PAM refuses (or the credentials cannot
    /// be passed to it), `Err` when PAM itself could not run or was too busy
    /// (`AuthError::Busy`: PAM was not asked).
    pub async fn check(&self, login: &str, password: &str) -> Result<bool, AuthError> {
        if login.is_empty()
            || password.is_empty()
            || login.contains('\0')
            || password.contains('\0')
        {
            return Ok(false);
        }
        let aborted = || AuthError::PamAborted {
            service: self.service.clone(),
        };
        let slot = self
            .gate
            .enter()
            .await
            .map_err(|why| AuthError::Busy { what: "PAM", why })?;
        let (login, password, service) = (
            login.to_string(),
            password.to_string(),
            self.service.clone(),
        );
        tokio::task::spawn_blocking(move || {
            // The turn ends with the conversation, even if the caller went away.
            let _slot = slot;
            let answers = Answers {
                login: login.clone(),
                password,
            };
            let mut auth = Authenticator::with_handler(&service, answers)
                .map_err(|source| AuthError::PamStart { service, source })?;
            match auth.authenticate() {
                Ok(()) => Ok(true),
                Err(e) => {
                    tracing::debug!(user = %crate::logsafe::escaped(&login), error = ?e, "PAM refused");
                    Ok(false)
                }
            }
        })
        .await
        .map_err(|_| aborted())?
    }
}
