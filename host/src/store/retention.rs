//! Store side of sync-log retention and export.
