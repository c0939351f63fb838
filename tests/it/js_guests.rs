//! Guests in JavaScript, TypeScript and Python: each language's templates, built by
//! their own toolchains (componentize-js, jco + tsc, componentize-py) in the guest
//! artifacts' build script, uploaded to a real server and run in real deliveries; and
//! hostile JavaScript guests (an endless loop, a memory bomb, an uncaught exception)
//! contained like the Rust ones.
//!
//! These components are 12 MB (JS) to 18 MB (Python), above the default upload cap, so
//! each server here raises `max_component_bytes`.

use std::time::Duration;

use erp_sync_guest_artifacts as guests;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Receiver, TestServer, eventually, invoice, string};

/// Generous: the first call of a fresh component is slower, and CI machines are small.
const WAIT: Duration = Duration::from_secs(60);

/// Each language's templates: (label, webhook transform, invoice tweak).
const TEMPLATES: &[(&str, &str, &str)] = &[
    ("js", guests::WEBHOOK_TEMPLATE_JS, guests::TWEAK_TEMPLATE_JS),
    ("ts", guests::WEBHOOK_TEMPLATE_TS, guests::TWEAK_TEMPLATE_TS),
    ("py", guests::WEBHOOK_TEMPLATE_PY, guests::TWEAK_TEMPLATE_PY),
];

async fn server() -> TestServer {
    TestServer::start_with(|c| c.max_component_bytes = 64 * 1024 * 1024).await
}

async fn uploaded(server: &TestServer, path: &str, world: &str, name: &str) -> String {
    let body = server
        .upload_guest(path, &format!("world={world}&name={name}"))
        .await;
    assert_eq!(body["world"], world, "{body}");
    string(&body["id"]).to_string()
}

/// A webhook connection to `receiver` through `transform_id`; its test delivery (the
/// sample invoice through the component) must succeed unless `config` makes it fail.
async fn webhook_through(
    server: &TestServer,
    receiver: &Receiver,
    name: &str,
    transform_id: &str,
    config: Value,
) -> Value {
    let created = server
        .create_connection(json!({"provider": "webhook", "name": name, "config": {
            "url": receiver.url(), "transform_id": transform_id, "transform_config": config}}))
        .await;
    receiver.set_secret(string(&created["secret"]));
    created
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_ts_and_python_webhook_transforms_shape_the_delivered_body() {
    let server = server().await;
    let (status, _) = server.set_multi_erp(true).await;
    assert_eq!(status, StatusCode::OK);
    let mut sinks = Vec::new();
    for (lang, webhook, _) in TEMPLATES {
        let id = uploaded(&server, webhook, "webhook-transform", lang).await;
        let receiver = Receiver::start().await;
        let created = webhook_through(&server, &receiver, lang, &id, json!({})).await;
        assert_eq!(
            created["test_sync"]["status"], "SUCCESS",
            "{lang}: {created}"
        );
        sinks.push((lang, receiver, created));
    }

    server.ingest(&invoice("inv_lang")).await;
    for (lang, receiver, created) in &sinks {
        let got = eventually(&format!("the {lang} delivery"), WAIT, || async {
            receiver
                .received()
                .into_iter()
                .find(|r| r.json()["invoice"] == "inv_lang")
        })
        .await;
        assert!(got.signature_ok, "{lang}: the component's bytes are signed");
        assert_eq!(got.header("x-invoice-number"), "INV-inv_lang", "{lang}");
        assert_eq!(got.header("content-type"), "application/json", "{lang}");
        assert_eq!(
            got.json(),
            json!({
                "event": "invoice.finalized", "invoice": "inv_lang", "number": "INV-inv_lang",
                "status": "OPEN", "customer": {"id": "cus_42", "name": "Acme Inc"},
                "total": {"amount": "12.99", "currency": "USD"},
                "lines": [{"text": "API calls", "amount": "12.00"}],
            }),
            "{lang}: the same body as the Rust template, amounts still strings"
        );
        let entry = eventually(&format!("the {lang} log entry"), WAIT, || async {
            server
                .log("invoice_id=inv_lang&status=SUCCESS")
                .await
                .into_iter()
                .find(|e| e["connection_id"] == created["id"])
        })
        .await;
        assert!(
            string(&entry["guest_logs"]).contains("transforming INV-inv_lang"),
            "{lang}: the guest's stderr reaches the sync log: {entry}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_ts_and_python_tweaks_adjust_the_delivered_invoice() {
    let server = server().await;
    let receiver = Receiver::start().await;
    server.connect_webhook(&receiver, None).await;
    for (lang, _, tweak) in TEMPLATES {
        let id = uploaded(&server, tweak, "invoice-tweak", lang).await;
        let customer = format!("cus_{lang}");
        let (status, body) = server.set_tweak(&customer, id.as_str()).await;
        assert_eq!(status, StatusCode::OK, "{lang}: {body}");
        let mut inv = invoice(&format!("inv_tweak_{lang}"));
        inv["customer"]["id"] = json!(customer);
        server.ingest(&inv).await;
    }
    server.ingest(&invoice("inv_untweaked")).await;
    for (lang, _, _) in TEMPLATES {
        let id = format!("inv_tweak_{lang}");
        let got = eventually(&format!("the {lang}-tweaked delivery"), WAIT, || async {
            receiver.for_invoice(&id).pop()
        })
        .await;
        let data = &got.json()["data"];
        assert_eq!(
            data["lines"][0]["description"],
            format!("INV-{id}: API calls"),
            "{lang}: {data}"
        );
        assert_eq!(
            data["lines"][0]["amount"], "12.00",
            "{lang}: amounts unchanged"
        );
        assert_eq!(data["total"], "12.99", "{lang}");
        assert_eq!(
            data["metadata"]["po_number"], "PO-7",
            "{lang}: other fields kept"
        );
    }
    let untouched = eventually("the untweaked delivery", WAIT, || async {
        receiver.for_invoice("inv_untweaked").pop()
    })
    .await;
    assert_eq!(
        untouched.json()["data"]["lines"][0]["description"],
        "API calls"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_js_guests_are_contained_while_other_deliveries_go_on() {
    let server = server().await;
    let (status, _) = server.set_multi_erp(true).await;
    assert_eq!(status, StatusCode::OK);
    // An ordinary webhook, and one connection per misbehaviour of the hostile guest.
    let plain = Receiver::start().await;
    server.connect_webhook(&plain, None).await;
    let hostile = uploaded(
        &server,
        guests::HOSTILE_JS,
        "webhook-transform",
        "hostile-js",
    )
    .await;
    let sink = Receiver::start().await;
    let cases = [
        ("loop", &["fuel budget", "time limit"][..]),
        ("memory", &["memory cap"][..]),
        ("throw", &["crashed"][..]),
        // Not hostile: a transform error thrown the templates' way is the WIT variant.
        (
            "reject",
            &["rejected the invoice: hostile guest rejects every invoice"][..],
        ),
    ];
    let mut connections = Vec::new();
    for (mode, _) in cases {
        let created = webhook_through(&server, &sink, mode, &hostile, json!({"mode": mode})).await;
        assert_eq!(
            created["test_sync"]["status"], "SUCCESS",
            "the hostile guest behaves on the test event: {created}"
        );
        connections.push(created);
    }

    for i in 0..3 {
        server.ingest(&invoice(&format!("inv_hostile_{i}"))).await;
    }
    for i in 0..3 {
        let id = format!("inv_hostile_{i}");
        for ((mode, words), created) in cases.iter().zip(&connections) {
            let entry = eventually(&format!("{mode} on {id}"), WAIT, || async {
                server
                    .log(&format!("invoice_id={id}"))
                    .await
                    .into_iter()
                    .find(|e| e["connection_id"] == created["id"])
            })
            .await;
            assert_eq!(entry["status"], "FAILED", "{mode}: {entry}");
            let error = string(&entry["error"]);
            assert!(
                words.iter().any(|w| error.contains(w)),
                "{mode}: the error names what stopped it: {entry}"
            );
            if *mode == "throw" {
                assert!(
                    string(&entry["guest_logs"]).contains("this invoice blew up on purpose"),
                    "the exception's text is in the guest logs: {entry}"
                );
            }
        }
        // Every invoice reached the ordinary webhook, signed.
        let got = eventually(&format!("the plain delivery of {id}"), WAIT, || async {
            plain.for_invoice(&id).pop()
        })
        .await;
        assert!(got.signature_ok);
    }
    assert!(
        sink.received()
            .iter()
            .all(|r| r.json().get("mode").is_none() || r.json()["echo"] == "inv_01J9Z8Q4SAMPLE"),
        "no hostile call produced a body but the connection tests"
    );

    // The server still serves, and the same component still works in its ok mode.
    let (status, run) = server
        .call(
            "POST",
            &format!("/v1/transforms/{hostile}/test"),
            Some(json!({"config": {"mode": "ok"}, "event_type": "invoice.finalized"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["status"], "SUCCESS", "{run}");
}
