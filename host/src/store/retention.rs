//! Sync-log retention: old entries are deleted in small batches, walking the primary key
//! from the oldest end, so no prune ever holds a long write lock.
//!
//! Each batch first reads a *window*: the next `batch` ids above the last window (a read,
//! on the read pool). It then deletes, in one short write of its own, the entries of that
//! window older than the cut-off. Both statements are range scans of the primary key, so
//! a batch touches at most `batch` rows whatever the size of the table. Ids follow time
//! (an entry is written when its attempt ends), so the walk stops at the first window
//! without any old entry: everything after it is younger. Between batches the pruner
//! pauses, and the ingest's writes run in between.

use std::time::Duration;

use super::{Backend, Store, StoreResult};

/// The last id of the next window of at most `$2` entries after id `$1`; NULL past the end.
const WINDOW_END_SQL: &str =
    "SELECT MAX(id) FROM (SELECT id FROM sync_log WHERE id > $1 ORDER BY id LIMIT $2) w";

/// Deletes the entries of the window (`$1`, `$2`] older than `$3` (unix ms). The same text
/// serves both backends: sqlx binds `$N` on PostgreSQL, and SQLite numbers `$1`, `$2`,
/// `$3` in order of appearance, as rusqlite binds them.
pub(super) const PRUNE_WINDOW_SQL: &str =
    "DELETE FROM sync_log WHERE id > $1 AND id <= $2 AND at_ms < $3";

impl Store {
    /// Deletes every sync-log entry older than `older_than_ms` (unix ms), in batches of
    /// `batch` entries with `pause` after each, and answers how many it deleted. The retention task calls it
    /// periodically; it is public so operators' tools and tests can prune on demand.
    /// Stopping it between batches (dropping the future) leaves a consistent log: each
    /// batch is its own transaction.
    pub async fn prune_sync_log(
        &self,
        older_than_ms: i64,
        batch: i64,
        pause: Duration,
    ) -> StoreResult<u64> {
        let batch = batch.max(1);
        let (mut after, mut pruned) = (0_i64, 0_u64);
        while let Some(end) = self.log_window_end(after, batch).await? {
            let deleted = match &self.backend {
                Backend::Sqlite(s) => s.prune_log_window(after, end, older_than_ms).await?,
                Backend::Postgres(p) => p.prune_log_window(after, end, older_than_ms).await?,
            };
            if deleted == 0 {
                break;
            }
            pruned += deleted;
            after = end;
            tokio::time::sleep(pause).await;
        }
        Ok(pruned)
    }

    /// The last id of the window of `batch` entries after `after`, if any entry is there.
    async fn log_window_end(&self, after: i64, batch: i64) -> StoreResult<Option<i64>> {
        let sql = sqlx::query_scalar(WINDOW_END_SQL);
        Ok(match &self.backend {
            Backend::Sqlite(s) => sql.bind(after).bind(batch).fetch_one(s.reader()).await?,
            Backend::Postgres(p) => {
                let sql = sqlx::query_scalar(WINDOW_END_SQL);
                sql.bind(after).bind(batch).fetch_one(p.pool()).await?
            }
        })
    }
}
