//! Per-account ERP limits, counted the way each ERP counts them.
//!
//! An ERP counts per account (a QuickBooks company, a Xero organisation, a NetSuite
//! account), not per connection and not per erp-sync host. Each account gets:
//!
//! - **a concurrency window**: at most `concurrent` requests in flight. The configured
//!   number is a ceiling, not a promise: a NetSuite account's limit is shared with every
//!   other integration of that account, so a connector told "too many requests at once"
//!   gives its slot up for good ([`Pass::over_limit`]), down to one, and each
//!   [`GROW_AFTER`] requests answered in a row give one back, as TCP's congestion window
//!   does;
//! - **a rolling call budget** (`per_minute` calls in any 60 seconds), the way Xero and
//!   QuickBooks count: a log of this account's send times ([`RollingWindow`]). A budget
//!   with a burst (such as GCRA's) lets twice the budget out in the first minute and
//!   every call after the burst is refused; a budget without one (one call a second)
//!   wastes the minute a bill run starts with. The log is corrected by the provider's own
//!   count on every answer ([`AccountLimits::observe`]), since other apps may spend the
//!   same organisation's budget;
//! - **a pause** when the provider answers 429 ([`AccountLimits::pause`]): every call to
//!   the account waits it out, checked again just before sending, so calls queued
//!   behind the limits never go out during it.
//!
//! Waiting ends early when the attempt's connection is stopped (disconnected): nothing
//! goes out after the disconnect answered. A pause longer than the connector's
//! `patience` (a daily limit reached, a pause of hours) is not waited out: the call is not
//! sent and the attempt is deferred, without counting as a retry ([`Blocked::Later`]).
//! Waiting for a turn behind the account's other calls is bounded by [`QUEUE_PATIENCE`].
//!
//! With a PostgreSQL store, several hosts send to the same accounts, so each request
//! also takes a concurrency slot and a unit of budget from the database
//! (`store/postgres/limits.rs`), which every host shares; the in-process limits keep one
//! host from queueing more than its share there.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Outcome;
use crate::store::Store;
use crate::store::{SharedLimits, SlotLease};

/// The first and the longest wait before asking the database for a free slot again.
const SLOT_POLL: (Duration, Duration) = (Duration::from_millis(10), Duration::from_millis(250));

/// Answered requests in a row, without a concurrency refusal, that give one slot back.
pub const GROW_AFTER: u32 = 20;

/// The budget's window. A call is stamped when it leaves here and counted by the ERP
/// when it arrives, a little later; the second of margin keeps the two from disagreeing
/// about the oldest call at the window's edge.
pub const WINDOW: Duration = Duration::from_secs(61);

/// What one ERP allows per account.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Requests in flight at once.
    pub concurrent: usize,
    /// Requests in any 60 seconds, if the ERP counts them.
    pub per_minute: Option<u32>,
    /// The longest pause an attempt waits out; a longer one (a daily limit) defers it.
    pub patience: Duration,
}

/// The longest an attempt waits for its turn (a slot, the budget) behind the account's
/// other calls. Well inside the job's lease (15 minutes), so a waiting attempt is never
/// claimed twice; a bill run's queue drains long before it.
pub const QUEUE_PATIENCE: Duration = Duration::from_secs(600);

/// Why a call was not sent.
#[derive(Debug)]
pub enum Blocked {
    /// The connection was stopped (disconnected) while the call waited.
    Stopped,
    /// The account's limits keep the call back longer than an attempt may wait: try again
    /// after this long.
    Later(Duration),
    /// The shared limits could not be read (PostgreSQL).
    Store(crate::store::StoreError),
}

impl Blocked {
    /// The attempt's outcome: nothing was sent, so it never counts as a retry.
    pub fn outcome(self, provider: &str, account: &str) -> Outcome {
        match self {
            Blocked::Stopped => Outcome::deferred(
                format!(
                    "not sent to {provider}: the connection was stopped while this attempt waited for {account}'s limits"
                ),
                Duration::from_secs(1),
            ),
            Blocked::Later(after) => Outcome::deferred(
                format!(
                    "not sent: {provider} asked to wait {} s before the next call to {account}; the delivery waits (not counted as a retry)",
                    after.as_secs().max(1)
                ),
                after,
            ),
            Blocked::Store(e) => Outcome::retryable(None, unreadable(account, &e), None),
        }
    }
}

/// A log of one account's recent send times: at most `limit` in any [`WINDOW`].
#[derive(Debug)]
pub struct RollingWindow {
    limit: usize,
    sent: VecDeque<Instant>,
}

impl RollingWindow {
    /// An empty window allowing `limit` calls.
    pub fn new(limit: u32) -> Self {
        RollingWindow {
            limit: limit.max(1) as usize,
            sent: VecDeque::new(),
        }
    }

    fn prune(&mut self, now: Instant) {
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            self.sent.pop_front();
        }
    }

    /// Takes one call of the budget, or says how long until one is free.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.prune(now);
        if self.sent.len() < self.limit {
            self.sent.push_back(now);
            return Ok(());
        }
        let oldest = *self.sent.front().expect("a full window has calls");
        Err(WINDOW.saturating_sub(now.duration_since(oldest)))
    }

    /// Gives back the call taken last (it was never sent).
    pub fn untake(&mut self) {
        self.sent.pop_back();
    }

    /// The provider says `remaining` calls are left: when that is fewer than this log
    /// allows, others spent part of the budget, and as many calls as they made are
    /// counted here, stamped now (so they leave the window no earlier than theirs).
    pub fn correct(&mut self, remaining: u32, now: Instant) {
        self.prune(now);
        let used_there = self.limit.saturating_sub(remaining as usize);
        for _ in self.sent.len()..used_there {
            self.sent.push_back(now);
        }
    }

    /// Calls left in the window now.
    pub fn remaining(&mut self, now: Instant) -> usize {
        self.prune(now);
        self.limit.saturating_sub(self.sent.len())
    }
}

/// One account's limits in this process.
struct LocalGate {
    in_flight: Arc<Semaphore>,
    /// The ceiling: the configured concurrency.
    ceiling: usize,
    state: Mutex<GateState>,
}

struct GateState {
    budget: Option<RollingWindow>,
    /// No call goes out before this (a 429's `Retry-After`).
    paused_until: Option<Instant>,
    /// Slots in use plus free: the semaphore's size now.
    slots: usize,
    /// Requests answered in a row without a concurrency refusal.
    streak: u32,
}

impl LocalGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().expect("limits lock")
    }

    /// One request was answered without a concurrency refusal.
    fn answered(&self) {
        let mut s = self.lock();
        s.streak += 1;
        if s.streak >= GROW_AFTER && s.slots < self.ceiling {
            s.slots += 1;
            s.streak = 0;
            self.in_flight.add_permits(1);
        }
    }

    /// The account refused a request as one too many at once: whether the refused
    /// request's slot is kept (only when it is the last one).
    fn refused(&self) -> bool {
        let mut s = self.lock();
        s.streak = 0;
        if s.slots > 1 {
            s.slots -= 1;
            false
        } else {
            true
        }
    }

    /// How long the account stays paused, if it is.
    fn pause_left(&self, now: Instant) -> Option<Duration> {
        self.lock()
            .paused_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }
}

/// Leave to send one request; the slot is given back when it is dropped.
pub struct Pass {
    permit: Option<OwnedSemaphorePermit>,
    gate: Arc<LocalGate>,
    shared: Option<(SharedLimits, SlotLease)>,
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

/// One ERP's limits, per account.
pub struct AccountLimits {
    rules: Rules,
    /// The longest pause a provider's answer can impose (`--max-retry-after`).
    pause_cap: Option<Duration>,
    /// How long a shared slot stays held if its host dies mid-request.
    hold: Duration,
    shared: Option<SharedLimits>,
    local: Mutex<HashMap<String, Arc<LocalGate>>>,
}

impl AccountLimits {
    /// The limits `rules` describe, per account; shared across hosts when the store is
    /// PostgreSQL. `request_timeout` bounds one request, so a slot is given up that long
    /// after a host died holding it.
    pub fn new(store: &Store, rules: Rules, request_timeout: Duration) -> Self {
        Self::shared_by(store.shared_limits(), rules, request_timeout)
    }

    /// [`AccountLimits::new`] with the shared store (if any) given directly.
    pub fn shared_by(
        shared: Option<SharedLimits>,
        rules: Rules,
        request_timeout: Duration,
    ) -> Self {
        AccountLimits {
            rules: Rules {
                concurrent: rules.concurrent.max(1),
                per_minute: rules.per_minute.filter(|n| *n > 0),
                patience: rules.patience,
            },
            hold: request_timeout * 2 + Duration::from_secs(30),
            pause_cap: None,
            shared,
            local: Mutex::new(HashMap::new()),
        }
    }

    /// Caps every pause a provider asks for at `cap` (the server's longest honoured
    /// `Retry-After`).
    pub fn capping_pauses(mut self, cap: Duration) -> Self {
        self.pause_cap = Some(cap);
        self
    }

    fn local(&self, account: &str) -> Arc<LocalGate> {
        self.local
            .lock()
            .expect("limits lock")
            .entry(account.to_string())
            .or_insert_with(|| {
                Arc::new(LocalGate {
                    in_flight: Arc::new(Semaphore::new(self.rules.concurrent)),
                    ceiling: self.rules.concurrent,
                    state: Mutex::new(GateState {
                        budget: self.rules.per_minute.map(RollingWindow::new),
                        paused_until: None,
                        slots: self.rules.concurrent,
                        streak: 0,
                    }),
                })
            })
            .clone()
    }

    /// The provider asked for a pause (a 429's `Retry-After`): no call to `account`
    /// goes out for `d`, including calls already waiting for a slot.
    pub fn pause(&self, account: &str, d: Duration) {
        let d = self.pause_cap.map_or(d, |cap| d.min(cap));
        let until = Instant::now() + d;
        let gate = self.local(account);
        let mut s = gate.lock();
        if s.paused_until.is_none_or(|current| current < until) {
            s.paused_until = Some(until);
        }
    }

    /// The provider's count of calls left in its window, read from an answer: corrects
    /// this account's budget when others spent part of it (see [`RollingWindow::correct`]).
    pub async fn observe(&self, account: &str, remaining: u32) {
        let gate = self.local(account);
        let missing = {
            let mut s = gate.lock();
            let Some(budget) = s.budget.as_mut() else {
                return;
            };
            let before = budget.remaining(Instant::now());
            budget.correct(remaining, Instant::now());
            before - budget.remaining(Instant::now())
        };
        if missing > 0
            && let (Some(pg), Some(per_minute)) = (&self.shared, self.rules.per_minute)
            && let Err(e) = pg
                .spend_rate(
                    account,
                    missing as i64,
                    per_minute.into(),
                    WINDOW.as_millis() as i64,
                )
                .await
        {
            tracing::warn!(error = %e, %account, "recording calls others made in the shared budget failed");
        }
    }

    /// The configured concurrency per account (the most any account gets).
    pub fn ceiling(&self) -> usize {
        self.rules.concurrent
    }

    /// Calls left in `account`'s budget now, as far as this process knows (for batching
    /// decisions); `None` when the ERP counts no calls.
    pub fn remaining(&self, account: &str) -> Option<usize> {
        let gate = self.local(account);
        let mut s = gate.lock();
        s.budget.as_mut().map(|b| b.remaining(Instant::now()))
    }

    /// Waits until `account` may take one more request, and holds its slot until the
    /// returned pass is dropped; the attempt's outcome when it may not (see [`Blocked`]).
    pub async fn enter(
        &self,
        provider: &str,
        account: &str,
        stop: &CancellationToken,
    ) -> Result<Pass, Outcome> {
        self.try_enter(account, stop)
            .await
            .map_err(|b| b.outcome(provider, account))
    }

    /// [`AccountLimits::enter`] with the reason as it is.
    pub async fn try_enter(
        &self,
        account: &str,
        stop: &CancellationToken,
    ) -> Result<Pass, Blocked> {
        let started = Instant::now();
        let turn = started + QUEUE_PATIENCE;
        let gate = self.local(account);
        loop {
            // A pause first: waiting out a pause while holding a slot would keep calls
            // to the account's other connections waiting for nothing. A pause longer
            // than the patience is not waited out.
            let pause = gate.pause_left(Instant::now());
            wait_until(pause, Instant::now() + self.rules.patience, stop).await?;
            let permit = tokio::select! {
                p = gate.in_flight.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                _ = stop.cancelled() => return Err(Blocked::Stopped),
                _ = tokio::time::sleep_until(turn) => return Err(Blocked::Later(Duration::from_secs(1))),
            };
            let took_budget = loop {
                let wait = {
                    let mut s = gate.lock();
                    let now = Instant::now();
                    if s.paused_until.is_some_and(|until| until > now) {
                        break false;
                    }
                    match s.budget.as_mut().map(|b| b.take(now)) {
                        None => break false,
                        Some(Ok(())) => break true,
                        Some(Err(wait)) => wait,
                    }
                };
                wait_until(Some(wait), turn, stop).await?;
            };
            let pass = match self.take_shared(account, stop, turn).await {
                Ok(shared) => Pass {
                    permit: Some(permit),
                    gate: gate.clone(),
                    shared,
                },
                Err(e) => {
                    if took_budget && let Some(b) = gate.lock().budget.as_mut() {
                        b.untake();
                    }
                    return Err(e);
                }
            };
            // The pause is checked again just before sending: a 429 may have come back
            // for another call while this one waited.
            if gate.pause_left(Instant::now()).is_some() {
                if took_budget && let Some(b) = gate.lock().budget.as_mut() {
                    b.untake();
                }
                drop(pass);
                continue;
            }
            if stop.is_cancelled() {
                return Err(Blocked::Stopped);
            }
            return Ok(pass);
        }
    }

    /// The shared (PostgreSQL) budget and slot, when hosts share a store.
    async fn take_shared(
        &self,
        account: &str,
        stop: &CancellationToken,
        deadline: Instant,
    ) -> Result<Option<(SharedLimits, SlotLease)>, Blocked> {
        let Some(pg) = &self.shared else {
            return Ok(None);
        };
        if let Some(per_minute) = self.rules.per_minute {
            while let Some(wait_ms) = pg
                .take_rate(account, per_minute.into(), WINDOW.as_millis() as i64)
                .await
                .map_err(Blocked::Store)?
            {
                wait_until(Some(Duration::from_millis(wait_ms as u64)), deadline, stop).await?;
            }
        }
        let mut wait = SLOT_POLL.0;
        loop {
            if let Some(lease) = pg
                .take_slot(
                    account,
                    self.rules.concurrent as i32,
                    self.hold.as_millis() as i64,
                )
                .await
                .map_err(Blocked::Store)?
            {
                return Ok(Some((pg.clone(), lease)));
            }
            // Every slot is taken by other hosts: ask again, less often the longer it lasts.
            wait_until(Some(wait), deadline, stop).await?;
            wait = (wait * 2).min(SLOT_POLL.1);
        }
    }
}

/// Sleeps `wait` (if any), unless the stop comes first or the wait would end past the
/// attempt's `deadline`, in which case the attempt is deferred by the rest of the wait.
async fn wait_until(
    wait: Option<Duration>,
    deadline: Instant,
    stop: &CancellationToken,
) -> Result<(), Blocked> {
    let Some(wait) = wait.filter(|w| !w.is_zero()) else {
        return if stop.is_cancelled() {
            Err(Blocked::Stopped)
        } else {
            Ok(())
        };
    };
    let until = Instant::now() + wait;
    if until > deadline {
        return Err(Blocked::Later(wait));
    }
    tokio::select! {
        _ = tokio::time::sleep_until(until) => Ok(()),
        _ = stop.cancelled() => Err(Blocked::Stopped),
    }
}

/// Cancellation per connection: a disconnect stops the connection's attempts that are
/// still waiting for an ERP's limits, so nothing goes out after it answered. A stopped
/// connection stays stopped (its token stays cancelled, for attempts that start later
/// too) until [`Stops::reset`].
#[derive(Default)]
pub struct Stops {
    tokens: Mutex<HashMap<String, CancellationToken>>,
}

impl Stops {
    /// The token the connection's attempts watch.
    pub fn token(&self, connection_id: &str) -> CancellationToken {
        self.tokens
            .lock()
            .expect("stops lock")
            .entry(connection_id.to_string())
            .or_default()
            .clone()
    }

    /// Stops every attempt of the connection, waiting now or starting later.
    pub fn stop(&self, connection_id: &str) {
        self.token(connection_id).cancel();
    }

    /// Lets the connection's attempts run again (a stop whose disconnect did not happen).
    pub fn reset(&self, connection_id: &str) {
        self.tokens
            .lock()
            .expect("stops lock")
            .remove(connection_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(ceiling: usize) -> Arc<LocalGate> {
        Arc::new(LocalGate {
            in_flight: Arc::new(Semaphore::new(ceiling)),
            ceiling,
            state: Mutex::new(GateState {
                budget: None,
                paused_until: None,
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

    #[test]
    fn a_rolling_window_lets_the_budget_out_at_once_then_one_call_per_expiry() {
        let start = Instant::now();
        let mut w = RollingWindow::new(60);
        for i in 0..60 {
            w.take(start + Duration::from_millis(i * 100)).unwrap();
        }
        let wait = w.take(start + Duration::from_secs(30)).unwrap_err();
        assert_eq!(
            wait,
            WINDOW - Duration::from_secs(30),
            "the oldest call leaves first"
        );
        assert!(w.take(start + WINDOW).is_ok(), "one call left the window");
        assert!(w.take(start + WINDOW).is_err(), "and only one");
    }

    #[test]
    fn the_providers_count_corrects_the_budget_downwards_only() {
        let now = Instant::now();
        let mut w = RollingWindow::new(60);
        for _ in 0..10 {
            w.take(now).unwrap();
        }
        w.correct(55, now);
        assert_eq!(w.remaining(now), 50, "our own count is higher: unchanged");
        w.correct(20, now);
        assert_eq!(w.remaining(now), 20, "others spent 30 of the budget");
        w.correct(0, now);
        assert_eq!(w.remaining(now), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_back_calls_and_a_stop_ends_the_wait() {
        let limits = AccountLimits::shared_by(
            None,
            Rules {
                concurrent: 2,
                per_minute: Some(60),
                patience: Duration::from_secs(120),
            },
            Duration::from_secs(10),
        );
        let stop = CancellationToken::new();
        limits.pause("a", Duration::from_secs(30));
        let started = Instant::now();
        let pass = limits.try_enter("a", &stop).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_secs(30),
            "the pause was waited out"
        );
        drop(pass);
        limits.pause("a", Duration::from_secs(600));
        assert!(
            matches!(limits.try_enter("a", &stop).await, Err(Blocked::Later(_))),
            "a pause longer than the patience defers the attempt"
        );
        let stop2 = CancellationToken::new();
        limits.pause("b", Duration::from_secs(60));
        let waiting = {
            let stop2 = stop2.clone();
            async move { limits.try_enter("b", &stop2).await }
        };
        let (result, ()) = tokio::join!(waiting, async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            stop2.cancel();
        });
        assert!(
            matches!(result, Err(Blocked::Stopped)),
            "the stop ends the wait"
        );
    }
}
