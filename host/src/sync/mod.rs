//! Delivering queued jobs: the worker, its retry schedule, and the wake-up signal.
//!
//! The API stores an invoice and its jobs in one transaction, then calls
//! [`SyncHandle::wake`]; the worker claims due jobs at once (no polling minute), runs
//! each through its connector, and settles the attempt in the store, which also writes
//! the sync-log entry. Retries are just jobs whose `run_at` lies in the future.

pub mod retry;
pub mod secrets;
pub mod worker;

use std::sync::Arc;

use tokio::sync::Notify;

pub use retry::RetryPolicy;
pub use worker::{Worker, WorkerSettings};

/// What the API holds to tell the worker that new work is due.
#[derive(Clone, Default)]
pub struct SyncHandle {
    wake: Arc<Notify>,
}

impl SyncHandle {
    /// Wakes the worker to claim new jobs now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}
