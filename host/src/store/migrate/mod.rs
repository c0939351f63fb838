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
//!
//! The pieces: [`MigrateStoreArgs`] (the flags), `catalogue` (the tables, as
//! `migrations/sqlite` defines them), `source` and `target` (the two databases),
//! `pages` (reading a table in keyset pages), `copy` and `verify` (one table each),
//! [`MigrationReport`] (what a run did) and [`MigrateError`] (why it failed).

mod args;
mod catalogue;
mod copy;
mod error;
mod pages;
mod report;
mod source;
mod target;
mod verify;

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection, SqliteConnection};

pub use args::MigrateStoreArgs;
pub use error::MigrateError;
pub use report::{MigrationReport, TableReport};

use crate::store::redact_url;
use catalogue::TABLES;

/// Most rows read and inserted at once (PostgreSQL allows 65,535 bind parameters per
/// statement; the widest table has 19 columns).
pub const MAX_BATCH_ROWS: usize = 1_000;
/// About how many bytes of row data one batch holds: after each batch, the next one is
/// sized from the average row of this one.
pub const BATCH_BYTES: usize = 16 << 20;
/// How often a long table reports its progress on stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Copies the SQLite store in `args.from` into the PostgreSQL database `args.to`,
/// verifies the copy, and answers what it did. Progress goes to stderr; the caller
/// prints the report. Fails with [`MigrateError::Incomplete`] (which carries the
/// report) when a source row is missing in the target.
pub async fn run(args: &MigrateStoreArgs) -> Result<MigrationReport, MigrateError> {
    let url = redact_url(&args.to);
    let db = args.from.join(source::SOURCE_FILE);
    if !db.is_file() {
        return Err(MigrateError::SourceMissing { db });
    }
    // Held until the end: a server cannot start on the data dir while we read it.
    let _lock = source::lock_data_dir(&args.from)?;
    let mut source = source::open(&db).await?;
    let result = migrate(&mut source, &db, args, &url).await;
    let _ = source.close().await;
    result
}

/// The run once the source is open: one snapshot of it, the target, and the copy.
async fn migrate(
    source: &mut SqliteConnection,
    db: &Path,
    args: &MigrateStoreArgs,
    url: &str,
) -> Result<MigrationReport, MigrateError> {
    let mut snapshot = source::snapshot(source, db).await?;

    let mut target = target::connect(&args.to, url).await?;
    let result = copy_and_verify(&mut snapshot, &mut target, url).await;
    let _ = target.close().await;
    let _ = snapshot.rollback().await;
    result
}

/// Copies every table in foreign-key order, then verifies every table.
async fn copy_and_verify(
    source: &mut SqliteConnection,
    target: &mut PgConnection,
    url: &str,
) -> Result<MigrationReport, MigrateError> {
    target::warn_if_hosts_running(target, url).await;
    let mut report = MigrationReport::default();
    for table in TABLES {
        let copied = copy::copy_table(source, target, table).await?;
        report.tables.push(TableReport {
            table: table.name,
            source_rows: copied.source_rows,
            copied: copied.inserted,
            ..TableReport::default()
        });
        report.requeued_leased_jobs += copied.requeued;
        if let Some(column) = table.identity {
            target::set_sequence(target, table.name, column).await?;
        }
    }
    progress(format_args!(
        "verifying: looking every source row up in the target"
    ));
    for (table, entry) in TABLES.iter().zip(&mut report.tables) {
        verify::verify_table(source, target, table, entry).await?;
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

/// Prints one progress line on stderr.
fn progress(line: std::fmt::Arguments<'_>) {
    eprintln!("migrate-store: {line}");
}

/// Says when a long table is due to report its progress again, every
/// [`PROGRESS_EVERY`].
struct ProgressTicker(Instant);

impl ProgressTicker {
    fn new() -> ProgressTicker {
        ProgressTicker(Instant::now())
    }

    fn due(&mut self) -> bool {
        let due = self.0.elapsed() >= PROGRESS_EVERY;
        if due {
            self.0 = Instant::now();
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `run` can be spawned: its future is `Send` (checked when compiling).
    #[allow(dead_code)]
    fn run_is_send(args: &MigrateStoreArgs) {
        fn is_send<T: Send>(_: T) {}
        is_send(run(args));
    }
}
