//! Builds every guest component for `wasm32-wasip2` and writes their paths to
//! `$OUT_DIR/guests.rs`. The guests are standalone crates; they share one target dir
//! here so their dependencies compile once.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (constant name, crate dir relative to the repository root, artifact file name)
const GUESTS: &[(&str, &str, &str)] = &[
    (
        "WEBHOOK_TEMPLATE",
        "guest-templates/webhook-transform-rust",
        "webhook_transform_template.wasm",
    ),
    (
        "TWEAK_TEMPLATE",
        "guest-templates/invoice-tweak-rust",
        "invoice_tweak_template.wasm",
    ),
    (
        "FLAT_ACCOUNTING",
        "examples/transforms/flat-accounting",
        "flat_accounting.wasm",
    ),
    (
        "PO_REFERENCE",
        "examples/tweaks/po-reference",
        "po_reference.wasm",
    ),
    ("HOSTILE", "tests/guests/hostile", "hostile_guest.wasm"),
    ("BAD_TWEAK", "tests/guests/bad-tweak", "bad_tweak.wasm"),
    (
        "FOREIGN_IMPORT",
        "tests/guests/foreign-import",
        "foreign_import.wasm",
    ),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let target_dir = out.join("guests");
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    let mut consts = String::new();
    for (name, dir, file) in GUESTS {
        let crate_dir = root.join(dir);
        println!("cargo:rerun-if-changed={}", crate_dir.join("src").display());
        println!(
            "cargo:rerun-if-changed={}",
            crate_dir.join("Cargo.toml").display()
        );
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--quiet",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(crate_dir.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .status()
            .expect("running cargo to build a Wasm guest");
        assert!(
            status.success(),
            "building the guest in {dir} failed; is the target installed? `rustup target add wasm32-wasip2`"
        );
        let artifact = target_dir.join("wasm32-wasip2/release").join(file);
        assert!(artifact.exists(), "{} was not produced", artifact.display());
        consts.push_str(&format!(
            "/// The component built from `{dir}`.\npub const {name}: &str = {:?};\n",
            artifact.display().to_string()
        ));
    }
    std::fs::write(out.join("guests.rs"), consts).unwrap();
}
