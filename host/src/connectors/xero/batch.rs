//! Bill runs: creates for one organisation that arrive together go to Xero as one
//! multi-invoice request (`PUT /Invoices` with up to 50 elements, `summarizeErrors=false`),
//! so thousands of invoices fit Xero's 60 calls a minute.
//!
//! The first create to arrive waits a moment for others to join, then sends the batch
//! and hands each waiting delivery its own element of the answer (Xero answers the
//! elements in order). A batch whose answer is lost fails every member as retryable;
//! their retries look each invoice up by `InvoiceNumber` before creating, so nothing
//! is created twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::connectors::Outcome;

/// Most elements per request (Xero recommends about 50).
pub const MAX_BATCH: usize = 50;
/// How long the first create waits for others to join.
pub const WINDOW: Duration = Duration::from_millis(25);

/// One create waiting for its batch.
pub struct Pending {
    pub element: Value,
    pub job_id: String,
    pub reply: oneshot::Sender<Result<Value, Outcome>>,
}

/// The waiting creates of each organisation.
#[derive(Default)]
pub struct Batches {
    queues: Mutex<HashMap<String, Arc<Mutex<Vec<Pending>>>>>,
}

impl Batches {
    fn queue(&self, tenant: &str) -> Arc<Mutex<Vec<Pending>>> {
        self.queues
            .lock()
            .expect("batch queues")
            .entry(tenant.to_string())
            .or_default()
            .clone()
    }

    /// Adds a create; answers whether the caller leads (sends) this batch.
    pub fn join(&self, tenant: &str, pending: Pending) -> bool {
        let queue = self.queue(tenant);
        let mut q = queue.lock().expect("batch queue");
        q.push(pending);
        q.len() == 1
    }

    /// Takes up to [`MAX_BATCH`] waiting creates.
    pub fn take(&self, tenant: &str) -> Vec<Pending> {
        let queue = self.queue(tenant);
        let mut q = queue.lock().expect("batch queue");
        let n = q.len().min(MAX_BATCH);
        q.drain(..n).collect()
    }
}

/// The request body and an idempotency key naming exactly these jobs.
pub fn request(items: &[Pending]) -> (Value, String) {
    let elements: Vec<Value> = items.iter().map(|p| p.element.clone()).collect();
    let mut hasher = Sha256::new();
    for p in items {
        hasher.update(p.job_id.as_bytes());
        hasher.update(b"\n");
    }
    let key = format!("batch-{}", hex::encode(&hasher.finalize()[..16]));
    (json!({"Invoices": elements}), key)
}
