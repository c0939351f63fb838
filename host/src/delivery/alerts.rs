//! Sends operational alerts to tenants' `alert_url` (see `delivery/mod.rs`).
