//! When to try a failed delivery again.
//!
//! The promise to users: the first attempt at once, then up to three retries with
//! exponential backoff (`base`, `2·base`, `4·base`) and ±20 % jitter so deliveries that
//! failed together do not retry together. A provider's `Retry-After` is honoured: the
//! retry never comes earlier than it asks (capped at `max_retry_after`, so a hostile or
//! broken endpoint cannot park a job for a year).

use std::time::Duration;

use rand::Rng;

/// The retry schedule; see the module docs.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max_retries: u32,
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(10),
            max_retries: 3,
            max_retry_after: Duration::from_secs(24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// The delay before the next attempt after attempt number `attempt` (1-based)
    /// failed, or `None` when the retries are used up.
    pub fn next_delay(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        self.next_delay_with(
            attempt,
            retry_after,
            rand::thread_rng().gen_range(800..=1200),
        )
    }

    /// [`RetryPolicy::next_delay`] with the jitter given in thousandths (1000 = none).
    pub fn next_delay_with(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        jitter_permille: u32,
    ) -> Option<Duration> {
        if attempt == 0 || attempt > self.max_retries {
            return None;
        }
        let backoff = self
            .base
            .saturating_mul(1 << (attempt - 1).min(20))
            .saturating_mul(jitter_permille)
            / 1000;
        let hint = retry_after
            .map(|d| d.min(self.max_retry_after))
            .unwrap_or_default();
        Some(backoff.max(hint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(100),
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn doubles_three_times_then_stops() {
        let p = policy();
        let delays: Vec<_> = (1..=4).map(|a| p.next_delay_with(a, None, 1000)).collect();
        assert_eq!(
            delays,
            vec![
                Some(Duration::from_millis(100)),
                Some(Duration::from_millis(200)),
                Some(Duration::from_millis(400)),
                None
            ]
        );
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let p = policy();
        for _ in 0..1000 {
            let d = p.next_delay(2, None).unwrap();
            assert!(
                d >= Duration::from_millis(160) && d <= Duration::from_millis(240),
                "{d:?}"
            );
        }
    }

    #[test]
    fn retry_after_is_a_floor_with_a_cap() {
        let p = policy();
        assert_eq!(
            p.next_delay_with(1, Some(Duration::from_secs(5)), 1000),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            p.next_delay_with(3, Some(Duration::from_millis(1)), 1000),
            Some(Duration::from_millis(400))
        );
        let capped = RetryPolicy {
            max_retry_after: Duration::from_secs(60),
            ..p
        };
        assert_eq!(
            capped.next_delay_with(1, Some(Duration::from_secs(3600)), 1000),
            Some(Duration::from_secs(60))
        );
    }
}
