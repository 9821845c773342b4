//! The process signals a node answers: SIGTERM and SIGINT stop it, SIGHUP
//! reloads the configuration files.

use super::ServerError;
use tokio::signal::unix::{signal, Signal, SignalKind};

fn install(kind: SignalKind, name: &'static str) -> Result<Signal, ServerError> {
    signal(kind).map_err(|source| ServerError::Signal { name, source })
}

/// Resolves at the first SIGTERM or SIGINT.
pub fn shutdown() -> Result<impl std::future::Future<Output = ()>, ServerError> {
    let mut term = install(SignalKind::terminate(), "SIGTERM")?;
    let mut int = install(SignalKind::interrupt(), "SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Every SIGHUP, as a stream of `recv()` calls.
pub fn reloads() -> Result<Signal, ServerError> {
    install(SignalKind::hangup(), "SIGHUP")
}
