//! Paths of the Wasm components the tests use, built by this crate's build script from
//! `guest-templates/`, `examples/` and `tests/guests/` (the pattern of wasmtime's
//! `test-programs-artifacts`): built once per change, never checked in.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
