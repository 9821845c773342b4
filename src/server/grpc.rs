//! Serving a tonic router (the node-to-node services or the public API) on
//! an already-bound listener until shutdown, with TCP_NODELAY on every
//! connection.

use super::ServerError;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::Router;
use tonic::transport::{Server, ServerTlsConfig};

/// A server builder, with TLS when given.
pub fn builder(tls: Option<ServerTlsConfig>) -> Result<Server, ServerError> {
    let builder = Server::builder().tcp_nodelay(true);
    match tls {
        Some(tls) => builder
            .tls_config(tls)
            .map_err(|e| ServerError::Tls(format!("gRPC TLS configuration: {e}"))),
        None => Ok(builder),
    }
}

/// Serve `router` on `listener` until `stop` turns true; `what` names it in logs.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    what: &'static str,
) {
    let incoming = tokio_stream::StreamExt::map(
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        |s| {
            // Small RPCs: Nagle and delayed ACKs would add ~40 ms to each.
            s.inspect(|s| {
                let _ = s.set_nodelay(true);
            })
        },
    );
    let result = router
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!(listener = what, error = %e, "gRPC listener failed");
    }
}
