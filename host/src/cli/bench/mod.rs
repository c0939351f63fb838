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
//!
//! The run goes in the numbered steps of `run_in`: the [`sink`], the [`servers`] and
//! their connection to the sink, the raw ceiling and the invoices ([`load`], with
//! [`invoice`] bodies), then the figures ([`report`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

mod cpu;
mod invoice;
mod load;
mod report;
mod servers;
mod sink;

use load::LoadRuntime;
use report::Figures;
use sink::SinkServer;

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

/// Which document the timed phase pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchDocument {
    /// `POST /v1/invoices`.
    Invoice,
    /// `POST /v1/payments`, each paying one invoice pushed (and delivered) beforehand.
    Payment,
    /// `POST /v1/credit-notes`, each crediting one invoice pushed beforehand.
    CreditNote,
}

impl BenchDocument {
    /// The API collection and the id prefix the sink counts.
    fn api(self) -> (&'static str, &'static str) {
        match self {
            BenchDocument::Invoice => ("invoices", "inv_bench_"),
            BenchDocument::Payment => ("payments", "pay_bench_"),
            BenchDocument::CreditNote => ("credit-notes", "cn_bench_"),
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
    /// The document the timed phase pushes. With `payment` or `credit-note`, as many
    /// invoices are pushed and delivered first (untimed), and each document applies to
    /// one of them.
    #[arg(long, value_enum, default_value = "invoice")]
    pub document: BenchDocument,
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

/// Runs the benchmark and prints a table and one JSON line.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    check(&args)?;
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

/// Refuses flags that cannot make a run, before anything starts.
fn check(args: &BenchArgs) -> anyhow::Result<()> {
    if args.invoices == 0 {
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
    Ok(())
}

/// The run in a ready data dir, step by step.
async fn run_in(args: &BenchArgs, data_dir: &Path) -> anyhow::Result<()> {
    let n = args.invoices;
    // The load generator and the sink run apart from the server, so the CPU time of each
    // can be told apart (`cpu`); they still share this machine's cores.
    let load_rt = LoadRuntime::new()?;
    let load = load_rt.handle();

    // 1. The loopback sink (up for the connection's test sync; in backlog mode, down
    // from the first invoice until the last is accepted).
    let sink = SinkServer::start(&load, n, args.document.api().1)?;

    // 2. The real servers, a tenant, and a webhook connection to the sink.
    let servers = servers::start(args, data_dir).await?;
    let server = &servers[0];
    let (_, api_key) = server.store.create_tenant("bench").await?;
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    servers::connect_sink(&client, &base, &api_key, args, sink.hook_url()).await?;

    // 3. The raw ceiling: the same client straight to the sink.
    let raw_rps = load::raw_ceiling(&load, &client, &sink, n, args.concurrency).await?;

    // 4. The invoices the documents apply to, when they are not invoices (untimed),
    // then the documents through the public API, spread over the servers.
    if args.document != BenchDocument::Invoice {
        let url = format!("http://{}/v1/invoices", server.addr);
        load::prepare_invoices(&load, args, &client, url, &api_key, &server.store).await?;
    }
    let collection = args.document.api().0;
    let urls = servers
        .iter()
        .map(|s| format!("http://{}/v1/{collection}", s.addr))
        .collect();
    let pushed =
        load::push_invoices(&load, args, &client, urls, &api_key, &sink, &server.store).await?;

    // 5. The figures.
    let figures = Figures::measure(
        raw_rps,
        &pushed,
        &sink.state,
        &server.store,
        &client,
        &base,
        &api_key,
    )
    .await?;
    figures.print(args);

    for server in servers {
        server.shutdown().await;
    }
    sink.stop().await;
    if pushed.timed_out || pushed.delivered < n {
        bail!(
            "only {} of {n} invoices reached the sink within {} s",
            pushed.delivered,
            args.timeout_secs
        );
    }
    Ok(())
}
