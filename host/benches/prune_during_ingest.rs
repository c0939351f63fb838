//! Ingest latency while old sync-log entries are pruned (being written).
fn main() {}
