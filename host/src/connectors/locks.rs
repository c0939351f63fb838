//! One async lock per key (a customer, a connection): work on one key runs one at a time
//! while other keys go on. A key's lock is forgotten once nobody holds or waits for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

type Lock = Arc<tokio::sync::Mutex<()>>;

/// Locks by key, made on first use and forgotten when idle.
#[derive(Default)]
pub struct KeyedLocks(Mutex<HashMap<String, Lock>>);

/// A held key lock; dropping it releases the key (and forgets an idle lock).
pub struct KeyGuard<'a> {
    locks: &'a KeyedLocks,
    key: String,
    held: Option<OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    /// Waits for `key`'s lock.
    pub async fn lock(&self, key: &str) -> KeyGuard<'_> {
        let lock = {
            let mut locks = self.0.lock().expect("keyed locks");
            locks.entry(key.to_string()).or_default().clone()
        };
        KeyGuard {
            locks: self,
            key: key.to_string(),
            held: Some(lock.lock_owned().await),
        }
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let mut locks = self.locks.0.lock().expect("keyed locks");
        drop(self.held.take());
        if locks
            .get(&self.key)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            locks.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_is_held_by_one_at_a_time_and_forgotten_when_idle() {
        let locks = KeyedLocks::default();
        let wait = std::time::Duration::from_millis(20);
        let first = locks.lock("a").await;
        let other = tokio::time::timeout(wait, locks.lock("b")).await;
        assert!(other.is_ok(), "another key is free");
        let again = tokio::time::timeout(wait, locks.lock("a")).await;
        assert!(again.is_err(), "a held key waits");
        drop((first, other));
        let second = tokio::time::timeout(wait, locks.lock("a")).await;
        assert!(second.is_ok(), "a released key is free");
        drop(second);
        assert!(locks.0.lock().unwrap().is_empty());
    }
}
