//! JSONPath payload templates on webhook connections.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Receiver, TestServer, array, error_message, eventually, invoice, string};

const WAIT: Duration = Duration::from_secs(10);

fn flat_template() -> Value {
    serde_json::from_str(include_str!(
        "../../examples/templates/flat-accounting.json"
    ))
    .unwrap()
}

#[tokio::test]
async fn a_template_shapes_the_delivered_body() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let created = server
        .create_connection(json!({"provider": "webhook", "config": {"url": receiver.url(), "template": flat_template()}}))
        .await;
    assert_eq!(
        created["config"]["template"],
        flat_template(),
        "the template is kept as given"
    );
    receiver.set_secret(string(&created["secret"]));
    assert_eq!(receiver.received()[0].json()["event"], "test");

    let mut inv = invoice("inv_tpl");
    inv["metadata"] = json!({});
    server.ingest(&inv).await;
    let got = eventually("the delivery", WAIT, || async {
        receiver
            .received()
            .into_iter()
            .find(|r| r.json()["document_number"] == "INV-inv_tpl")
    })
    .await;
    assert!(got.signature_ok);
    let body = got.json();
    assert_eq!(body["event"], "invoice.finalized");
    assert_eq!(string(&body["event_id"]), got.header("x-aforo-event-id"));
    assert_eq!(body["gross"], "12.99");
    assert_eq!(
        body["purchase_order"],
        Value::Null,
        "missing fields give null in this template"
    );
    assert_eq!(
        body["lines"],
        json!([{"text": "API calls", "item": "prod_api", "net": "12.00", "tax": "0.99",
                                      "tax_code": "TX-STATE", "currency": "USD"}])
    );
}

#[tokio::test]
async fn bad_templates_are_refused_when_saved_with_their_location() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let (status, body) = server
        .post_connection(
            json!({"provider": "webhook", "config": {"url": receiver.url(),
            "template": {"doc": {"lines": {"$each": "$.lines", "$map": {"amt": "$.amount[?"}}}}}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = error_message(&body);
    assert!(message.contains("/doc/lines/$map/amt"), "{message}");
    assert!(message.contains("JSONPath"), "{message}");
    assert!(
        receiver.received().is_empty(),
        "nothing was tested or stored"
    );
    assert!(array(&server.connections().await.1).is_empty());
}

#[tokio::test]
async fn a_strict_template_fails_the_sync_naming_the_missing_field() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let template = json!({"$missing": "error", "po": "$.metadata.po_number", "n": "$.number"});
    server
        .create_connection(
            json!({"provider": "webhook", "config": {"url": receiver.url(), "template": template}}),
        )
        .await;
    let mut inv = invoice("inv_nopo");
    inv["metadata"] = json!({});
    server.ingest(&inv).await;
    let words = ["/po", "$.metadata.po_number"];
    server.failed_attempt("inv_nopo", WAIT, &words).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.logged_attempts("inv_nopo").await, 1, "not retried");
}
