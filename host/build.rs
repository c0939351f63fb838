//! Rebuilds when a migration is added: `sqlx::migrate!` embeds the migrations folder at
//! compile time, and cargo would not otherwise notice a new file there.
//!
//! Also embeds `guest-templates/` and `wit/` for `erp-sync transform new`: writes
//! `$OUT_DIR/guest_templates.rs` with every source file of every template (build outputs
//! such as `target/`, `node_modules/`, `.venv/` and `*.wasm` left out), so adding a
//! template folder is all it takes for `transform new` to offer it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Folder names never embedded: build outputs, installed dependencies, and a template's
/// own copy of `wit/` (the canonical one is embedded separately). What a template's
/// `.gitignore` lists (e.g. `dist/`, `types/`) is left out too.
const SKIPPED_DIRS: &[&str] = &[
    "target",
    "node_modules",
    ".venv",
    "venv",
    "__pycache__",
    ".git",
    ".mypy_cache",
    ".pytest_cache",
];
/// File name endings never embedded.
const SKIPPED_SUFFIXES: &[&str] = &[".wasm", ".cwasm", ".pyc", ".tsbuildinfo", "~", ".swp"];

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest.parent().expect("host/ is inside the repository");
    let mut out = String::new();
    for (name, dir, skip_top_wit) in [
        ("TEMPLATE_FILES", root.join("guest-templates"), true),
        ("WIT_FILES", root.join("wit"), false),
    ] {
        let mut files = Vec::new();
        if dir.is_dir() {
            let (_, watch) = collect(&dir, &dir, 0, skip_top_wit, &mut files);
            for path in watch {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        files.sort();
        writeln!(out, "pub static {name}: &[(&str, &[u8])] = &[").unwrap();
        for (rel, abs) in files {
            writeln!(out, "    ({rel:?}, include_bytes!({:?})),", abs.display()).unwrap();
        }
        writeln!(out, "];").unwrap();
    }
    let dest =
        PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("guest_templates.rs");
    std::fs::write(dest, out).expect("writing guest_templates.rs");
}

/// Collects `(path relative to base with '/' separators, absolute path)` of every
/// embedded file under `dir`, and returns what cargo should watch for them. A folder
/// with nothing skipped anywhere inside is watched as a whole (so a new file there is
/// noticed); one with build outputs inside is watched file by file, so building a
/// template in place does not rebuild erp-sync. A new template folder is noticed
/// through `guest-templates/README.md`, whose table lists the templates.
fn collect(
    base: &Path,
    dir: &Path,
    depth: usize,
    skip_top_wit: bool,
    files: &mut Vec<(String, PathBuf)>,
) -> (bool, Vec<PathBuf>) {
    collect_ignoring(base, dir, depth, skip_top_wit, &[], files)
}

/// Whether a template's `.gitignore` pattern covers an entry: the simple forms
/// templates use (`name`, `name/` for folders only, `*.ext`), at any depth.
fn ignored(patterns: &[String], name: &str, is_dir: bool) -> bool {
    patterns.iter().any(|p| {
        let (p, dir_only) = match p.strip_suffix('/') {
            Some(p) => (p, true),
            None => (p.as_str(), false),
        };
        let p = p.trim_start_matches('/');
        if dir_only && !is_dir {
            return false;
        }
        match p.strip_prefix('*') {
            Some(suffix) if !suffix.contains('*') => name.ends_with(suffix),
            _ => p == name,
        }
    })
}

fn collect_ignoring(
    base: &Path,
    dir: &Path,
    depth: usize,
    skip_top_wit: bool,
    inherited: &[String],
    files: &mut Vec<(String, PathBuf)>,
) -> (bool, Vec<PathBuf>) {
    let mut patterns = inherited.to_vec();
    if let Ok(text) = std::fs::read_to_string(dir.join(".gitignore")) {
        patterns.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
                .map(String::from),
        );
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    let mut clean = true;
    let mut watch = Vec::new();
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            // depth 1 is a template's own folder: its top-level `wit/` is a build copy.
            if SKIPPED_DIRS.contains(&name.as_str())
                || (skip_top_wit && depth == 1 && name == "wit")
                || ignored(&patterns, &name, true)
            {
                clean = false;
                continue;
            }
            let (sub_clean, sub_watch) =
                collect_ignoring(base, &path, depth + 1, skip_top_wit, &patterns, files);
            clean &= sub_clean;
            watch.extend(sub_watch);
        } else if kind.is_file() {
            // Files beside the templates (the overview README) are watched, not embedded.
            let embedded = !(skip_top_wit && depth == 0);
            if SKIPPED_SUFFIXES.iter().any(|s| name.ends_with(s))
                || ignored(&patterns, &name, false)
            {
                clean = false;
                continue;
            }
            if embedded {
                let rel = path
                    .strip_prefix(base)
                    .expect("under base")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                files.push((rel, path.clone()));
            }
            watch.push(path);
        } else {
            clean = false;
        }
    }
    if clean {
        (true, vec![dir.to_path_buf()])
    } else {
        (false, watch)
    }
}
