//! Delivery control beside the worker: what runs on a timer rather than per job.
//!
//! - [`alerts`] sends the tenants' operational events to their `alert_url`, signed and
//!   retried like webhook deliveries;
//! - [`watch`] pauses webhook connections that have failed every delivery for too long
//!   and closes finished recoveries;
//! - [`retention`] prunes old sync-log entries in small batches.

pub mod alerts;
pub mod retention;
pub mod watch;
