//! Replays the fuzzers' committed inputs as ordinary tests, so every `cargo test` (and
//! CI, which does not run libFuzzer: see `docs/reliability.md`) re-checks them.
//!
//! For each fuzz target there are two folders under `fuzz/`: `seeds/<target>` (the
//! starting corpus: real invoices, templates, headers) and `regressions/<target>` (every
//! input a fuzz run ever found to break a rule, kept after the fix). Each file is run
//! through the very check the fuzz target runs, `fuzz/oracles.rs`, included here.

use std::path::Path;

#[path = "../../fuzz/oracles.rs"]
mod oracles;

/// Runs `check` on every file of the target's seed and regression folders; answers how
/// many ran, so a test notices an empty or misplaced folder.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut ran = 0;
    for folder in ["seeds", "regressions"] {
        let dir = root.join(folder).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.file_name().is_some_and(|n| n == ".gitkeep") {
                continue;
            }
            let data = std::fs::read(&path).expect("a readable input");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{} breaks its rule", path.display());
            ran += 1;
        }
    }
    ran
}

#[test]
fn invoice_parse_inputs_keep_the_rules() {
    assert!(replay("invoice_parse", oracles::invoice_parse) >= 2);
}

#[test]
fn template_render_inputs_keep_the_rules() {
    assert!(replay("template_render", oracles::template_render) >= 2);
}

#[test]
fn signature_verify_inputs_keep_the_rules() {
    assert!(replay("signature_verify", oracles::signature_verify) >= 2);
}
