//! Assembling a running server: store, worker and HTTP API, and shutting them down.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::connectors::netsuite::NetSuiteConnector;
use crate::connectors::oauth_client::OAuthSetup;
use crate::connectors::quickbooks::QuickBooksConnector;
use crate::connectors::xero::XeroConnector;
use crate::connectors::{Connectors, OAuthConnect, Provider, egress, webhook::WebhookConnector};
use crate::crypto::seal::{KeySource, Sealer};
use crate::metrics::Metrics;
use crate::store::{Location, Store};
use crate::sync::{SyncHandle, Worker};
use crate::transform::Transforms;
use crate::transform::wasm::WasmHost;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Seal(#[from] crate::crypto::seal::SealError),
    #[error(transparent)]
    Wasm(#[from] crate::transform::wasm::EngineError),
    #[error(
        "with a PostgreSQL store, set ERP_SYNC_SECRET_KEY (the same on every host): a generated development key would differ per host, and no host could open the others' sealed secrets"
    )]
    SharedKey,
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A started server; dropping it does not stop it, call [`RunningServer::shutdown`].
pub struct RunningServer {
    /// The address the API listens on (useful with port 0).
    pub addr: SocketAddr,
    pub store: Store,
    /// The API key of the `dev` tenant when `--dev` created it just now.
    pub dev_api_key: Option<String>,
    shutdown: CancellationToken,
    http: tokio::task::JoinHandle<()>,
    worker: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting requests, lets attempts in flight finish, and closes the database.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.http.await;
        let _ = self.worker.await;
        self.store.close().await;
    }
}

/// Opens the data dir, recovers interrupted work, and starts the worker and the API.
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    let at = Location::new(&config.data_dir, config.database_url.as_deref())?;
    if matches!(at, Location::Postgres(_)) && config.secret_key.is_none() {
        return Err(StartError::SharedKey);
    }
    let store = Store::open(at).await?;
    let (sealer, key_source) = Sealer::load(config.secret_key.as_deref(), &config.data_dir)?;
    if let KeySource::DevKeyFile(path) = &key_source {
        tracing::warn!(
            key_file = %path.display(),
            "ERP_SYNC_SECRET_KEY is not set: secrets are sealed with a generated development key; set ERP_SYNC_SECRET_KEY (32 random bytes as hex or base64) in production"
        );
    }
    let recovered = store.recover_leases_at_start().await?;
    if recovered > 0 {
        tracing::warn!(
            jobs = recovered,
            "re-queued deliveries interrupted by the previous shutdown"
        );
    }
    let dev_api_key = if config.dev && store.tenant_count().await? == 0 {
        let (_, key) = store.create_tenant("dev").await?;
        Some(key)
    } else {
        None
    };

    // Bind first: if the port is taken, fail before any delivery starts.
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let client = egress::http_client(config.allow_private_targets, config.request_timeout);
    let wasm = WasmHost::new(
        config.wasm.clone(),
        Some(
            config
                .wasm_cache_dir
                .clone()
                .unwrap_or_else(|| config.data_dir.join("wasm-cache")),
        ),
    )?;
    let transforms = Arc::new(Transforms::new(store.clone(), wasm));
    let oauth_setup = |app| OAuthSetup {
        app,
        public_url: &config.public_url,
        store: &store,
        sealer: sealer.clone(),
        timeout: config.request_timeout,
        max_pause: config.retry.max_retry_after,
    };
    let quickbooks = Arc::new(QuickBooksConnector::new(oauth_setup(&config.quickbooks)));
    let xero = Arc::new(XeroConnector::new(
        oauth_setup(&config.xero),
        &config.xero_scopes,
    ));
    let netsuite = Arc::new(NetSuiteConnector::new(
        config.netsuite_api_base.clone(),
        store.clone(),
        config.allow_private_targets,
        config.request_timeout,
        config.retry.max_retry_after,
    ));
    let webhook = Arc::new(WebhookConnector::new(
        client,
        config.allow_private_targets,
        transforms.clone(),
    ));
    // One line per provider: its connector, and its OAuth flow if it has one.
    let connectors = Arc::new(Connectors::new(
        vec![webhook, quickbooks.clone(), xero.clone(), netsuite],
        vec![
            (Provider::QuickBooks, quickbooks as Arc<dyn OAuthConnect>),
            (Provider::Xero, xero as Arc<dyn OAuthConnect>),
        ],
    ));
    let metrics = Arc::new(Metrics::default());
    let handle = SyncHandle::default();
    let shutdown = CancellationToken::new();

    let worker = Arc::new(Worker {
        store: store.clone(),
        secrets: crate::sync::secrets::OpenedSecrets::new(sealer.clone()),
        connectors: connectors.clone(),
        transforms: transforms.clone(),
        policy: config.retry.clone(),
        metrics: metrics.clone(),
        settings: config.worker.clone(),
        handle: handle.clone(),
        in_flight: Default::default(),
    });
    let worker = tokio::spawn(worker.run(shutdown.clone()));
    if let Some(pg) = store.postgres() {
        // Another host's ingest wakes this host's worker too.
        let handle = handle.clone();
        let stops = connectors.clone();
        tokio::spawn(pg.clone().forward_wakeups(
            move || handle.wake(),
            move |connection_id| stops.stops.stop(connection_id),
            shutdown.clone(),
        ));
    }

    tokio::spawn(crate::delivery::watch::run(
        store.clone(),
        config.auto_pause_after,
        shutdown.clone(),
    ));
    let alerts = Arc::new(crate::delivery::alerts::AlertSender {
        store: store.clone(),
        sealer: sealer.clone(),
        client: egress::http_client(config.allow_private_targets, config.request_timeout),
        policy: config.retry.clone(),
    });
    tokio::spawn(alerts.run(shutdown.clone()));
    tokio::spawn(crate::delivery::retention::run(
        store.clone(),
        config.log_retention,
        shutdown.clone(),
    ));

    let state = AppState {
        store: store.clone(),
        sealer,
        connectors,
        transforms,
        metrics,
        sync: handle,
        allow_private_targets: config.allow_private_targets,
        max_component_bytes: config.max_component_bytes,
    };
    let api = api::router(state, config.max_body_bytes);
    // The console calls the API in-process, through a clone of the same router.
    let console = crate::console::router(
        api.clone(),
        &crate::console::ConsoleSettings::from_config(&config),
    );
    let largest_body = config.max_body_bytes.max(config.max_component_bytes);
    let app = crate::http::guarded(api.merge(console), largest_body);
    let http = tokio::spawn(crate::http::serve(listener, app, shutdown.clone()));
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "erp-sync is listening");
    Ok(RunningServer {
        addr,
        store,
        dev_api_key,
        shutdown,
        http,
        worker,
    })
}
