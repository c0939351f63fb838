//! ERP limits and token refreshes shared by every host.
//!
//! An ERP's limits are per account (a QuickBooks company allows 10 requests in flight
//! and 500 a minute), however many erp-sync hosts send to it. One process enforces them
//! in memory (`connectors/limits.rs`); several hosts share them here:
//!
//! - a request budget per account as a rolling window over its recent calls
//!   (`erp_rate_calls`), taken under a transaction-level advisory lock per account, so
//!   hosts taking at once cannot overspend it;
//! - concurrency slots per account (`erp_slots`), taken with `FOR UPDATE SKIP LOCKED`
//!   and given back when the request ends; a slot a dead host held frees itself after
//!   its deadline;
//! - one OAuth refresh per connection at a time, across hosts, with a transaction-level
//!   advisory lock: a rotated refresh token used twice would break the connection.

use sqlx::{Postgres, Transaction};

/// Token refreshes one host runs at once (each holds a pooled connection).
pub const REFRESHES_AT_ONCE: usize = 4;
/// How long a host waits for another host's refresh of the same connection.
pub const REFRESH_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
use crate::store::{SharedLimits, StoreResult, now_ms};

/// A concurrency slot held on an account; give it back with [`SharedLimits::release_slot`].
#[derive(Debug, Clone)]
pub struct SlotLease {
    pub account: String,
    pub slot: i32,
    pub holder: String,
}

/// Held while one host refreshes a connection's tokens; other hosts wait for it.
/// Dropping it without [`RefreshLock::release`] rolls back, which also unlocks.
pub struct RefreshLock {
    tx: Transaction<'static, Postgres>,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

/// Locks `account`'s budget for the transaction, forgets calls older than the window,
/// and answers the oldest call's time when the budget of `per_window` is spent.
async fn rate_window(
    tx: &mut Transaction<'static, Postgres>,
    account: &str,
    now: i64,
    window_ms: i64,
    per_window: i64,
) -> StoreResult<Option<i64>> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("erp-sync rate {account}"))
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM erp_rate_calls WHERE account = $1 AND at_ms <= $2")
        .bind(account)
        .bind(now - window_ms)
        .execute(&mut **tx)
        .await?;
    let (count, oldest): (i64, Option<i64>) =
        sqlx::query_as("SELECT count(*), min(at_ms) FROM erp_rate_calls WHERE account = $1")
            .bind(account)
            .fetch_one(&mut **tx)
            .await?;
    Ok((count >= per_window).then_some(oldest.unwrap_or(now)))
}

impl RefreshLock {
    /// Ends the refresh, letting the next host in.
    pub async fn release(self) -> StoreResult<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl SharedLimits {
    /// Spends one request of `account`'s budget of `per_window` requests in any
    /// `window_ms` (a rolling window, as the ERPs count). `None`: go ahead. `Some(ms)`:
    /// the budget is spent, try again in `ms`.
    pub async fn take_rate(
        &self,
        account: &str,
        per_window: i64,
        window_ms: i64,
    ) -> StoreResult<Option<i64>> {
        let now = now_ms();
        let mut tx = self.0.pool.begin().await?;
        let oldest = rate_window(&mut tx, account, now, window_ms, per_window).await?;
        let wait = match oldest {
            Some(oldest) => Some((oldest + window_ms - now).max(1)),
            None => {
                sqlx::query("INSERT INTO erp_rate_calls (account, at_ms) VALUES ($1, $2)")
                    .bind(account)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                None
            }
        };
        tx.commit().await?;
        Ok(wait)
    }

    /// Counts `n` calls others made (the ERP said fewer calls are left than this budget
    /// knew), stamped now, up to the budget.
    pub async fn spend_rate(
        &self,
        account: &str,
        n: i64,
        per_window: i64,
        window_ms: i64,
    ) -> StoreResult<()> {
        let now = now_ms();
        let mut tx = self.0.pool.begin().await?;
        rate_window(&mut tx, account, now, window_ms, per_window).await?;
        sqlx::query(
            "INSERT INTO erp_rate_calls (account, at_ms)
             SELECT $1, $2 FROM generate_series(1, LEAST($3, $4 - (SELECT count(*) FROM erp_rate_calls WHERE account = $1)))",
        )
        .bind(account)
        .bind(now)
        .bind(n)
        .bind(per_window)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes one of `slots` concurrency slots of `account` for at most `hold_ms`, or
    /// `None` when all are taken.
    pub async fn take_slot(
        &self,
        account: &str,
        slots: i32,
        hold_ms: i64,
    ) -> StoreResult<Option<SlotLease>> {
        let now = now_ms();
        let holder = format!("{}/{}", self.0.host_id, uuid::Uuid::new_v4().simple());
        sqlx::query(
            "INSERT INTO erp_slots (account, slot) SELECT $1, s FROM generate_series(1, $2) s
             ON CONFLICT DO NOTHING",
        )
        .bind(account)
        .bind(slots)
        .execute(&self.0.pool)
        .await?;
        let slot: Option<i32> = sqlx::query_scalar(
            "UPDATE erp_slots SET holder = $3, until_ms = $4
             WHERE (account, slot) = (
                SELECT account, slot FROM erp_slots
                WHERE account = $1 AND slot <= $2 AND (holder IS NULL OR until_ms < $5)
                ORDER BY slot LIMIT 1
                FOR UPDATE SKIP LOCKED)
             RETURNING slot",
        )
        .bind(account)
        .bind(slots)
        .bind(&holder)
        .bind(now + hold_ms)
        .bind(now)
        .fetch_optional(&self.0.pool)
        .await?;
        Ok(slot.map(|slot| SlotLease {
            account: account.to_string(),
            slot,
            holder,
        }))
    }

    /// Gives a slot back (unless its deadline passed and someone else holds it now).
    pub async fn release_slot(&self, lease: &SlotLease) -> StoreResult<()> {
        sqlx::query(
            "UPDATE erp_slots SET holder = NULL, until_ms = NULL
             WHERE account = $1 AND slot = $2 AND holder = $3",
        )
        .bind(&lease.account)
        .bind(lease.slot)
        .bind(&lease.holder)
        .execute(&self.0.pool)
        .await?;
        Ok(())
    }

    /// Waits until no other host is refreshing `connection_id`'s tokens, and holds
    /// them off until the returned lock is released.
    ///
    /// The lock holds a pooled connection while the refresh's HTTP call runs, and the
    /// refresh reads and saves tokens on other connections; so at most
    /// [`REFRESHES_AT_ONCE`] refreshes run at once on a host, leaving the rest of the pool
    /// to deliveries. A waiter gives up after [`REFRESH_LOCK_WAIT`] (the attempt is
    /// retried), so a host that froze holding the lock blocks no one for long, and
    /// PostgreSQL ends a lock holder's transaction left idle past twice that.
    pub async fn lock_refresh(&self, connection_id: &str) -> StoreResult<RefreshLock> {
        let slot = self
            .0
            .refreshes
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let mut tx = self.0.pool.begin().await?;
        let wait_ms = REFRESH_LOCK_WAIT.as_millis();
        for setting in [
            format!("SET LOCAL lock_timeout = {wait_ms}"),
            format!(
                "SET LOCAL idle_in_transaction_session_timeout = {}",
                wait_ms * 2
            ),
        ] {
            sqlx::query(&setting).execute(&mut *tx).await?;
        }
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("erp-sync refresh {connection_id}"))
            .execute(&mut *tx)
            .await?;
        Ok(RefreshLock { tx, _slot: slot })
    }
}
