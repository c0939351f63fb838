//! The bench's figures, worked out from what the run measured, and printed as a table
//! for people and one JSON line for scripts.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;

use super::BenchArgs;
use super::load::Pushed;
use super::sink::Sink;
use crate::store::Store;

/// Prints one line of the table: the label, then the value (`format!` arguments)
/// right-aligned.
macro_rules! row {
    ($label:expr, $($value:tt)+) => {
        println!("  {:<34} {:>12}", $label, format!($($value)+))
    };
}

/// Everything the bench reports.
pub(super) struct Figures {
    backend: &'static str,
    raw_rps: f64,
    ingest_rps: f64,
    delivered_rps: f64,
    /// Delivered throughput over the raw ceiling.
    ratio: f64,
    /// Ingest-to-delivered latency: p50, p99 and max, in ms.
    p50: f64,
    p99: f64,
    max: f64,
    delivered: usize,
    rejected: usize,
    timed_out: bool,
    write_ops: u64,
    commits: u64,
    backlog_at_release: usize,
    drain_rps: f64,
    /// `GET /v1/sync-log?invoice_id=…`: p50 and p99, in ms.
    log_query: (f64, f64),
    cores: usize,
    /// CPU µs per delivered invoice: server, load generator and sink.
    cpu_us: Option<(f64, f64)>,
    /// What the server alone would sustain on every core, from its CPU per invoice.
    server_only_rps: Option<f64>,
    rss_mib: Option<f64>,
}

impl Figures {
    /// Works the figures out from the raw ceiling, the push and the sink's arrivals;
    /// reads the store's write counters and the process's peak RSS, then times
    /// sync-log queries through the API at `base`.
    pub(super) async fn measure(
        raw_rps: f64,
        pushed: &Pushed,
        sink: &Sink,
        store: &Store,
        client: &reqwest::Client,
        base: &str,
        api_key: &str,
    ) -> anyhow::Result<Figures> {
        let n = sink.arrivals.len();
        let delivered = pushed.delivered;
        let mut latencies = Vec::with_capacity(n);
        let mut last_arrival = pushed.load_started;
        for (start, arrival) in pushed.starts.iter().zip(&sink.arrivals) {
            if let (Some(s), Some(a)) = (start.get(), arrival.get()) {
                latencies.push(a.saturating_duration_since(*s));
                last_arrival = last_arrival.max(*a);
            }
        }
        latencies.sort_unstable();
        let delivered_rps = per_second(delivered, last_arrival, pushed.load_started);
        let rss_mib = peak_rss_kib().map(|k| k as f64 / 1024.0);
        let writes = store.write_stats();
        // CPU per delivered invoice, and what the server alone would sustain on all cores.
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        let per_invoice = |d: Duration| d.as_secs_f64() * 1e6 / delivered.max(1) as f64;
        let cpu_us = pushed
            .cpu
            .map(|c| (per_invoice(c.server), per_invoice(c.load)));
        Ok(Figures {
            backend: store.backend_name(),
            raw_rps,
            ingest_rps: n as f64 / pushed.ingest_elapsed.as_secs_f64(),
            delivered_rps,
            ratio: delivered_rps / raw_rps,
            p50: percentile_ms(&latencies, 0.50),
            p99: percentile_ms(&latencies, 0.99),
            max: latencies.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1e3),
            delivered,
            rejected: pushed.rejected,
            timed_out: pushed.timed_out,
            write_ops: writes.writes - pushed.writes_before.writes,
            commits: writes.commits - pushed.writes_before.commits,
            backlog_at_release: pushed.backlog_at_release,
            drain_rps: per_second(pushed.backlog_at_release, last_arrival, pushed.released),
            log_query: sync_log_query_latency(client, base, api_key, n).await?,
            cores,
            cpu_us,
            server_only_rps: cpu_us.map(|(server, _)| cores as f64 * 1e6 / server.max(1e-3)),
            rss_mib,
        })
    }

    /// Prints the table, then the JSON line, on stdout.
    pub(super) fn print(&self, args: &BenchArgs) {
        let n = args.invoices;
        let mode = match args.rate {
            Some(r) => format!("fixed {r}/s"),
            None => format!("closed loop, {} clients", args.concurrency),
        };
        let path = args.path.name();
        let per_commit = self.write_ops as f64 / self.commits.max(1) as f64;
        let (log_p50, log_p99) = self.log_query;

        println!();
        println!(
            "erp-sync bench: {n} invoices x {} line(s), path {path}, {mode}, {} store, {} host(s)",
            args.lines, self.backend, args.hosts
        );
        row!("raw ceiling (client -> sink)", "{:.0} req/s", self.raw_rps);
        row!("ingest throughput", "{:.0} inv/s", self.ingest_rps);
        row!("delivered throughput", "{:.0} inv/s", self.delivered_rps);
        row!("delivered / raw ceiling", "{:.1} %", self.ratio * 100.0);
        row!("ingest->delivered p50", "{:.2} ms", self.p50);
        row!("ingest->delivered p99", "{:.2} ms", self.p99);
        row!("ingest->delivered max", "{:.2} ms", self.max);
        let (delivered, refused) = (self.delivered, self.rejected);
        row!("delivered / refused", "{delivered} / {refused}");
        row!(
            "store writes / commits",
            "{} / {} ({per_commit:.1} per commit)",
            self.write_ops,
            self.commits
        );
        if args.backlog {
            row!(
                "backlog when the sink came up",
                "{} inv",
                self.backlog_at_release
            );
            row!("backlog drain rate", "{:.0} inv/s", self.drain_rps);
        }
        row!(
            "sync-log by invoice id p50 / p99",
            "{log_p50:.2} / {log_p99:.2} ms"
        );
        if let (Some((server, load)), Some(ceiling)) = (self.cpu_us, self.server_only_rps) {
            row!(
                "CPU per invoice: server / load+sink",
                "{server:.0} / {load:.0} µs"
            );
            row!(
                format!("server alone on {} cores (CPU-bound)", self.cores),
                "{ceiling:.0} inv/s"
            );
        }
        if let Some(mib) = self.rss_mib {
            row!("peak RSS (whole process)", "{mib:.1} MiB");
        }
        println!(
            "{}",
            json!({
                "invoices": n, "lines": args.lines, "path": path,
                "store_backend": self.backend, "hosts": args.hosts,
                "concurrency": args.concurrency, "rate": args.rate,
                "raw_ceiling_rps": self.raw_rps, "ingest_rps": self.ingest_rps,
                "delivered_rps": self.delivered_rps, "delivered_over_raw": self.ratio,
                "latency_ms": { "p50": self.p50, "p99": self.p99, "max": self.max },
                "delivered": self.delivered, "refused": self.rejected,
                "timed_out": self.timed_out, "peak_rss_mib": self.rss_mib,
                "store": { "writes": self.write_ops, "commits": self.commits },
                "backlog": args.backlog.then(|| json!({
                    "at_release": self.backlog_at_release, "drain_rps": self.drain_rps,
                })),
                "sync_log_query_ms": { "p50": log_p50, "p99": log_p99 },
                "cpu_us_per_invoice": self.cpu_us.map(|(server, load)| json!({
                    "server": server, "load_and_sink": load,
                })),
                "cores": self.cores, "server_only_ceiling_rps": self.server_only_rps,
            })
        );
    }
}

/// `count` over the time from `from` to `to` (never zero), per second.
fn per_second(count: usize, to: Instant, from: Instant) -> f64 {
    count as f64 / to.saturating_duration_since(from).as_secs_f64().max(1e-9)
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
