//! Orders for X2Go servers' agents across the cluster: an agent streams to
//! one node, while any node may need it (a selectsession on another node
//! takes over a running session). The replicated server table says which
//! node the agent reports through; the order goes there (`AgentOrder`,
//! node certificates only) and that node carries it out on its stream.

use super::{Node, NodeId};
use crate::gateway::orders::{Order, OrderAnswer, OrderResult};
use crate::gateway::{CommandError, Links};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How long an agent may take to carry out an order.
pub const ORDER_TIMEOUT: Duration = Duration::from_secs(10);

/// An order for the agent of `host`, as sent to the node it is connected to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    pub host: String,
    pub order: Order,
}

/// An order could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error(transparent)]
    Agent(#[from] CommandError),
    #[error("no agent of {0:?} ever reported")]
    UnknownServer(String),
    #[error("the agent of {host:?} reports through node {node}, which is not a member")]
    NoSuchNode { host: String, node: NodeId },
    #[error("asking node {node} to order the agent of {host:?}: {source}")]
    Transport {
        host: String,
        node: NodeId,
        source: super::TransportError,
    },
}

impl Node {
    /// The agents connected to this node (set by the broker).
    pub fn set_agent_links(&self, links: Arc<Links>) {
        let _ = self.agent_links.set(links);
    }

    /// Carry out `order` through `host`'s agent, wherever it is connected.
    pub async fn order_agent(&self, host: &str, order: &Order) -> Result<OrderResult, OrderError> {
        let links = self.agent_links.get();
        if let Some(links) = links.filter(|l| l.is_connected(host)) {
            return Ok(links.order(host, order, ORDER_TIMEOUT).await?);
        }
        let node = self
            .read_state(|s| s.server(host).map(|r| r.node))
            .ok_or_else(|| OrderError::UnknownServer(host.to_string()))?;
        if node == self.id {
            return Err(CommandError::NotConnected(host.to_string()).into());
        }
        let member = self.member(node).ok_or_else(|| OrderError::NoSuchNode {
            host: host.to_string(),
            node,
        })?;
        let request = OrderRequest {
            host: host.to_string(),
            order: order.clone(),
        };
        let call = self.peers.agent_order(node, &member, &request);
        let answer = tokio::time::timeout(ORDER_TIMEOUT + Duration::from_secs(1), call)
            .await
            .map_err(|_| CommandError::Timeout {
                host: host.to_string(),
                waited: ORDER_TIMEOUT,
            })?
            .map_err(|source| OrderError::Transport {
                host: host.to_string(),
                node,
                source,
            })?;
        match answer {
            OrderAnswer::Done(r) => Ok(r),
            OrderAnswer::Failed(e) => Err(e.into()),
        }
    }

    /// Carry out another node's order through an agent connected here.
    pub async fn answer_agent_order(&self, request: OrderRequest) -> OrderAnswer {
        let Some(links) = self.agent_links.get() else {
            return OrderAnswer::Failed(CommandError::NotConnected(request.host));
        };
        match links
            .order(&request.host, &request.order, ORDER_TIMEOUT)
            .await
        {
            Ok(r) => OrderAnswer::Done(r),
            Err(e) => OrderAnswer::Failed(e),
        }
    }
}
