//! What hosts sharing one PostgreSQL store coordinate through it: each ERP account's
//! rolling request budget and concurrency slots, and one token refresh at a time per
//! connection. Connectors reach these through this handle only, so the store's
//! backends stay behind the [`Store`](super::Store) facade.

use super::StoreResult;
use super::postgres::PgStore;

pub use super::postgres::limits::{RefreshLock, SlotLease};

/// The shared limits of a PostgreSQL store (none on SQLite, where one host runs).
#[derive(Clone)]
pub struct SharedLimits(pub(super) PgStore);

impl SharedLimits {
    /// Records one call in `account`'s window of `window_ms`, or answers when the oldest
    /// call leaves it (ms since the epoch) if `per_window` calls are already in it.
    pub async fn take_rate(
        &self,
        account: &str,
        per_window: i64,
        window_ms: i64,
    ) -> StoreResult<Option<i64>> {
        self.0.take_rate(account, per_window, window_ms).await
    }

    /// Records `n` calls the provider counted that no host here made (another
    /// integration on the same account).
    pub async fn spend_rate(
        &self,
        account: &str,
        n: i64,
        per_window: i64,
        window_ms: i64,
    ) -> StoreResult<()> {
        self.0.spend_rate(account, n, per_window, window_ms).await
    }

    /// One of `account`'s `slots` concurrency slots, held at most `hold_ms`; `None` when
    /// all are taken.
    pub async fn take_slot(
        &self,
        account: &str,
        slots: i32,
        hold_ms: i64,
    ) -> StoreResult<Option<SlotLease>> {
        self.0.take_slot(account, slots, hold_ms).await
    }

    /// Gives a slot back before its deadline.
    pub async fn release_slot(&self, lease: &SlotLease) -> StoreResult<()> {
        self.0.release_slot(lease).await
    }

    /// Waits until no other host refreshes `connection_id`'s tokens, then holds that
    /// right until the lock is released or dropped.
    pub async fn lock_refresh(&self, connection_id: &str) -> StoreResult<RefreshLock> {
        self.0.lock_refresh(connection_id).await
    }
}
