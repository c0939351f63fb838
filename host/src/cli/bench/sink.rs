//! The loopback webhook sink: the destination of the bench's connection. It notes when
//! each invoice arrives, and can play "down" (hold every delivery) for `--backlog`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The sink's shared state: one arrival slot per invoice index.
pub(super) struct Sink {
    /// False while the sink plays "down": deliveries wait until it turns true.
    up: watch::Receiver<bool>,
    /// When each invoice first arrived, by index.
    pub(super) arrivals: Vec<OnceLock<Instant>>,
    /// How many invoices have arrived.
    pub(super) delivered: AtomicUsize,
    raw: AtomicU64,
    /// Notified when the last invoice arrives.
    pub(super) all_arrived: Notify,
    /// The id prefix of the documents counted (`inv_bench_`, `pay_bench_`, …).
    prefix: &'static str,
}

impl Sink {
    /// The index a delivery body names (an invoice's id `inv_bench_<i>` or number
    /// `INV-BENCH-<i>`, wherever the payload shape puts it; a payment's `pay_bench_<i>`,
    /// a credit note's `cn_bench_<i>`), if it is one of the documents counted.
    fn index_of(&self, body: &[u8]) -> Option<usize> {
        // Parse like a receiver would, so the sink's cost is that of a real one.
        serde_json::from_slice::<serde::de::IgnoredAny>(body).ok()?;
        let needles: &[&str] = match self.prefix {
            "inv_bench_" => &["inv_bench_", "INV-BENCH-"],
            other => &[other][..],
        };
        needles.iter().find_map(|needle| {
            let at = body
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())?;
            let digits = &body[at + needle.len()..];
            let end = digits
                .iter()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(digits.len());
            std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
        })
    }
}

/// `POST /hook`: the connection's deliveries.
async fn sink_hook(State(sink): State<Arc<Sink>>, body: Bytes) -> StatusCode {
    let mut up = sink.up.clone();
    if up.wait_for(|up| *up).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let now = Instant::now();
    if let Some(i) = sink.index_of(&body)
        && let Some(slot) = sink.arrivals.get(i)
        && slot.set(now).is_ok()
        && sink.delivered.fetch_add(1, Ordering::AcqRel) + 1 == sink.arrivals.len()
    {
        sink.all_arrived.notify_one();
    }
    StatusCode::OK
}

/// `POST /raw`: the raw ceiling's requests, straight from the load generator.
async fn sink_raw(State(sink): State<Arc<Sink>>, body: Bytes) -> StatusCode {
    // Parse like the hook does, so the ceiling is not flattered by skipping work.
    if serde_json::from_slice::<Value>(&body).is_ok() {
        sink.raw.fetch_add(1, Ordering::Relaxed);
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    }
}

/// The running sink, serving on loopback until [`SinkServer::stop`].
pub(super) struct SinkServer {
    pub(super) state: Arc<Sink>,
    addr: SocketAddr,
    up: watch::Sender<bool>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl SinkServer {
    /// Starts a sink for `n` documents whose ids start with `prefix` on `runtime`, up.
    pub(super) fn start(
        runtime: &tokio::runtime::Handle,
        n: usize,
        prefix: &'static str,
    ) -> anyhow::Result<Self> {
        let (up_tx, up) = watch::channel(true);
        let state = Arc::new(Sink {
            up,
            arrivals: (0..n).map(|_| OnceLock::new()).collect(),
            delivered: AtomicUsize::new(0),
            raw: AtomicU64::new(0),
            all_arrived: Notify::new(),
            prefix,
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding the sink")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/hook", post(sink_hook))
            .route("/raw", post(sink_raw))
            .with_state(state.clone());
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = runtime.spawn(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.cancelled().await })
                .await;
        });
        Ok(SinkServer {
            state,
            addr,
            up: up_tx,
            stop,
            task,
        })
    }

    /// Where the connection delivers.
    pub(super) fn hook_url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Where the raw ceiling posts.
    pub(super) fn raw_url(&self) -> String {
        format!("http://{}/raw", self.addr)
    }

    /// Brings the sink up, or takes it down: while down, deliveries wait.
    pub(super) fn set_up(&self, up: bool) {
        let _ = self.up.send(up);
    }

    /// Stops serving and waits until it has.
    pub(super) async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}
