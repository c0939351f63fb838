//! Connection secrets in the clear, opened once per sealed value.
//!
//! Every attempt needs its connection's secrets opened. Opening them (AES-GCM, then a
//! JSON parse) on every attempt showed in the delivery profile, so the worker keeps what
//! it opened, per connection, together with the sealed bytes it came from. Any change of
//! the secrets (a rotation, a token refresh, a re-authorization) is sealed anew with a
//! fresh nonce, so its bytes never match a kept entry and are opened again. The opened
//! values stay in this process's memory only, as each attempt's copy did before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::crypto::seal::Sealer;
use crate::store::ConnectionRow;

/// More connections than this and the kept secrets are dropped and opened afresh, so
/// the memory held stays bounded however many connections come and go.
const MAX_KEPT: usize = 4096;

/// Per connection id: the sealed bytes, and what they opened to.
type Kept = HashMap<String, (Vec<u8>, Arc<Value>)>;

/// Opens connections' sealed secrets, keeping the results.
pub struct OpenedSecrets {
    sealer: Sealer,
    kept: Mutex<Kept>,
}

impl OpenedSecrets {
    /// Opens with `sealer`'s key.
    pub fn new(sealer: Sealer) -> Self {
        OpenedSecrets {
            sealer,
            kept: Mutex::new(HashMap::new()),
        }
    }

    /// The connection's secrets (`null` when it has none), or why they cannot be opened.
    pub fn open(&self, connection: &ConnectionRow) -> Result<Arc<Value>, String> {
        let Some(sealed) = &connection.secrets else {
            return Ok(Arc::new(Value::Null));
        };
        if let Some((kept_sealed, value)) =
            self.kept.lock().expect("secrets lock").get(&connection.id)
            && kept_sealed == sealed
        {
            return Ok(value.clone());
        }
        let bytes = self
            .sealer
            .open(sealed, connection.id.as_bytes())
            .map_err(|e| format!("connection {}: {e}", connection.id))?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("connection {}: secrets are unreadable: {e}", connection.id))?;
        let value = Arc::new(value);
        let mut kept = self.kept.lock().expect("secrets lock");
        if kept.len() >= MAX_KEPT {
            kept.clear();
        }
        kept.insert(connection.id.clone(), (sealed.clone(), value.clone()));
        Ok(value)
    }
}
