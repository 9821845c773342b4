//! Serving a tonic router (the node-to-node services or the public API) on
//! an already-bound listener until shutdown, within the listener limits:
//! at most `max_connections` connections (see `accept`), a TLS handshake
//! deadline (tonic's own), a deadline for a plain client's first bytes,
//! stream and request limits, and HTTP/2 keepalive.

use super::accept::{Accepted, CappedListener};
use super::limits::{self, ListenerLimits};
use super::ServerError;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit};
use tonic::transport::server::{Connected, Router, TcpConnectInfo};
use tonic::transport::{Server, ServerTlsConfig};

/// A server builder with the listener limits (`max_streams` concurrent
/// requests per connection), with TLS when given.
pub fn builder(
    tls: Option<ServerTlsConfig>,
    limits: &ListenerLimits,
    max_streams: u32,
) -> Result<Server, ServerError> {
    let builder = Server::builder()
        .tcp_nodelay(true)
        .timeout(limits.grpc_request_timeout)
        .concurrency_limit_per_connection(max_streams as usize)
        .max_concurrent_streams(max_streams)
        .http2_keepalive_interval(Some(limits::HTTP2_KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(limits::HTTP2_KEEPALIVE_TIMEOUT));
    match tls {
        Some(tls) => builder
            .tls_config(tls.timeout(limits.handshake_timeout))
            .map_err(|e| ServerError::Tls(format!("gRPC TLS configuration: {e}"))),
        None => Ok(builder),
    }
}

/// Serve `router` on `listener` until `stop` turns true; `what` names it in
/// logs. With `tls`, this listener does the TLS handshake itself (the
/// public API, whose protocol versions follow `--tls13-only`); tonic's own
/// TLS (`builder`) is for the mutually authenticated listeners.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    limits: ListenerLimits,
    stop: watch::Receiver<bool>,
    what: &'static str,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let (tx, rx) = mpsc::channel(16);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let accepting = tokio::spawn(accept(listener, limits, tx, stop.clone(), what, acceptor));
    let incoming = tokio_stream::wrappers::ReceiverStream::new(rx);
    let mut stop = stop;
    let result = router
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        })
        .await;
    accepting.abort();
    if let Err(e) = result {
        tracing::error!(listener = what, error = %e, "gRPC listener failed");
    }
}

/// Accept connections while fewer than `max_connections` are open; hand
/// each to tonic once its first bytes arrive (within the handshake timeout).
async fn accept(
    listener: TcpListener,
    limits: ListenerLimits,
    to_tonic: mpsc::Sender<Result<Capped, std::io::Error>>,
    mut stop: watch::Receiver<bool>,
    what: &'static str,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
) {
    let listener = CappedListener::new(listener, limits.max_connections, what);
    while let Some(Accepted { stream, peer, slot }) = listener.accept(&mut stop).await {
        let to_tonic = to_tonic.clone();
        let deadline = limits.handshake_timeout;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            // gRPC clients speak first (TLS hello or HTTP/2 preface).
            let mut first = [0u8; 1];
            match tokio::time::timeout(deadline, stream.peek(&mut first)).await {
                Ok(Ok(_)) => {
                    let io = match acceptor {
                        None => Io::Plain(stream),
                        Some(acceptor) => {
                            match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
                                Ok(Ok(tls)) => Io::Tls(Box::new(tls)),
                                Ok(Err(e)) => {
                                    tracing::debug!(listener = what, client = %peer, error = %e, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!(listener = what, client = %peer, "TLS handshake timed out");
                                    return;
                                }
                            }
                        }
                    };
                    let conn = Capped { io, _slot: slot };
                    let _ = to_tonic.send(Ok(conn)).await;
                }
                Ok(Err(e)) => {
                    tracing::debug!(listener = what, client = %peer, error = %e, "connection failed")
                }
                Err(_) => {
                    tracing::debug!(listener = what, client = %peer, "no request in time; closing")
                }
            }
        });
    }
}

/// A connection holding one of its listener's slots until it closes.
struct Capped {
    io: Io,
    _slot: OwnedSemaphorePermit,
}

/// The connection itself: plain, or after our TLS handshake.
enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Connected for Capped {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        match &self.io {
            Io::Plain(s) => s.connect_info(),
            Io::Tls(s) => s.get_ref().0.connect_info(),
        }
    }
}

/// Forward one poll to whichever stream `io` is.
macro_rules! either {
    ($io:expr, $s:ident => $e:expr) => {
        match $io {
            Io::Plain($s) => $e,
            Io::Tls($s) => $e,
        }
    };
}

impl AsyncRead for Capped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        either!(&mut self.io, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        either!(&mut self.io, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        either!(&mut self.io, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        either!(&mut self.io, s => Pin::new(s).poll_shutdown(cx))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        either!(&mut self.io, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        either!(&self.io, s => s.is_write_vectored())
    }
}
