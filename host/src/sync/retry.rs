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

/// Why a connection's `config.retry` was refused: which key, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {message}")]
pub struct RetryConfigError {
    pub field: &'static str,
    pub message: String,
}

/// The most retries a connection may ask for.
pub const MAX_RETRIES: u64 = 10;

/// The longest first retry delay a connection may ask for: a day.
const MAX_BASE_SECONDS: f64 = 86_400.0;

impl RetryPolicy {
    /// The schedule of a connection with this config: its `retry` object's keys over
    /// this (the server's) policy; a key that is absent keeps the default.
    pub fn for_config(&self, config: &serde_json::Value) -> RetryPolicy {
        let Some(retry) = config.get("retry") else {
            return self.clone();
        };
        let mut policy = self.clone();
        if let Some(n) = retry.get("max_retries").and_then(|v| v.as_u64()) {
            policy.max_retries = n.min(MAX_RETRIES) as u32;
        }
        if let Some(secs) = retry.get("base_seconds").and_then(|v| v.as_f64()) {
            policy.base =
                Duration::from_millis((secs.clamp(0.001, MAX_BASE_SECONDS) * 1000.0) as u64);
        }
        policy
    }

    /// Checks a connection's `config.retry`: `{"max_retries": 0..10, "base_seconds": > 0}`,
    /// both optional, nothing else.
    pub fn check_config(retry: &serde_json::Value) -> Result<(), RetryConfigError> {
        let refuse = |field, message: &str| RetryConfigError {
            field,
            message: message.to_string(),
        };
        let serde_json::Value::Object(map) = retry else {
            return Err(refuse(
                "config.retry",
                "must be an object such as {\"max_retries\": 5, \"base_seconds\": 30}",
            ));
        };
        if let Some(key) = map
            .keys()
            .find(|k| !["max_retries", "base_seconds"].contains(&k.as_str()))
        {
            return Err(RetryConfigError {
                field: "config.retry",
                message: format!(
                    "has an unknown key {key:?}; the keys are max_retries and base_seconds"
                ),
            });
        }
        if let Some(n) = map.get("max_retries") {
            if !n.as_u64().is_some_and(|n| n <= MAX_RETRIES) {
                return Err(refuse(
                    "config.retry.max_retries",
                    "must be a whole number from 0 to 10",
                ));
            }
        }
        if let Some(secs) = map.get("base_seconds") {
            if !secs
                .as_f64()
                .is_some_and(|s| s > 0.0 && s <= MAX_BASE_SECONDS)
            {
                return Err(refuse(
                    "config.retry.base_seconds",
                    "must be a number of seconds above 0 and at most 86400 (a day)",
                ));
            }
        }
        Ok(())
    }

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
    fn a_connection_overrides_only_the_keys_it_gives() {
        let p = policy();
        let own = p.for_config(&serde_json::json!({"retry": {"max_retries": 0}}));
        assert_eq!(own.max_retries, 0);
        assert_eq!(own.base, p.base, "base_seconds absent: the default base");
        assert_eq!(own.next_delay_with(1, None, 1000), None, "no retry at all");
        let slow = p.for_config(&serde_json::json!({"retry": {"base_seconds": 30}}));
        assert_eq!(slow.max_retries, 3, "max_retries absent: the default 3");
        assert_eq!(
            slow.next_delay_with(2, None, 1000),
            Some(Duration::from_secs(60))
        );
        assert_eq!(p.for_config(&serde_json::json!({})).max_retries, 3);
    }

    #[test]
    fn a_retry_config_out_of_range_is_refused_naming_the_key() {
        let check = |v| RetryPolicy::check_config(&v).map_err(|e| e.field);
        assert_eq!(
            check(serde_json::json!({"max_retries": 10, "base_seconds": 0.5})),
            Ok(())
        );
        assert_eq!(
            check(serde_json::json!({"max_retries": 11})),
            Err("config.retry.max_retries")
        );
        assert_eq!(
            check(serde_json::json!({"max_retries": -1})),
            Err("config.retry.max_retries")
        );
        assert_eq!(
            check(serde_json::json!({"base_seconds": 0})),
            Err("config.retry.base_seconds")
        );
        assert_eq!(check(serde_json::json!({"tries": 3})), Err("config.retry"));
        assert_eq!(check(serde_json::json!(3)), Err("config.retry"));
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
