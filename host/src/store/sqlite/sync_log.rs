//! The sync log: an append-only record of every attempt, test and cancellation.
//!
//! Entries are numbered by an increasing integer that doubles as the pagination cursor:
//! pages run newest first and the next page is "ids below the last one seen", so entries
//! written while someone pages can neither be skipped nor repeated (the single writer
//! assigns ids in commit order).

use std::sync::LazyLock;

use super::SqliteStore;
use crate::store::rows::insert_log_sql;
use crate::store::{LogEntry, StoreResult};

/// The sync-log `INSERT` with SQLite's placeholders.
static INSERT_LOG: LazyLock<String> = LazyLock::new(|| insert_log_sql(|_| "?".into()));

impl LogEntry {
    /// Appends this entry within the caller's write.
    pub(in crate::store::sqlite) fn insert(&self, db: &rusqlite::Connection) -> StoreResult<()> {
        db.prepare_cached(&INSERT_LOG)?.execute(rusqlite::params![
            self.tenant_id,
            self.at_ms,
            self.document.as_ref().and_then(|d| d.invoice_id()),
            self.connection_id,
            self.provider,
            self.kind,
            self.job_id,
            self.event_id,
            self.attempt,
            self.status,
            self.response_code,
            self.error,
            self.erp_record_id,
            self.duration_ms,
            self.guest_logs,
            self.document.as_ref().map(|d| d.doc_type.as_str()),
            self.document.as_ref().map(|d| d.id.as_str()),
        ])?;
        Ok(())
    }
}

impl SqliteStore {
    /// Appends one entry on its own (tests, start-up recovery notes).
    pub(crate) async fn append_log(&self, entry: &LogEntry) -> StoreResult<()> {
        let entry = entry.clone();
        self.write(move |db| entry.insert(db)).await
    }
}
