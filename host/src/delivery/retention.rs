//! Sync-log retention: entries older than `--log-retention-days` are pruned in small
//! batches, so no prune ever holds a long write lock.
