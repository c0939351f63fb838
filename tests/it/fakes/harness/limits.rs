//! Counting calls the way rate limits count them (in flight at once, in rolling windows),
//! and the faults a test injects for the next calls. The limits themselves (how many, per
//! what, and the answer past them) and what a fault answers are each fake's.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Calls in flight at once, and the most seen at once.
#[derive(Default)]
pub struct InFlight {
    now: usize,
    max_seen: usize,
}

impl InFlight {
    /// Counts a call in (refused ones too, until they are counted out) and answers how
    /// many are in flight with it.
    pub fn enter(&mut self) -> usize {
        self.now += 1;
        self.max_seen = self.max_seen.max(self.now);
        self.now
    }

    /// Counts a call out.
    pub fn leave(&mut self) {
        self.now -= 1;
    }

    /// How many are in flight now.
    pub fn now(&self) -> usize {
        self.now
    }

    /// The most that were in flight at once.
    pub fn max_seen(&self) -> usize {
        self.max_seen
    }
}

/// Runs its action when dropped: counts an admitted call out of flight however its
/// handler ends (answered, failed or cancelled).
pub struct Release(Option<Box<dyn FnOnce() + Send>>);

impl Release {
    pub fn new(action: impl FnOnce() + Send + 'static) -> Self {
        Release(Some(Box::new(action)))
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if let Some(action) = self.0.take() {
            action();
        }
    }
}

/// Drops arrival times older than `window`: what is left is the window's count.
pub fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        times.pop_front();
    }
}

/// The faults a test injects for the next calls, each the number of calls it still hits.
/// What a hit answers (and where in the vendor's checks it strikes) is the fake's.
#[derive(Default)]
pub struct Faults {
    /// Calls answered the vendor's throttle.
    pub throttle: usize,
    /// Calls answered the vendor's outage.
    pub outage: usize,
    /// Writes committed, then answered an error: a lost response.
    pub fail_after_commit: usize,
    /// How long every admitted call sleeps while counted as in flight.
    pub delay: Duration,
}

impl Faults {
    /// Whether this call is throttled (one fewer to go).
    pub fn take_throttle(&mut self) -> bool {
        take(&mut self.throttle)
    }

    /// Whether this call meets an outage (one fewer to go).
    pub fn take_outage(&mut self) -> bool {
        take(&mut self.outage)
    }

    /// Whether this committed write loses its answer (one fewer to go).
    pub fn take_lost_answer(&mut self) -> bool {
        take(&mut self.fail_after_commit)
    }
}

fn take(left: &mut usize) -> bool {
    let hit = *left > 0;
    if hit {
        *left -= 1;
    }
    hit
}
