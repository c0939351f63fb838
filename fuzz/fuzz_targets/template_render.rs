//! libFuzzer target; the check itself is [`oracles::template_render`], shared with the replay test.
#![no_main]

#[allow(dead_code)] // each target uses one of the shared checks
#[path = "../oracles.rs"]
mod oracles;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracles::template_render(data));
