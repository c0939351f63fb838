//! Serving the router over TCP with the timeouts a public endpoint needs.
//!
//! `axum::serve` sets no timer on hyper, so a client that trickles its request headers,
//! or an idle keep-alive connection, holds a connection (and a file descriptor) forever;
//! a thousand of them lock everyone out. This loop is `axum::serve` written out over
//! hyper's HTTP/1.1 connection builder with a header-read timeout, which hyper applies
//! from the moment a connection waits for a request: a silent new connection, one
//! trickling its headers, and an idle keep-alive one alike. (HTTP/1.1 only: the
//! protocol-sniffing builder that also speaks cleartext HTTP/2 waits for the first bytes
//! without any timeout, and no client of this API needs cleartext HTTP/2.) Request bodies get a read
//! timeout, and a body declared larger than any endpoint takes is refused before a byte
//! of it is read.

use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio_util::sync::CancellationToken;

/// How long a client may take to send a request's headers, and how long a keep-alive
/// connection may wait idle for its next request.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request body may take to arrive, once its headers are in.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a graceful stop waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Adds the body read timeout and the early refusal of bodies declared larger than
/// `max_declared_bytes` (the largest any endpoint accepts; each endpoint still enforces
/// its own limit while reading).
pub fn guarded(app: Router, max_declared_bytes: usize) -> Router {
    app.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| async move {
            match declared_length(&request) {
                Some(n) if n > max_declared_bytes as u64 => too_large(n, max_declared_bytes),
                _ => next.run(request).await,
            }
        },
    ))
    .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        BODY_READ_TIMEOUT,
    ))
}

fn declared_length(request: &Request) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn too_large(declared: u64, max: usize) -> Response {
    crate::api::error::ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "the request declares a {declared}-byte body, more than any endpoint takes ({max} bytes; \
             see --max-body-bytes and --max-component-bytes); nothing was read or stored"
        ),
    )
    .into_response()
}

/// Accepts connections until `stop` fires, then lets requests in flight finish (up to
/// [`DRAIN_TIMEOUT`]).
pub async fn serve(listener: tokio::net::TcpListener, app: Router, stop: CancellationToken) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // E.g. out of file descriptors: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "an HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {DRAIN_TIMEOUT:?}; stopping anyway");
    }
}
