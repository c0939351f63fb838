//! Sync-log retention: entries older than `--log-retention-days` are pruned in small
//! batches, so no prune ever holds a long write lock.
//!
//! The task prunes once at start-up, then every [`PRUNE_EVERY`]. Each round deletes
//! every entry older than the retention, [`PRUNE_BATCH`] entries per write with
//! [`PRUNE_PAUSE`] between writes (see `Store::prune_sync_log`), and logs how many went.
//! A failed round is logged and tried again at the next one: nothing else depends on it.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::store::{Store, now_ms};

/// How often the log is pruned after the start-up round. Entries live a year or more, so
/// ten minutes late is nothing, and a round over ten minutes' worth of old entries is
/// short.
pub const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Entries looked at, and at most deleted, per write: one short write each.
pub const PRUNE_BATCH: i64 = 500;

/// The pause after each batch, so other writes (ingest, settlements) run in between.
pub const PRUNE_PAUSE: Duration = Duration::from_millis(5);

/// The cut-off for a retention of `keep` at `now_ms`: entries before it are pruned.
pub fn cutoff_ms(now_ms: i64, keep: Duration) -> i64 {
    now_ms.saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX))
}

/// Prunes entries older than `keep` at start-up and every [`PRUNE_EVERY`], until
/// `shutdown` fires (a round in progress stops between two batches).
pub async fn run(store: Store, keep: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = prune_once(&store, keep) => {}
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(PRUNE_EVERY) => {}
        }
    }
}

/// One round: prunes and logs the outcome.
async fn prune_once(store: &Store, keep: Duration) {
    let cutoff = cutoff_ms(now_ms(), keep);
    let started = Instant::now();
    match store.prune_sync_log(cutoff, PRUNE_BATCH, PRUNE_PAUSE).await {
        Ok(0) => tracing::debug!("sync-log retention: nothing older than the retention"),
        Ok(pruned) => tracing::info!(
            pruned,
            older_than = %crate::store::format_ms(cutoff),
            took_ms = started.elapsed().as_millis() as u64,
            "sync-log retention: pruned old entries"
        ),
        Err(e) => tracing::warn!(
            error = %e,
            "sync-log retention: pruning failed; it is tried again in {} minutes",
            PRUNE_EVERY.as_secs() / 60
        ),
    }
}
