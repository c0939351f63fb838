//! `erp-sync migrate-store`: copies the embedded SQLite store of a data dir into a
//! PostgreSQL database, verifies the copy, and can be run again safely.
//!
//! - **Source**: `<data dir>/erp-sync.db`, opened read-only. The data dir's lock file is
//!   taken for the whole run, so a server still running there is refused, and one
//!   started meanwhile refuses to start. Every read happens in one read transaction, so
//!   the copy and its verification see one snapshot.
//! - **Target**: migrated to erp-sync's PostgreSQL schema first, then the tables are
//!   copied in foreign-key order, as they are stored: sealed connection secrets are
//!   copied byte for byte (they are bound to the connection id, which is kept, and open
//!   with the same `ERP_SYNC_SECRET_KEY`), job `seq` and sync-log `id` are kept, and the
//!   identity sequences are then moved past them.
//! - **Bounded memory**: rows are read in batches along the primary key (keyset
//!   pagination, at most [`MAX_BATCH_ROWS`] rows and about [`BATCH_BYTES`] per batch),
//!   and each batch is one multi-row `INSERT … ON CONFLICT DO NOTHING`, i.e. one
//!   transaction. A row already in the target is kept as it is, never overwritten, so a
//!   second run copies nothing and an interrupted run continues where it stopped.
//! - **Verification**: every source row must have a matching row in the target (same
//!   primary key, and for jobs and sync-log entries the same identifying columns), looked
//!   up in batches. A target with more rows than the source is reported, not refused.
//!
//! It works on raw sqlx on two connections rather than through [`crate::store::Store`]:
//! it copies rows exactly as stored, which no typed store method does.
//!
//! The `hosts`, `erp_rate_calls` and `erp_slots` tables exist only on PostgreSQL and
//! are not copied; `jobs.lease_host` stays empty.

use std::fmt;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{Connection, PgConnection, Postgres, QueryBuilder, Row, SqliteConnection};

use crate::store::redact_url;

/// Most rows read and inserted at once (PostgreSQL allows 65,535 bind parameters per
/// statement; the widest table has 19 columns).
pub const MAX_BATCH_ROWS: usize = 1_000;
/// About how many bytes of row data one batch holds: after each batch, the next one is
/// sized from the average row of this one.
pub const BATCH_BYTES: usize = 16 << 20;
/// How long connecting to PostgreSQL may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a long table reports its progress on stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

const SOURCE_FILE: &str = "erp-sync.db";
const LOCK_FILE: &str = "erp-sync.lock";

/// Flags of `erp-sync migrate-store`.
///
/// Copies everything in a data dir's SQLite store (tenants, API keys, connections with
/// their sealed secrets, invoices and their versions, the queue, the sync log, Wasm
/// modules, transforms, customer tweaks, OAuth states and ERP record mappings) into a
/// PostgreSQL database, then checks that every row arrived and prints a table of row
/// counts.
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct MigrateStoreArgs {
    /// The data dir of the SQLite store (the directory holding erp-sync.db); the store
    /// is only read. Stop the server using it first: a running server keeps writing, so
    /// the command refuses while the data dir is locked.
    #[arg(long, value_name = "DATA_DIR")]
    pub from: PathBuf,
    /// The PostgreSQL database to copy into, as postgres://user:password@host:port/db.
    /// It must exist; erp-sync's schema is created in it if missing. The password is
    /// never printed.
    #[arg(long, value_name = "POSTGRES_URL")]
    pub to: String,
}

const AFTER_HELP: &str = "\
Stop the server first: a running server keeps writing to the store, so migrate-store \
refuses to run while the data dir is locked by one, and holds the lock itself until \
it is done.

Safe to run twice: rows already in the target (same primary key, or same unique \
value) are kept as they are, never overwritten, so a second run copies nothing new, \
and a run that was interrupted continues where it stopped. Migrate into an empty \
database: a row of the target that conflicts with one of the store's is kept, not \
replaced; verification fails when it is not the same row (another job under the same \
seq, for example).

Sealed connection secrets are copied as they are: start the PostgreSQL servers with \
the same ERP_SYNC_SECRET_KEY as the SQLite server (a server that ran without one used \
the development key in its data dir's secret.key: give that hex as ERP_SYNC_SECRET_KEY). Jobs leased when the SQLite server stopped (it did \
not stop cleanly) are copied as pending, with the lease cleared, so a PostgreSQL \
host delivers them again.

Progress goes to stderr, the report to stdout. The exit code is non-zero when a \
source row is missing in the target.";

/// Why `migrate-store` failed; each message names what failed, where, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "no SQLite store at {}: --from takes the data dir of an erp-sync server (the directory holding {SOURCE_FILE})",
        db.display()
    )]
    SourceMissing { db: PathBuf },
    #[error(
        "the data dir {} is in use by a running erp-sync process (lock file {}): stop that server first, it keeps writing while it runs, then run migrate-store again",
        dir.display(),
        lock.display()
    )]
    SourceLocked { dir: PathBuf, lock: PathBuf },
    #[error(
        "checking whether a server is using the data dir (lock file {}): {source}",
        lock.display()
    )]
    LockFile {
        lock: PathBuf,
        source: std::io::Error,
    },
    #[error("opening the SQLite store {} read-only: {source}", db.display())]
    OpenSource { db: PathBuf, source: sqlx::Error },
    #[error("the SQLite store {} cannot be migrated by this erp-sync: {problem}", db.display())]
    SourceSchema { db: PathBuf, problem: String },
    #[error("--to must be a postgres:// or postgresql:// URL, not {url}")]
    BadTargetUrl { url: String },
    #[error("--to {url} is not a valid PostgreSQL URL: {source}")]
    ParseTargetUrl { url: String, source: sqlx::Error },
    #[error(
        "connecting to PostgreSQL at {url}: {source}; check the URL and the credentials, that the server is up and that the database exists"
    )]
    ConnectTarget { url: String, source: sqlx::Error },
    #[error("creating erp-sync's schema in the PostgreSQL database {url}: {source}")]
    MigrateTarget {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("reading table {table} from the SQLite store: {source}")]
    Read {
        table: &'static str,
        source: sqlx::Error,
    },
    #[error(
        "writing table {table} into PostgreSQL: {source}; the failed batch was not written, the rows copied before it stay, and running migrate-store again continues from there (if the target was already in use, its rows may conflict with the store's: migrate into an empty database)"
    )]
    Write {
        table: &'static str,
        source: sqlx::Error,
    },
    #[error(
        "moving the id sequence of {table} past the copied ids: {source}; run migrate-store again before starting a server on the target, or new rows would collide with copied ones"
    )]
    Sequence {
        table: &'static str,
        source: sqlx::Error,
    },
    #[error(
        "verifying table {table} in PostgreSQL: {source}; the copy may be complete, run migrate-store again to verify it"
    )]
    Verify {
        table: &'static str,
        source: sqlx::Error,
    },
    #[error(
        "verification failed: {} source rows have no matching row in the target ({}); the target held conflicting rows (it was already in use?): migrate into an empty database\n\n{report}",
        report.missing(),
        missing_summary(report)
    )]
    Incomplete { report: Box<MigrationReport> },
}

fn missing_summary(report: &MigrationReport) -> String {
    report
        .tables
        .iter()
        .filter(|t| t.missing > 0)
        .map(|t| {
            if t.missing_examples.is_empty() {
                format!("{}: {}", t.table, t.missing)
            } else {
                format!(
                    "{}: {}, e.g. {}",
                    t.table,
                    t.missing,
                    t.missing_examples.join(", ")
                )
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What a run did and found, per table, in copy order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    pub tables: Vec<TableReport>,
    /// Jobs that were leased in the source (their server did not stop cleanly), copied
    /// as pending with the lease cleared.
    pub requeued_leased_jobs: u64,
}

/// One table of a [`MigrationReport`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableReport {
    pub table: &'static str,
    /// Rows in the SQLite store.
    pub source_rows: u64,
    /// Rows this run inserted (rows already in the target are not counted).
    pub copied: u64,
    /// Rows in the PostgreSQL table after the run.
    pub target_rows: u64,
    /// Source rows with no matching row in the target; zero when verified.
    pub missing: u64,
    /// The keys of a few missing rows (not for tables whose keys are credentials).
    pub missing_examples: Vec<String>,
}

impl MigrationReport {
    /// The report of one table.
    pub fn table(&self, name: &str) -> Option<&TableReport> {
        self.tables.iter().find(|t| t.table == name)
    }

    /// Rows this run inserted, over all tables.
    pub fn copied(&self) -> u64 {
        self.tables.iter().map(|t| t.copied).sum()
    }

    /// Source rows missing in the target, over all tables.
    pub fn missing(&self) -> u64 {
        self.tables.iter().map(|t| t.missing).sum()
    }
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<18} {:>12} {:>12} {:>12} {:>9}",
            "table", "source rows", "copied now", "target rows", "missing"
        )?;
        for t in &self.tables {
            writeln!(
                f,
                "{:<18} {:>12} {:>12} {:>12} {:>9}",
                t.table, t.source_rows, t.copied, t.target_rows, t.missing
            )?;
        }
        for t in &self.tables {
            if t.target_rows > t.source_rows {
                writeln!(
                    f,
                    "warning: {}: the target has {} more rows than the source (already in use?)",
                    t.table,
                    t.target_rows - t.source_rows
                )?;
            }
        }
        if self.requeued_leased_jobs > 0 {
            writeln!(
                f,
                "note: {} jobs were leased in the source (its server did not stop cleanly); they were copied as pending with the lease cleared, to be delivered again",
                self.requeued_leased_jobs
            )?;
        }
        let missing = self.missing();
        if missing == 0 {
            write!(f, "verified: every source row is in the target")
        } else {
            write!(
                f,
                "NOT verified: {missing} source rows are missing in the target"
            )
        }
    }
}

/// How a column is read from SQLite and written to PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// TEXT -> TEXT.
    Text,
    /// INTEGER -> BIGINT.
    Int,
    /// BLOB -> BYTEA.
    Blob,
    /// INTEGER 0/1 -> BOOLEAN.
    Bool,
}

struct Column {
    name: &'static str,
    kind: Kind,
}

const fn t(name: &'static str) -> Column {
    Column {
        name,
        kind: Kind::Text,
    }
}
const fn i(name: &'static str) -> Column {
    Column {
        name,
        kind: Kind::Int,
    }
}
const fn b(name: &'static str) -> Column {
    Column {
        name,
        kind: Kind::Blob,
    }
}

/// One copied table: the columns of `migrations/sqlite` (the PostgreSQL table has the
/// same names; extra PostgreSQL columns keep their defaults).
struct Table {
    name: &'static str,
    columns: &'static [Column],
    /// The primary key: the order of the batches and what a target row must match.
    key: &'static [&'static str],
    /// Further columns a target row must match to count as this source row, where the
    /// key alone is a number the target may have given to another row.
    also_match: &'static [&'static str],
    /// Whether keys may be printed (not for tables whose keys are credentials).
    show_keys: bool,
    /// Rows in the first batch, before the row size is known.
    first_batch: usize,
}

/// Every table, in foreign-key order.
const TABLES: &[Table] = &[
    Table {
        name: "tenants",
        columns: &[
            t("id"),
            t("name"),
            Column {
                name: "multi_erp",
                kind: Kind::Bool,
            },
            i("created_ms"),
        ],
        key: &["id"],
        also_match: &[],
        show_keys: true,
        first_batch: 16,
    },
    Table {
        name: "api_keys",
        columns: &[t("key_hash"), t("tenant_id"), i("created_ms")],
        key: &["key_hash"],
        also_match: &[],
        show_keys: false,
        first_batch: 16,
    },
    Table {
        name: "connections",
        columns: &[
            t("id"),
            t("tenant_id"),
            t("provider"),
            t("name"),
            t("entity"),
            t("status"),
            t("config"),
            b("secrets"),
            t("last_test"),
            i("created_ms"),
            i("updated_ms"),
        ],
        key: &["id"],
        also_match: &[],
        show_keys: true,
        first_batch: 16,
    },
    Table {
        name: "invoices",
        columns: &[
            t("tenant_id"),
            t("id"),
            i("version"),
            t("content_hash"),
            t("status"),
            t("entity"),
            i("updated_ms"),
        ],
        key: &["tenant_id", "id"],
        also_match: &[],
        show_keys: true,
        first_batch: 16,
    },
    Table {
        name: "invoice_versions",
        columns: &[
            t("tenant_id"),
            t("invoice_id"),
            i("version"),
            t("content_hash"),
            t("status"),
            t("body"),
            i("received_ms"),
        ],
        key: &["tenant_id", "invoice_id", "version"],
        also_match: &[],
        show_keys: true,
        first_batch: 16,
    },
    Table {
        name: "jobs",
        columns: &[
            i("seq"),
            t("id"),
            t("tenant_id"),
            t("connection_id"),
            t("invoice_id"),
            i("version"),
            t("event_id"),
            t("event_type"),
            t("kind"),
            i("event_ms"),
            t("state"),
            i("attempts"),
            i("run_at_ms"),
            t("lease_token"),
            i("lease_until_ms"),
            t("last_error"),
            i("last_code"),
            i("created_ms"),
            i("updated_ms"),
        ],
        key: &["seq"],
        also_match: &["id"],
        show_keys: true,
        first_batch: 16,
    },
    Table {
        name: "sync_log",
        columns: &[
            i("id"),
            t("tenant_id"),
            i("at_ms"),
            t("invoice_id"),
            t("connection_id"),
            t("provider"),
            t("kind"),
            t("job_id"),
            t("event_id"),
            i("attempt"),
            t("status"),
            i("response_code"),
            t("error"),
            t("erp_record_id"),
            i("duration_ms"),
            t("guest_logs"),
        ],
        key: &["id"],
        also_match: &["tenant_id", "at_ms", "connection_id", "attempt"],
        show_keys: true,
        first_batch: 16,
    },
    Table {
        name: "wasm_modules",
        columns: &[t("sha256"), b("bytes"), i("created_ms")],
        key: &["sha256"],
        also_match: &[],
        show_keys: true,
        // A component may be several MiB.
        first_batch: 1,
    },
    Table {
        name: "transforms",
        columns: &[
            t("id"),
            t("tenant_id"),
            t("name"),
            t("world"),
            t("export"),
            t("sha256"),
            i("size"),
            i("created_ms"),
        ],
        key: &["id"],
        also_match: &[],
        show_keys: true,
        first_batch: 16,
    },
    Table {
        name: "customer_tweaks",
        columns: &[
            t("tenant_id"),
            t("customer_id"),
            t("transform_id"),
            i("updated_ms"),
        ],
        key: &["tenant_id", "customer_id"],
        also_match: &[],
        show_keys: true,
        first_batch: 16,
    },
    Table {
        name: "oauth_states",
        columns: &[
            t("state"),
            t("tenant_id"),
            t("connection_id"),
            t("provider"),
            b("verifier"),
            i("expires_ms"),
            i("used_ms"),
        ],
        key: &["state"],
        also_match: &[],
        show_keys: false,
        first_batch: 16,
    },
    Table {
        name: "erp_records",
        columns: &[
            t("account"),
            t("tenant_id"),
            t("kind"),
            t("local_id"),
            t("remote_id"),
            t("version"),
            i("updated_ms"),
        ],
        key: &["account", "tenant_id", "kind", "local_id"],
        also_match: &[],
        show_keys: true,
        first_batch: 16,
    },
];

impl Table {
    fn column(&self, name: &str) -> &Column {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .expect("key and match columns are columns of their table")
    }

    fn index(&self, name: &str) -> usize {
        self.columns
            .iter()
            .position(|c| c.name == name)
            .expect("a column of the table")
    }

    fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The columns a target row must match: the key, then `also_match`.
    fn match_columns(&self) -> Vec<&'static str> {
        self.key.iter().chain(self.also_match).copied().collect()
    }

    /// `SELECT <columns> FROM <table> [WHERE (<key>) > (?, …)] ORDER BY <key> LIMIT ?`.
    fn keyset_sql(&self, columns: &str, after: bool) -> String {
        let key = self.key.join(", ");
        let mut sql = format!("SELECT {columns} FROM {} ", self.name);
        if after {
            let marks = vec!["?"; self.key.len()].join(", ");
            sql.push_str(&format!("WHERE ({key}) > ({marks}) "));
        }
        sql.push_str(&format!("ORDER BY {key} LIMIT ?"));
        sql
    }
}

/// One stored value.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Blob(Option<Vec<u8>>),
    Bool(Option<bool>),
}

impl Value {
    /// Roughly the memory it holds, for sizing batches.
    fn size(&self) -> usize {
        16 + match self {
            Value::Text(v) => v.as_ref().map_or(0, String::len),
            Value::Blob(v) => v.as_ref().map_or(0, Vec::len),
            Value::Int(_) | Value::Bool(_) => 8,
        }
    }

    /// A key value as text, for messages (keys are never blobs).
    fn display(&self) -> String {
        match self {
            Value::Text(Some(s)) => s.clone(),
            Value::Int(Some(n)) => n.to_string(),
            Value::Bool(Some(b)) => b.to_string(),
            Value::Blob(_) => "(bytes)".into(),
            _ => "NULL".into(),
        }
    }
}

fn read_value(row: &SqliteRow, index: usize, kind: Kind) -> Result<Value, sqlx::Error> {
    Ok(match kind {
        Kind::Text => Value::Text(row.try_get(index)?),
        Kind::Int => Value::Int(row.try_get(index)?),
        Kind::Blob => Value::Blob(row.try_get(index)?),
        Kind::Bool => Value::Bool(row.try_get::<Option<i64>, _>(index)?.map(|v| v != 0)),
    })
}

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn bind_sqlite<'q>(query: SqliteQuery<'q>, value: &Value) -> SqliteQuery<'q> {
    match value {
        Value::Text(v) => query.bind(v.clone()),
        Value::Int(v) => query.bind(*v),
        Value::Blob(v) => query.bind(v.clone()),
        Value::Bool(v) => query.bind(v.map(i64::from)),
    }
}

/// Prints one progress line on stderr.
/// One keyset page of a table from the source: the first (`sql.0`) or the one after
/// the key `after` (`sql.1`), at most `limit` rows.
async fn read_page(
    source: &mut SqliteConnection,
    sql: (&str, &str),
    after: Option<&[Value]>,
    limit: usize,
) -> Result<Vec<SqliteRow>, sqlx::Error> {
    let mut query = sqlx::query(if after.is_some() { sql.1 } else { sql.0 });
    for value in after.into_iter().flatten() {
        query = bind_sqlite(query, value);
    }
    query.bind(limit as i64).fetch_all(source).await
}

fn progress(line: std::fmt::Arguments<'_>) {
    eprintln!("migrate-store: {line}");
}

/// Copies the SQLite store in `args.from` into the PostgreSQL database `args.to`,
/// verifies the copy, and answers what it did. Progress goes to stderr; the caller
/// prints the report. Fails with [`MigrateError::Incomplete`] (which carries the
/// report) when a source row is missing in the target.
pub async fn run(args: &MigrateStoreArgs) -> Result<MigrationReport, MigrateError> {
    let url = redact_url(&args.to);
    let db = args.from.join(SOURCE_FILE);
    if !db.is_file() {
        return Err(MigrateError::SourceMissing { db });
    }
    // Held until the end: a server cannot start on the data dir while we read it.
    let _lock = lock_data_dir(&args.from)?;

    let options = SqliteConnectOptions::new()
        .filename(&db)
        .read_only(true)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(10));
    let mut source = SqliteConnection::connect_with(&options)
        .await
        .map_err(|source| MigrateError::OpenSource {
            db: db.clone(),
            source,
        })?;
    let result = migrate(&mut source, &db, args, &url).await;
    let _ = source.close().await;
    result
}

async fn migrate(
    source: &mut SqliteConnection,
    db: &Path,
    args: &MigrateStoreArgs,
    url: &str,
) -> Result<MigrationReport, MigrateError> {
    // One read transaction: every later read sees the same snapshot.
    let open_err = |source| MigrateError::OpenSource {
        db: db.to_path_buf(),
        source,
    };
    let mut snapshot = source.begin().await.map_err(open_err)?;
    check_source_schema(&mut snapshot, db).await?;

    let mut target = connect_target(&args.to, url).await?;
    let result = copy_and_verify(&mut snapshot, &mut target, url).await;
    let _ = target.close().await;
    let _ = snapshot.rollback().await;
    result
}

/// Takes the data dir's lock, as a server does, so that a running server is refused and
/// none can start until the run ends.
fn lock_data_dir(dir: &Path) -> Result<Option<File>, MigrateError> {
    let lock = dir.join(LOCK_FILE);
    let file = match File::open(&lock) {
        Ok(file) => file,
        // No server ran here yet: create the (empty) lock file as a server would, unless
        // the data dir is not writable, in which case no server can start there either.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&lock)
            {
                Ok(file) => file,
                Err(_) => return Ok(None),
            }
        }
        Err(source) => return Err(MigrateError::LockFile { lock, source }),
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Err(MigrateError::SourceLocked {
            dir: dir.to_path_buf(),
            lock,
        }),
        Err(TryLockError::Error(source)) => Err(MigrateError::LockFile { lock, source }),
    }
}

/// Refuses a store at another schema version than this binary's SQLite migrations: its
/// tables would not be the ones copied here.
async fn check_source_schema(source: &mut SqliteConnection, db: &Path) -> Result<(), MigrateError> {
    let schema_err = |problem: String| MigrateError::SourceSchema {
        db: db.to_path_buf(),
        problem,
    };
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&mut *source)
            .await
            .map_err(|e| {
                schema_err(format!(
                    "it has no erp-sync schema ({e}); is {} an erp-sync data dir?",
                    db.parent().unwrap_or(db).display()
                ))
            })?;
    let known: Vec<i64> = sqlx::migrate!("./migrations/sqlite")
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .collect();
    if let Some(newer) = applied.iter().find(|v| !known.contains(v)) {
        return Err(schema_err(format!(
            "it has schema migration {newer}, which this erp-sync does not know: it was written by a newer erp-sync, migrate with that version"
        )));
    }
    if let Some(missing) = known.iter().find(|v| !applied.contains(v)) {
        return Err(schema_err(format!(
            "it lacks schema migration {missing}: it was written by an older erp-sync; start this version's server on the data dir once (it upgrades the schema), stop it, then migrate"
        )));
    }
    Ok(())
}

/// One connection does all the writing (batches are sequential anyway); it is made
/// directly, so a wrong host or port fails at once instead of being retried.
async fn connect_target(to: &str, url: &str) -> Result<PgConnection, MigrateError> {
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        return Err(MigrateError::BadTargetUrl { url: url.into() });
    }
    let options = PgConnectOptions::from_str(to)
        .map_err(|source| MigrateError::ParseTargetUrl {
            url: url.into(),
            source,
        })?
        .application_name("erp-sync migrate-store");
    let connect_err = |source| MigrateError::ConnectTarget {
        url: url.into(),
        source,
    };
    let mut target = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
        .await
        .map_err(|_| {
            connect_err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            )))
        })?
        .map_err(connect_err)?;
    progress(format_args!("migrating the schema of {url}"));
    // `run_direct`, not `run`: `run` over `&mut PgConnection` makes this future !Send.
    if let Err(source) = sqlx::migrate!("./migrations/postgres")
        .run_direct(&mut target)
        .await
    {
        let _ = target.close().await;
        return Err(MigrateError::MigrateTarget {
            url: url.into(),
            source,
        });
    }
    Ok(target)
}

async fn copy_and_verify(
    source: &mut SqliteConnection,
    target: &mut PgConnection,
    url: &str,
) -> Result<MigrationReport, MigrateError> {
    warn_if_hosts_running(target, url).await;
    let mut report = MigrationReport::default();
    for table in TABLES {
        let copied = copy_table(source, target, table).await?;
        report.tables.push(TableReport {
            table: table.name,
            source_rows: copied.source_rows,
            copied: copied.inserted,
            ..TableReport::default()
        });
        report.requeued_leased_jobs += copied.requeued;
        match table.name {
            "jobs" => set_sequence(target, table.name, "seq").await?,
            "sync_log" => set_sequence(target, table.name, "id").await?,
            _ => {}
        }
    }
    progress(format_args!(
        "verifying: looking every source row up in the target"
    ));
    for (table, entry) in TABLES.iter().zip(&mut report.tables) {
        verify_table(source, target, table, entry).await?;
    }
    if report.missing() > 0 {
        return Err(MigrateError::Incomplete {
            report: Box::new(report),
        });
    }
    progress(format_args!(
        "done: {} rows copied, every source row is in the target",
        report.copied()
    ));
    Ok(report)
}

/// Says so when erp-sync servers are running on the target: they deliver copied jobs
/// at once.
async fn warn_if_hosts_running(target: &mut PgConnection, url: &str) {
    let since = crate::store::now_ms() - crate::store::postgres::HOST_TIMEOUT.as_millis() as i64;
    let live: Result<i64, _> =
        sqlx::query_scalar("SELECT COUNT(*) FROM hosts WHERE heartbeat_ms > $1")
            .bind(since)
            .fetch_one(&mut *target)
            .await;
    if let Ok(n @ 1..) = live {
        progress(format_args!(
            "warning: {n} erp-sync servers are running on {url}; they deliver copied pending jobs as soon as they arrive"
        ));
    }
}

/// What copying one table did.
struct Copied {
    source_rows: u64,
    inserted: u64,
    /// Leased jobs copied as pending.
    requeued: u64,
}

/// Copies one table in keyset batches.
async fn copy_table(
    source: &mut SqliteConnection,
    target: &mut PgConnection,
    table: &'static Table,
) -> Result<Copied, MigrateError> {
    let read_err = |source| MigrateError::Read {
        table: table.name,
        source,
    };
    let started = Instant::now();
    let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", table.name))
        .fetch_one(&mut *source)
        .await
        .map_err(read_err)?;
    let total = total as u64;
    progress(format_args!("{}: copying {total} rows", table.name));

    let columns = table.column_list();
    let first_sql = table.keyset_sql(&columns, false);
    let next_sql = table.keyset_sql(&columns, true);
    let key_index: Vec<usize> = table.key.iter().map(|k| table.index(k)).collect();
    let max_rows = MAX_BATCH_ROWS.min(60_000 / table.columns.len());
    let insert_head = format!("INSERT INTO {} ({columns}) ", table.name);

    let (mut read, mut inserted, mut requeued) = (0u64, 0u64, 0u64);
    let mut after: Option<Vec<Value>> = None;
    let mut limit = table.first_batch.min(max_rows);
    let mut last_report = Instant::now();
    loop {
        let rows = read_page(
            &mut *source,
            (&first_sql, &next_sql),
            after.as_deref(),
            limit,
        )
        .await
        .map_err(read_err)?;
        if rows.is_empty() {
            break;
        }
        let mut batch = Vec::with_capacity(rows.len());
        let mut bytes = 0;
        for row in &rows {
            let mut values = table
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| read_value(row, i, c.kind))
                .collect::<Result<Vec<_>, _>>()
                .map_err(read_err)?;
            if table.name == "jobs" && requeue_if_leased(table, &mut values) {
                requeued += 1;
            }
            bytes += values.iter().map(Value::size).sum::<usize>();
            batch.push(values);
        }
        drop(rows);
        let fetched = batch.len();
        let last = batch.last().expect("a non-empty batch");
        after = Some(key_index.iter().map(|&i| last[i].clone()).collect());

        let mut insert = QueryBuilder::<Postgres>::new(&insert_head);
        insert.push_values(batch, |mut b, row| {
            for value in row {
                match value {
                    Value::Text(v) => b.push_bind(v),
                    Value::Int(v) => b.push_bind(v),
                    Value::Blob(v) => b.push_bind(v),
                    Value::Bool(v) => b.push_bind(v),
                };
            }
        });
        insert.push(" ON CONFLICT DO NOTHING");
        let done = insert
            .build()
            .execute(&mut *target)
            .await
            .map_err(|source| MigrateError::Write {
                table: table.name,
                source,
            })?;
        read += fetched as u64;
        inserted += done.rows_affected();

        if last_report.elapsed() >= PROGRESS_EVERY {
            progress(format_args!("{}: {read} / {total} rows", table.name));
            last_report = Instant::now();
        }
        if fetched < limit {
            break;
        }
        // Size the next batch from this one's rows.
        limit = (BATCH_BYTES / (bytes / fetched).max(1)).clamp(1, max_rows);
    }
    progress(format_args!(
        "{}: {read} rows read, {inserted} copied, {} already in the target ({:.1} s)",
        table.name,
        read - inserted.min(read),
        started.elapsed().as_secs_f64()
    ));
    Ok(Copied {
        source_rows: read,
        inserted,
        requeued,
    })
}

/// A job leased in the source has lost its lease holder (the SQLite server is gone):
/// it goes to the target as pending, lease cleared, and without the attempt its claim
/// counted, as the server's own start-up recovery does. Answers whether it was leased.
fn requeue_if_leased(table: &Table, row: &mut [Value]) -> bool {
    let state = table.index("state");
    if row[state] != Value::Text(Some("leased".into())) {
        return false;
    }
    row[state] = Value::Text(Some("pending".into()));
    row[table.index("lease_token")] = Value::Text(None);
    row[table.index("lease_until_ms")] = Value::Int(None);
    if let Value::Int(Some(attempts)) = &mut row[table.index("attempts")] {
        *attempts = (*attempts - 1).max(0);
    }
    true
}

/// Moves an identity sequence past the largest copied id, so that new rows get new ids.
async fn set_sequence(
    target: &mut PgConnection,
    table: &'static str,
    column: &str,
) -> Result<(), MigrateError> {
    sqlx::query(&format!(
        "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), GREATEST((SELECT MAX({column}) FROM {table}), 1))"
    ))
    .execute(&mut *target)
    .await
    .map_err(|source| MigrateError::Sequence { table, source })?;
    Ok(())
}

/// Looks every source row up in the target, by key (and `also_match`), in batches;
/// fills in the target count and what is missing.
async fn verify_table(
    source: &mut SqliteConnection,
    target: &mut PgConnection,
    table: &'static Table,
    entry: &mut TableReport,
) -> Result<(), MigrateError> {
    let read_err = |source| MigrateError::Read {
        table: table.name,
        source,
    };
    let verify_err = |source| MigrateError::Verify {
        table: table.name,
        source,
    };
    let matched = table.match_columns();
    let columns: Vec<&Column> = matched.iter().map(|c| table.column(c)).collect();
    let select = matched.join(", ");
    let first_sql = table.keyset_sql(&select, false);
    let next_sql = table.keyset_sql(&select, true);
    let alias = matched.join(", ");
    let condition = matched
        .iter()
        .map(|c| format!("t.{c} = k.{c}"))
        .collect::<Vec<_>>()
        .join(" AND ");

    let mut after: Option<Vec<Value>> = None;
    let (mut checked, mut last_report) = (0u64, Instant::now());
    loop {
        let rows = read_page(
            &mut *source,
            (&first_sql, &next_sql),
            after.as_deref(),
            MAX_BATCH_ROWS,
        )
        .await
        .map_err(read_err)?;
        if rows.is_empty() {
            break;
        }
        let keys = rows
            .iter()
            .map(|row| {
                columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| read_value(row, i, c.kind))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(read_err)?;
        let fetched = keys.len();
        after = Some(keys.last().expect("a non-empty batch")[..table.key.len()].to_vec());

        // SELECT <k> FROM UNNEST($1::text[], …) AS k(<cols>)
        // WHERE NOT EXISTS (SELECT 1 FROM <table> t WHERE t.c = k.c AND …)
        let mut lookup = QueryBuilder::<Postgres>::new("SELECT ");
        lookup.push(&alias).push(" FROM UNNEST(");
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                lookup.push(", ");
            }
            match column.kind {
                Kind::Int => {
                    let values: Vec<Option<i64>> = keys
                        .iter()
                        .map(|k| match &k[i] {
                            Value::Int(v) => *v,
                            _ => None,
                        })
                        .collect();
                    lookup.push_bind(values).push("::bigint[]");
                }
                _ => {
                    let values: Vec<Option<String>> = keys
                        .iter()
                        .map(|k| match &k[i] {
                            Value::Text(v) => v.clone(),
                            _ => None,
                        })
                        .collect();
                    lookup.push_bind(values).push("::text[]");
                }
            }
        }
        lookup.push(format!(
            ") AS k({alias}) WHERE NOT EXISTS (SELECT 1 FROM {} t WHERE {condition})",
            table.name
        ));
        let missing = lookup
            .build()
            .fetch_all(&mut *target)
            .await
            .map_err(verify_err)?;
        entry.missing += missing.len() as u64;
        if table.show_keys {
            for row in missing
                .iter()
                .take(5usize.saturating_sub(entry.missing_examples.len()))
            {
                let key = (0..table.key.len())
                    .map(|i| match columns[i].kind {
                        Kind::Int => row
                            .try_get::<Option<i64>, _>(i)
                            .map(|v| Value::Int(v).display()),
                        _ => row
                            .try_get::<Option<String>, _>(i)
                            .map(|v| Value::Text(v).display()),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(verify_err)?;
                entry.missing_examples.push(format!("({})", key.join(", ")));
            }
        }
        checked += fetched as u64;
        if last_report.elapsed() >= PROGRESS_EVERY {
            progress(format_args!(
                "verifying {}: {checked} / {} rows",
                table.name, entry.source_rows
            ));
            last_report = Instant::now();
        }
        if fetched < MAX_BATCH_ROWS {
            break;
        }
    }
    // The snapshot's own count is authoritative (it is what was walked above).
    entry.source_rows = checked;
    let target_rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", table.name))
        .fetch_one(&mut *target)
        .await
        .map_err(verify_err)?;
    entry.target_rows = target_rows as u64;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_consistent() {
        for table in TABLES {
            for column in table.match_columns() {
                let kind = table.column(column).kind;
                assert!(
                    matches!(kind, Kind::Text | Kind::Int),
                    "{}.{column} is matched, so it must be text or integer",
                    table.name
                );
            }
            assert!(
                table.columns.len() * MAX_BATCH_ROWS.min(60_000 / table.columns.len()) <= 65_535
            );
            assert!(table.first_batch >= 1);
        }
        let names: Vec<_> = TABLES.iter().map(|t| t.name).collect();
        let position = |n: &str| names.iter().position(|x| *x == n).unwrap();
        // Foreign keys of migrations/postgres: parents first.
        for (child, parent) in [
            ("api_keys", "tenants"),
            ("connections", "tenants"),
            ("transforms", "tenants"),
            ("transforms", "wasm_modules"),
            ("customer_tweaks", "transforms"),
        ] {
            assert!(
                position(parent) < position(child),
                "{parent} before {child}"
            );
        }
    }

    /// The copy list is the SQLite schema: a migration that adds a table or a column
    /// must add it here too, or the copy would silently drop it.
    #[tokio::test]
    async fn tables_are_the_sqlite_schema() {
        let mut db = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::migrate!("./migrations/sqlite")
            .run(&mut db)
            .await
            .unwrap();
        let mut schema: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table'
             AND name NOT LIKE 'sqlite_%' AND name != '_sqlx_migrations'",
        )
        .fetch_all(&mut db)
        .await
        .unwrap();
        schema.sort();
        let mut ours: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        ours.sort();
        assert_eq!(schema, ours);
        for table in TABLES {
            let columns: Vec<(String, String)> =
                sqlx::query_as("SELECT name, type FROM pragma_table_info(?) ORDER BY cid")
                    .bind(table.name)
                    .fetch_all(&mut db)
                    .await
                    .unwrap();
            let expected: Vec<(String, String)> = table
                .columns
                .iter()
                .map(|c| {
                    let ty = match c.kind {
                        Kind::Text => "TEXT",
                        Kind::Int | Kind::Bool => "INTEGER",
                        Kind::Blob => "BLOB",
                    };
                    (c.name.to_string(), ty.to_string())
                })
                .collect();
            assert_eq!(columns, expected, "the columns of {}", table.name);
            let key: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk",
            )
            .bind(table.name)
            .fetch_all(&mut db)
            .await
            .unwrap();
            assert_eq!(key, table.key, "the primary key of {}", table.name);
        }
    }

    /// `run` can be spawned: its future is `Send` (checked when compiling).
    #[allow(dead_code)]
    fn run_is_send(args: &MigrateStoreArgs) {
        fn is_send<T: Send>(_: T) {}
        is_send(run(args));
    }

    #[test]
    fn keyset_queries() {
        let jobs = TABLES.iter().find(|t| t.name == "jobs").unwrap();
        assert_eq!(
            jobs.keyset_sql("seq, id", true),
            "SELECT seq, id FROM jobs WHERE (seq) > (?) ORDER BY seq LIMIT ?"
        );
        let versions = TABLES
            .iter()
            .find(|t| t.name == "invoice_versions")
            .unwrap();
        assert_eq!(
            versions.keyset_sql("body", false),
            "SELECT body FROM invoice_versions ORDER BY tenant_id, invoice_id, version LIMIT ?"
        );
    }

    #[test]
    fn a_leased_job_is_requeued() {
        let jobs = TABLES.iter().find(|t| t.name == "jobs").unwrap();
        let mut row: Vec<Value> = jobs
            .columns
            .iter()
            .map(|c| match c.kind {
                Kind::Int => Value::Int(Some(7)),
                _ => Value::Text(Some("x".into())),
            })
            .collect();
        assert!(!requeue_if_leased(jobs, &mut row));
        row[jobs.index("state")] = Value::Text(Some("leased".into()));
        assert!(requeue_if_leased(jobs, &mut row));
        assert_eq!(
            row[jobs.index("state")],
            Value::Text(Some("pending".into()))
        );
        assert_eq!(row[jobs.index("lease_token")], Value::Text(None));
        assert_eq!(row[jobs.index("lease_until_ms")], Value::Int(None));
        assert_eq!(row[jobs.index("attempts")], Value::Int(Some(6)));
    }

    #[test]
    fn the_report_warns_and_the_url_is_redacted() {
        let report = MigrationReport {
            tables: vec![TableReport {
                table: "jobs",
                source_rows: 2,
                copied: 0,
                target_rows: 5,
                missing: 0,
                missing_examples: vec![],
            }],
            requeued_leased_jobs: 1,
        };
        let text = report.to_string();
        assert!(
            text.contains("the target has 3 more rows than the source (already in use?)"),
            "{text}"
        );
        assert!(text.contains("1 jobs were leased"), "{text}");
        assert!(
            text.ends_with("verified: every source row is in the target"),
            "{text}"
        );
        let e = MigrateError::BadTargetUrl {
            url: redact_url("mysql://u:hunter2@h/db"),
        };
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
