//! postgres side of sync-log retention (pruning).
