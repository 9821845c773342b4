//! Limits every listener enforces, so that no client can hold a node's
//! connections, streams or handshakes open without bound: a connection cap
//! per listener, a deadline for the TLS handshake (or, on plain gRPC, for
//! the first bytes), concurrent HTTP/2 streams per connection and a
//! deadline for each gRPC request. The defaults are `serve`'s flags.

use std::time::Duration;

/// The limits of a node's listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Open connections per listener; further clients wait in the backlog
    /// (TCP) or are refused (the agent gateway's QUIC endpoint).
    pub max_connections: usize,
    /// Open connections on the agent gateway, per transport: one per X2Go
    /// server, for as long as it runs (about 40 KB each over gRPC).
    pub max_agent_connections: usize,
    /// Time for a TLS handshake (HTTPS, gRPC, node-to-node, QUIC), and for a
    /// plain gRPC client's first bytes.
    pub handshake_timeout: Duration,
    /// Concurrent requests (HTTP/2 streams) per public gRPC connection.
    pub grpc_max_streams: u32,
    /// Time for any gRPC request, public or node-to-node.
    pub grpc_request_timeout: Duration,
}

impl ListenerLimits {
    /// The limits of the agent gateway: its own connection cap.
    pub fn for_agents(&self) -> ListenerLimits {
        ListenerLimits {
            max_connections: self.max_agent_connections,
            ..*self
        }
    }

    pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
    pub const DEFAULT_MAX_AGENT_CONNECTIONS: usize = 10_000;
    pub const DEFAULT_HANDSHAKE_TIMEOUT_SECS: u64 = 10;
    pub const DEFAULT_GRPC_MAX_STREAMS: u32 = 100;
    pub const DEFAULT_GRPC_REQUEST_TIMEOUT_SECS: u64 = 30;
}

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            max_agent_connections: Self::DEFAULT_MAX_AGENT_CONNECTIONS,
            handshake_timeout: Duration::from_secs(Self::DEFAULT_HANDSHAKE_TIMEOUT_SECS),
            grpc_max_streams: Self::DEFAULT_GRPC_MAX_STREAMS,
            grpc_request_timeout: Duration::from_secs(Self::DEFAULT_GRPC_REQUEST_TIMEOUT_SECS),
        }
    }
}

/// Concurrent streams per node-to-node connection: followers forward every
/// read barrier and write to the leader over one connection, so this is
/// larger than the public API's.
pub const NODE_MAX_STREAMS: u32 = 1024;
/// HTTP/2 keepalive pings on gRPC connections: sent after this much silence...
pub const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// ...and the connection is closed when one is not answered within this.
pub const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::ListenerLimits;

    #[test]
    fn the_agent_gateway_has_its_own_connection_cap() {
        let limits = ListenerLimits {
            max_connections: 3,
            max_agent_connections: 7,
            ..ListenerLimits::default()
        };
        let agents = limits.for_agents();
        assert_eq!(agents.max_connections, 7);
        assert_eq!(agents.handshake_timeout, limits.handshake_timeout);
        assert_eq!(
            ListenerLimits::default().for_agents().max_connections,
            10_000
        );
    }
}
