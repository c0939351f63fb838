//! The sync log on PostgreSQL.
//!
//! Ids come from an identity column; with several hosts committing at once, an id is
//! taken when the row is inserted, not when it commits, so a page read at the very
//! moment of a commit may miss an entry that commits a moment later with a lower id.
//! The console's live view polls the newest page, where such an entry then shows up.

use std::sync::LazyLock;

use super::PgStore;
use crate::store::rows::insert_log_sql;
use crate::store::{LogEntry, StoreResult};

/// The sync-log `INSERT` with PostgreSQL's placeholders.
static INSERT_LOG: LazyLock<String> = LazyLock::new(|| insert_log_sql(|n| format!("${n}")));

/// Binds `entry` to the 17 placeholders of [`insert_log_sql`]'s `INSERT`, in order.
pub(super) fn bind_entry<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    entry: &'q LogEntry,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(&entry.tenant_id)
        .bind(entry.at_ms)
        .bind(entry.document.as_ref().and_then(|d| d.invoice_id()))
        .bind(&entry.connection_id)
        .bind(entry.provider)
        .bind(entry.kind)
        .bind(&entry.job_id)
        .bind(&entry.event_id)
        .bind(entry.attempt)
        .bind(entry.status)
        .bind(entry.response_code)
        .bind(&entry.error)
        .bind(&entry.erp_record_id)
        .bind(entry.duration_ms)
        .bind(&entry.guest_logs)
        .bind(entry.document.as_ref().map(|d| d.doc_type.as_str()))
        .bind(entry.document.as_ref().map(|d| d.id.as_str()))
}

/// Appends `entry` within the caller's transaction.
pub(super) async fn insert(db: &mut sqlx::PgConnection, entry: &LogEntry) -> StoreResult<()> {
    bind_entry(sqlx::query(&INSERT_LOG), entry)
        .execute(db)
        .await?;
    Ok(())
}

impl PgStore {
    pub(crate) async fn append_log(&self, entry: &LogEntry) -> StoreResult<()> {
        let mut db = self.pool.acquire().await?;
        insert(&mut db, entry).await
    }
}
