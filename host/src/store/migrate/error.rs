//! Why `migrate-store` fails.

use std::path::PathBuf;

use super::report::MigrationReport;
use super::source::SOURCE_FILE;

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
        report.missing_summary()
    )]
    Incomplete { report: Box<MigrationReport> },
}

/// For `map_err`, where a table's rows are read, written or verified.
impl MigrateError {
    pub(super) fn read(table: &'static str) -> impl Fn(sqlx::Error) -> MigrateError + Copy {
        move |source| MigrateError::Read { table, source }
    }

    pub(super) fn write(table: &'static str) -> impl Fn(sqlx::Error) -> MigrateError + Copy {
        move |source| MigrateError::Write { table, source }
    }

    pub(super) fn verify(table: &'static str) -> impl Fn(sqlx::Error) -> MigrateError + Copy {
        move |source| MigrateError::Verify { table, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::redact_url;

    #[test]
    fn the_url_is_redacted() {
        let e = MigrateError::BadTargetUrl {
            url: redact_url("mysql://u:hunter2@h/db"),
        };
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
