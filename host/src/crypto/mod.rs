//! Secrets at rest, API keys and webhook signatures.
//!
//! Three small, independent tools: [`seal`] encrypts secrets before they touch the
//! database, [`api_key`] mints and hashes tenant API keys, and [`signature`] produces and
//! checks the `X-Aforo-Signature` header of the webhook contract ([`standard_webhooks`]
//! its `webhook-signature` header).

pub mod api_key;
pub mod seal;
pub use erp_sync_contracts::signature;
pub use erp_sync_contracts::standard_webhooks;
