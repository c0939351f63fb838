//! `erp-sync transform new`: writes a starting point for a guest from the templates
//! embedded in the binary (`guest-templates/<world>-<lang>/`, see `host/build.rs`), with
//! the WIT package beside it so the new folder builds on its own.

use std::path::Path;

use super::guest::GuestCommandError;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/guest_templates.rs"));
}

/// The languages `transform new` knows; a template folder is `<world>-<lang>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Js,
    Ts,
    Python,
}

impl Lang {
    fn as_str(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Js => "js",
            Lang::Ts => "ts",
            Lang::Python => "python",
        }
    }

    /// The build command when a template's README has no `## Build` section.
    fn default_build(self) -> &'static str {
        match self {
            Lang::Rust => {
                "rustup target add wasm32-wasip2   # once\ncargo build --release --target wasm32-wasip2"
            }
            Lang::Js | Lang::Ts => "npm ci\nnpm run build",
            Lang::Python => {
                "pip install -r requirements.txt\ncomponentize-py -d wit -w WORLD componentize app -o app.wasm"
            }
        }
    }
}

/// Where the WIT package goes in a new project, relative to it.
const WIT_DIR: &str = "wit";

/// The template folders embedded in this binary, e.g. `webhook-transform-rust`.
pub fn available() -> Vec<&'static str> {
    let mut names: Vec<&str> = embedded::TEMPLATE_FILES
        .iter()
        .filter_map(|(path, _)| path.split_once('/').map(|(dir, _)| dir))
        .collect();
    names.dedup();
    names
}

/// Writes the `world` template in `lang` into `dir` (which must be absent or empty) and
/// returns the next steps to print.
pub fn new(
    lang: Lang,
    world: crate::transform::wasm::World,
    dir: &Path,
) -> Result<String, GuestCommandError> {
    let name = format!("{}-{}", world.as_str(), lang.as_str());
    let prefix = format!("{name}/");
    let files: Vec<(&str, &[u8])> = embedded::TEMPLATE_FILES
        .iter()
        .filter_map(|(path, bytes)| path.strip_prefix(&prefix).map(|rel| (rel, *bytes)))
        .collect();
    if files.is_empty() {
        return Err(GuestCommandError::Failed(format!(
            "there is no {} template for the {} world in this erp-sync build (templates: {})",
            lang.as_str(),
            world.as_str(),
            available().join(", ")
        )));
    }
    let io = |path: &Path, e: std::io::Error| GuestCommandError::Read {
        path: path.display().to_string(),
        source: e,
    };
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(GuestCommandError::Failed(format!(
                    "{} is not empty; `transform new` only writes into a new or empty folder",
                    dir.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(dir, e)),
    }
    let write = |rel: &str, bytes: &[u8]| -> Result<(), GuestCommandError> {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| io(&path, e))
    };
    let mut readme = None;
    for (rel, bytes) in &files {
        write(rel, &adapt(rel, bytes))?;
        if *rel == "README.md" {
            readme = Some(String::from_utf8_lossy(bytes).into_owned());
        }
    }
    for (rel, bytes) in embedded::WIT_FILES {
        write(&format!("{WIT_DIR}/{rel}"), bytes)?;
    }
    let build = readme
        .as_deref()
        .and_then(build_section)
        .unwrap_or_else(|| lang.default_build().replace("WORLD", world.as_str()));
    Ok(format!(
        "wrote the {} {} template to {} ({} files, and the WIT package in {}/)\n\nnext steps:\n  cd {}\n{}\n\nthen try it:\n  erp-sync transform run <component.wasm> <invoice.json>\n  erp-sync transform test <component.wasm> <folder of NAME.json + NAME.expected.json>",
        lang.as_str(),
        world.as_str(),
        dir.display(),
        files.len(),
        WIT_DIR,
        dir.display(),
        indent(&build),
    ))
}

/// A template file as the new project needs it: Rust sources point `wit_bindgen` at
/// `../../wit/…` (the repository's WIT); in the new project the WIT is in `wit/`.
fn adapt(rel: &str, bytes: &[u8]) -> Vec<u8> {
    if !rel.ends_with(".rs") {
        return bytes.to_vec();
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => text
            .replace("\"../../wit/", &format!("\"{WIT_DIR}/"))
            .into_bytes(),
        Err(_) => bytes.to_vec(),
    }
}

/// The first shell code block of a README's `## Build` section (the templates'
/// convention), without any `cd guest-templates/…` line, which only applies inside the
/// erp-sync repository.
fn build_section(readme: &str) -> Option<String> {
    let mut lines = readme.lines();
    lines.find(|l| {
        l.trim_start_matches('#')
            .trim()
            .eq_ignore_ascii_case("build")
            && l.starts_with("## ")
    })?;
    let mut in_block = false;
    let mut block = Vec::new();
    for line in lines {
        if !in_block {
            if line.starts_with("## ") {
                return None;
            }
            if line.trim_start().starts_with("```") {
                in_block = true;
            }
            continue;
        }
        if line.trim_start().starts_with("```") {
            break;
        }
        if line.trim_start().starts_with("cd ") && line.contains("guest-templates") {
            continue;
        }
        block.push(line);
    }
    (!block.is_empty()).then(|| block.join("\n"))
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rust_templates_and_the_wit_are_embedded() {
        let names = available();
        assert!(names.contains(&"webhook-transform-rust"), "{names:?}");
        assert!(names.contains(&"invoice-tweak-rust"), "{names:?}");
        assert!(
            embedded::WIT_FILES
                .iter()
                .any(|(p, _)| *p == "erp-sync-transform@1.0.0/transform.wit")
        );
        for (path, _) in embedded::TEMPLATE_FILES {
            assert!(
                !path.contains("/target/")
                    && !path.contains("/node_modules/")
                    && !path.ends_with(".wasm"),
                "a build output is embedded: {path}"
            );
        }
    }

    #[test]
    fn the_build_section_is_the_first_code_block_under_build() {
        let readme = "# T\n\n## Build\n\nRun:\n\n```sh\ncd guest-templates/x\nnpm ci\nnpm run build\n```\n\n```sh\nother\n```\n## Test\n";
        assert_eq!(
            build_section(readme).as_deref(),
            Some("npm ci\nnpm run build")
        );
        assert_eq!(build_section("# T\n## Test\n```sh\nx\n```\n"), None);
    }

    #[test]
    fn rust_sources_point_at_the_copied_wit() {
        let src = br#"wit_bindgen::generate!({ world: "w", path: "../../wit/erp-sync-transform@1.0.0" });"#;
        let out = String::from_utf8(adapt("src/lib.rs", src)).unwrap();
        assert!(
            out.contains(r#"path: "wit/erp-sync-transform@1.0.0""#),
            "{out}"
        );
        assert_eq!(adapt("build.mjs", b"'../../wit/x'"), b"'../../wit/x'");
    }
}
