//! Password checks through the system's PAM stack (service `x2gobroker`,
//! as the reference uses). Runs on a blocking thread, a few at a time.

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

    /// Authenticate and run account management; `false` on any failure.
    pub async fn check(&self, login: &str, password: &str) -> bool {
        if login.is_empty()
            || password.is_empty()
            || login.contains('\0')
            || password.contains('\0')
        {
            return false;
        }
        let Ok(_slot) = self.slots.clone().acquire_owned().await else {
            return false;
        };
        let (login, password, service) = (
            login.to_string(),
            password.to_string(),
            self.service.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let mut auth = match Authenticator::with_handler(
                &service,
                Answers {
                    login: login.clone(),
                    password,
                },
            ) {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(service = %service, error = ?e, "PAM start failed");
                    return false;
                }
            };
            match auth.authenticate() {
                Ok(()) => true,
                Err(e) => {
                    tracing::debug!(user = %login, error = ?e, "PAM refused");
                    false
                }
            }
        })
        .await
        .unwrap_or(false)
    }
}
