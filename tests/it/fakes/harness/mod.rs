//! What the fake ERP servers do the same way, whatever vendor they play: serving on a
//! loopback port until dropped, recording every request, counting calls in flight and in
//! rolling windows, reading query strings, forms and headers, writing decimals as JSON
//! numbers, and (for the QuickBooks and Xero fakes) the OAuth 2.0 book of codes and tokens
//! behind the token endpoint ([`oauth`]).
//!
//! Only mechanics live here. Every rule a vendor enforces (what it checks, in which order,
//! with which limits, and what it answers) stays in that vendor's fake, which passes its
//! own constants and answers in.

pub mod limits;
pub mod numbers;
pub mod oauth;
#[cfg(test)]
pub mod testing;
pub mod wire;

use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use limits::Faults;

/// The largest request body a fake reads (larger ones answer 413 and are not recorded).
const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// Locks a fake's state, ignoring poisoning (a panicking test must not cascade).
pub fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------------------

/// A loopback port bound for a fake, before it serves: the fake may need its own URL to
/// build its state (NetSuite's links name the server).
pub struct Listener {
    listener: tokio::net::TcpListener,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Listener {
    /// Binds an ephemeral port on 127.0.0.1.
    pub async fn bind() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("a local address"));
        Listener { listener, url }
    }

    /// Serves `app`, recording every request (see [`Record`]), until the server is dropped.
    /// `what` names the fake in the panic of a server that stops by itself.
    pub fn serve<R: Record>(self, what: &'static str, app: Router) -> Server<R> {
        let log = Log(Arc::new(Mutex::new(Vec::new())));
        let app = app.layer(middleware::from_fn_with_state(log.clone(), record::<R>));
        let task = tokio::spawn(async move {
            axum::serve(self.listener, app)
                .await
                .unwrap_or_else(|e| panic!("{what} serves: {e}"));
        });
        Server {
            url: self.url,
            log,
            task,
        }
    }
}

/// A running fake: its base URL, its state and the server recording its requests. Each
/// vendor's fake derefs to one, so what they do alike is written once.
pub struct Fake<S, R> {
    /// Base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    pub state: Arc<Mutex<S>>,
    server: Server<R>,
}

impl<S: Send + 'static, R: Record> Fake<S, R> {
    /// Serves `app` over `state` on `listener` (see [`Listener::serve`]).
    pub fn serve(
        what: &'static str,
        listener: Listener,
        state: S,
        app: Router<Arc<Mutex<S>>>,
    ) -> Self {
        let state = Arc::new(Mutex::new(state));
        let server = listener.serve(what, app.with_state(state.clone()));
        let url = server.url.clone();
        Fake { url, state, server }
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded<R>> {
        self.server.requests()
    }
}

impl<S: AsMut<Faults>, R> Fake<S, R> {
    /// The next `n` calls answer the vendor's outage (see the fake's gate).
    pub fn outage_next(&self, n: usize) {
        lock(&self.state).as_mut().outage = n;
    }

    /// The next `n` successful writes are committed (and remembered for replay where the
    /// vendor replays) but answered the vendor's server error: a lost response.
    pub fn fail_after_commit(&self, n: usize) {
        lock(&self.state).as_mut().fail_after_commit = n;
    }

    /// Every admitted call sleeps this long while counted as in flight.
    pub fn set_delay(&self, d: Duration) {
        lock(&self.state).as_mut().delay = d;
    }
}

/// A running fake server and the requests it received. Dropping it stops the server.
pub struct Server<R> {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    log: Log<R>,
    task: tokio::task::JoinHandle<()>,
}

impl<R: Record> Server<R> {
    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded<R>> {
        lock(&self.log.0).clone()
    }
}

impl<R> Drop for Server<R> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------
// Recording
// ---------------------------------------------------------------------------------------

/// One request a fake received: its method, path, query and answered status, which every
/// fake records, and the vendor's own details `R` (reached through `Deref`).
#[derive(Clone, Debug)]
pub struct Recorded<R> {
    pub method: String,
    /// The path as sent (still percent-encoded).
    pub path: String,
    /// The raw query string (percent-encoded, as sent), empty when there is none.
    pub query: String,
    /// The status answered; 0 while the request is still in flight.
    pub status: u16,
    /// What the vendor's fake keeps besides.
    pub details: R,
}

impl<R> Deref for Recorded<R> {
    type Target = R;

    fn deref(&self) -> &R {
        &self.details
    }
}

/// What a fake keeps of each request beyond its [`Recorded`] line and status.
pub trait Record: Clone + Send + 'static {
    /// The details of a request about to be answered: its head and body.
    fn new(head: &Parts, body: &[u8]) -> Self;

    /// A header the vendor puts on every answer (a request or correlation id), if any.
    fn trace_header() -> Option<(&'static str, String)> {
        None
    }
}

impl Record for () {
    fn new(_head: &Parts, _body: &[u8]) -> Self {}
}

/// The requests a server received, in arrival order.
struct Log<R>(Arc<Mutex<Vec<Recorded<R>>>>);

impl<R> Clone for Log<R> {
    fn clone(&self) -> Self {
        Log(self.0.clone())
    }
}

/// The recording middleware of every endpoint: logs the request before it is answered,
/// then its status, and adds the vendor's trace header to the answer.
async fn record<R: Record>(State(log): State<Log<R>>, request: Request, next: Next) -> Response {
    let (head, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let index = {
        let mut log = lock(&log.0);
        log.push(Recorded {
            method: head.method.to_string(),
            path: head.uri.path().to_string(),
            query: head.uri.query().unwrap_or_default().to_string(),
            status: 0,
            details: R::new(&head, &bytes),
        });
        log.len() - 1
    };
    let mut response = next.run(Request::from_parts(head, Body::from(bytes))).await;
    lock(&log.0)[index].status = response.status().as_u16();
    if let Some((name, value)) = R::trace_header() {
        let value = HeaderValue::from_str(&value).expect("an ASCII header value");
        response.headers_mut().insert(name, value);
    }
    response
}
