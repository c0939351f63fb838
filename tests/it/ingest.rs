//! Bad invoices are refused with every offending field named, and nothing is stored.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestServer, error_message, invoice};

fn fields(body: &Value) -> Vec<String> {
    body["error"]["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|f| f["field"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The sample invoice `id` with one top-level field replaced.
fn invoice_with(id: &str, field: &str, value: Value) -> Value {
    let mut changed = invoice(id);
    changed[field] = value;
    changed
}

/// The invoice is unknown and nothing was queued or logged.
async fn assert_nothing_stored(server: &TestServer, id: &str) {
    let (status, _) = server.invoice_state(id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(server.log(&format!("invoice_id={id}")).await.is_empty());
}

#[tokio::test]
async fn malformed_json_is_a_400_naming_the_position() {
    let server = TestServer::start().await;
    let (status, body) = server
        .post_raw("/v1/invoices", b"{\"id\": \"inv_1\",".to_vec())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "malformed_json");
    assert!(error_message(&body).contains("line"), "{body}");
    assert_nothing_stored(&server, "inv_1").await;
}

#[tokio::test]
async fn every_offending_field_is_listed_together() {
    let server = TestServer::start().await;
    let mut bad = invoice("inv_bad");
    bad["currency"] = json!("ZZZ");
    bad["total"] = json!("12.x9");
    bad["lines"][0]["amount"] = json!(11);
    bad["customer"].as_object_mut().unwrap().remove("name");
    bad["issue_date"] = json!(20261101);
    let (status, body) = server.call("POST", "/v1/invoices", Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_invoice");
    let fields = fields(&body);
    for expected in [
        "currency",
        "total",
        "customer.name",
        "issue_date",
        "subtotal",
    ] {
        assert!(
            fields.iter().any(|f| f == expected),
            "{expected} missing from {fields:?}"
        );
    }
    assert_nothing_stored(&server, "inv_bad").await;
}

#[tokio::test]
async fn unbalanced_totals_and_draft_are_refused() {
    let server = TestServer::start().await;
    let unbalanced = invoice_with("inv_sum", "total", json!("13.00"));
    let (status, body) = server.call("POST", "/v1/invoices", Some(unbalanced)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&body), vec!["total"]);

    let draft = invoice_with("inv_draft", "status", json!("DRAFT"));
    let (status, body) = server.call("POST", "/v1/invoices", Some(draft)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "invoice_not_finalized");
    assert!(error_message(&body).contains("finalize"), "{body}");
    assert_nothing_stored(&server, "inv_sum").await;
    assert_nothing_stored(&server, "inv_draft").await;
}

#[tokio::test]
async fn oversized_bodies_are_a_413_and_not_stored() {
    let server = TestServer::start_with(|c| c.max_body_bytes = 4096).await;
    let mut big = invoice("inv_big");
    big["metadata"]["blob"] = json!("x".repeat(10_000));
    let (status, body) = server.call("POST", "/v1/invoices", Some(big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert_nothing_stored(&server, "inv_big").await;
}

#[tokio::test]
async fn wrong_types_never_cause_a_server_error() {
    let (server, receiver, _) = TestServer::start_with_webhook().await;
    let cases = [
        json!([]),
        json!("invoice"),
        json!(null),
        json!({}),
        json!({"id": 1, "lines": "none", "customer": [], "subtotal": true}),
        json!({"id": "x", "lines": [null, 3, {"amount": {}}], "metadata": 7}),
    ];
    for case in cases {
        let (status, body) = server
            .call("POST", "/v1/invoices", Some(case.clone()))
            .await;
        assert!(status.is_client_error(), "{case} gave {status}");
        assert!(body["error"]["message"].is_string(), "{case} gave {body}");
    }
    assert!(
        receiver
            .received()
            .iter()
            .all(|r| r.json()["type"] == "test")
    );
}

/// U+0000 cannot be stored in a database text column: an identifier or other field
/// holding one is refused, naming the field. Inside `metadata` (free-form, stored as
/// escaped JSON) it is kept and delivered, and it never holds up other invoices: on
/// PostgreSQL a `jsonb` cast of such a body once failed every claim on every host.
#[tokio::test]
async fn a_nul_character_is_refused_in_fields_and_harmless_in_metadata() {
    let (server, receiver, _) = TestServer::start_with_webhook().await;

    let mut bad = invoice("inv_nul_field");
    bad["customer"]["id"] = json!("cus_\u{0}42");
    let (status, body) = server.call("POST", "/v1/invoices", Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(fields(&body), vec!["customer.id"], "{body}");
    assert_nothing_stored(&server, "inv_nul_field").await;

    let mut odd = invoice("inv_nul_metadata");
    odd["metadata"]["note"] = json!("before\u{0}after");
    server.ingest(&odd).await;
    server.ingest(&invoice("inv_after_nul")).await;
    crate::support::eventually(
        "both invoices delivered",
        std::time::Duration::from_secs(20),
        || async {
            let got = |id| !receiver.for_invoice(id).is_empty();
            (got("inv_nul_metadata") && got("inv_after_nul")).then_some(())
        },
    )
    .await;
    let delivered = receiver.for_invoice("inv_nul_metadata")[0].json();
    assert_eq!(delivered["data"]["metadata"]["note"], "before\u{0}after");
}
