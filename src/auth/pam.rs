//! Password checks through the system's PAM stack (service `x2gobroker`,
//! as the reference uses). Runs on a blocking thread, a few at a time.

use super::AuthError;
use pam::{Authenticator, Converse};
use std::ffi::{CStr, CString};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The PAM service name the reference authenticates against.
pub const SERVICE: &str = "x2gobroker";

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
/// attempts sleep inside PAM and must not exhaust the blocking pool).
#[derive(Clone)]
pub struct Pam {
    slots: Arc<Semaphore>,
    service: String,
}

impl Pam {
    pub fn new(service: &str, concurrency: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            service: service.to_string(),
        }
    }

    /// Authenticate and run account management: `Ok(false)` when PAM refuses
    /// (or the credentials cannot
    /// be passed to it), `Err` when PAM itself could not run.
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
        let _slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| aborted())?;
        let (login, password, service) = (
            login.to_string(),
            password.to_string(),
            self.service.clone(),
        );
        tokio::task::spawn_blocking(move || {
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
