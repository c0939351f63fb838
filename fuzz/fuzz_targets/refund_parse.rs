//! libFuzzer target; the check itself is [`ledger_oracles::refund_parse`].
#![no_main]

#[allow(dead_code)] // each target uses one of the shared checks
#[path = "../ledger_oracles.rs"]
mod ledger_oracles;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ledger_oracles::refund_parse(data));
