//! Fresh invoices' latency while a bulk recovery of 10,000 FAILED documents runs (issue
//! 21): a recovery must not starve fresh deliveries.
//!
//! Run: `cargo bench -p erp-sync --bench recovery_fairness` (10,000 failed documents per
//! recovery, fresh invoices at 100 per second, a sink that answers at once), or
//! `… -- <failed> <fresh-per-second> [sink-delay-ms]`: a sink that takes its time (e.g.
//! 100 ms, so that the connection's 64 deliveries in flight send fewer than 1000 per
//! second) shows what a recovery faster than the endpoint does to fresh invoices.
//! With `ERP_SYNC_TEST_POSTGRES` set (an admin URL), the same run follows on PostgreSQL,
//! in a fresh schema. Figures go in docs/performance.md.
//!
//! It starts a real server (`erp_sync::server::start`) on a fresh store, with one tenant
//! and one webhook connection (`"retry": {"max_retries": 0}`, so a failure is final at
//! once) to a local sink that answers 503 while told to fail and 200 otherwise, and notes
//! when each invoice (the envelope's `data.id`) first arrived to be answered 200 (its
//! arrival, before any sink delay). Fresh invoices are posted over HTTP at a steady rate,
//! each spawned on its tick so a slow answer does not slow the rate, and each one's
//! latency runs from its `202 Accepted` to its arrival at the sink (a delivery that
//! arrives before the client has read the 202 counts 0).
//!
//! - **baseline**: fresh invoices for [`BASELINE`], nothing else queued.
//! - Two batches of `<failed>` invoices are failed for good (the sink answers 503), one
//!   after the other, so that each batch is a time range of its own.
//! - **recovery 1000/s**: `POST /v1/connections/{id}/recover` of the second batch at
//!   `max_per_second` 1000, with fresh invoices until `GET /v1/recoveries/{id}` says done.
//! - **recovery 50/s**: the first batch at the default rate (50 per second), with fresh
//!   invoices for [`SLOW_WINDOW`] (it would take 200 s to finish).
//!
//! For each phase it prints the fresh invoices' p50/p99/max and the recovery's documents
//! per second (its `succeeded + failed` over the time measured), and a table at the end;
//! the last column is the p99 from the POST's sending instead of its 202.

#[allow(dead_code)]
#[path = "../../tests/it/support/postgres.rs"]
mod postgres;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{SecondsFormat, Utc};
use erp_sync::config::Config;
use futures_util::StreamExt;
use serde_json::{Value, json};

/// How long fresh invoices are measured with nothing else queued.
const BASELINE: Duration = Duration::from_secs(20);
/// How long fresh invoices are measured during the recovery at the default rate.
const SLOW_WINDOW: Duration = Duration::from_secs(30);
/// Invoices in flight while a batch is posted to fail.
const IN_FLIGHT: usize = 16;
/// The longest a fresh invoice is waited for after its phase.
const ARRIVAL_WAIT: Duration = Duration::from_secs(180);

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let failed: usize = args
        .first()
        .map_or(10_000, |a| a.parse().expect("failed: a number"));
    let rate: u64 = args
        .get(1)
        .map_or(100, |a| a.parse().expect("fresh-per-second: a number"));
    let delay = Duration::from_millis(
        args.get(2)
            .map_or(0, |a| a.parse().expect("sink-delay-ms: a number")),
    );
    println!(
        "{failed} failed documents per recovery, fresh invoices at {rate}/s, the sink answers 200 after {} ms",
        delay.as_millis()
    );
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async {
        let mut rows = run(None, failed, rate, delay).await;
        if let Some(admin) = postgres::admin_url() {
            let url = postgres::fresh_schema(&admin).await;
            rows.extend(run(Some(url), failed, rate, delay).await);
        }
        println!();
        println!(
            "{:<10} {:<18} {:>6} {:>9} {:>9} {:>9} {:>12} {:>12}",
            "store", "phase", "fresh", "p50 ms", "p99 ms", "max ms", "recovery/s", "p99 sent ms"
        );
        for row in &rows {
            println!(
                "{:<10} {:<18} {:>6} {:>9.1} {:>9.1} {:>9.1} {:>12} {:>12.1}",
                row.store,
                row.phase,
                row.fresh,
                row.p50,
                row.p99,
                row.max,
                row.docs_per_second
                    .map_or("-".to_string(), |d| format!("{d:.0}")),
                row.p99_sent
            );
        }
    });
}

/// One line of the table.
struct Row {
    store: &'static str,
    phase: String,
    fresh: usize,
    /// Fresh invoices that reached the sink before the client had read their 202.
    early: usize,
    p50: f64,
    p99: f64,
    max: f64,
    /// p99 from the POST's sending rather than its 202.
    p99_sent: f64,
    docs_per_second: Option<f64>,
}

/// The webhook endpoint: 503 while `failing`, else 200 and the first arrival of each
/// invoice id.
#[derive(Default)]
struct Sink {
    /// How long a 200 takes (a slow endpoint); refusals are immediate.
    delay: Duration,
    failing: AtomicBool,
    refused: AtomicUsize,
    arrived: Mutex<HashMap<String, Instant>>,
}

async fn receive(State(sink): State<Arc<Sink>>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    if sink.failing.load(Ordering::SeqCst) {
        sink.refused.fetch_add(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    if !sink.delay.is_zero() {
        tokio::time::sleep(sink.delay).await;
    }
    let envelope: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(id) = envelope["data"]["id"].as_str() {
        sink.arrived
            .lock()
            .unwrap()
            .entry(id.to_string())
            .or_insert(at);
    }
    StatusCode::OK
}

async fn start_sink(delay: Duration) -> (Arc<Sink>, String) {
    let sink = Arc::new(Sink {
        delay,
        ..Sink::default()
    });
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(sink.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a sink port");
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (sink, url)
}

/// A server, its tenant's key, and the connection to the sink.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
    connection: String,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.expect("the server answers");
        let status = answer.status().as_u16();
        let text = answer.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Posts an invoice; answers when its 202 arrived.
    async fn ingest(&self, id: &str) -> Instant {
        let (status, body) = self
            .call(reqwest::Method::POST, "/v1/invoices", Some(invoice(id)))
            .await;
        let accepted = Instant::now();
        assert_eq!(status, 202, "{body}");
        accepted
    }

    /// The connection's documents whose delivery FAILED in the range (a dry run).
    async fn recoverable(&self, since: &str, until: &str) -> i64 {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/connections/{}/recover", self.connection),
                Some(json!({"since": since, "until": until, "status": "FAILED", "dry_run": true})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["count"].as_i64().expect("a count")
    }
}

fn rfc3339_now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The contract's example invoice with the given id.
fn invoice(id: &str) -> Value {
    let mut invoice: Value =
        serde_json::from_str(include_str!("../../examples/invoices/basic.json")).expect("JSON");
    invoice["id"] = json!(id);
    invoice["number"] = json!(format!("INV-{id}"));
    invoice
}

async fn run(database_url: Option<String>, failed: usize, rate: u64, delay: Duration) -> Vec<Row> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut config = Config::for_data_dir(dir.path());
    config.allow_private_targets = true;
    config.retry.base = Duration::from_millis(50);
    if database_url.is_some() {
        config.secret_key = Some(postgres::TEST_SECRET_KEY.into());
    }
    config.database_url = database_url;
    let server = erp_sync::server::start(config)
        .await
        .expect("the server starts");
    let store = server.store.backend_name();
    println!("== {store} ==");
    let (_, key) = server.store.create_tenant("bench").await.expect("a tenant");
    let (sink, url) = start_sink(delay).await;
    let mut api = Api {
        http: reqwest::Client::new(),
        base: format!("http://{}", server.addr),
        key,
        connection: String::new(),
    };
    let (status, created) = api
        .call(
            reqwest::Method::POST,
            "/v1/connections",
            Some(json!({"provider": "webhook", "name": "sink",
                        "config": {"url": url, "retry": {"max_retries": 0}}})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    api.connection = created["id"].as_str().expect("an id").to_string();

    let mut rows = Vec::new();
    let mut row = |phase: &str, latencies: Latencies, docs_per_second: Option<f64>| {
        let row = summarize(store, phase, latencies, docs_per_second);
        println!(
            "{phase}: {} fresh invoices ({} at the sink before their 202), p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (p99 from the POST sent {:.1} ms)",
            row.fresh, row.early, row.p50, row.p99, row.max, row.p99_sent
        );
        rows.push(row);
    };

    let posted = fresh(&api, "base", rate, Stop::After(BASELINE)).await;
    row("baseline", arrivals(&sink, &posted).await, None);

    let first = fail_batch(&api, &sink, "lost_a", failed).await;
    let second = fail_batch(&api, &sink, "lost_b", failed).await;

    let (latencies, docs) = during_recovery(&api, &sink, &second, 1000, None, rate).await;
    row("recovery 1000/s", latencies, Some(docs));
    let (latencies, docs) = during_recovery(&api, &sink, &first, 50, Some(SLOW_WINDOW), rate).await;
    row("recovery 50/s", latencies, Some(docs));

    server.shutdown().await;
    rows
}

/// Fails `n` invoices for good: the sink refuses them, the connection never retries.
/// Answers the range (RFC 3339 `since`, `until`) their failures fall in.
async fn fail_batch(api: &Api, sink: &Sink, prefix: &str, n: usize) -> (String, String) {
    let started = Instant::now();
    sink.failing.store(true, Ordering::SeqCst);
    let refused_before = sink.refused.load(Ordering::SeqCst);
    let since = rfc3339_now();
    futures_util::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let id = format!("{prefix}_{i:05}");
            async move { api.ingest(&id).await }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>()
        .await;
    let posted = started.elapsed();
    while sink.refused.load(Ordering::SeqCst) - refused_before < n {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "{prefix}: only {} of {n} deliveries refused after 10 minutes",
            sink.refused.load(Ordering::SeqCst) - refused_before
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every failure recorded (the sink answers before the store writes the outcome).
    let until = loop {
        let until = rfc3339_now();
        if api.recoverable(&since, &until).await == n as i64 {
            break until;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    sink.failing.store(false, Ordering::SeqCst);
    println!(
        "failed {n} invoices ({prefix}): posted in {:.1} s, all FAILED after {:.1} s",
        posted.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    // The next batch's range starts strictly later.
    tokio::time::sleep(Duration::from_millis(20)).await;
    (since, until)
}

/// Starts a recovery of the range at `per_second` and posts fresh invoices while it runs
/// (for `window`, or until it is done). Answers the fresh invoices' latencies and the
/// recovery's documents per second.
async fn during_recovery(
    api: &Api,
    sink: &Sink,
    (since, until): &(String, String),
    per_second: i64,
    window: Option<Duration>,
    rate: u64,
) -> (Latencies, f64) {
    let (status, started) = api
        .call(
            reqwest::Method::POST,
            &format!("/v1/connections/{}/recover", api.connection),
            Some(json!({"since": since, "until": until, "status": "FAILED",
                        "max_per_second": per_second})),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    let clock = Instant::now();
    let recovery = started["recovery_id"].as_str().expect("an id").to_string();
    let queued = started["count"].as_i64().unwrap_or_default();
    let done = Arc::new(AtomicBool::new(false));
    let progress = {
        let (api, done) = (api.clone(), done.clone());
        async move {
            loop {
                let (status, p) = api
                    .call(
                        reqwest::Method::GET,
                        &format!("/v1/recoveries/{recovery}"),
                        None,
                    )
                    .await;
                assert_eq!(status, 200, "{p}");
                let at = clock.elapsed();
                let finished = p["done"] == true;
                if finished || window.is_some_and(|w| at >= w) {
                    done.store(true, Ordering::SeqCst);
                    let sent = p["succeeded"].as_i64().unwrap_or_default()
                        + p["failed"].as_i64().unwrap_or_default();
                    return (p, sent, at, finished);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    };
    let stop = match window {
        Some(w) => Stop::After(w),
        None => Stop::When(done.clone()),
    };
    let prefix = format!("rcv{per_second}");
    let (posted, (p, sent, at, finished)) = tokio::join!(fresh(api, &prefix, rate, stop), progress);
    let docs_per_second = sent as f64 / at.as_secs_f64();
    println!(
        "recovery at {per_second}/s of {queued} documents: {sent} sent in {:.1} s ({docs_per_second:.0}/s){}; {p}",
        at.as_secs_f64(),
        if finished {
            ", done"
        } else {
            ", still running"
        },
    );
    (arrivals(sink, &posted).await, docs_per_second)
}

/// A fresh invoice: when its POST was sent and when its 202 was read.
struct Posted {
    id: String,
    sent: Instant,
    accepted: Instant,
}

/// Fresh invoices' latencies to the sink.
struct Latencies {
    /// From the 202 (0 when the delivery came first).
    accepted: Vec<Duration>,
    /// From the POST's sending.
    sent: Vec<Duration>,
    /// How many reached the sink before their 202 was read.
    early: usize,
}

enum Stop {
    After(Duration),
    When(Arc<AtomicBool>),
}

/// Posts fresh invoices `<prefix>_<n>` at `rate` per second until `stop`; answers each
/// one's id and when its 202 arrived.
async fn fresh(api: &Api, prefix: &str, rate: u64, stop: Stop) -> Vec<Posted> {
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut posts = Vec::new();
    for n in 0.. {
        ticks.tick().await;
        let over = match &stop {
            Stop::After(d) => started.elapsed() >= *d,
            Stop::When(done) => done.load(Ordering::SeqCst),
        };
        if over {
            break;
        }
        let (api, id) = (api.clone(), format!("{prefix}_{n:06}"));
        posts.push(tokio::spawn(async move {
            let sent = Instant::now();
            let accepted = api.ingest(&id).await;
            Posted { id, sent, accepted }
        }));
    }
    let mut answered = Vec::with_capacity(posts.len());
    for post in posts {
        answered.push(post.await.expect("a post"));
    }
    answered
}

/// Waits for every posted invoice at the sink; answers their latencies.
async fn arrivals(sink: &Sink, posted: &[Posted]) -> Latencies {
    let started = Instant::now();
    loop {
        let missing = {
            let arrived = sink.arrived.lock().unwrap();
            posted
                .iter()
                .filter(|p| !arrived.contains_key(&p.id))
                .count()
        };
        if missing == 0 {
            break;
        }
        assert!(
            started.elapsed() < ARRIVAL_WAIT,
            "{missing} of {} fresh invoices never arrived",
            posted.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let arrived = sink.arrived.lock().unwrap();
    Latencies {
        accepted: posted
            .iter()
            .map(|p| arrived[&p.id].saturating_duration_since(p.accepted))
            .collect(),
        sent: posted
            .iter()
            .map(|p| arrived[&p.id].saturating_duration_since(p.sent))
            .collect(),
        early: posted
            .iter()
            .filter(|p| arrived[&p.id] < p.accepted)
            .count(),
    }
}

fn summarize(
    store: &'static str,
    phase: &str,
    latencies: Latencies,
    docs_per_second: Option<f64>,
) -> Row {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let sorted = |mut v: Vec<Duration>| {
        v.sort();
        v
    };
    let at = |v: &[Duration], q: f64| ms(v[((v.len() - 1) as f64 * q) as usize]);
    let (early, sent, latencies) = (
        latencies.early,
        sorted(latencies.sent),
        sorted(latencies.accepted),
    );
    Row {
        store,
        phase: phase.to_string(),
        fresh: latencies.len(),
        early,
        p50: at(&latencies, 0.5),
        p99: at(&latencies, 0.99),
        p99_sent: at(&sent, 0.99),
        max: ms(latencies.last().copied().unwrap_or_default()),
        docs_per_second,
    }
}
