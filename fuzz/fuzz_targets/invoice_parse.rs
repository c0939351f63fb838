//! libFuzzer target; the check itself is [`oracles::invoice_parse`], shared with the replay test.
#![no_main]

#[path = "../oracles.rs"]
mod oracles;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracles::invoice_parse(data));
