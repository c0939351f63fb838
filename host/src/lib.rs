//! erp-sync: pushes finalized invoices into accounting systems and signed webhooks,
//! exactly once from the ERP's point of view, with an audit trail of every attempt.
//!
//! Data flows one way: [`api`] validates and stores (via [`store`], whose jobs table is
//! the queue) -> [`sync`] claims and retries -> [`connectors`] deliver -> the outcome is
//! written back to the [`store`] as a sync-log entry. [`domain`] is the invoice model and
//! its rules; [`crypto`] seals secrets and signs webhooks. [`console`] is the operators'
//! web pages, built on the HTTP API only.

pub mod api;
pub mod cli;
pub mod config;
pub mod connectors;
pub mod console;
pub mod crypto;
pub mod delivery;
pub mod documents;
pub use erp_sync_contracts::domain;
pub mod http;
pub mod kept;
pub mod metrics;
pub mod server;
pub mod store;
pub mod sync;
pub mod transform;
