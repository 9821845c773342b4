//! Orders for X2Go servers' agents from this broker: through this node's
//! own gateway when the agent is connected here, else (in a cluster)
//! through the node it reports to.

use super::{Broker, Ledger};
use crate::cluster::agent_orders::{OrderError, ORDER_TIMEOUT};
use crate::gateway::orders::{Order, OrderResult};

impl Broker {
    /// Carry out `order` through `host`'s agent.
    pub async fn order_agent(&self, host: &str, order: &Order) -> Result<OrderResult, OrderError> {
        match &self.ledger {
            Ledger::Cluster(node) => node.order_agent(host, order).await,
            Ledger::Local(_) => Ok(self.agents.links.order(host, order, ORDER_TIMEOUT).await?),
        }
    }
}
