//! What hosts sharing one PostgreSQL store coordinate through it: each ERP account's
//! rolling request budget and concurrency slots, and one token refresh at a time per
//! connection. Connectors reach these through this handle only, so the store's
//! backends stay behind the [`Store`](super::Store) facade; the queries are in
//! `postgres/limits.rs`.

use super::postgres::PgStore;

pub use super::postgres::limits::{RefreshLock, SlotLease};

/// The shared limits of a PostgreSQL store (none on SQLite, where one host runs).
#[derive(Clone)]
pub struct SharedLimits(pub(super) PgStore);
