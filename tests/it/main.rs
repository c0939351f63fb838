//! erp-sync's integration tests: one binary (so a change links once), one module per
//! area. Each test starts a real server on an ephemeral port with a real SQLite file,
//! and a local receiver that checks signatures the way a customer's endpoint would.

mod fakes;
mod support;

mod cli;
mod connections;
mod console;
mod contracts_doc;
mod crash;
mod delivery;
mod delivery_control;
mod erp_faults;
mod fuzz_inputs;
mod guest_cli;
mod hostile_guests;
mod hostile_http;
mod ingest;
mod isolation;
mod js_guests;
mod ledger;
mod ledger_crash;
mod mapping;
mod migrate_store;
mod multi_host;
mod netsuite;
mod netsuite_ledger;
mod operations;
mod process;
mod properties;
mod quickbooks;
mod quickbooks_ledger;
mod retention;
mod retries;
mod security;
mod standard_webhooks;
mod sync_log;
mod templates;
mod transforms;
mod xero;
mod xero_ledger;
