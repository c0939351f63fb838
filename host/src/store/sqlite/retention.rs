//! The SQLite side of sync-log retention: one window's delete, as one short write.

use super::SqliteStore;
use crate::store::StoreResult;
use crate::store::retention::PRUNE_WINDOW_SQL;

impl SqliteStore {
    /// Deletes the entries with ids in (`after`, `end`] older than `older_than_ms`. The
    /// writer may commit it together with other writes: it touches one window only.
    pub(crate) async fn prune_log_window(
        &self,
        after: i64,
        end: i64,
        older_than_ms: i64,
    ) -> StoreResult<u64> {
        self.write(move |db| {
            let deleted = db
                .prepare_cached(PRUNE_WINDOW_SQL)?
                .execute(rusqlite::params![after, end, older_than_ms])?;
            Ok(deleted as u64)
        })
        .await
    }
}
