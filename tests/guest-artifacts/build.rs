//! Builds every guest component and writes their paths to `$OUT_DIR/guests.rs`.
//!
//! The Rust guests are standalone crates built for `wasm32-wasip2`; they share one
//! target dir here so their dependencies compile once. The JavaScript, TypeScript and
//! Python templates (and the hostile JS guest) are built by their own build commands,
//! `npm ci` + `npm run build` or componentize-py, and their components copied under
//! `$OUT_DIR/scripted/`. A re-run skips `npm ci` when `node_modules` was installed from
//! the same `package-lock.json`, the Python venv when it holds the same requirements,
//! and a build when none of its inputs changed (hash stamps under `$OUT_DIR`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// How a non-Rust guest is built.
#[derive(Clone, Copy, PartialEq)]
enum Tool {
    /// `npm ci` (when the lock changed), then `npm run build`.
    Npm,
    /// `./build.sh` with componentize-py from a venv under `$OUT_DIR`.
    Python,
}

/// (constant name, folder relative to the repository root, tool, artifact in that folder)
const SCRIPTED: &[(&str, &str, Tool, &str)] = &[
    (
        "WEBHOOK_TEMPLATE_JS",
        "guest-templates/webhook-transform-js",
        Tool::Npm,
        "webhook-transform-js.wasm",
    ),
    (
        "TWEAK_TEMPLATE_JS",
        "guest-templates/invoice-tweak-js",
        Tool::Npm,
        "invoice-tweak-js.wasm",
    ),
    (
        "WEBHOOK_TEMPLATE_TS",
        "guest-templates/webhook-transform-ts",
        Tool::Npm,
        "webhook-transform-ts.wasm",
    ),
    (
        "TWEAK_TEMPLATE_TS",
        "guest-templates/invoice-tweak-ts",
        Tool::Npm,
        "invoice-tweak-ts.wasm",
    ),
    (
        "WEBHOOK_TEMPLATE_PY",
        "guest-templates/webhook-transform-python",
        Tool::Python,
        "webhook-transform-python.wasm",
    ),
    (
        "TWEAK_TEMPLATE_PY",
        "guest-templates/invoice-tweak-python",
        Tool::Python,
        "invoice-tweak-python.wasm",
    ),
    (
        "HOSTILE_JS",
        "tests/guests/hostile-js",
        Tool::Npm,
        "hostile-js.wasm",
    ),
];

/// The files a scripted guest's build reads (besides the WIT), relative to its folder.
const INPUTS: &[&str] = &[
    "package.json",
    "package-lock.json",
    "build.mjs",
    "tsconfig.json",
    "src",
    "app.py",
    "build.sh",
    "requirements.txt",
];

/// The pinned componentize-py, for the message when it cannot be installed.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// FNV-1a over `bytes`, continuing from `hash`: a stable stamp, not a security measure.
fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x100_0000_01b3);
    }
    hash
}

/// Hashes every file under `path` (names and contents, in a stable order).
fn hash_tree(hash: u64, path: &Path) -> u64 {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        entries.iter().fold(hash, |h, p| hash_tree(h, p))
    } else if let Ok(bytes) = std::fs::read(path) {
        fnv(fnv(hash, path.to_string_lossy().as_bytes()), &bytes)
    } else {
        hash
    }
}

fn stamp_matches(stamp: &Path, value: &str) -> bool {
    std::fs::read_to_string(stamp).is_ok_and(|s| s == value)
}

/// Runs `cmd`, panicking with its output and `what` on failure, or with `missing` when
/// the program is not installed.
fn run(cmd: &mut Command, what: &str, missing: &str) -> Output {
    let output = match cmd.output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{what}: {missing}"),
        Err(e) => panic!("{what}: {e}"),
    };
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

const NO_NODE: &str = "Node.js 20+ and npm are needed to build the JavaScript and TypeScript guests; \
    install them (Debian: `apt-get install nodejs npm`)";
const NO_PYTHON: &str = "python3 (3.10+, with venv) is needed to build the Python guests \
    (Debian: `apt-get install python3 python3-venv`), and pip must reach PyPI for \
    `pip install componentize-py==0.25.1`";

/// The pinned componentize-py: the one on the PATH if it is that version (CI installs
/// it), else one installed into a venv under `out`.
fn componentize_py(root: &Path, out: &Path) -> PathBuf {
    let on_path = Command::new("componentize-py").arg("--version").output();
    if on_path.is_ok_and(|o| o.stdout.starts_with(b"componentize-py 0.25.1")) {
        return PathBuf::from("componentize-py");
    }
    let venv = out.join("py-venv");
    let exe = venv.join("bin/componentize-py");
    let requirements = root.join("guest-templates/webhook-transform-python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).unwrap();
    let stamp = venv.join("erp-sync-requirements.txt");
    if exe.exists() && stamp_matches(&stamp, &wanted) {
        return exe;
    }
    let _ = std::fs::remove_dir_all(&venv);
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "creating a Python venv for componentize-py",
        NO_PYTHON,
    );
    run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements),
        &format!("`pip install {COMPONENTIZE_PY}` into {}", venv.display()),
        NO_PYTHON,
    );
    std::fs::write(&stamp, wanted).unwrap();
    exe
}

/// Builds one scripted guest unless its inputs are unchanged; returns its artifact.
fn build_scripted(
    root: &Path,
    out: &Path,
    (name, dir, tool, file): (&str, &str, Tool, &str),
    py: Option<&Path>,
) -> PathBuf {
    let folder = root.join(dir);
    let built = out.join("scripted").join(file);
    let mut hash = hash_tree(0xcbf2_9ce4_8422_2325, &root.join("wit"));
    for input in INPUTS {
        hash = hash_tree(hash, &folder.join(input));
    }
    let stamp = out.join("scripted").join(format!("{name}.stamp"));
    let hash = format!("{hash:016x}");
    if built.exists() && stamp_matches(&stamp, &hash) {
        return built;
    }
    match tool {
        Tool::Npm => {
            let lock = std::fs::read(folder.join("package-lock.json")).unwrap();
            let lock_hash = format!("{:016x}", fnv(0xcbf2_9ce4_8422_2325, &lock));
            let installed = folder.join("node_modules/.erp-sync-lock-hash");
            if !stamp_matches(&installed, &lock_hash) {
                run(
                    Command::new("npm")
                        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                        .current_dir(&folder),
                    &format!("`npm ci` in {dir}"),
                    NO_NODE,
                );
                std::fs::write(&installed, lock_hash).unwrap();
            }
            run(
                Command::new("npm")
                    .args(["run", "--silent", "build"])
                    .current_dir(&folder),
                &format!("`npm run build` in {dir}"),
                NO_NODE,
            );
        }
        Tool::Python => {
            run(
                Command::new(folder.join("build.sh"))
                    .env("ERP_SYNC_COMPONENTIZE_PY", py.unwrap())
                    .current_dir(&folder),
                &format!("`./build.sh` in {dir}"),
                NO_PYTHON,
            );
        }
    }
    std::fs::copy(folder.join(file), &built)
        .unwrap_or_else(|e| panic!("{dir}/{file} was not produced: {e}"));
    std::fs::write(&stamp, hash).unwrap();
    built
}

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

    // The JavaScript, TypeScript and Python guests, two at a time (each build is mostly
    // one busy core).
    std::fs::create_dir_all(out.join("scripted")).unwrap();
    let py = componentize_py(&root, &out);
    for (_, dir, _, _) in SCRIPTED {
        for input in INPUTS {
            let path = root.join(dir).join(input);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut built: Vec<Option<PathBuf>> = vec![None; SCRIPTED.len()];
    let slots: Vec<std::sync::Mutex<&mut Option<PathBuf>>> =
        built.iter_mut().map(std::sync::Mutex::new).collect();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(&guest) = SCRIPTED.get(i) else { break };
                    let path = build_scripted(&root, &out, guest, Some(&py));
                    **slots[i].lock().unwrap() = Some(path);
                }
            });
        }
    });
    drop(slots);
    for ((name, dir, _, _), path) in SCRIPTED.iter().zip(built) {
        consts.push_str(&format!(
            "/// The component built from `{dir}` by its own build command.\npub const {name}: &str = {:?};\n",
            path.unwrap().display().to_string()
        ));
    }
    std::fs::write(out.join("guests.rs"), consts).unwrap();
}
