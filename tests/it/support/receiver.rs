//! A webhook endpoint for tests: records every request, verifies its signature as a
//! customer's endpoint would, and answers as scripted (status, delay, Retry-After).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::Value;

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub delay: Duration,
    pub retry_after: Option<String>,
}

impl Reply {
    /// Answer with this status at once.
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            delay: Duration::ZERO,
            retry_after: None,
        }
    }

    /// Answer 200 after sleeping (longer than the client timeout means "hang").
    pub fn hang(delay: Duration) -> Self {
        Reply {
            status: 200,
            delay,
            retry_after: None,
        }
    }
}

/// One received request.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Whether `X-Aforo-Signature` verifies with the receiver's secret (checked when the
    /// requests are read, so a delivery made before the secret was known counts too).
    pub signature_ok: bool,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
}

#[derive(Default)]
struct Inner {
    secret: Option<String>,
    script: VecDeque<Reply>,
    default: Option<Reply>,
    received: Vec<Received>,
}

/// The receiver; clones share state.
#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Mutex<Inner>>,
    addr: std::net::SocketAddr,
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let reply = {
        let mut inner = inner.lock().unwrap();
        inner.received.push(Received {
            at: Instant::now(),
            headers: headers.clone(),
            body: body.clone(),
            signature_ok: false,
        });
        let default = inner.default.clone().unwrap_or(Reply::status(200));
        inner.script.pop_front().unwrap_or(default)
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut headers = HeaderMap::new();
    if let Some(ra) = &reply.retry_after {
        headers.insert("retry-after", ra.parse().unwrap());
    }
    (
        StatusCode::from_u16(reply.status).unwrap(),
        headers,
        "receiver says hello",
    )
}

impl Receiver {
    /// Starts a receiver on an ephemeral loopback port.
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { inner, addr }
    }

    /// The URL to configure in a webhook connection.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The secret to verify signatures with.
    pub fn set_secret(&self, secret: &str) {
        self.inner.lock().unwrap().secret = Some(secret.to_string());
    }

    /// Queues scripted answers, used before the default.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.lock().unwrap().script.extend(replies);
    }

    /// The answer once the script is used up.
    pub fn set_default(&self, reply: Reply) {
        self.inner.lock().unwrap().default = Some(reply);
    }

    /// Everything received so far, with signatures checked against the current secret.
    pub fn received(&self) -> Vec<Received> {
        let inner = self.inner.lock().unwrap();
        let mut received = inner.received.clone();
        for r in &mut received {
            r.signature_ok = match (&inner.secret, r.headers.get("x-aforo-signature")) {
                (Some(secret), Some(header)) => erp_sync::crypto::signature::verify(
                    header.to_str().unwrap_or_default(),
                    &r.body,
                    secret.as_bytes(),
                    chrono::Utc::now().timestamp(),
                    300,
                )
                .is_ok(),
                _ => false,
            };
        }
        received
    }

    /// Requests whose body is an event of `invoice_id` (the envelope's `data.id`).
    pub fn for_invoice(&self, invoice_id: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.json()["data"]["id"] == invoice_id)
            .collect()
    }
}
