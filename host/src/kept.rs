//! Values worked out from a connection's stored data, kept while that data is unchanged.
//!
//! Every delivery needs its connection's secrets opened (AES-GCM, then a JSON parse) and,
//! for webhooks, its configuration, URL and template parsed. Both showed in the delivery
//! profile, so each is kept per connection together with the stored data it was made
//! from: the next delivery compares that data (the sealed bytes, the config JSON) and
//! makes the value again only when it changed. Sealing uses a fresh nonce every time, so
//! any change of secrets (a rotation, a token refresh) never matches a kept entry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// More connections than this and everything kept is dropped and made afresh, so the
/// memory held stays bounded however many connections come and go.
const MAX_KEPT: usize = 4096;

/// Per connection id: the stored data `S` a value `V` was made from, and the value.
pub struct PerConnection<S, V> {
    kept: Mutex<HashMap<String, (S, Arc<V>)>>,
}

impl<S: PartialEq + Clone, V> Default for PerConnection<S, V> {
    fn default() -> Self {
        PerConnection {
            kept: Mutex::new(HashMap::new()),
        }
    }
}

impl<S: PartialEq + Clone, V> PerConnection<S, V> {
    /// The value kept for `connection_id` if it was made from `source`; otherwise
    /// `make()`'s, kept from now on (a failure is not kept, so it is tried again).
    pub fn get_or_make<E>(
        &self,
        connection_id: &str,
        source: &S,
        make: impl FnOnce() -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        if let Some((made_from, value)) = self.kept.lock().expect("kept lock").get(connection_id)
            && made_from == source
        {
            return Ok(value.clone());
        }
        let value = Arc::new(make()?);
        let mut kept = self.kept.lock().expect("kept lock");
        if kept.len() >= MAX_KEPT {
            kept.clear();
        }
        kept.insert(connection_id.to_string(), (source.clone(), value.clone()));
        Ok(value)
    }
}
