//! The NetSuite connector (SuiteTalk REST web services with Token-Based Authentication).
//!
//! Being written: this placeholder refuses every call with a clear message.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use super::{Connector, Outcome, SyncRequest};
use crate::crypto::seal::Sealer;
use crate::store::{ConnectionRow, Store};

/// The connector; one per process.
pub struct NetSuiteConnector {
    #[allow(dead_code)]
    api_base: Option<String>,
    #[allow(dead_code)]
    store: Store,
    #[allow(dead_code)]
    sealer: Sealer,
    #[allow(dead_code)]
    timeout: Duration,
}

impl NetSuiteConnector {
    /// A connector; `api_base` (`ERP_SYNC_NETSUITE_API_BASE`) overrides the URL derived
    /// from each connection's account id.
    pub fn new(api_base: Option<String>, store: Store, sealer: Sealer, timeout: Duration) -> Self {
        NetSuiteConnector {
            api_base,
            store,
            sealer,
            timeout,
        }
    }
}

#[async_trait]
impl Connector for NetSuiteConnector {
    async fn sync(&self, _req: SyncRequest<'_>) -> Outcome {
        Outcome::permanent(
            None,
            "the NetSuite connector is not available in this build yet",
        )
    }

    async fn test(&self, _connection: &ConnectionRow, _secrets: &Value) -> Outcome {
        Outcome::permanent(
            None,
            "the NetSuite connector is not available in this build yet",
        )
    }
}
