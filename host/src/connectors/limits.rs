//! Per-account ERP limits: how many requests may be in flight, and how many a minute.
//!
//! An ERP counts per account (a QuickBooks company, a Xero organisation, a NetSuite
//! account), not per connection and not per erp-sync host. Within one process the
//! limits are a semaphore and a `governor` rate limiter per account. With a PostgreSQL
//! store, several hosts send to the same accounts, so each request also takes a slot
//! and a unit of budget from the database (`store/postgres/limits.rs`), which every
//! host shares; the in-process limits still keep one host from queueing more than its
//! share on the database.
//!
//! The configured concurrency is a ceiling, not a promise: a NetSuite account's limit is
//! shared with every other integration of that account. So a connector that is told
//! "too many requests at once" gives its slot up for good ([`Pass::over_limit`]), down
//! to one, and each [`GROW_AFTER`] requests answered in a row without that message give
//! one slot back, up to the ceiling: a wave of refusals shrinks the window at once, and it
//! grows back slowly, as TCP's congestion window does. Without it, a bill run against an
//! account busy with another integration keeps sending more than the account takes, and
//! deliveries use up their retries on refusals.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Outcome;
use crate::store::Store;
use crate::store::postgres::{PgStore, limits::SlotLease};

/// The first and the longest wait before asking the database for a free slot again.
const SLOT_POLL: (Duration, Duration) = (Duration::from_millis(10), Duration::from_millis(250));

/// Answered requests in a row, without a concurrency refusal, that give one slot back.
pub const GROW_AFTER: u32 = 20;

/// One ERP's limits, per account.
pub struct AccountLimits {
    concurrent: usize,
    /// How long a shared slot stays held if its host dies mid-request.
    hold: Duration,
    per_minute: Option<u32>,
    shared: Option<PgStore>,
    local: Mutex<HashMap<String, Arc<LocalGate>>>,
}

struct LocalGate {
    in_flight: Arc<Semaphore>,
    rate: Option<DefaultDirectRateLimiter>,
    /// The ceiling: the configured concurrency.
    ceiling: usize,
    learned: Mutex<Learned>,
}

/// What the account's answers taught about its real concurrency limit.
struct Learned {
    /// Slots in use plus free: the semaphore's size now.
    slots: usize,
    /// Requests answered in a row without a concurrency refusal.
    streak: u32,
}

impl LocalGate {
    /// One request was answered without a concurrency refusal.
    fn answered(&self) {
        let mut learned = self.learned.lock().expect("limits lock");
        learned.streak += 1;
        if learned.streak >= GROW_AFTER && learned.slots < self.ceiling {
            learned.slots += 1;
            learned.streak = 0;
            self.in_flight.add_permits(1);
        }
    }

    /// The account refused a request as one too many at once: whether the refused
    /// request's slot is kept (only when it is the last one).
    fn refused(&self) -> bool {
        let mut learned = self.learned.lock().expect("limits lock");
        learned.streak = 0;
        if learned.slots > 1 {
            learned.slots -= 1;
            false
        } else {
            true
        }
    }
}

/// Leave to send one request; the slot is given back when it is dropped.
pub struct Pass {
    permit: Option<OwnedSemaphorePermit>,
    gate: Arc<LocalGate>,
    shared: Option<(PgStore, SlotLease)>,
}

impl Pass {
    /// The request was answered, and not as one too many: after [`GROW_AFTER`] of these
    /// in a row the account gets a slot back (up to the configured concurrency).
    pub fn answered(&self) {
        self.gate.answered();
    }

    /// The account answered that too many requests were in flight: this slot is given
    /// up, so the account gets one fewer from now on (never fewer than one).
    pub fn over_limit(mut self) {
        if !self.gate.refused()
            && let Some(permit) = self.permit.take()
        {
            permit.forget();
        }
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        if let Some((store, lease)) = self.shared.take() {
            // Dropping cannot wait: give the slot back in the background (its deadline
            // frees it anyway if this fails).
            tokio::spawn(async move {
                if let Err(e) = store.release_slot(&lease).await {
                    tracing::warn!(error = %e, account = %lease.account, "giving back an ERP slot failed; it frees itself after its deadline");
                }
            });
        }
    }
}

/// Why an attempt stopped before sending: the shared limits could not be read.
pub fn unreadable(account: &str, e: &crate::store::StoreError) -> String {
    format!(
        "reading the shared request limits of {account} failed: {e}; nothing was sent, the delivery is retried"
    )
}

impl AccountLimits {
    /// `concurrent` requests in flight and, if given, `per_minute` requests a minute per
    /// account; shared across hosts when `store` is PostgreSQL. `request_timeout` bounds
    /// one request, so a slot is given up that long after a host died holding it.
    pub fn new(
        store: &Store,
        concurrent: usize,
        per_minute: Option<u32>,
        request_timeout: Duration,
    ) -> Self {
        AccountLimits {
            concurrent: concurrent.max(1),
            hold: request_timeout * 2 + Duration::from_secs(30),
            per_minute: per_minute.filter(|n| *n > 0),
            shared: store.postgres().cloned(),
            local: Mutex::new(HashMap::new()),
        }
    }

    fn local(&self, account: &str) -> Arc<LocalGate> {
        self.local
            .lock()
            .expect("limits lock")
            .entry(account.to_string())
            .or_insert_with(|| {
                Arc::new(LocalGate {
                    in_flight: Arc::new(Semaphore::new(self.concurrent)),
                    rate: self
                        .per_minute
                        .and_then(NonZeroU32::new)
                        .map(|n| RateLimiter::direct(Quota::per_minute(n))),
                    ceiling: self.concurrent,
                    learned: Mutex::new(Learned {
                        slots: self.concurrent,
                        streak: 0,
                    }),
                })
            })
            .clone()
    }

    /// Waits until `account` may take one more request, and holds its slot until the
    /// returned pass is dropped. When the shared limits cannot be read, the attempt is
    /// retried later (nothing was sent).
    pub async fn enter(&self, account: &str) -> Result<Pass, Outcome> {
        self.try_enter(account)
            .await
            .map_err(|e| Outcome::retryable(None, unreadable(account, &e), None))
    }

    /// [`AccountLimits::enter`] with the store's error as it is.
    pub async fn try_enter(&self, account: &str) -> Result<Pass, crate::store::StoreError> {
        let gate = self.local(account);
        let permit = gate
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        if let Some(rate) = &gate.rate {
            rate.until_ready().await;
        }
        let Some(pg) = &self.shared else {
            return Ok(Pass {
                permit: Some(permit),
                gate,
                shared: None,
            });
        };
        if let Some(per_minute) = self.per_minute {
            while let Some(wait_ms) = pg.take_rate(account, per_minute.into(), 60_000).await? {
                tokio::time::sleep(Duration::from_millis(wait_ms as u64)).await;
            }
        }
        let mut wait = SLOT_POLL.0;
        loop {
            if let Some(lease) = pg
                .take_slot(
                    account,
                    self.concurrent as i32,
                    self.hold.as_millis() as i64,
                )
                .await?
            {
                return Ok(Pass {
                    permit: Some(permit),
                    gate,
                    shared: Some((pg.clone(), lease)),
                });
            }
            // Every slot is taken by other hosts: ask again, less often the longer it lasts.
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(SLOT_POLL.1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(ceiling: usize) -> Arc<LocalGate> {
        Arc::new(LocalGate {
            in_flight: Arc::new(Semaphore::new(ceiling)),
            rate: None,
            ceiling,
            learned: Mutex::new(Learned {
                slots: ceiling,
                streak: 0,
            }),
        })
    }

    async fn pass(gate: &Arc<LocalGate>) -> Pass {
        Pass {
            permit: Some(gate.in_flight.clone().acquire_owned().await.unwrap()),
            gate: gate.clone(),
            shared: None,
        }
    }

    #[tokio::test]
    async fn refusals_take_slots_away_down_to_one_and_answers_give_them_back() {
        let gate = gate(3);
        for _ in 0..5 {
            pass(&gate).await.over_limit();
        }
        assert_eq!(
            gate.in_flight.available_permits(),
            1,
            "never below one slot"
        );
        for i in 1..=GROW_AFTER * 4 {
            let p = pass(&gate).await;
            p.answered();
            drop(p);
            let expected = (1 + (i / GROW_AFTER) as usize).min(3);
            assert_eq!(
                gate.in_flight.available_permits(),
                expected,
                "after {i} answers"
            );
        }
        pass(&gate).await.over_limit();
        assert_eq!(gate.in_flight.available_permits(), 2);
    }
}
