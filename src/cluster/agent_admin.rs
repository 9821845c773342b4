//! The admin calls of agent enrollment: a new join token (`x2gobrokerctl
//! agent-token`) and the revocation of a server's agent certificates
//! (`x2gobrokerctl revoke-agent`). Both are state commands the node stamps
//! with its clock; the token's text goes back to the administrator in the
//! answer and is kept nowhere (the state holds its SHA-256; nothing logs it).

use super::admin::{AdminError, AdminResult};
use super::Node;
use crate::enroll::token::Token;
use crate::keygen::check_agent_host;
use crate::logsafe::escaped;
use crate::state::{Command, Outcome};
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// The longest a join token may be valid.
pub const MAX_TOKEN_TTL_MS: u64 = 30 * 24 * 3600 * 1000;

/// Ask for a join token valid `ttl_ms`, for server `hostname` only when given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentTokenRequest {
    pub ttl_ms: u64,
    pub hostname: Option<String>,
}

/// A join token granted: its text (shown once), expiry and binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentTokenGranted {
    pub token: String,
    pub expires_at_ms: u64,
    pub hostname: Option<String>,
}

/// Revoke server `hostname`'s agent certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeAgent {
    pub hostname: String,
}

fn refused(message: impl std::fmt::Display) -> AdminError {
    AdminError {
        message: message.to_string(),
        leader: None,
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Record a new join token and hand its text back.
pub async fn issue_token(node: &Node, req: AgentTokenRequest) -> AdminResult<AgentTokenGranted> {
    if req.ttl_ms == 0 || req.ttl_ms > MAX_TOKEN_TTL_MS {
        return Err(refused(format!(
            "a join token lives between 1 ms and {} days",
            MAX_TOKEN_TTL_MS / (24 * 3600 * 1000)
        )));
    }
    if let Some(host) = &req.hostname {
        check_agent_host(host).map_err(refused)?;
    }
    let token = Token::new().map_err(refused)?;
    let at = now_ms();
    let expires_at_ms = at.saturating_add(req.ttl_ms);
    let cmd = Command::IssueAgentToken {
        hash: token.hash(),
        hostname: req.hostname.clone(),
        at,
        expires_at: expires_at_ms,
    };
    match node.submit(cmd).await.map_err(refused)? {
        Outcome::Done => {
            let server = req.hostname.as_deref().map(escaped);
            tracing::info!(server = ?server, expires_at_ms, "agent join token issued");
            Ok(AgentTokenGranted {
                token: token.expose().to_string(),
                expires_at_ms,
                hostname: req.hostname,
            })
        }
        Outcome::TokenRefused(why) => Err(refused(why)),
        other => Err(refused(format!("unexpected outcome {other:?}"))),
    }
}

/// Refuse every agent certificate of a server from now on (except ones
/// enrolled later).
pub async fn revoke(node: &Node, req: RevokeAgent) -> AdminResult<()> {
    check_agent_host(&req.hostname).map_err(refused)?;
    let cmd = Command::RevokeAgent {
        hostname: req.hostname.clone(),
        at: now_ms(),
    };
    node.submit(cmd).await.map_err(refused)?;
    tracing::warn!(server = %escaped(&req.hostname), "agent certificates revoked");
    Ok(())
}
