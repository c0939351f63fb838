//! Every SQL statement of erp-sync lives in this folder, behind one typed API
//! ([`Store`]) with two backends, chosen at start-up:
//!
//! - [`sqlite`], the embedded zero-setup default: one SQLite file in the data dir, one
//!   process. Writes go to a group-committing writer thread.
//! - [`postgres`], for several erp-sync hosts sharing one durable queue: claims with
//!   `FOR UPDATE SKIP LOCKED`, wake-ups over `LISTEN/NOTIFY`, leases of dead hosts
//!   recovered by the living, ERP rate limits and token refreshes shared across hosts.
//!
//! Both keep the same promises: the jobs table is the queue, so accepting an invoice
//! and queueing its deliveries is one transaction; a lease carries a fencing token, so
//! a worker that lost its lease cannot overwrite newer state; every attempt is logged.
//! The values the API takes and returns are in [`rows`]; [`migrate`] copies a SQLite
//! store into PostgreSQL (`erp-sync migrate-store`).

mod delivery;
pub mod kinds;
mod ledger;
pub mod migrate;
mod overview;
pub(crate) mod postgres;
mod reads;
mod retention;
mod rows;
mod shared;
pub(crate) mod sqlite;

use std::path::{Path, PathBuf};

pub use delivery::{
    AlertEndpoint, AlertRow, DeliveryGauges, DueAlert, RecoveryCounts, RecoveryProgress,
};
pub use kinds::{AlertKind, ConnectionStatus, JobKind, LogKind, LogStatus, Provider};
pub use rows::{
    Claim, Claimed, ClaimedJob, ConnectionRow, DocumentRef, DocumentState, ErpRecord,
    IngestOutcome, JobNext, LinkedDocument, LogEntry, LogFilter, LogPage, LogRow, NewConnection,
    NewTransform, OAuthState, Prerequisite, QueuedJob, Settled, SyncStateRow, Tenant, TransformRow,
    VersionInfo,
};
pub use shared::{RefreshLock, SharedLimits, SlotLease};
pub use sqlite::WriteStats;

use postgres::PgStore;
use sqlite::SqliteStore;

/// What the store can fail with; the API maps each kind to an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database writer: {0}")]
    Writer(String),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The document breaks a rule only the stored ledger can check (e.g. the credit notes
    /// on an invoice exceeding its total): the API answers 422 naming `field`.
    #[error("{message}")]
    Refused { field: String, message: String },
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    #[error("the data dir {path} is in use by another erp-sync process (lock file {lock})")]
    Locked { path: PathBuf, lock: PathBuf },
    #[error("preparing the data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corrupt stored JSON in {what}: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error(
        "unsupported database URL {0:?}: give a postgres://… URL, or none for SQLite in the data dir"
    )]
    BadUrl(String),
}

/// Result alias for store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// The current UTC time in unix milliseconds, the store's unit of time.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Formats unix milliseconds as RFC 3339 UTC with millisecond precision.
pub fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_json<T: serde::de::DeserializeOwned>(what: &'static str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|source| StoreError::Json { what, source })
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Where the store lives: SQLite in a data dir, or a PostgreSQL database.
#[derive(Debug, Clone)]
pub enum Location<'a> {
    DataDir(&'a Path),
    Postgres(&'a str),
}

impl std::fmt::Display for Location<'_> {
    /// Where, for messages: the data dir, or the URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::DataDir(dir) => write!(f, "SQLite in {}", dir.display()),
            Location::Postgres(url) => write!(f, "PostgreSQL at {}", redact_url(url)),
        }
    }
}

impl<'a> Location<'a> {
    /// PostgreSQL when a `postgres://` (or `postgresql://`) URL is given, else SQLite in
    /// `data_dir`.
    pub fn new(data_dir: &'a Path, database_url: Option<&'a str>) -> StoreResult<Self> {
        match database_url {
            None => Ok(Location::DataDir(data_dir)),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Location::Postgres(url))
            }
            Some(other) => Err(StoreError::BadUrl(redact_url(other))),
        }
    }
}

/// A database URL with its password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(unparseable URL)".into(),
    }
}

impl Store {
    /// Opens the store for a server. SQLite: takes the data dir's exclusive lock and
    /// migrates. PostgreSQL: migrates and registers this process as a host.
    pub async fn open(at: Location<'_>) -> StoreResult<Self> {
        let backend = match at {
            Location::DataDir(dir) => Backend::Sqlite(SqliteStore::open(dir).await?),
            Location::Postgres(url) => Backend::Postgres(PgStore::open(url, true).await?),
        };
        Ok(Store { backend })
    }

    /// Opens the store beside a possibly running server, for short administrative
    /// commands such as `tenant create`; such a handle never recovers leases.
    pub async fn open_shared(at: Location<'_>) -> StoreResult<Self> {
        let backend = match at {
            Location::DataDir(dir) => Backend::Sqlite(SqliteStore::open_shared(dir).await?),
            Location::Postgres(url) => Backend::Postgres(PgStore::open(url, false).await?),
        };
        Ok(Store { backend })
    }

    /// At a server's start-up, returns to the queue the jobs a crashed predecessor left
    /// leased, logging each interrupted attempt as FAILED without counting it against
    /// the job's retries. SQLite: every lease (the data dir lock says no one else holds
    /// any). PostgreSQL: none here; the heartbeat task returns the leases of dead hosts,
    /// and only once this host's own beat has been healthy (`postgres/hosts.rs`), so a
    /// host starting just after a database outage cannot take live hosts' leases.
    pub async fn recover_leases_at_start(&self) -> StoreResult<u64> {
        match &self.backend {
            Backend::Sqlite(s) => s.recover_leases().await,
            Backend::Postgres(_) => Ok(0),
        }
    }

    /// Which backend this is, for logs and `bench` output.
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The PostgreSQL backend, when that is what this store is (cross-host wake-ups).
    pub(crate) fn postgres(&self) -> Option<&PgStore> {
        match &self.backend {
            Backend::Postgres(p) => Some(p),
            Backend::Sqlite(_) => None,
        }
    }

    /// The limits hosts share through this store: `None` on SQLite (one host).
    pub fn shared_limits(&self) -> Option<SharedLimits> {
        self.postgres().cloned().map(SharedLimits)
    }

    /// The SQLite writer's commits and writes so far (group-commit efficiency, for
    /// `bench`); zero on PostgreSQL, which has no single writer.
    pub fn write_stats(&self) -> WriteStats {
        match &self.backend {
            Backend::Sqlite(s) => s.write_stats(),
            Backend::Postgres(_) => WriteStats::default(),
        }
    }
}

impl Store {
    /// Gives a leased job back untouched, undoing the attempt count the claim added; used
    /// when the attempt never started (its connection stopped being active meanwhile).
    pub async fn release_lease(&self, job: &ClaimedJob) -> StoreResult<()> {
        self.give_back(job, None).await
    }

    /// Puts a leased job back to wait until `run_at_ms` for a document it applies to,
    /// with `note` as its last error; the wait is not an attempt, so it is neither
    /// counted nor logged.
    pub async fn wait_for_prerequisite(
        &self,
        job: &ClaimedJob,
        run_at_ms: i64,
        note: &str,
    ) -> StoreResult<()> {
        self.give_back(job, Some((run_at_ms, note))).await
    }
}

/// Writes the public API of [`Store`] once: each method forwards to the backend's
/// method of the same name and signature.
macro_rules! store_api {
    ($(
        $(#[$doc:meta])*
        pub async fn $name:ident(&self $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty;
    )*) => {
        impl Store {
            $(
                $(#[$doc])*
                pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match &self.backend {
                        Backend::Sqlite(s) => s.$name($($arg),*).await,
                        Backend::Postgres(p) => p.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

store_api! {
    /// Closes the pools (and SQLite's writer, committing what is queued); used on
    /// graceful shutdown.
    pub async fn close(&self) -> ();

    /// Whether the database answers; backs `/healthz`.
    pub async fn ping(&self) -> StoreResult<()>;

    // Tenants, their API keys and their settings.

    /// Creates a tenant and its first API key; the key is returned once and stored hashed.
    pub async fn create_tenant(&self, name: &str) -> StoreResult<(Tenant, String)>;

    /// The tenant an API key belongs to, if any.
    pub async fn tenant_by_api_key(&self, key: &str) -> StoreResult<Option<Tenant>>;

    /// Turns Multi-ERP mode on or off. Turning it off is refused while more than one
    /// connection is active, since the tenant would silently keep several destinations.
    pub async fn set_multi_erp(&self, tenant_id: &str, on: bool) -> StoreResult<Tenant>;

    // Connections.

    /// Inserts a connection, enforcing one live connection per tenant unless Multi-ERP is on.
    pub async fn insert_connection(&self, new: &NewConnection) -> StoreResult<ConnectionRow>;

    /// Saves a changed name, entity or config. Secrets and status have their own writes
    /// ([`Store::save_connection_credentials`], [`Store::set_connection_status`]) so an
    /// edit never puts back a token or status that changed meanwhile.
    pub async fn update_connection(&self, row: &ConnectionRow) -> StoreResult<ConnectionRow>;

    /// Records a test sync: its log entry, and the result shown on the entry's connection.
    pub async fn record_test(&self, result: &serde_json::Value, entry: &LogEntry) -> StoreResult<()>;

    /// Disconnects: the connection stops receiving, its open jobs are cancelled and each
    /// cancellation is logged. Nothing is deleted, here or in the ERP.
    pub async fn disconnect(&self, tenant_id: &str, id: &str) -> StoreResult<(ConnectionRow, u64)>;

    /// Sets a connection's status: the connection's tenant when that changed it. Callers
    /// use [`Store::set_connection_status`], which also raises and closes alerts.
    pub async fn change_connection_status(&self, connection_id: &str, status: ConnectionStatus) -> StoreResult<Option<String>>;

    /// Replaces a connection's sealed secrets, and its config when given, in one
    /// transaction: a rotated refresh token is never half-saved, and a token refresh
    /// (no config) leaves a config edited meanwhile as it is.
    pub async fn save_connection_credentials(&self, connection_id: &str,
        config: Option<&serde_json::Value>, sealed: &[u8]) -> StoreResult<()>;

    // ERP connectors' memory.

    /// Remembers an OAuth `state` for `ttl_ms`.
    pub async fn create_oauth_state(&self, state: &str, tenant_id: &str, connection_id: &str,
        provider: Provider, verifier: Option<&[u8]>, ttl_ms: i64) -> StoreResult<()>;

    /// Consumes an OAuth `state`: it works once, before it expires.
    pub async fn take_oauth_state(&self, state: &str) -> StoreResult<OAuthState>;

    /// Records (or updates) the ERP record standing for a local object.
    pub async fn put_erp_record(&self, account: &str, tenant_id: &str, kind: &str, local_id: &str,
        record: &ErpRecord) -> StoreResult<()>;

    // Documents: invoices, credit notes, payments, refunds and customer updates.

    /// Stores a validated document and queues one job per routed connection, atomically.
    /// The same content as the current version is a no-op; different content becomes
    /// the next version. An ISSUED credit note that would take the credit notes on its
    /// invoice above the invoice's total is refused ([`StoreError::Refused`]).
    pub async fn ingest_document(&self, tenant_id: &str, document: crate::documents::AnyDocument) -> StoreResult<IngestOutcome>;

    /// Manual sync: queues the current version of a document again, to one connection or
    /// to every active connection it routes to. A job still waiting for a retry is run
    /// now instead of being doubled; a redelivery keeps the event id of that version.
    pub async fn manual_sync(
        &self,
        tenant_id: &str,
        document: &DocumentRef,
        connection_id: Option<&str>,
    ) -> StoreResult<Vec<QueuedJob>>;

    // The queue.

    /// Leases up to `limit` due jobs for `lease_ms`, with what their attempts read.
    /// Expired leases come first, then pending jobs in due order; a job waits while an
    /// earlier job of the same (connection, invoice) is open. When it leases everything
    /// due, it says when the next job will be. Pending jobs of the `exclude`d connections
    /// (those with enough attempts in flight already) are left for later claims.
    pub async fn claim_due(&self, limit: i64, lease_ms: i64, exclude: &[String]) -> StoreResult<Claimed>;

    /// Records an attempt and moves its job on, if the lease still holds (the entry is
    /// logged all the same), and says whether a later job of its invoice is waiting.
    pub async fn settle_attempt(&self, job: &ClaimedJob, next: JobNext, entry: &LogEntry) -> StoreResult<Settled>;

    /// Returns a leased job to the queue without counting its attempt (nothing was sent),
    /// if its lease still holds; with `wait`, due at that time (unix ms) with that note
    /// as its last error. See [`Store::release_lease`], [`Store::wait_for_prerequisite`].
    pub async fn give_back(&self, job: &ClaimedJob, wait: Option<(i64, &str)>) -> StoreResult<()>;

    // The sync log.

    /// Appends one entry on its own (tests, start-up recovery notes).
    pub async fn append_log(&self, entry: &LogEntry) -> StoreResult<()>;

    // Transforms.

    /// Stores an upload; the same bytes for the same world and tenant return the existing
    /// transform (`false` as the second value) instead of a copy.
    pub async fn insert_transform(&self, new: &NewTransform<'_>) -> StoreResult<(TransformRow, bool)>;

    /// Sets (or with `None` removes) the invoice tweak of one customer.
    pub async fn set_customer_tweak(&self, tenant_id: &str, customer_id: &str,
        transform_id: Option<&str>) -> StoreResult<()>;
}
