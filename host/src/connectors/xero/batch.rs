//! Bill runs: creates for one organisation that arrive together go to Xero as one
//! multi-invoice request (`PUT /Invoices` with up to 50 elements, `summarizeErrors=false`),
//! so thousands of invoices fit Xero's 60 calls a minute.
//!
//! One create per connection at a time leads: it waits a moment for others to join,
//! sends a batch, hands each waiting delivery its own element of the answer (Xero
//! answers the elements in order), and goes on while creates keep arriving; while a
//! batch waits for Xero's limits, the next one fills up. Batches are per connection, so
//! one connection's token never carries another's invoices. A batch whose answer is lost fails every member as retryable;
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
/// A leader waits in steps of this long while more creates keep joining…
pub const STEP: Duration = Duration::from_millis(25);
/// …but never longer than this before sending.
pub const MAX_WAIT: Duration = Duration::from_millis(500);

/// One create waiting for its batch.
pub struct Pending {
    pub element: Value,
    pub job_id: String,
    pub reply: oneshot::Sender<Result<Value, Outcome>>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Pending>,
    led: bool,
}

/// The waiting creates of each connection.
#[derive(Default)]
pub struct Batches {
    queues: Mutex<HashMap<String, Arc<Mutex<Queue>>>>,
}

impl Batches {
    fn queue(&self, connection_id: &str) -> Arc<Mutex<Queue>> {
        self.queues
            .lock()
            .expect("batch queues")
            .entry(connection_id.to_string())
            .or_default()
            .clone()
    }

    /// Adds a create; answers whether the caller must lead (nobody else does).
    pub fn join(&self, connection_id: &str, pending: Pending) -> bool {
        let queue = self.queue(connection_id);
        let mut q = queue.lock().expect("batch queue");
        q.waiting.push(pending);
        !std::mem::replace(&mut q.led, true)
    }

    /// How many creates wait.
    pub fn len(&self, connection_id: &str) -> usize {
        self.queue(connection_id)
            .lock()
            .expect("batch queue")
            .waiting
            .len()
    }

    /// Waits while creates keep arriving (a bill run), up to [`MAX_WAIT`] or a full batch.
    pub async fn gather(&self, connection_id: &str) {
        let started = tokio::time::Instant::now();
        let mut seen = 0;
        loop {
            tokio::time::sleep(STEP).await;
            let now = self.len(connection_id);
            if now >= MAX_BATCH || now == seen || started.elapsed() >= MAX_WAIT {
                return;
            }
            seen = now;
        }
    }

    /// Takes up to [`MAX_BATCH`] waiting creates; an empty answer ends the lead, in the
    /// same critical section, so a create arriving now finds no leader and leads.
    pub fn take(&self, connection_id: &str) -> Vec<Pending> {
        let queue = self.queue(connection_id);
        let mut q = queue.lock().expect("batch queue");
        let n = q.waiting.len().min(MAX_BATCH);
        if n == 0 {
            q.led = false;
        }
        q.waiting.drain(..n).collect()
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
