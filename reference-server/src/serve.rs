//! The HTTP accept loop: the router on hyper, with the connection timeouts `axum::serve` has no
//! setting for.
//!
//! `axum::serve` gives hyper no timer, so a client that opens a connection and sends its
//! request headers one byte at a time (slow-loris), or opens connections and sends nothing,
//! holds a socket and a task for as long as it likes. Here every connection must deliver a
//! request's complete headers within `header_read_timeout` — the first request and every next
//! one on a kept-alive connection — or it is closed. HTTP/1.1 only, as before (axum's `http2`
//! feature is off). The request's body and handler are bounded separately
//! by the request timeout layer (408), and WebSocket sessions, once upgraded, by their own
//! rules (`ws.rs`).

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// How connections are bounded.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Longest an HTTP/1 client may take to send a request's headers (and longest an idle
    /// kept-alive connection stays open).
    pub header_read_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` completes, then lets the requests in progress
/// finish (as `axum::serve(..).with_graceful_shutdown` does) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // Dropping `stop` tells every connection to finish its request in progress and close;
    // each holds a `closed` receiver, so `closed_tx.closed()` completes when all have.
    let (stop, stopping) = watch::channel(());
    let (closed_tx, closed) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before it was accepted: keep
                    // serving the others, without spinning on a persistent error.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            // What `into_make_service_with_connect_info` gives handlers: the login limiter
            // keys on the client address.
            request.extensions_mut().insert(ConnectInfo(remote));
            router.clone().oneshot(request.map(Body::new))
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut stopping = stopping.clone();
        let closed = closed.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = stopping.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%remote, error = %e, "connection ended with an error");
            }
            drop(closed);
        });
    }
    drop(listener);
    drop(stop);
    drop(closed);
    closed_tx.closed().await;
}
