//! The guest developer's loop with the real binary: `transform new` writes a project
//! that stands on its own, `transform test` compares with expectations (and `--update`
//! accepts), the compiled-artifact cache spares the second run its compilation, and the
//! server accepts components as large as a Python guest's.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use erp_sync_guest_artifacts as guests;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::TestServer;
use crate::support::api::built_guest as wasm;
use crate::support::process::{PROCESS_TIMEOUT, erp_sync, run};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Runs the binary with extra environment variables: status, stdout, stderr.
async fn run_env(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = erp_sync();
    cmd.args(args).envs(env.iter().copied());
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let output = tokio::time::timeout(PROCESS_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("erp-sync {args:?} did not finish"))
        .expect("the binary's output");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// The files of a folder, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[tokio::test]
async fn transform_new_writes_a_project_that_stands_on_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    for world in ["webhook-transform", "invoice-tweak"] {
        let dir = tmp.path().join(format!("{world}-rust"));
        let (ok, out, err) = run_env(
            &[
                "transform",
                "new",
                "--lang",
                "rust",
                "--world",
                world,
                s(&dir),
            ],
            &[],
        )
        .await;
        assert!(ok, "{err}");
        assert!(
            out.contains("cargo build --release --target wasm32-wasip2"),
            "{out}"
        );
        let written = files(&dir);
        for expected in [
            "Cargo.toml",
            "Cargo.lock",
            "src/lib.rs",
            "wit/erp-sync-transform@1.0.0/transform.wit",
        ] {
            assert!(
                written.contains(&expected.to_string()),
                "{world}: {written:?}"
            );
        }
        assert!(
            !written
                .iter()
                .any(|f| f.starts_with("target/") || f.ends_with(".wasm")),
            "{written:?}"
        );
        // The bindings' WIT path is relative to Cargo.toml and must resolve inside the
        // new folder (the template's `../../wit/…` only works inside the repository).
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        let path = lib
            .split("path: \"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no wit_bindgen path in {lib}"));
        assert!(!path.starts_with(".."), "{path}");
        assert!(dir.join(path).join("transform.wit").is_file(), "{path}");
        assert_eq!(
            std::fs::read(dir.join(path).join("transform.wit")).unwrap(),
            std::fs::read(format!("{ROOT}/wit/erp-sync-transform@1.0.0/transform.wit")).unwrap()
        );
        // Cargo accepts it as a standalone workspace with its pinned lock file (a full
        // wasm32-wasip2 build takes about a minute; CI builds the templates themselves).
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let metadata = tokio::process::Command::new(cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--locked",
                "--offline",
            ])
            .current_dir(&dir)
            .output()
            .await
            .unwrap();
        assert!(
            metadata.status.success(),
            "{}",
            String::from_utf8_lossy(&metadata.stderr)
        );
        let meta: Value = serde_json::from_slice(&metadata.stdout).unwrap();
        assert_eq!(
            Path::new(meta["workspace_root"].as_str().unwrap())
                .canonicalize()
                .unwrap(),
            dir.canonicalize().unwrap()
        );
    }

    // Refusals: a folder with something in it, an unknown language.
    let dir = tmp.path().join("webhook-transform-rust");
    let (ok, _, err) = run_env(
        &[
            "transform",
            "new",
            "--lang",
            "rust",
            "--world",
            "webhook-transform",
            s(&dir),
        ],
        &[],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("is not empty"), "{err}");
    let (status, _, err) = run(&[
        "transform",
        "new",
        "--lang",
        "cobol",
        "--world",
        "invoice-tweak",
        "x",
    ])
    .await;
    assert!(!status.success());
    assert!(err.contains("cobol"), "{err}");

    // Other languages: offered exactly when their template folder is in the repository
    // (and so embedded in this build); each gets the WIT beside it.
    for lang in ["js", "ts", "python"] {
        for world in ["webhook-transform", "invoice-tweak"] {
            let template = PathBuf::from(format!("{ROOT}/guest-templates/{world}-{lang}"));
            let dir = tmp.path().join(format!("{world}-{lang}"));
            let (ok, out, err) = run_env(
                &[
                    "transform",
                    "new",
                    "--lang",
                    lang,
                    "--world",
                    world,
                    s(&dir),
                ],
                &[],
            )
            .await;
            if template.is_dir() {
                assert!(ok, "{lang} {world}: {err}");
                assert!(out.contains("next steps"), "{out}");
                let written = files(&dir);
                assert!(
                    written.contains(&"wit/erp-sync-transform@1.0.0/transform.wit".to_string()),
                    "{written:?}"
                );
                assert!(
                    !written
                        .iter()
                        .any(|f| f.starts_with("node_modules/") || f.ends_with(".wasm")),
                    "{written:?}"
                );
            } else {
                assert!(!ok, "{lang} {world}: {out}");
                assert!(err.contains("there is no"), "{err}");
            }
        }
    }
}

#[tokio::test]
async fn transform_test_compares_with_expectations_and_update_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let cases = tmp.path().join("cases");
    std::fs::create_dir(&cases).unwrap();
    std::fs::copy(
        format!("{ROOT}/examples/invoices/basic.json"),
        cases.join("basic.json"),
    )
    .unwrap();
    std::fs::copy(
        format!("{ROOT}/examples/invoices/multi-line-uk.json"),
        cases.join("uk.json"),
    )
    .unwrap();
    std::fs::write(cases.join("uk.event.json"), "\"invoice.updated\"").unwrap();
    let test = |update: bool| {
        let mut args = vec![
            "transform",
            "test",
            guests::WEBHOOK_TEMPLATE,
            s(&cases),
            "--cache-dir",
            s(&cache),
        ];
        if update {
            args.push("--update");
        }
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let go = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_env(&args, &[]).await
    };

    // No expectations yet: a failure that says how to write them.
    let (ok, _, err) = go(test(false)).await;
    assert!(!ok);
    assert!(err.contains("--update"), "{err}");
    assert!(err.contains("0 passed, 2 failed"), "{err}");

    let (ok, out, err) = go(test(true)).await;
    assert!(ok, "{err}");
    assert!(out.contains("2 updated"), "{out}");
    let expected: Value =
        serde_json::from_slice(&std::fs::read(cases.join("uk.expected.json")).unwrap()).unwrap();
    assert_eq!(expected["content_type"], "application/json", "{expected}");
    assert!(expected["headers"].is_array(), "{expected}");
    assert_eq!(expected["body"]["event"], "invoice.updated", "{expected}");

    let (ok, out, err) = go(test(false)).await;
    assert!(ok, "{err}");
    assert!(out.trim_end().ends_with("2 passed, 0 failed"), "{out}");

    // Semantic comparison: key order and layout do not matter; an expectation without
    // headers does not compare them.
    let body_only = json!({"body": expected["body"].clone()});
    std::fs::write(
        cases.join("uk.expected.json"),
        serde_json::to_string(&body_only).unwrap(),
    )
    .unwrap();
    let (ok, _, err) = go(test(false)).await;
    assert!(ok, "{err}");
    // The body alone (the templates' tests use this form).
    std::fs::write(
        cases.join("uk.expected.json"),
        serde_json::to_string(&expected["body"]).unwrap(),
    )
    .unwrap();
    let (ok, _, err) = go(test(false)).await;
    assert!(ok, "{err}");

    // A mismatch: a diff naming the line, and a non-zero exit.
    let mut wrong = expected.clone();
    wrong["body"]["event"] = json!("invoice.voided");
    std::fs::write(
        cases.join("uk.expected.json"),
        serde_json::to_string_pretty(&wrong).unwrap(),
    )
    .unwrap();
    let (ok, out, err) = go(test(false)).await;
    assert!(!ok, "{out}");
    assert!(err.contains("FAIL uk"), "{err}");
    assert!(err.contains("-    \"event\": \"invoice.voided\""), "{err}");
    assert!(err.contains("+    \"event\": \"invoice.updated\""), "{err}");
    assert!(err.contains("1 passed, 1 failed"), "{err}");

    // --update rewrites it.
    let (ok, _, err) = go(test(true)).await;
    assert!(ok, "{err}");
    let rewritten: Value =
        serde_json::from_slice(&std::fs::read(cases.join("uk.expected.json")).unwrap()).unwrap();
    assert_eq!(rewritten, expected);

    // An invoice tweak: the expectation is the adjusted invoice; a config file is read.
    let tweak_cases = tmp.path().join("tweak");
    std::fs::create_dir(&tweak_cases).unwrap();
    std::fs::copy(
        format!("{ROOT}/examples/invoices/basic.json"),
        tweak_cases.join("basic.json"),
    )
    .unwrap();
    std::fs::write(tweak_cases.join("basic.config.json"), r#"{"unused": "x"}"#).unwrap();
    let args = [
        "transform",
        "test",
        guests::TWEAK_TEMPLATE,
        s(&tweak_cases),
        "--cache-dir",
        s(&cache),
    ];
    let (ok, _, err) = run_env(&[&args[..], &["--update"]].concat(), &[]).await;
    assert!(ok, "{err}");
    let adjusted: Value =
        serde_json::from_slice(&std::fs::read(tweak_cases.join("basic.expected.json")).unwrap())
            .unwrap();
    assert_eq!(adjusted["id"], "inv_01J9Z8Q4SAMPLE", "{adjusted}");
    let (ok, out, err) = run_env(&args, &[]).await;
    assert!(ok, "{err}");
    assert!(out.contains("1 passed, 0 failed"), "{out}");
}

#[tokio::test]
async fn the_second_run_loads_the_compiled_component_from_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("wasm");
    let invoice = format!("{ROOT}/examples/invoices/basic.json");
    let debug = [("ERP_SYNC_LOG", "erp_sync=debug"), ("NO_COLOR", "1")];
    let args = [
        "transform",
        "run",
        guests::FLAT_ACCOUNTING,
        &invoice,
        "--cache-dir",
        s(&cache),
    ];

    let (ok, _, err) = run_env(&args, &debug).await;
    assert!(ok, "{err}");
    assert!(err.contains("compiled a component"), "{err}");
    let artifacts = files(&cache);
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    assert!(artifacts[0].ends_with(".cwasm"), "{artifacts:?}");

    let (ok, out, err) = run_env(&args, &debug).await;
    assert!(ok, "{err}");
    assert!(out.contains("X-Ledger-Action"), "{out}");
    assert!(!err.contains("compiled a component"), "{err}");
    assert!(
        err.contains("loaded a compiled component from the cache"),
        "{err}"
    );

    // `transform check` and the variable share it; --no-cache compiles and writes nothing.
    let (ok, _, err) = run_env(
        &["transform", "check", guests::FLAT_ACCOUNTING],
        &[debug[0], ("ERP_SYNC_CACHE_DIR", s(&cache))],
    )
    .await;
    assert!(ok, "{err}");
    assert!(
        err.contains("loaded a compiled component from the cache"),
        "{err}"
    );
    let (ok, _, err) = run_env(&[&args[..], &["--no-cache"]].concat(), &debug).await;
    assert!(ok, "{err}");
    assert!(err.contains("compiled a component"), "{err}");
    assert_eq!(files(&cache), artifacts);
}

/// A valid component padded past `size` bytes with a custom section (components may
/// carry custom sections; they cost nothing to compile).
fn padded(component: Vec<u8>, size: usize) -> Vec<u8> {
    let name = b"padding";
    let payload = size.saturating_sub(component.len());
    let mut section_len = Vec::new();
    let mut n = (1 + name.len() + payload) as u64;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        section_len.push(if n == 0 { byte } else { byte | 0x80 });
        if n == 0 {
            break;
        }
    }
    let mut out = component;
    out.push(0);
    out.extend(section_len);
    out.push(name.len() as u8);
    out.extend(name);
    out.resize(out.len() + payload, 0);
    out
}

#[tokio::test]
async fn a_component_as_large_as_a_python_guest_is_accepted() {
    let server = TestServer::start().await;
    let big = padded(wasm(guests::WEBHOOK_TEMPLATE), 20 << 20);
    let len = big.len();
    assert!(len >= 20 << 20, "{len}");
    let (status, body) = server
        .upload_transform(big, "world=webhook-transform&name=big")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["size"], json!(len), "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let (status, run) = server
        .call("POST", &format!("/v1/transforms/{id}/test"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["status"], "SUCCESS", "{run}");
}

#[tokio::test]
async fn an_upload_without_a_length_is_cut_off_at_the_cap() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start_with(|c| c.max_component_bytes = 1 << 20).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // Read the answer as it comes: the server answers before the body ends.
    let answer = tokio::spawn(async move {
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(PROCESS_TIMEOUT, reader.read_to_end(&mut answer)).await;
        answer
    });
    let head = format!(
        "POST /v1/transforms?world=webhook-transform HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/wasm\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.key
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![0u8; 64 << 10];
    // 2 MiB in 64 KiB chunks; the server may answer and close before all are sent.
    for _ in 0..32 {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend(&chunk);
        frame.extend(b"\r\n");
        if writer.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = writer.write_all(b"0\r\n\r\n").await;
    let answer = answer.await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("--max-component-bytes"), "{answer}");
    let (_, list) = server.call("GET", "/v1/transforms", None).await;
    assert_eq!(list, json!([]));
}
