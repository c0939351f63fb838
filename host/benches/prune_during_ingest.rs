//! Ingest latency while old sync-log entries are pruned (issue 21): pruning must never
//! hold a long write lock.
//!
//! Run: `cargo bench -p erp-sync --bench prune_during_ingest` (1,000,000 old entries,
//! 20 s of ingest before pruning), or `… -- <entries> <seconds>`. With
//! `ERP_SYNC_TEST_POSTGRES` set (an admin URL), the same run follows on PostgreSQL, in a
//! fresh schema.
//!
//! It starts a real server (`erp_sync::server::start`) on a fresh store, with one tenant
//! and no connection, so an ingest is the accepting write alone (no delivery follows).
//! It fills the sync log with entries older than the retention: on SQLite through
//! `Store::append_log`, 512 at a time, which the group-committing writer turns into a
//! few thousand large commits; on PostgreSQL with one `INSERT … SELECT generate_series`
//! per 100,000 rows (appending one by one would take minutes). Then [`CLIENTS`] clients
//! POST invoices to `/v1/invoices` back to back, first for `<seconds>` without pruning,
//! then while `Store::prune_sync_log` removes the old entries at the retention task's
//! pace. It prints p50/p99/max of both phases, and the prune's duration and rows/s.
//! Figures go in docs/reliability.md.

#[allow(dead_code)]
#[path = "../../tests/it/support/postgres.rs"]
mod postgres;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use erp_sync::config::Config;
use erp_sync::delivery::retention::{PRUNE_BATCH, PRUNE_PAUSE, cutoff_ms};
use erp_sync::store::{LogEntry, LogKind, LogStatus, Provider, Store, now_ms};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// Clients posting invoices back to back.
const CLIENTS: usize = 4;
const DAY_MS: i64 = 86_400_000;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let entries: i64 = args
        .first()
        .map_or(1_000_000, |a| a.parse().expect("entries: a number"));
    let seconds: u64 = args
        .get(1)
        .map_or(20, |a| a.parse().expect("seconds: a number"));
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async {
        run(None, entries, Duration::from_secs(seconds)).await;
        if let Some(admin) = postgres::admin_url() {
            let url = postgres::fresh_schema(&admin).await;
            run(Some(url), entries, Duration::from_secs(seconds)).await;
        }
    });
}

async fn run(database_url: Option<String>, entries: i64, phase: Duration) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut config = Config::for_data_dir(dir.path());
    if database_url.is_some() {
        config.secret_key = Some(postgres::TEST_SECRET_KEY.into());
    }
    config.database_url = database_url.clone();
    let server = erp_sync::server::start(config)
        .await
        .expect("the server starts");
    let store = server.store.clone();
    println!("== {} ==", store.backend_name());
    let (tenant, key) = store.create_tenant("bench").await.expect("a tenant");

    let started = Instant::now();
    match &database_url {
        None => fill_appending(&store, &tenant.id, entries).await,
        Some(url) => fill_postgres(url, &tenant.id, entries).await,
    }
    println!(
        "filled {entries} old entries in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let base = format!("http://{}", server.addr);
    let counter = Arc::new(AtomicUsize::new(0));
    let quiet = ingest(&base, &key, &counter, Phase::For(phase)).await;
    report("ingest, no pruning", &quiet);

    let done = Arc::new(AtomicBool::new(false));
    let pruning = {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let cutoff = cutoff_ms(now_ms(), Duration::from_secs(400 * 86_400));
            let pruned = store.prune_sync_log(cutoff, PRUNE_BATCH, PRUNE_PAUSE).await;
            done.store(true, Ordering::SeqCst);
            (pruned.expect("the prune succeeds"), started.elapsed())
        })
    };
    let busy = ingest(&base, &key, &counter, Phase::Until(done)).await;
    let (pruned, took) = pruning.await.expect("the prune task");
    report("ingest while pruning", &busy);
    println!(
        "pruned {pruned} entries in {:.1} s ({:.0} rows/s; batches of {PRUNE_BATCH}, {} ms pauses)",
        took.as_secs_f64(),
        pruned as f64 / took.as_secs_f64(),
        PRUNE_PAUSE.as_millis()
    );
    server.shutdown().await;
}

/// Appends `n` old entries through the store, 512 in flight (group-committed on SQLite).
async fn fill_appending(store: &Store, tenant_id: &str, n: i64) {
    let old = now_ms() - 500 * DAY_MS;
    futures_util::stream::iter(0..n)
        .map(|i| {
            let entry = old_entry(tenant_id, old + i);
            async move { store.append_log(&entry).await.expect("an entry appended") }
        })
        .buffered(512)
        .collect::<Vec<()>>()
        .await;
}

fn old_entry(tenant_id: &str, at_ms: i64) -> LogEntry {
    LogEntry {
        tenant_id: tenant_id.into(),
        at_ms,
        document: None,
        connection_id: "conn_bench".into(),
        provider: Provider::ALL[0],
        kind: LogKind::ALL[0],
        job_id: Some(format!("job_{at_ms}")),
        event_id: None,
        attempt: 1,
        status: LogStatus::Success,
        response_code: Some(200),
        error: None,
        erp_record_id: Some(format!("rec_{at_ms}")),
        duration_ms: 42,
        guest_logs: None,
    }
}

/// Inserts `n` old entries on PostgreSQL, 100,000 per statement.
async fn fill_postgres(url: &str, tenant_id: &str, n: i64) {
    let pool = sqlx::PgPool::connect(url)
        .await
        .expect("the bench database answers");
    let old = now_ms() - 500 * DAY_MS;
    for from in (0..n).step_by(100_000) {
        let to = (from + 100_000).min(n) - 1;
        sqlx::query(
            "INSERT INTO sync_log (tenant_id, at_ms, connection_id, provider, kind, job_id, attempt,
                                   status, response_code, erp_record_id, duration_ms)
             SELECT $1, $2 + g, 'conn_bench', 'webhook', 'sync', 'job_' || g, 1, 'SUCCESS', 200,
                    'rec_' || g, 42
             FROM generate_series($3::bigint, $4::bigint) g",
        )
        .bind(tenant_id)
        .bind(old)
        .bind(from)
        .bind(to)
        .execute(&pool)
        .await
        .expect("old entries inserted");
    }
    pool.close().await;
}

enum Phase {
    For(Duration),
    Until(Arc<AtomicBool>),
}

impl Phase {
    fn over(&self, started: Instant) -> bool {
        match self {
            Phase::For(d) => started.elapsed() >= *d,
            Phase::Until(done) => done.load(Ordering::SeqCst),
        }
    }
}

/// Posts invoices from [`CLIENTS`] clients back to back until the phase is over; answers
/// every request's latency.
async fn ingest(base: &str, key: &str, counter: &Arc<AtomicUsize>, phase: Phase) -> Vec<Duration> {
    let phase = Arc::new(phase);
    let started = Instant::now();
    let clients = (0..CLIENTS).map(|_| {
        let (base, key, counter, phase) = (
            base.to_string(),
            key.to_string(),
            counter.clone(),
            phase.clone(),
        );
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut latencies = Vec::new();
            while !phase.over(started) {
                let id = format!("inv_{}", counter.fetch_add(1, Ordering::Relaxed));
                let sent = Instant::now();
                let answer = http
                    .post(format!("{base}/v1/invoices"))
                    .bearer_auth(&key)
                    .json(&invoice(&id))
                    .send()
                    .await
                    .expect("the server answers");
                assert_eq!(
                    answer.status(),
                    202,
                    "{}",
                    answer.text().await.unwrap_or_default()
                );
                latencies.push(sent.elapsed());
            }
            latencies
        })
    });
    let mut all = Vec::new();
    for client in clients.collect::<Vec<_>>() {
        all.extend(client.await.expect("a client"));
    }
    all
}

/// The contract's example invoice with the given id.
fn invoice(id: &str) -> Value {
    let mut invoice: Value =
        serde_json::from_str(include_str!("../../examples/invoices/basic.json")).expect("JSON");
    invoice["id"] = json!(id);
    invoice["number"] = json!(format!("INV-{id}"));
    invoice
}

fn report(what: &str, latencies: &[Duration]) {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize];
    println!(
        "{what}: {} invoices, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        sorted.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        sorted.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}
