//! The server's settings, filled by the CLI (flags and `ERP_SYNC_*` variables) or by tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::sync::{RetryPolicy, WorkerSettings};

/// Everything `erp-sync serve` can be told.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `ERP_SYNC_DATABASE_URL`: a `postgres://` URL to share one store between several
    /// hosts; absent, SQLite in the data dir.
    pub database_url: Option<String>,
    /// Allow webhook targets on private, loopback and link-local addresses.
    pub allow_private_targets: bool,
    /// On an empty database, create tenant `dev` and print its key.
    pub dev: bool,
    /// The sealing key (`ERP_SYNC_SECRET_KEY`); absent, a dev key file in the data dir.
    pub secret_key: Option<String>,
    pub retry: RetryPolicy,
    pub worker: WorkerSettings,
    /// Timeout of one outbound delivery request.
    pub request_timeout: Duration,
    /// Largest request body the API accepts.
    pub max_body_bytes: usize,
    /// Largest Wasm component accepted by `POST /v1/transforms`.
    pub max_component_bytes: usize,
    /// What one Wasm transform call may use.
    pub wasm: crate::transform::wasm::Limits,
    /// Where browsers reach this server (`ERP_SYNC_PUBLIC_URL`); OAuth redirects go to
    /// `<public_url>/v1/oauth/callback`.
    pub public_url: String,
    /// The QuickBooks Online app erp-sync connects as.
    pub quickbooks: OAuthApp,
    /// The Xero app erp-sync connects as, and the scopes it asks for.
    pub xero: OAuthApp,
    pub xero_scopes: String,
    /// `ERP_SYNC_NETSUITE_API_BASE`: one REST base for every NetSuite connection
    /// (tests, proxies); absent, each account's own `https://<account>.suitetalk.api.netsuite.com`.
    pub netsuite_api_base: Option<String>,
    /// Where compiled components are kept between runs; `None`: `<data dir>/wasm-cache`.
    /// The artifacts are keyed by content and engine, so hosts and test servers may share
    /// one folder.
    pub wasm_cache_dir: Option<PathBuf>,
    /// How long sync-log entries are kept (`--log-retention-days`, default 400 days).
    pub log_retention: Duration,
    /// After how long of nothing but failed deliveries a webhook connection pauses
    /// itself (`--auto-pause-after-secs`, default a day); `None`: never.
    pub auto_pause_after: Option<Duration>,
}

pub use crate::connectors::oauth::OAuthApp;

impl Config {
    /// Defaults for a data dir, listening on an ephemeral loopback port: handy for tests.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            listen: "127.0.0.1:0".parse().expect("a valid literal address"),
            data_dir: data_dir.into(),
            database_url: None,
            allow_private_targets: false,
            dev: false,
            secret_key: None,
            retry: RetryPolicy::default(),
            worker: WorkerSettings::default(),
            request_timeout: Duration::from_secs(10),
            max_body_bytes: 1024 * 1024,
            max_component_bytes: crate::cli::DEFAULT_MAX_COMPONENT_BYTES,
            wasm: crate::transform::wasm::Limits::default(),
            public_url: "http://127.0.0.1:8080".into(),
            quickbooks: OAuthApp::default(),
            xero: OAuthApp::default(),
            xero_scopes: crate::connectors::xero::DEFAULT_SCOPES.into(),
            netsuite_api_base: None,
            wasm_cache_dir: None,
            log_retention: Duration::from_secs(400 * 86_400),
            auto_pause_after: Some(Duration::from_secs(86_400)),
        }
    }
}
