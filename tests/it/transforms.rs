//! Wasm components: upload validation, dry runs, hostile guests contained, webhook
//! transforms in deliveries and per-customer invoice tweaks.

use std::time::Duration;

use erp_sync_guest_artifacts as guests;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::api::built_guest as wasm;
use crate::support::{Receiver, TestServer, error_message, eventually, invoice, string};

const WAIT: Duration = Duration::from_secs(20);

async fn uploaded(server: &TestServer, path: &str, world: &str) -> String {
    let body = server
        .upload_guest(path, &format!("world={world}&name=t"))
        .await;
    string(&body["id"]).to_string()
}

#[tokio::test]
async fn uploads_are_validated_against_their_world_and_deduplicated() {
    let server = TestServer::start_with(|c| c.max_component_bytes = 4 << 20).await;
    let (status, first) = server
        .upload_transform(
            wasm(guests::WEBHOOK_TEMPLATE),
            "world=webhook-transform&name=mine",
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["world"], "webhook-transform");
    assert_eq!(first["export"], "erp-sync:transform/webhook@1.0.0");
    assert_eq!(first["name"], "mine");
    assert_eq!(string(&first["sha256"]).len(), 64);
    let (status, again) = server
        .upload_transform(wasm(guests::WEBHOOK_TEMPLATE), "world=webhook-transform")
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the same bytes are not stored twice"
    );
    assert_eq!(again["id"], first["id"]);

    let webhook = || wasm(guests::WEBHOOK_TEMPLATE);
    let (world, unusable) = ("world=webhook-transform", StatusCode::UNPROCESSABLE_ENTITY);
    let foreign = "imports test:foreign/secrets, which erp-sync does not provide";
    let refusals = [
        (
            wasm(guests::TWEAK_TEMPLATE),
            world,
            unusable,
            "implements invoice-tweak",
        ),
        (
            webhook(),
            "world=invoice-tweak",
            unusable,
            "implements webhook-transform",
        ),
        (wasm(guests::FOREIGN_IMPORT), world, unusable, foreign),
        (
            b"\0asm\x01\0\0\0".to_vec(),
            world,
            unusable,
            "core WebAssembly module",
        ),
        (
            b"#!/bin/sh\necho hi".to_vec(),
            world,
            unusable,
            "not WebAssembly",
        ),
        (
            b"\0asm\x0d\0\x01\0garbage".to_vec(),
            world,
            unusable,
            "does not compile",
        ),
        (webhook(), "name=x", StatusCode::BAD_REQUEST, "world"),
        (webhook(), "world=lambda", StatusCode::BAD_REQUEST, "world"),
        (
            vec![0u8; 5 << 20],
            world,
            StatusCode::PAYLOAD_TOO_LARGE,
            "--max-component-bytes",
        ),
    ];
    for (bytes, query, expected, words) in refusals {
        let (status, body) = server.upload_transform(bytes, query).await;
        assert_eq!(status, expected, "{query}: {body}");
        assert!(error_message(&body).contains(words), "{query}: {body}");
    }
    let (_, list) = server.call("GET", "/v1/transforms", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn dry_runs_show_output_headers_and_logs() {
    let server = TestServer::start().await;
    let webhook = uploaded(&server, guests::WEBHOOK_TEMPLATE, "webhook-transform").await;
    let (status, run) = server
        .call(
            "POST",
            &format!("/v1/transforms/{webhook}/test"),
            Some(json!({"invoice": invoice("inv_dry")})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["status"], "SUCCESS", "{run}");
    let body: Value = serde_json::from_str(string(&run["output"]["body"])).unwrap();
    assert_eq!(body["number"], "INV-inv_dry");
    assert_eq!(body["total"], json!({"amount": "12.99", "currency": "USD"}));
    assert_eq!(
        run["output"]["headers"],
        json!([["X-Invoice-Number", "INV-inv_dry"]])
    );
    assert!(string(&run["logs"]["stderr"]).contains("transforming INV-inv_dry"));
    assert!(run["fuel_used"].as_u64().unwrap() > 0);

    let tweak = uploaded(&server, guests::TWEAK_TEMPLATE, "invoice-tweak").await;
    let (_, run) = server
        .call("POST", &format!("/v1/transforms/{tweak}/test"), None)
        .await;
    assert_eq!(run["status"], "SUCCESS", "{run}");
    assert_eq!(
        run["output"]["lines"][0]["description"], "INV-2026-0042: API calls",
        "the sample invoice"
    );

    let mut bad = invoice("inv_bad");
    bad["total"] = json!("1.00");
    let (status, answer) = server
        .call(
            "POST",
            &format!("/v1/transforms/{tweak}/test"),
            Some(json!({"invoice": bad})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
}

#[tokio::test]
async fn hostile_guests_are_contained_while_other_work_goes_on() {
    let server = TestServer::start_with(|c| {
        c.wasm.fuel = 50_000_000;
        c.wasm.timeout = Duration::from_millis(2000);
        c.wasm.memory_bytes = 16 << 20;
        c.wasm.log_bytes = 1024;
    })
    .await;
    let receiver = Receiver::start().await;
    server.connect_webhook(&receiver, None).await;
    let hostile = uploaded(&server, guests::HOSTILE, "webhook-transform").await;
    let cases = [
        ("loop", "FAILED", "fuel budget"),
        ("memory", "FAILED", "memory cap of 16 MiB"),
        ("recursion", "FAILED", "crashed"),
        ("huge-output", "FAILED", "above the limit"),
        ("panic", "FAILED", "panics on purpose"),
        ("sockets", "FAILED", "no network"),
        ("filesystem", "FAILED", "no filesystem"),
        ("reserved-header", "FAILED", "cannot be overridden"),
        ("reject", "FAILED", "rejects every invoice"),
        ("environment", "SUCCESS", ""),
        ("log-spam", "SUCCESS", ""),
    ];
    // An ordinary delivery goes through while the hostile guests run.
    server.ingest(&invoice("inv_meanwhile")).await;
    let mut results = Vec::new();
    for (mode, _, _) in cases {
        let path = format!("/v1/transforms/{hostile}/test");
        results.push(
            server
                .call("POST", &path, Some(json!({"config": {"mode": mode}})))
                .await,
        );
    }
    for ((mode, status, words), (code, run)) in cases.iter().zip(results) {
        assert_eq!(code, StatusCode::OK, "{mode}: {run}");
        assert_eq!(run["status"], *status, "{mode}: {run}");
        if !words.is_empty() {
            assert!(string(&run["error"]).contains(words), "{mode}: {run}");
        }
        if *mode == "environment" {
            assert_eq!(
                run["output"]["body"], r#"{"vars":0}"#,
                "no environment reaches the guest"
            );
        }
        if *mode == "log-spam" {
            assert_eq!(run["logs"]["truncated"], true);
            assert!(string(&run["logs"]["stdout"]).len() <= 1024);
        }
    }
    eventually("the ordinary delivery", WAIT, || async {
        server
            .log("invoice_id=inv_meanwhile&status=SUCCESS")
            .await
            .pop()
    })
    .await;
    // The host is still healthy and the guest still works in its ok mode.
    let (_, ok) = server
        .call("POST", &format!("/v1/transforms/{hostile}/test"), None)
        .await;
    assert_eq!(ok["status"], "SUCCESS", "{ok}");
}

#[tokio::test]
async fn a_webhook_transform_builds_the_delivered_body() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let hostile = uploaded(&server, guests::HOSTILE, "webhook-transform").await;
    let created = server
        .create_connection(json!({"provider": "webhook", "config": {"url": receiver.url(), "transform_id": hostile}}))
        .await;
    assert_eq!(
        created["test_sync"]["status"], "SUCCESS",
        "the test ran the transform on the sample invoice"
    );
    receiver.set_secret(string(&created["secret"]));
    let test = &receiver.received()[0];
    assert_eq!(test.json()["echo"]["number"], "INV-2026-0042");

    server.ingest(&invoice("inv_tx")).await;
    let got = eventually("the transformed delivery", WAIT, || async {
        receiver
            .received()
            .into_iter()
            .find(|r| r.json()["echo"]["id"] == "inv_tx")
    })
    .await;
    assert!(got.signature_ok, "the transform's bytes are what is signed");
    assert_eq!(got.header("x-guest"), "hostile-ok");
    assert!(!got.header("x-aforo-event-id").is_empty());
    let entry = eventually("the log entry", WAIT, || async {
        server.log("invoice_id=inv_tx&status=SUCCESS").await.pop()
    })
    .await;
    assert!(
        string(&entry["guest_logs"]).contains("hostile guest in ok mode"),
        "{entry}"
    );

    // A guest that fails fails the sync at once: no retries wasted on the same code.
    let id = string(&created["id"]);
    let (status, body) = server
        .patch_connection(
            id,
            json!({"config": {"transform_config": {"mode": "panic"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["test_sync"]["status"], "FAILED");
    server.ingest(&invoice("inv_panic")).await;
    let entries = eventually("the failure", WAIT, || async {
        let e = server.log("invoice_id=inv_panic").await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let entries_after = server.log("invoice_id=inv_panic").await;
    assert_eq!(entries_after.len(), 1, "not retried: {entries_after:?}");
    assert_eq!(entries[0]["status"], "FAILED");
    assert!(
        string(&entries[0]["error"]).contains("crashed"),
        "{}",
        entries[0]
    );
    assert!(
        string(&entries[0]["guest_logs"]).contains("panics on purpose"),
        "{}",
        entries[0]
    );

    // A connection cannot name another world's component, or an unknown one.
    let tweak = uploaded(&server, guests::TWEAK_TEMPLATE, "invoice-tweak").await;
    for bad in [json!(tweak), json!("tr_unknown")] {
        let (status, body) = server
            .patch_connection(id, json!({"config": {"transform_id": bad}}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
}

#[tokio::test]
async fn customer_tweaks_adjust_invoices_before_delivery() {
    let (server, receiver, _) = TestServer::start_with_webhook().await;
    let po = uploaded(&server, guests::PO_REFERENCE, "invoice-tweak").await;
    let webhook = uploaded(&server, guests::WEBHOOK_TEMPLATE, "webhook-transform").await;

    let (status, body) = server.set_tweak("cus_42", webhook).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = server.set_tweak("cus_42", po.as_str()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(server.tweak("cus_42").await.1["transform_id"], json!(po));

    server.ingest(&invoice("inv_po")).await;
    let mut other = invoice("inv_other");
    other["customer"]["id"] = json!("cus_7");
    server.ingest(&other).await;
    let got = eventually("the tweaked delivery", WAIT, || async {
        receiver.for_invoice("inv_po").pop()
    })
    .await;
    let data = &got.json()["data"];
    assert_eq!(data["metadata"]["reference"], "PO-7");
    assert_eq!(data["lines"][0]["description"], "[PO-7] API calls");
    let untouched = eventually("the other customer's delivery", WAIT, || async {
        receiver.for_invoice("inv_other").pop()
    })
    .await;
    assert_eq!(
        untouched.json()["data"]["lines"][0]["description"],
        "API calls"
    );

    // A tweak whose output breaks the rules fails that sync with the reason.
    let bad = uploaded(&server, guests::BAD_TWEAK, "invoice-tweak").await;
    server.set_tweak("cus_42", bad).await;
    server.ingest(&invoice("inv_badtweak")).await;
    let words = ["may not change currency"];
    server.failed_attempt("inv_badtweak", WAIT, &words).await;
    assert!(receiver.for_invoice("inv_badtweak").is_empty());

    let (status, _) = server
        .call("DELETE", "/v1/customers/cus_42/tweak", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(server.tweak("cus_42").await.1["transform_id"].is_null());
}
