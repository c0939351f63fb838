//! The embedded default backend: one SQLite file in WAL mode, for one process.
//!
//! Every write goes to one writer thread ([`writer`]) that group-commits: the writes
//! waiting for it share one `BEGIN IMMEDIATE` transaction (a failed write is undone
//! alone), and each caller is answered after the commit. A *reader* pool (sqlx) serves the API
//! and sync-log queries, which WAL lets run beside the writer.
//!
//! A data dir belongs to one process at a time: [`SqliteStore::open`] takes an exclusive
//! lock on `<data dir>/erp-sync.lock`, which is what makes it safe to release every
//! lease left behind by a crashed predecessor at start-up.

mod checkpointer;
mod connections;
mod delivery;
mod documents;
mod erp;
mod jobs;
mod sync_log;
mod tenants;
mod transforms;
mod writer;

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use writer::WriteStats;
use writer::Writer;

use super::{StoreError, StoreResult, Tenant};

/// Builds `$ty` from a rusqlite row whose columns are the listed fields, in that order
/// (as the `*_COLUMNS` lists name them); `field as read` reads that column with
/// `read(row, index)`, for a type rusqlite does not know.
macro_rules! from_row {
    ($r:expr => $ty:ident { $($field:ident $(as $read:path)?),+ $(,)? }) => {{
        let mut column = 0usize..;
        $ty { $($field: from_row!(@get $r, column.next().expect("endless range") $(, $read)?)),+ }
    }};
    (@get $r:expr, $i:expr) => { $r.get($i)? };
    (@get $r:expr, $i:expr, $read:path) => { $read($r, $i)? };
}
use from_row;

/// The SQLite backend; cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    writer: Arc<Writer>,
    /// API key hashes already looked up, with their tenant (see `tenant_by_api_key`).
    known_keys: Arc<RwLock<HashMap<String, Tenant>>>,
    reader: SqlitePool,
    _lock: Option<Arc<File>>,
}

impl SqliteStore {
    /// The read pool.
    pub(super) fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// The read pool, for the reads both backends share.
    pub(super) fn reads(&self) -> super::reads::Reader<'_> {
        super::reads::Reader::Sqlite(&self.reader)
    }

    /// Opens (creating if needed) the database in `data_dir` for a server: takes the
    /// data dir's exclusive lock and migrates.
    pub async fn open(data_dir: &Path) -> StoreResult<Self> {
        let dir_err = |source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(dir_err)?;
        let lock_path = data_dir.join("erp-sync.lock");
        let lock = File::create(&lock_path).map_err(dir_err)?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Locked {
                path: data_dir.to_path_buf(),
                lock: lock_path,
            });
        }
        Self::connect(data_dir, Some(Arc::new(lock))).await
    }

    /// Opens the database beside a possibly running server, for short administrative
    /// commands such as `tenant create`. SQLite serializes the writes; only the server
    /// may recover leases, so this handle must not.
    pub async fn open_shared(data_dir: &Path) -> StoreResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        Self::connect(data_dir, None).await
    }

    async fn connect(data_dir: &Path, lock: Option<Arc<File>>) -> StoreResult<Self> {
        let db_path = data_dir.join("erp-sync.db");
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(&db_path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // Migrations run through sqlx once, before the writer thread takes over writing.
        let migrator = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&migrator).await?;
        migrator.close().await;
        let writer = Arc::new(Writer::start(&db_path)?);
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.read_only(true))
            .await?;
        Ok(SqliteStore {
            writer,
            known_keys: Arc::default(),
            reader,
            _lock: lock,
        })
    }

    /// Runs `f` as one write (see [`writer`]): it is answered once committed.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
    {
        self.writer.run(f).await
    }

    /// Closes the reader pool and the writer (committing what is queued, flushing the
    /// WAL); used on graceful shutdown.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.stop().await;
    }

    /// The writer's commits and writes so far (group-commit efficiency, for `bench`).
    pub fn write_stats(&self) -> WriteStats {
        self.writer.stats()
    }

    /// Whether the database answers; backs `/healthz`.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }
}
