//! The contracts of erp-sync that every other part speaks, with no I/O in them.
//!
//! - [`domain`]: the ledger documents (invoices, credit notes, payments, refunds, customer
//!   updates) and the rules each must satisfy before it is stored (`docs/contracts.md`,
//!   "The invoice" and "The ledger beyond invoices").
//! - [`signature`]: the `X-Aforo-Signature` header of the webhook contract.
//! - [`standard_webhooks`]: the `webhook-*` (Standard Webhooks) headers beside it.
//! - [`template`]: JSONPath payload templates, compiled once and rendered per delivery.
//!
//! They live apart from the service so fuzzing them needs none of its heavy
//! dependencies (wasmtime, sqlx, tokio); the service re-exports them.

pub mod domain;
pub mod signature;
pub mod standard_webhooks;
pub mod template;
