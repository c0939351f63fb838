//! The PostgreSQL side of sync-log retention: one window's delete, as one short
//! transaction (row locks on that window only; ingest never waits for it).

use super::PgStore;
use crate::store::StoreResult;
use crate::store::retention::PRUNE_WINDOW_SQL;

impl PgStore {
    /// Deletes the entries with ids in (`after`, `end`] older than `older_than_ms`.
    pub(crate) async fn prune_log_window(
        &self,
        after: i64,
        end: i64,
        older_than_ms: i64,
    ) -> StoreResult<u64> {
        let done = sqlx::query(PRUNE_WINDOW_SQL)
            .bind(after)
            .bind(end)
            .bind(older_than_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
