//! Fresh invoices' latency during a bulk recovery (being written).
fn main() {}
