//! `erp-sync bench`: an end-to-end load run against a real in-process server.
//!
//! It starts a loopback webhook sink and a real server (fresh data dir, private targets
//! allowed), creates a tenant and a webhook connection to the sink through the public
//! API, measures the raw ceiling (the same HTTP client posting straight to the sink),
//! then pushes invoices through `POST /v1/invoices` and waits for each to arrive at the
//! sink. Latency is the sink's arrival time minus the moment the invoice's POST started.
//!
//! Everything (load generator, server, sink) shares one process and its cores, so the
//! figures are a conservative floor for the server alone, and peak RSS covers all three.
//! The load generator and the sink run on a Tokio runtime of their own, so the run can
//! report each side's CPU time per invoice ([`cpu`]).
//!
//! `--backlog` measures the other situation a billing team meets: the destination is
//! down while invoices keep coming. The sink holds every delivery (the worker's slots
//! fill, everything else waits in SQLite) until all invoices are accepted, then comes up;
//! the run reports the drain rate, peak RSS, and how fast the sync log answers by invoice
//! id once it holds every attempt.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

mod cpu;

/// How the server shapes the webhook body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PayloadPath {
    /// The default envelope `{"id","type","created_at","data"}`.
    Envelope,
    /// A JSONPath payload template (`config.template`).
    Template,
    /// A Wasm webhook transform (`--component`, world `webhook-transform`).
    Transform,
    /// The envelope, after a per-customer Wasm invoice tweak (`--component`, world
    /// `invoice-tweak`).
    Tweak,
}

impl PayloadPath {
    fn name(self) -> &'static str {
        match self {
            PayloadPath::Envelope => "envelope",
            PayloadPath::Template => "template",
            PayloadPath::Transform => "transform",
            PayloadPath::Tweak => "tweak",
        }
    }
}

/// Flags of `erp-sync bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// How many invoices to push (and raw requests for the ceiling).
    #[arg(long, default_value_t = 2000)]
    pub invoices: usize,
    /// Concurrent clients (closed loop); ignored with `--rate`.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Fixed-rate (open loop) mode: start this many invoice POSTs per second.
    #[arg(long)]
    pub rate: Option<u32>,
    /// Lines per invoice.
    #[arg(long, default_value_t = 1)]
    pub lines: usize,
    /// The payload path the connection uses.
    #[arg(long, value_enum, default_value_t = PayloadPath::Envelope)]
    pub path: PayloadPath,
    /// The component for `--path transform` or `--path tweak`, e.g. the example
    /// `examples/transforms/flat-accounting` built for wasm32-wasip2. Its output must
    /// carry the invoice id or number.
    #[arg(long)]
    pub component: Option<PathBuf>,
    /// Backlog mode: the sink is down (holds deliveries) until every invoice is
    /// accepted, then comes up; reports the drain rate instead of per-invoice latency.
    #[arg(long)]
    pub backlog: bool,
    /// The server's data dir; absent, a fresh temporary dir removed afterwards.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Store in this PostgreSQL database (give an empty one) instead of SQLite.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Servers sharing the PostgreSQL store (`--database-url`), each with its own
    /// worker and API; clients spread their invoices over all of them.
    #[arg(long, default_value_t = 1)]
    pub hosts: usize,
    /// Give up waiting for deliveries after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
}

/// The sealing key bench servers share on PostgreSQL (throwaway data).
const BENCH_SECRET_KEY: &str = "6265686e63682d6f6e6c792d6b65792d6e6f742d666f722d7265616c2d757365";

/// The sink's shared state: one arrival slot per invoice index.
struct Sink {
    /// False while the sink plays "down": deliveries wait until it turns true.
    up: tokio::sync::watch::Receiver<bool>,
    arrivals: Vec<OnceLock<Instant>>,
    delivered: AtomicUsize,
    raw: AtomicU64,
    all_arrived: Notify,
}

impl Sink {
    /// The invoice index a delivery body names (its id `inv_bench_<i>` or number
    /// `INV-BENCH-<i>`, wherever the payload shape puts it), if it is one of ours.
    fn index_of(body: &[u8]) -> Option<usize> {
        // Parse like a receiver would, so the sink's cost is that of a real one.
        serde_json::from_slice::<serde::de::IgnoredAny>(body).ok()?;
        ["inv_bench_", "INV-BENCH-"].iter().find_map(|needle| {
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

async fn sink_hook(State(sink): State<Arc<Sink>>, body: Bytes) -> StatusCode {
    let mut up = sink.up.clone();
    if up.wait_for(|up| *up).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let now = Instant::now();
    if let Some(i) = Sink::index_of(&body)
        && let Some(slot) = sink.arrivals.get(i)
        && slot.set(now).is_ok()
        && sink.delivered.fetch_add(1, Ordering::AcqRel) + 1 == sink.arrivals.len()
    {
        sink.all_arrived.notify_one();
    }
    StatusCode::OK
}

async fn sink_raw(State(sink): State<Arc<Sink>>, body: Bytes) -> StatusCode {
    // Parse like the hook does, so the ceiling is not flattered by skipping work.
    if serde_json::from_slice::<Value>(&body).is_ok() {
        sink.raw.fetch_add(1, Ordering::Relaxed);
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    }
}

/// Formats integer cents as a decimal amount string (non-negative only).
fn cents(c: u64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

/// A valid invoice `inv_bench_<i>` with `lines` lines; totals balance in integer cents.
fn invoice(i: usize, lines: usize) -> Value {
    let mut subtotal: u64 = 0;
    let mut tax_total: u64 = 0;
    let items: Vec<Value> = (0..lines.max(1))
        .map(|j| {
            let amount = 1_000 + ((i as u64) * 7 + (j as u64) * 13) % 9_000;
            let tax = amount * 8 / 100;
            subtotal += amount;
            tax_total += tax;
            json!({
                "id": format!("li_{j}"), "type": "USAGE_FEE", "description": "API calls",
                "product_id": "prod_api", "quantity": "1", "unit_price": cents(amount),
                "amount": cents(amount), "tax_amount": cents(tax), "tax_code": "TX-STATE"
            })
        })
        .collect();
    json!({
        "id": format!("inv_bench_{i}"), "number": format!("INV-BENCH-{i}"), "status": "OPEN",
        "entity": "US", "currency": "USD",
        "issue_date": "2026-11-01", "due_date": "2026-12-01",
        "finalized_at": "2026-11-01T10:00:00Z",
        "customer": { "id": "cus_42", "name": "Acme Inc", "email": "ap@acme.test",
                      "address": { "line1": "1 Main St", "city": "Austin", "region": "TX",
                                   "postal_code": "78701", "country": "US" } },
        "lines": items,
        "subtotal": cents(subtotal), "tax_total": cents(tax_total),
        "total": cents(subtotal + tax_total),
        "metadata": { "po_number": "PO-7" }
    })
}

/// Runs `f(i)` for `i` in `0..n` on `concurrency` tasks; returns the elapsed time.
async fn closed_loop<F, Fut>(n: usize, concurrency: usize, f: F) -> anyhow::Result<Duration>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let f = Arc::new(f);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
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
    while let Some(r) = tasks.join_next().await {
        r.context("a load task panicked")??;
    }
    Ok(started.elapsed())
}

/// Peak resident set size in KiB (`VmHWM`), where `/proc` has it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The nearest-rank percentile of sorted latencies, in ms.
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e3
}

/// p50 and p99 (ms) of `GET /v1/sync-log?invoice_id=…` for up to 200 of the invoices,
/// measured by the client over loopback (so they include one HTTP round trip).
async fn sync_log_query_latency(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    n: usize,
) -> anyhow::Result<(f64, f64)> {
    let samples = n.min(200);
    let mut took = Vec::with_capacity(samples);
    for k in 0..samples {
        let i = k * n / samples;
        let started = Instant::now();
        let r = client
            .get(format!("{base}/v1/sync-log?invoice_id=inv_bench_{i}"))
            .bearer_auth(key)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("the sync-log query answered {}", r.status());
        }
        r.bytes().await?;
        took.push(started.elapsed());
    }
    took.sort_unstable();
    Ok((percentile_ms(&took, 0.50), percentile_ms(&took, 0.99)))
}

/// Runs the benchmark and prints a table and one JSON line.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let n = args.invoices;
    if n == 0 {
        bail!("--invoices must be at least 1");
    }
    if args.rate == Some(0) {
        bail!("--rate must be at least 1");
    }
    if args.hosts == 0 || (args.hosts > 1 && args.database_url.is_none()) {
        bail!("--hosts N needs N >= 1, and more than one host needs a shared --database-url");
    }
    let needs_component = matches!(args.path, PayloadPath::Transform | PayloadPath::Tweak);
    if needs_component != args.component.is_some() {
        bail!(
            "--component <file.wasm> goes with --path transform or --path tweak (and only with them)"
        );
    }
    let (data_dir, temporary) = match &args.data_dir {
        Some(dir) => (dir.clone(), false),
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let dir =
                std::env::temp_dir().join(format!("erp-sync-bench-{}-{nanos}", std::process::id()));
            (dir, true)
        }
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let result = run_in(&args, &data_dir).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    result
}

/// The load generator's and the sink's own runtime, shut down without blocking when the
/// run ends (dropping a runtime inside another one would panic).
struct LoadRuntime(Option<tokio::runtime::Runtime>);

impl LoadRuntime {
    fn new() -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(cpu::LOAD_THREAD)
            .enable_all()
            .build()
            .context("starting the load generator's runtime")?;
        Ok(LoadRuntime(Some(rt)))
    }

    fn handle(&self) -> tokio::runtime::Handle {
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

async fn run_in(args: &BenchArgs, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let n = args.invoices;
    // The load generator and the sink run apart from the server, so the CPU time of each
    // can be told apart (`cpu`); they still share this machine's cores.
    let load_rt = LoadRuntime::new()?;
    let load = load_rt.handle();

    // 1. The loopback sink (up for the connection's test sync; in backlog mode, down
    // from the first invoice until the last is accepted).
    let (sink_up, up) = tokio::sync::watch::channel(true);
    let sink = Arc::new(Sink {
        up,
        arrivals: (0..n).map(|_| OnceLock::new()).collect(),
        delivered: AtomicUsize::new(0),
        raw: AtomicU64::new(0),
        all_arrived: Notify::new(),
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding the sink")?;
    listener.set_nonblocking(true)?;
    let sink_addr = listener.local_addr()?;
    let app = Router::new()
        .route("/hook", post(sink_hook))
        .route("/raw", post(sink_raw))
        .with_state(sink.clone());
    let stop_sink = CancellationToken::new();
    let stop = stop_sink.clone();
    let sink_task = load.spawn(async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
            return;
        };
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });

    // 2. The real server, a tenant, and a webhook connection to the sink.
    let mut config = Config::for_data_dir(data_dir);
    config.allow_private_targets = true;
    if args.backlog {
        // The held deliveries must neither time out nor lose their lease while the
        // sink is down.
        config.request_timeout = Duration::from_secs(args.timeout_secs.max(3600));
        config.worker.lease = config.request_timeout * 2;
    }
    let mut servers = Vec::new();
    for host in 0..args.hosts {
        let mut config = config.clone();
        if let Some(url) = &args.database_url {
            // One store, one sealing key; each host keeps its own component cache.
            config.database_url = Some(url.clone());
            config.secret_key = Some(BENCH_SECRET_KEY.into());
            config.data_dir = data_dir.join(format!("host-{host}"));
        }
        servers.push(
            crate::server::start(config)
                .await
                .context("starting erp-sync")?,
        );
    }
    let server = &servers[0];
    let (_, api_key) = server.store.create_tenant("bench").await?;
    let base = format!("http://{}", server.addr);
    let bases: Arc<Vec<String>> = Arc::new(
        servers
            .iter()
            .map(|s| format!("http://{}/v1/invoices", s.addr))
            .collect(),
    );
    let client = reqwest::Client::new();
    let mut webhook = json!({ "url": format!("http://{sink_addr}/hook") });
    if let Some(file) = &args.component {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let world = if args.path == PayloadPath::Tweak {
            "invoice-tweak"
        } else {
            "webhook-transform"
        };
        let uploaded = client
            .post(format!("{base}/v1/transforms?name=bench&world={world}"))
            .bearer_auth(&api_key)
            .body(bytes)
            .send()
            .await
            .context("uploading the component")?;
        let status = uploaded.status();
        let answer: Value = uploaded.json().await.unwrap_or_default();
        if !status.is_success() {
            bail!("uploading {} answered {status}: {answer}", file.display());
        }
        let id = answer["id"].clone();
        if args.path == PayloadPath::Transform {
            webhook["transform_id"] = id;
        } else {
            let tweak = client
                .put(format!("{base}/v1/customers/cus_42/tweak"))
                .bearer_auth(&api_key)
                .json(&json!({ "transform_id": id }))
                .send()
                .await
                .context("setting the customer's tweak")?;
            if !tweak.status().is_success() {
                bail!("setting the tweak answered {}", tweak.status());
            }
        }
    }
    if args.path == PayloadPath::Template {
        webhook["template"] = json!({
            "invoice_id": "$.id", "event": "$event.type", "number": "$.number",
            "currency": "$.currency", "total": "$.total",
            "lines": { "$each": "$.lines", "$map": { "id": "$.id", "net": "$.amount" } }
        });
    }
    let created = client
        .post(format!("{base}/v1/connections"))
        .bearer_auth(&api_key)
        .json(&json!({ "provider": "webhook", "name": "bench sink", "config": webhook }))
        .send()
        .await
        .context("creating the webhook connection")?;
    if !created.status().is_success() {
        let status = created.status();
        bail!(
            "creating the connection answered {status}: {}",
            created.text().await.unwrap_or_default()
        );
    }

    // 3. The raw ceiling: the same client straight to the sink.
    let raw_url = Arc::new(format!("http://{sink_addr}/raw"));
    let raw_client = client.clone();
    let raw_elapsed = load
        .spawn(closed_loop(n, args.concurrency, move |i| {
            let (client, url) = (raw_client.clone(), raw_url.clone());
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
    let raw_rps = n as f64 / raw_elapsed.as_secs_f64();

    // 4. Invoices through the public API.
    let bar = indicatif::ProgressBar::new(n as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "delivered {bar:40} {pos}/{len} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress = {
        let (sink, bar) = (sink.clone(), bar.clone());
        tokio::spawn(async move {
            loop {
                bar.set_position(sink.delivered.load(Ordering::Relaxed) as u64);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let starts: Arc<Vec<OnceLock<Instant>>> = Arc::new((0..n).map(|_| OnceLock::new()).collect());
    let rejected = Arc::new(AtomicUsize::new(0));
    let post_one = {
        let (client, starts, rejected) = (client.clone(), starts.clone(), rejected.clone());
        let urls = bases.clone();
        let key = Arc::new(api_key.clone());
        let lines = args.lines;
        move |i: usize| {
            let (client, starts, rejected) = (client.clone(), starts.clone(), rejected.clone());
            let (urls, key) = (urls.clone(), key.clone());
            async move {
                let url = &urls[i % urls.len()];
                let body = serde_json::to_vec(&invoice(i, lines))?;
                let _ = starts[i].set(Instant::now());
                let r = client
                    .post(url)
                    .bearer_auth(key.as_str())
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                if r.status() != StatusCode::ACCEPTED
                    && rejected.fetch_add(1, Ordering::Relaxed) == 0
                {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    eprintln!("inv_bench_{i} was refused with {status}: {text}");
                }
                Ok::<(), anyhow::Error>(())
            }
        }
    };
    let key_for_queries = api_key;
    if args.backlog {
        let _ = sink_up.send(false);
    }
    let writes_before = server.store.write_stats();
    let cpu_before = cpu::Snapshot::take();
    let load_started = Instant::now();
    let ingest = match args.rate {
        None => load.spawn(closed_loop(n, args.concurrency, post_one)),
        Some(rate) => load.spawn(async move {
            // Open loop: one POST starts every 1/rate s whatever the answers take, so slow
            // answers show up as latency instead of silently lowering the offered load.
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..n {
                tick.tick().await;
                tasks.spawn(post_one(i));
            }
            while let Some(r) = tasks.join_next().await {
                r.context("a load task panicked")??;
            }
            Ok(load_started.elapsed())
        }),
    };
    let ingest_elapsed = ingest.await.context("the load generator panicked")??;
    let rejected = rejected.load(Ordering::Relaxed);
    // Backlog mode: everything is accepted and waiting; the sink comes up now.
    let released = Instant::now();
    let backlog_at_release = n - rejected - sink.delivered.load(Ordering::Acquire);
    let _ = sink_up.send(true);
    let wait = tokio::time::timeout(Duration::from_secs(args.timeout_secs), async {
        while sink.delivered.load(Ordering::Acquire) < n - rejected {
            tokio::select! {
                _ = sink.all_arrived.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    })
    .await;
    let cpu_split = cpu::Snapshot::take()
        .zip(cpu_before)
        .map(|(after, before)| after.since(&before));
    progress.abort();
    bar.set_position(sink.delivered.load(Ordering::Relaxed) as u64);
    bar.finish();
    let delivered = sink.delivered.load(Ordering::Acquire);

    // 5. The figures.
    let mut latencies = Vec::with_capacity(n);
    let mut last_arrival = load_started;
    for (start, arrival) in starts.iter().zip(&sink.arrivals) {
        if let (Some(s), Some(a)) = (start.get(), arrival.get()) {
            latencies.push(a.saturating_duration_since(*s));
            last_arrival = last_arrival.max(*a);
        }
    }
    latencies.sort_unstable();
    let ingest_rps = n as f64 / ingest_elapsed.as_secs_f64();
    let delivered_span = last_arrival.saturating_duration_since(load_started);
    let delivered_rps = delivered as f64 / delivered_span.as_secs_f64().max(1e-9);
    let (p50, p99) = (
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99),
    );
    let max = latencies.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    let ratio = delivered_rps / raw_rps;
    let rss_mib = peak_rss_kib().map(|k| k as f64 / 1024.0);
    let writes = server.store.write_stats();
    let (commits, write_ops) = (
        writes.commits - writes_before.commits,
        writes.writes - writes_before.writes,
    );
    let per_commit = write_ops as f64 / commits.max(1) as f64;
    let mode = match args.rate {
        Some(r) => format!("fixed {r}/s"),
        None => format!("closed loop, {} clients", args.concurrency),
    };
    let path = args.path.name();
    let drain_span = last_arrival.saturating_duration_since(released);
    let drain_rps = backlog_at_release as f64 / drain_span.as_secs_f64().max(1e-9);
    // CPU per delivered invoice, and what the server alone would sustain on all cores.
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let per_invoice = |d: Duration| d.as_secs_f64() * 1e6 / delivered.max(1) as f64;
    let cpu_us = cpu_split.map(|c| (per_invoice(c.server), per_invoice(c.load)));
    let server_only_rps = cpu_us.map(|(server, _)| cores as f64 * 1e6 / server.max(1e-3));
    let log_query = sync_log_query_latency(&client, &base, &key_for_queries, n).await?;

    println!();
    let backend = server.store.backend_name();
    println!(
        "erp-sync bench: {n} invoices x {} line(s), path {path}, {mode}, {backend} store, {} host(s)",
        args.lines, args.hosts
    );
    println!(
        "  {:<34} {:>12}",
        "raw ceiling (client -> sink)",
        format!("{raw_rps:.0} req/s")
    );
    println!(
        "  {:<34} {:>12}",
        "ingest throughput",
        format!("{ingest_rps:.0} inv/s")
    );
    println!(
        "  {:<34} {:>12}",
        "delivered throughput",
        format!("{delivered_rps:.0} inv/s")
    );
    println!(
        "  {:<34} {:>12}",
        "delivered / raw ceiling",
        format!("{:.1} %", ratio * 100.0)
    );
    println!(
        "  {:<34} {:>12}",
        "ingest->delivered p50",
        format!("{p50:.2} ms")
    );
    println!(
        "  {:<34} {:>12}",
        "ingest->delivered p99",
        format!("{p99:.2} ms")
    );
    println!(
        "  {:<34} {:>12}",
        "ingest->delivered max",
        format!("{max:.2} ms")
    );
    println!(
        "  {:<34} {:>12}",
        "delivered / refused",
        format!("{delivered} / {rejected}")
    );
    println!(
        "  {:<34} {:>12}",
        "store writes / commits",
        format!("{write_ops} / {commits} ({per_commit:.1} per commit)")
    );
    if args.backlog {
        println!(
            "  {:<34} {:>12}",
            "backlog when the sink came up",
            format!("{backlog_at_release} inv")
        );
        println!(
            "  {:<34} {:>12}",
            "backlog drain rate",
            format!("{drain_rps:.0} inv/s")
        );
    }
    println!(
        "  {:<34} {:>12}",
        "sync-log by invoice id p50 / p99",
        format!("{:.2} / {:.2} ms", log_query.0, log_query.1)
    );
    if let (Some((server, load)), Some(ceiling)) = (cpu_us, server_only_rps) {
        println!(
            "  {:<34} {:>12}",
            "CPU per invoice: server / load+sink",
            format!("{server:.0} / {load:.0} µs")
        );
        println!(
            "  {:<34} {:>12}",
            format!("server alone on {cores} cores (CPU-bound)"),
            format!("{ceiling:.0} inv/s")
        );
    }
    if let Some(mib) = rss_mib {
        println!(
            "  {:<34} {:>12}",
            "peak RSS (whole process)",
            format!("{mib:.1} MiB")
        );
    }
    println!(
        "{}",
        json!({
            "invoices": n, "lines": args.lines, "path": path,
            "store_backend": backend, "hosts": args.hosts,
            "concurrency": args.concurrency, "rate": args.rate,
            "raw_ceiling_rps": raw_rps, "ingest_rps": ingest_rps,
            "delivered_rps": delivered_rps, "delivered_over_raw": ratio,
            "latency_ms": { "p50": p50, "p99": p99, "max": max },
            "delivered": delivered, "refused": rejected,
            "timed_out": wait.is_err(), "peak_rss_mib": rss_mib,
            "store": { "writes": write_ops, "commits": commits },
            "backlog": args.backlog.then(|| json!({
                "at_release": backlog_at_release, "drain_rps": drain_rps,
            })),
            "sync_log_query_ms": { "p50": log_query.0, "p99": log_query.1 },
            "cpu_us_per_invoice": cpu_us.map(|(server, load)| json!({
                "server": server, "load_and_sink": load,
            })),
            "cores": cores, "server_only_ceiling_rps": server_only_rps,
        })
    );

    for server in servers {
        server.shutdown().await;
    }
    stop_sink.cancel();
    let _ = sink_task.await;
    if wait.is_err() || delivered < n {
        bail!(
            "only {delivered} of {n} invoices reached the sink within {} s",
            args.timeout_secs
        );
    }
    Ok(())
}
