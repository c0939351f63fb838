//! The load generator: its own runtime, closed- and open-loop drivers, the raw ceiling,
//! and pushing the invoices through `POST /v1/invoices` until they reach the sink.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::http::StatusCode;
use serde_json::json;
use tokio::runtime::Handle;
use tokio::task::{JoinHandle, JoinSet};

use super::BenchArgs;
use super::BenchDocument;
use super::cpu;
use super::invoice::{credit_note, invoice, payment};
use super::sink::{Sink, SinkServer};
use crate::store::{Store, WriteStats};

/// The load generator's and the sink's own runtime, shut down without blocking when the
/// run ends (dropping a runtime inside another one would panic).
pub(super) struct LoadRuntime(Option<tokio::runtime::Runtime>);

impl LoadRuntime {
    pub(super) fn new() -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(cpu::LOAD_THREAD)
            .enable_all()
            .build()
            .context("starting the load generator's runtime")?;
        Ok(LoadRuntime(Some(rt)))
    }

    pub(super) fn handle(&self) -> Handle {
        self.0
            .as_ref()
            .expect("runtime until drop")
            .handle()
            .clone()
    }
}

impl Drop for LoadRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs `f(i)` for `i` in `0..n` on `concurrency` tasks; returns the elapsed time.
async fn closed_loop<F, Fut>(n: usize, concurrency: usize, f: F) -> anyhow::Result<Duration>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let f = Arc::new(f);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency.clamp(1, n.max(1)) {
        let (next, f) = (next.clone(), f.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<(), anyhow::Error>(());
                }
                f(i).await?;
            }
        });
    }
    join_all(tasks).await?;
    Ok(started.elapsed())
}

/// Starts `f(i)` for `i` in `0..n`, one every 1/`rate` s whatever the answers take, so
/// slow answers show up as latency instead of silently lowering the offered load;
/// returns the time since `started`.
async fn open_loop<F, Fut>(n: usize, rate: u32, f: F, started: Instant) -> anyhow::Result<Duration>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = JoinSet::new();
    for i in 0..n {
        tick.tick().await;
        tasks.spawn(f(i));
    }
    join_all(tasks).await?;
    Ok(started.elapsed())
}

/// Waits for every load task; the first failure wins.
async fn join_all(mut tasks: JoinSet<anyhow::Result<()>>) -> anyhow::Result<()> {
    while let Some(r) = tasks.join_next().await {
        r.context("a load task panicked")??;
    }
    Ok(())
}

/// The raw ceiling: `n` requests of the same client straight to the sink, from
/// `concurrency` clients; answers requests per second.
pub(super) async fn raw_ceiling(
    load: &Handle,
    client: &reqwest::Client,
    sink: &SinkServer,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let url = Arc::new(sink.raw_url());
    let client = client.clone();
    let elapsed = load
        .spawn(closed_loop(n, concurrency, move |i| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let r = client
                    .post(url.as_str())
                    .json(&json!({ "id": format!("raw_{i}"), "n": i }))
                    .send()
                    .await?;
                if !r.status().is_success() {
                    bail!("the sink answered {}", r.status());
                }
                Ok(())
            }
        }))
        .await
        .context("the load generator panicked")??;
    Ok(n as f64 / elapsed.as_secs_f64())
}

/// What pushing the invoices measured.
pub(super) struct Pushed {
    /// When each invoice's POST started, by index.
    pub(super) starts: Arc<Vec<OnceLock<Instant>>>,
    /// When the first POST was about to start.
    pub(super) load_started: Instant,
    /// How long sending every invoice took.
    pub(super) ingest_elapsed: Duration,
    /// Invoices the API did not accept.
    pub(super) rejected: usize,
    /// When the sink came up after the last POST (only meaningful in backlog mode).
    pub(super) released: Instant,
    /// Accepted invoices not yet delivered at `released`.
    pub(super) backlog_at_release: usize,
    /// Invoices that reached the sink.
    pub(super) delivered: usize,
    /// Whether the wait for deliveries gave up.
    pub(super) timed_out: bool,
    /// CPU time from the first POST to the last delivery, server against load+sink.
    pub(super) cpu: Option<cpu::Split>,
    /// The store's write counters before the first POST.
    pub(super) writes_before: WriteStats,
}

/// Pushes `--invoices` invoices over `urls` (the servers' `/v1/invoices`, in turn) as
/// `--rate` or `--concurrency` says, then waits until every accepted one reached the
/// sink or `--timeout-secs` passed. In backlog mode the sink is down until the last
/// POST was answered.
pub(super) async fn push_invoices(
    load: &Handle,
    args: &BenchArgs,
    client: &reqwest::Client,
    urls: Vec<String>,
    api_key: &str,
    sink: &SinkServer,
    store: &Store,
) -> anyhow::Result<Pushed> {
    let n = args.invoices;
    let bar = DeliveryBar::start(sink.state.clone(), n);
    let poster = Poster::new(client, urls, api_key, (args.document, args.lines), n);
    let (starts, rejected) = (poster.starts.clone(), poster.rejected.clone());
    if args.backlog {
        sink.set_up(false);
    }
    let writes_before = store.write_stats();
    let cpu_before = cpu::Snapshot::take();
    let load_started = Instant::now();
    let ingest_elapsed = ingest(load, poster, args, load_started).await?;
    let rejected = rejected.load(Ordering::Relaxed);
    // Backlog mode: everything is accepted and waiting; the sink comes up now.
    let released = Instant::now();
    let backlog_at_release = n - rejected - sink.state.delivered.load(Ordering::Acquire);
    sink.set_up(true);
    let timeout = Duration::from_secs(args.timeout_secs);
    let timed_out = !wait_for_deliveries(&sink.state, n - rejected, timeout).await;
    let cpu = cpu::Snapshot::take()
        .zip(cpu_before)
        .map(|(after, before)| after.since(&before));
    bar.finish(&sink.state);
    Ok(Pushed {
        starts,
        load_started,
        ingest_elapsed,
        rejected,
        released,
        backlog_at_release,
        delivered: sink.state.delivered.load(Ordering::Acquire),
        timed_out,
        cpu,
        writes_before,
    })
}

/// Pushes the invoices the timed documents apply to, in a closed loop, and waits until
/// the queue is empty (every one delivered), so the timed phase measures the documents
/// alone.
pub(super) async fn prepare_invoices(
    load: &Handle,
    args: &BenchArgs,
    client: &reqwest::Client,
    url: String,
    api_key: &str,
    store: &Store,
) -> anyhow::Result<()> {
    let n = args.invoices;
    eprintln!("pushing the {n} invoices the documents apply to (untimed)");
    let poster = Poster::new(
        client,
        vec![url],
        api_key,
        (BenchDocument::Invoice, args.lines),
        n,
    );
    let (concurrency, started) = (args.concurrency, Instant::now());
    load.spawn(async move { closed_loop(n, concurrency, move |i| poster.clone().post(i)).await })
        .await
        .context("the load generator panicked")??;
    let deadline = started + Duration::from_secs(args.timeout_secs);
    while !store.queue_depth().await?.is_empty() {
        if Instant::now() > deadline {
            bail!(
                "the invoices were not all delivered within {} s",
                args.timeout_secs
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Sends every invoice from the load runtime: in a closed loop over `--concurrency`
/// clients, or in an open loop at `--rate`. Answers how long it took.
async fn ingest(
    load: &Handle,
    poster: Poster,
    args: &BenchArgs,
    started: Instant,
) -> anyhow::Result<Duration> {
    let (n, concurrency, rate) = (args.invoices, args.concurrency, args.rate);
    load.spawn(async move {
        let post = move |i| poster.clone().post(i);
        match rate {
            None => closed_loop(n, concurrency, post).await,
            Some(rate) => open_loop(n, rate, post, started).await,
        }
    })
    .await
    .context("the load generator panicked")?
}

/// Posts one invoice; cloned into every load task.
#[derive(Clone)]
struct Poster {
    client: reqwest::Client,
    /// The servers' `POST /v1/invoices` URLs: invoice `i` goes to `urls[i % len]`.
    urls: Arc<Vec<String>>,
    key: Arc<String>,
    /// What is posted: which document, and lines per invoice.
    document: (BenchDocument, usize),
    starts: Arc<Vec<OnceLock<Instant>>>,
    rejected: Arc<AtomicUsize>,
}

impl Poster {
    fn new(
        client: &reqwest::Client,
        urls: Vec<String>,
        api_key: &str,
        document: (BenchDocument, usize),
        n: usize,
    ) -> Poster {
        Poster {
            client: client.clone(),
            urls: Arc::new(urls),
            key: Arc::new(api_key.to_owned()),
            document,
            starts: Arc::new((0..n).map(|_| OnceLock::new()).collect()),
            rejected: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Posts invoice `i`, noting when the POST started. A refusal is counted, not an
    /// error; the first one is printed.
    async fn post(self, i: usize) -> anyhow::Result<()> {
        let url = &self.urls[i % self.urls.len()];
        let body = match self.document {
            (BenchDocument::Invoice, lines) => invoice(i, lines),
            (BenchDocument::Payment, lines) => payment(i, lines),
            (BenchDocument::CreditNote, _) => credit_note(i),
        };
        let body = serde_json::to_vec(&body)?;
        let _ = self.starts[i].set(Instant::now());
        let r = self
            .client
            .post(url)
            .bearer_auth(self.key.as_str())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        if r.status() != StatusCode::ACCEPTED && self.rejected.fetch_add(1, Ordering::Relaxed) == 0
        {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            eprintln!("document {i} was refused with {status}: {text}");
        }
        Ok(())
    }
}

/// Waits until `expected` invoices have reached the sink; answers false when `timeout`
/// passed first.
async fn wait_for_deliveries(sink: &Sink, expected: usize, timeout: Duration) -> bool {
    tokio::time::timeout(timeout, async {
        while sink.delivered.load(Ordering::Acquire) < expected {
            tokio::select! {
                _ = sink.all_arrived.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// The "delivered" progress bar on stderr, following the sink's count.
struct DeliveryBar {
    bar: indicatif::ProgressBar,
    follow: JoinHandle<()>,
}

impl DeliveryBar {
    fn start(sink: Arc<Sink>, n: usize) -> DeliveryBar {
        let bar = indicatif::ProgressBar::new(n as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "delivered {bar:40} {pos}/{len} {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let follow = {
            let bar = bar.clone();
            tokio::spawn(async move {
                loop {
                    bar.set_position(sink.delivered.load(Ordering::Relaxed) as u64);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        DeliveryBar { bar, follow }
    }

    fn finish(self, sink: &Sink) {
        self.follow.abort();
        self.bar
            .set_position(sink.delivered.load(Ordering::Relaxed) as u64);
        self.bar.finish();
    }
}
