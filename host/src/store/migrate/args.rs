//! The flags and the long help of `erp-sync migrate-store`.

use std::path::PathBuf;

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
