//! The `erp-sync` command line as an operator uses it: creating tenants, `serve --dev`,
//! and the help text.

use reqwest::StatusCode;

use crate::support::array;
use crate::support::process::{Serve, call, http, run, tenant_create};

#[tokio::test]
async fn tenant_create_prints_an_id_and_a_key_that_the_server_accepts() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (tenant_id, key) = tenant_create(dir.path(), "acme").await;
    assert!(tenant_id.starts_with("ten_"), "tenant id {tenant_id:?}");
    assert!(key.starts_with("esk_"), "api key {key:?}");
    assert!(key.len() > "esk_".len() + 16, "a short api key: {key:?}");

    let mut server = Serve::start(dir.path(), &[]).await;
    let http = http();
    let (status, body) = call(&http, &server.base, &key, "GET", "/v1/settings", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["multi_erp"], false, "{body}");

    let wrong = format!("{key}x");
    for bad in [wrong.as_str(), "esk_not_a_real_key"] {
        let (status, body) = call(&http, &server.base, bad, "GET", "/v1/settings", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert!(body["error"]["details"].is_array(), "{body}");
        assert!(
            !body.to_string().contains(&key),
            "the error echoes a key: {body}"
        );
    }
    server.stop_cleanly().await;
}

#[tokio::test]
async fn serve_dev_creates_a_tenant_once_on_an_empty_data_dir() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let http = http();

    let mut first = Serve::start(dir.path(), &["--dev"]).await;
    let key = first
        .dev_key
        .clone()
        .unwrap_or_else(|| panic!("no dev key printed: {:?}", first.startup_lines));
    assert!(key.starts_with("esk_"), "dev key {key:?}");
    let (status, body) = call(&http, &first.base, &key, "GET", "/v1/settings", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    first.kill().await;

    let mut second = Serve::start(dir.path(), &["--dev"]).await;
    assert_eq!(
        second.dev_key, None,
        "a second dev key was printed: {:?}",
        second.startup_lines
    );
    assert!(
        !second
            .startup_lines
            .iter()
            .any(|l| l.contains("esk_") || l.contains("api_key")),
        "{:?}",
        second.startup_lines
    );
    // The first dev key still works: the tenant persisted.
    let (status, body) = call(&http, &second.base, &key, "GET", "/v1/settings", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    second.kill().await;

    // A data dir that already has a tenant gets no dev tenant either.
    let other = tempfile::tempdir().expect("a temp dir");
    tenant_create(other.path(), "acme").await;
    let third = Serve::start(other.path(), &["--dev"]).await;
    assert_eq!(third.dev_key, None, "{:?}", third.startup_lines);
}

#[tokio::test]
async fn help_mentions_private_targets_and_the_data_dir_variable() {
    let (status, top, stderr) = run(&["--help"]).await;
    assert!(status.success(), "erp-sync --help failed: {stderr}");
    for word in ["serve", "tenant"] {
        assert!(
            top.contains(word),
            "`erp-sync --help` does not list {word}:\n{top}"
        );
    }

    let (status, serve, stderr) = run(&["serve", "--help"]).await;
    assert!(status.success(), "erp-sync serve --help failed: {stderr}");
    for word in [
        "--allow-private-targets",
        "ERP_SYNC_DATA_DIR",
        "--data-dir",
        "--listen",
        "--dev",
        "--retry-base-ms",
    ] {
        assert!(
            serve.contains(word),
            "`erp-sync serve --help` does not mention {word}:\n{serve}"
        );
    }

    let (status, create, stderr) = run(&["tenant", "create", "--help"]).await;
    assert!(
        status.success(),
        "erp-sync tenant create --help failed: {stderr}"
    );
    assert!(create.contains("ERP_SYNC_DATA_DIR"), "{create}");

    let (status, _, stderr) = run(&["serve", "--no-such-flag"]).await;
    assert!(!status.success(), "an unknown flag was accepted");
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
}

#[tokio::test]
async fn tenant_create_works_while_a_server_runs_on_the_same_data_dir() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (_, first_key) = tenant_create(dir.path(), "first").await;
    let mut server = Serve::start(dir.path(), &[]).await;

    let (tenant_id, key) = tenant_create(dir.path(), "second").await;
    assert!(tenant_id.starts_with("ten_"), "{tenant_id}");
    assert_ne!(key, first_key);

    let http = http();
    for key in [&first_key, &key] {
        let (status, body) = call(&http, &server.base, key, "GET", "/v1/settings", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    server.stop_cleanly().await;
}

#[tokio::test]
async fn guest_developers_check_and_run_components_and_templates_locally() {
    use erp_sync_guest_artifacts as guests;
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let invoice = format!("{root}/examples/invoices/multi-line-uk.json");

    let (status, out, err) = run(&["transform", "check", guests::FLAT_ACCOUNTING]).await;
    assert!(status.success(), "{err}");
    assert!(
        out.contains("implements the webhook-transform world"),
        "{out}"
    );
    assert!(out.contains("erp-sync:transform/webhook@1.0.0"), "{out}");

    let (status, out, err) = run(&["transform", "run", guests::FLAT_ACCOUNTING, &invoice]).await;
    assert!(status.success(), "{err}");
    assert!(out.contains("X-Ledger-Action: book"), "{out}");
    assert!(out.contains("\"document_number\":\"INV-UK-0007\""), "{out}");
    assert!(
        out.contains("fuel"),
        "the report shows the fuel used: {out}"
    );

    let (status, out, err) = run(&["transform", "run", guests::PO_REFERENCE, &invoice]).await;
    assert!(status.success(), "{err}");
    assert!(out.contains("\"reference\": \"PO-UK-551\""), "{out}");

    let (status, _, err) = run(&[
        "transform",
        "run",
        guests::HOSTILE,
        &invoice,
        "--config",
        "mode=loop",
        "--wasm-fuel",
        "5000000",
    ])
    .await;
    assert!(!status.success());
    assert!(err.contains("fuel budget of 5000000"), "{err}");

    let (status, _, err) = run(&["transform", "check", &invoice]).await;
    assert!(!status.success());
    assert!(err.contains("not WebAssembly"), "{err}");

    let template = format!("{root}/examples/templates/flat-accounting.json");
    let (status, out, err) = run(&["template", "run", &template, &invoice]).await;
    assert!(status.success(), "{err}");
    let body: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(body["gross"], "162.00");
    assert_eq!(array(&body["lines"]).len(), 3);
}
