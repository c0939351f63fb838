//! The `erp-sync` command line: the server, and the administrative commands beside it.
//!
//! Every flag also reads from an `ERP_SYNC_*` environment variable, so the same binary
//! is configured by flags on a laptop and by the environment in a container.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub mod bench;
pub mod guest;
mod guest_test;
pub mod new;

use crate::config::Config;
use crate::sync::{RetryPolicy, WorkerSettings};

/// Pushes finalized invoices into QuickBooks Online, Xero, NetSuite and signed webhooks.
#[derive(Debug, Parser)]
#[command(name = "erp-sync", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API and the delivery worker.
    Serve(ServeArgs),
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Develop and check Wasm transforms locally.
    #[command(subcommand)]
    Transform(TransformCommand),
    /// Try JSONPath payload templates locally.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// End-to-end load: push invoices through a real in-process server to a loopback
    /// sink and report throughput, latency, the raw ceiling and peak RSS.
    Bench(bench::BenchArgs),
    /// Copy the SQLite store of a data dir into PostgreSQL, verify the copy and print a
    /// report (stop the server first; safe to run twice).
    MigrateStore(crate::store::migrate::MigrateStoreArgs),
}

/// Tenant subcommands.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and print its id and API key (shown this once).
    Create {
        /// A name for people, e.g. the company.
        name: String,
        #[arg(long, env = "ERP_SYNC_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// The PostgreSQL store the servers share, if they use one (as `serve`).
        #[arg(long, env = "ERP_SYNC_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
    },
}

/// The default of `--max-component-bytes`.
pub const DEFAULT_MAX_COMPONENT_BYTES: usize = 64 << 20;

/// Flags of `erp-sync serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port of the HTTP API.
    #[arg(long, env = "ERP_SYNC_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the SQLite database (and the dev sealing key, and the compiled-component
    /// cache) live.
    #[arg(long, env = "ERP_SYNC_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// A `postgres://user:password@host/db` URL: several erp-sync hosts then share one
    /// store and queue in PostgreSQL (set the same ERP_SYNC_SECRET_KEY on each).
    /// Absent, SQLite in the data dir, for one process.
    #[arg(long, env = "ERP_SYNC_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Allow webhook targets on private, loopback and link-local addresses (local testing).
    #[arg(long, env = "ERP_SYNC_ALLOW_PRIVATE_TARGETS", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub allow_private_targets: bool,
    /// On an empty database, create tenant `dev` and print its API key.
    #[arg(long, env = "ERP_SYNC_DEV", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub dev: bool,
    /// First retry delay in milliseconds; later retries double it (3 retries in all).
    #[arg(long, env = "ERP_SYNC_RETRY_BASE_MS", default_value_t = 10_000)]
    pub retry_base_ms: u64,
    /// Timeout of one outbound delivery request, in milliseconds.
    #[arg(long, env = "ERP_SYNC_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Deliveries in flight at once, over every connection. Each connection also has a
    /// cap of its own (64 for a webhook, 400 for Xero's batches, twice the account's
    /// concurrency for QuickBooks and NetSuite), so one connection's backlog never holds
    /// up the others.
    #[arg(long, env = "ERP_SYNC_CONCURRENCY", default_value_t = 1024)]
    pub concurrency: usize,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "ERP_SYNC_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest Wasm component `POST /v1/transforms` accepts, in bytes (64 MiB: a
    /// componentize-py Python component is about 19 MB, a JavaScript one about 12 MB).
    #[arg(long, env = "ERP_SYNC_MAX_COMPONENT_BYTES", default_value_t = DEFAULT_MAX_COMPONENT_BYTES)]
    pub max_component_bytes: usize,
    /// Sync-log entries older than this many days are pruned, in small batches.
    #[arg(long, env = "ERP_SYNC_LOG_RETENTION_DAYS", default_value_t = 400)]
    pub log_retention_days: u32,
    /// A webhook connection whose deliveries have all failed for this many seconds
    /// pauses itself and raises a `connection.paused` alert; 0 never pauses.
    #[arg(long, env = "ERP_SYNC_AUTO_PAUSE_AFTER_SECS", default_value_t = 86_400)]
    pub auto_pause_after_secs: u64,
    #[command(flatten)]
    pub wasm: WasmArgs,
    /// Key sealing secrets at rest: 32 bytes as hex or base64. Absent, a development
    /// key is generated in the data dir (with a warning).
    #[arg(long, env = "ERP_SYNC_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
}

impl ServeArgs {
    /// The server configuration these flags describe.
    pub fn config(&self) -> Config {
        let request_timeout = Duration::from_millis(self.request_timeout_ms.max(1));
        Config {
            listen: self.listen,
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            allow_private_targets: self.allow_private_targets,
            dev: self.dev,
            secret_key: self.secret_key.clone(),
            retry: RetryPolicy {
                base: Duration::from_millis(self.retry_base_ms),
                ..RetryPolicy::default()
            },
            worker: WorkerSettings {
                concurrency: self.concurrency.max(1),
                // A lease outlives any attempt, including its wait for an ERP's rate
                // limits; start-up releases a crashed process's leases at once anyway.
                lease: Duration::from_secs(15 * 60).max(request_timeout * 4),
                ..WorkerSettings::default()
            },
            request_timeout,
            max_body_bytes: self.max_body_bytes,
            max_component_bytes: self.max_component_bytes,
            wasm: crate::transform::wasm::Limits {
                // One sandbox slot per webhook delivery a connection keeps in flight;
                // each slot reserves address space, and more calls than slots wait.
                concurrency: self.concurrency.clamp(1, 64) as u32,
                ..self.wasm.limits()
            },
            public_url: std::env::var("ERP_SYNC_PUBLIC_URL")
                .unwrap_or_else(|_| format!("http://{}", self.listen)),
            quickbooks: crate::config::OAuthApp::quickbooks_from_env(),
            xero: crate::config::OAuthApp::xero_from_env(),
            xero_scopes: std::env::var("ERP_SYNC_XERO_SCOPES")
                .unwrap_or_else(|_| crate::connectors::xero::DEFAULT_SCOPES.into()),
            netsuite_api_base: std::env::var("ERP_SYNC_NETSUITE_API_BASE")
                .ok()
                .filter(|v| !v.is_empty()),
            wasm_cache_dir: None,
            log_retention: Duration::from_secs(u64::from(self.log_retention_days) * 86_400),
            auto_pause_after: (self.auto_pause_after_secs > 0)
                .then(|| Duration::from_secs(self.auto_pause_after_secs)),
        }
    }
}

/// Limits of one Wasm transform call, shared by `serve` and `transform run`.
#[derive(Debug, Args)]
pub struct WasmArgs {
    /// Fuel (deterministic CPU budget) per call; about 10 million per ms of guest CPU.
    #[arg(long, env = "ERP_SYNC_WASM_FUEL", default_value_t = 200_000_000)]
    pub wasm_fuel: u64,
    /// Wall-clock limit per call, in milliseconds.
    #[arg(long, env = "ERP_SYNC_WASM_TIMEOUT_MS", default_value_t = 1000)]
    pub wasm_timeout_ms: u64,
    /// Memory cap per call, in MiB.
    #[arg(long, env = "ERP_SYNC_WASM_MEMORY_MB", default_value_t = 64)]
    pub wasm_memory_mb: usize,
}

impl WasmArgs {
    /// The call limits these flags describe.
    pub fn limits(&self) -> crate::transform::wasm::Limits {
        crate::transform::wasm::Limits {
            fuel: self.wasm_fuel,
            timeout: Duration::from_millis(self.wasm_timeout_ms.max(1)),
            memory_bytes: self.wasm_memory_mb.max(1) << 20,
            ..crate::transform::wasm::Limits::default()
        }
    }
}

/// Subcommands for guest developers working on Wasm transforms.
#[derive(Debug, Subcommand)]
pub enum TransformCommand {
    /// Run a component on an invoice, as erp-sync would, and print its output, headers,
    /// guest logs, time and fuel used.
    Run {
        /// The component (`.wasm`), e.g. target/wasm32-wasip2/release/my_transform.wasm.
        module: PathBuf,
        /// An invoice as JSON (the HTTP API's contract), e.g. examples/invoices/basic.json.
        invoice: PathBuf,
        /// The event type the guest sees.
        #[arg(long, default_value = "invoice.finalized")]
        event_type: String,
        /// A `key=value` entry of the guest's config (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
        #[command(flatten)]
        wasm: WasmArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Check which world a component implements, or say what is wrong with it.
    Check {
        /// The component (`.wasm`).
        module: PathBuf,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Write a starting point for a new component (a template, with the WIT package
    /// beside it) into a new or empty folder, and print how to build it.
    New {
        /// The guest's language.
        #[arg(long, value_enum)]
        lang: new::Lang,
        /// The world the component implements.
        #[arg(long, value_enum)]
        world: WorldArg,
        /// The folder to create (it must not exist, or be empty).
        dir: PathBuf,
    },
    /// Run a component on every `NAME.json` invoice of a folder and compare the results
    /// with `NAME.expected.json` (optional `NAME.config.json`, `NAME.event.json`); print
    /// a diff for each mismatch and exit non-zero if any.
    Test {
        /// The component (`.wasm`).
        module: PathBuf,
        /// The folder of test cases.
        dir: PathBuf,
        /// Write every `NAME.expected.json` from what the component does now.
        #[arg(long)]
        update: bool,
        #[command(flatten)]
        wasm: WasmArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
}

/// A world, as `transform new --world` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorldArg {
    WebhookTransform,
    InvoiceTweak,
}

impl From<WorldArg> for crate::transform::wasm::World {
    fn from(w: WorldArg) -> Self {
        match w {
            WorldArg::WebhookTransform => crate::transform::wasm::World::WebhookTransform,
            WorldArg::InvoiceTweak => crate::transform::wasm::World::InvoiceTweak,
        }
    }
}

/// Where the local commands keep compiled components, so only the first run of a
/// component pays for its compilation.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Folder of compiled components; default `$XDG_CACHE_HOME/erp-sync/wasm`, else
    /// `~/.cache/erp-sync/wasm`. Entries are keyed by the component's sha256 and the
    /// engine's version and settings, so a stale one is never loaded.
    #[arg(long, env = "ERP_SYNC_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile every time; read and write no cache.
    #[arg(long, env = "ERP_SYNC_NO_CACHE", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub no_cache: bool,
}

impl CacheArgs {
    /// The cache folder to use, created if needed; `None` without one (a folder that
    /// cannot be created is warned about and skipped: the command still runs).
    pub fn dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        let dir = self.cache_dir.clone().or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .or_else(|| {
                    std::env::var_os("HOME")
                        .filter(|h| !h.is_empty())
                        .map(|h| PathBuf::from(h).join(".cache"))
                })?;
            Some(base.join("erp-sync").join("wasm"))
        })?;
        match std::fs::create_dir_all(&dir) {
            Ok(()) => Some(dir),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "no compiled-component cache");
                None
            }
        }
    }
}

/// Subcommands for JSONPath payload templates.
#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Render a template for an invoice and print the JSON body a webhook would receive.
    Run {
        /// The template (JSON), e.g. examples/templates/flat-accounting.json.
        template: PathBuf,
        /// An invoice as JSON, e.g. examples/invoices/basic.json.
        invoice: PathBuf,
        /// The event type `$event.type` gives.
        #[arg(long, default_value = "invoice.finalized")]
        event_type: String,
    },
}
