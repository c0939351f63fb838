//! Connection secrets in the clear, opened once per sealed value.
//!
//! Every attempt needs its connection's secrets opened; they are kept per connection
//! with the sealed bytes they came from (see [`crate::kept`]), so a re-sealed value is
//! opened again. The opened values stay in this process's memory only, as each
//! attempt's copy did before.

use std::sync::Arc;

use serde_json::Value;

use crate::crypto::seal::Sealer;
use crate::kept::PerConnection;
use crate::store::ConnectionRow;

/// Opens connections' sealed secrets, keeping the results.
pub struct OpenedSecrets {
    sealer: Sealer,
    kept: PerConnection<Vec<u8>, Value>,
}

impl OpenedSecrets {
    /// Opens with `sealer`'s key.
    pub fn new(sealer: Sealer) -> Self {
        OpenedSecrets {
            sealer,
            kept: PerConnection::default(),
        }
    }

    /// The connection's secrets (`null` when it has none), or why they cannot be opened.
    pub fn open(&self, connection: &ConnectionRow) -> Result<Arc<Value>, String> {
        let Some(sealed) = &connection.secrets else {
            return Ok(Arc::new(Value::Null));
        };
        self.kept.get_or_make(&connection.id, sealed, || {
            let bytes = self
                .sealer
                .open(sealed, connection.id.as_bytes())
                .map_err(|e| format!("connection {}: {e}", connection.id))?;
            serde_json::from_slice(&bytes)
                .map_err(|e| format!("connection {}: secrets are unreadable: {e}", connection.id))
        })
    }
}
