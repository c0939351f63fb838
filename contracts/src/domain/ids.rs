//! Identifiers minted by erp-sync.
//!
//! Every id is an opaque string: a short prefix saying what it names, then a UUIDv7 in
//! simple form. The prefix makes a pasted id self-explaining in logs and support tickets;
//! UUIDv7 keeps ids roughly time-ordered, which keeps B-tree inserts cheap.

/// A new id such as `conn_01932c...` for the given prefix.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// Prefixes of the ids erp-sync mints, in one place so they stay consistent.
pub mod prefix {
    pub const TENANT: &str = "ten";
    pub const CONNECTION: &str = "conn";
    pub const JOB: &str = "job";
    pub const EVENT: &str = "evt";
}
