//! libFuzzer target; the check itself is [`oracles::signature_verify`], shared with the replay test.
#![no_main]

#[allow(dead_code)] // each target uses one of the shared checks
#[path = "../oracles.rs"]
mod oracles;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracles::signature_verify(data));
