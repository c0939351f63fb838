//! The SQLite side: the data dir's lock, the store opened read-only, and the one
//! snapshot of it that everything reads, at a schema version this binary knows.

use std::fs::{File, TryLockError};
use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Sqlite, SqliteConnection, Transaction};

use super::MigrateError;

/// The store's file in a data dir.
pub(super) const SOURCE_FILE: &str = "erp-sync.db";
/// The file a running server holds locked in its data dir.
const LOCK_FILE: &str = "erp-sync.lock";

/// Takes the data dir's lock, as a server does, so that a running server is refused and
/// none can start until the run ends.
pub(super) fn lock_data_dir(dir: &Path) -> Result<Option<File>, MigrateError> {
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

/// Opens the store `db` read-only, on one connection.
pub(super) async fn open(db: &Path) -> Result<SqliteConnection, MigrateError> {
    let options = SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(10));
    SqliteConnection::connect_with(&options)
        .await
        .map_err(open_err(db))
}

/// Begins the one read transaction every later read goes through, so that the copy
/// and its verification see one snapshot, and checks the store's schema in it.
pub(super) async fn snapshot<'c>(
    source: &'c mut SqliteConnection,
    db: &Path,
) -> Result<Transaction<'c, Sqlite>, MigrateError> {
    let mut snapshot = source.begin().await.map_err(open_err(db))?;
    check_schema(&mut snapshot, db).await?;
    Ok(snapshot)
}

fn open_err(db: &Path) -> impl Fn(sqlx::Error) -> MigrateError {
    |source| MigrateError::OpenSource {
        db: db.to_path_buf(),
        source,
    }
}

/// Refuses a store at another schema version than this binary's SQLite migrations: its
/// tables would not be the ones copied here.
async fn check_schema(source: &mut SqliteConnection, db: &Path) -> Result<(), MigrateError> {
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
