//! What can go wrong in a broker task, apart from refusing the client
//! (that is an answer, not an error): the ledger, the configuration files,
//! or a state command answered out of kind. Frontends map these to their
//! status codes in one place each and log the text; clients see at most
//! `public_reason`.

use super::{LedgerError, LoadError};
use crate::state::Outcome;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The authentication mechanism was too busy to ask (`AuthError::Busy`);
    /// the attempt was not counted as a failure.
    #[error(transparent)]
    AuthBusy(crate::auth::AuthError),
    /// The state machine answered a command with an outcome of another kind (a bug).
    #[error("state command {command} answered {outcome}")]
    UnexpectedOutcome {
        command: &'static str,
        outcome: String,
    },
}

impl BrokerError {
    pub(super) fn unexpected(command: &'static str, outcome: &Outcome) -> Self {
        BrokerError::UnexpectedOutcome {
            command,
            outcome: format!("{outcome:?}"),
        }
    }

    /// The reason a client may be told (no internal detail), if any.
    pub fn public_reason(&self) -> Option<&'static str> {
        match self {
            BrokerError::Ledger(e) => e.public_reason(),
            BrokerError::AuthBusy(_) => Some("authentication busy"),
            BrokerError::Load(_) | BrokerError::UnexpectedOutcome { .. } => None,
        }
    }
}
