//! sqlite side of sync-log retention (pruning).
