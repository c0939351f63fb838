//! A finalized invoice reaches the webhook at once, signed as the contract says, and
//! every later version is delivered in order with the right event type.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Received, Receiver, TestServer, array, eventually, invoice, string};

const WAIT: Duration = Duration::from_secs(10);

/// The invoice status each delivery carried, in arrival order.
fn statuses(got: &[Received]) -> Vec<String> {
    got.iter()
        .map(|r| r.json()["data"]["status"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn connecting_runs_a_signed_test_delivery_and_logs_it() {
    let (server, receiver, created) = TestServer::start_with_webhook().await;
    assert_eq!(created["status"], "active");
    assert_eq!(created["test_sync"]["status"], "SUCCESS");
    assert_eq!(created["test_sync"]["response_code"], 200);
    let secret = string(&created["secret"]);
    assert!(secret.starts_with("whsec_"));

    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["type"], "test");
    assert!(
        got[0].signature_ok,
        "the test delivery must verify with the returned secret"
    );

    let log = server.log("").await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["kind"], "test");
    assert_eq!(log[0]["status"], "SUCCESS");
    assert_eq!(log[0]["connection_id"], created["id"]);

    let (_, shown) = server.connection(string(&created["id"])).await;
    assert!(
        !shown.to_string().contains(secret),
        "the secret is shown only once"
    );
    assert_eq!(shown["last_test"]["status"], "SUCCESS");
}

#[tokio::test]
async fn an_invoice_is_delivered_signed_and_logged() {
    let (server, receiver, conn) = TestServer::start_with_webhook().await;
    let sent = invoice("inv_1");
    let accepted = server.ingest(&sent).await;
    assert_eq!(accepted["version"], 1);
    assert_eq!(array(&accepted["jobs"]).len(), 1);
    assert_eq!(accepted["jobs"][0]["connection_id"], conn["id"]);

    let got = eventually("the delivery", WAIT, || async {
        receiver.for_invoice("inv_1").pop()
    })
    .await;
    assert!(got.signature_ok);
    assert_eq!(got.header("content-type"), "application/json");
    let body = got.json();
    assert_eq!(body["type"], "invoice.finalized");
    assert_eq!(string(&body["id"]), got.header("x-aforo-event-id"));
    assert_eq!(body["data"]["total"], "12.99");
    assert_eq!(body["data"]["customer"]["name"], "Acme Inc");
    assert_eq!(body["data"]["metadata"]["po_number"], "PO-7");
    let t: i64 = got.header("x-aforo-timestamp").parse().unwrap();
    assert!(
        got.header("x-aforo-signature")
            .starts_with(&format!("t={t},v1="))
    );

    let entry = eventually("a SUCCESS log entry", WAIT, || async {
        server.log("invoice_id=inv_1&status=SUCCESS").await.pop()
    })
    .await;
    assert_eq!(entry["kind"], "sync");
    assert_eq!(entry["attempt"], 1);
    assert_eq!(entry["response_code"], 200);
    assert!(entry["duration_ms"].as_i64().unwrap() >= 0);
    assert_eq!(entry["event_id"], body["id"]);

    let (status, state) = server.invoice_state("inv_1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state["sync"][0]["state"], "succeeded");
    assert_eq!(state["invoice"]["number"], "INV-inv_1");
}

#[tokio::test]
async fn same_content_is_a_no_op_and_changes_are_updates_then_voids() {
    let (server, receiver, _) = TestServer::start_with_webhook().await;
    let mut inv = invoice("inv_2");
    server.ingest(&inv).await;
    eventually("v1", WAIT, || async {
        (receiver.for_invoice("inv_2").len() == 1).then_some(())
    })
    .await;

    // The same content with keys in another order and a number instead of a string.
    let mut same = invoice("inv_2");
    same["metadata"] = json!({"po_number": "PO-7"});
    let again = server.ingest(&same).await;
    assert_eq!(again["unchanged"], true);
    assert_eq!(again["version"], 1);
    assert!(array(&again["jobs"]).is_empty());

    inv["status"] = json!("PAID");
    assert_eq!(server.ingest(&inv).await["version"], 2);
    inv["status"] = json!("VOID");
    assert_eq!(server.ingest(&inv).await["version"], 3);

    let got = eventually("three deliveries", WAIT, || async {
        let got = receiver.for_invoice("inv_2");
        (got.len() == 3).then_some(got)
    })
    .await;
    let types: Vec<_> = got
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        ["invoice.finalized", "invoice.updated", "invoice.voided"]
    );
    assert_eq!(got[2].json()["data"]["status"], "VOID");
    let ids: std::collections::HashSet<_> =
        got.iter().map(|r| r.header("x-aforo-event-id")).collect();
    assert_eq!(ids.len(), 3, "each version is its own event");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.for_invoice("inv_2").len(),
        3,
        "the no-op sent nothing"
    );
}

/// The worker is driven by wake-ups, not by its idle poll: with the poll an hour long, a
/// retry still runs when it is due, and a version waiting behind an earlier one is
/// delivered as soon as that one settles.
#[tokio::test]
async fn retries_and_waiting_versions_need_no_polling() {
    let server = TestServer::start_with(|c| c.worker.idle_poll = Duration::from_secs(3600)).await;
    let receiver = Receiver::start().await;
    server.connect_webhook(&receiver, None).await;

    // Nothing else happens meanwhile: only the failed attempt can wake the worker.
    receiver.script([crate::support::Reply::status(503)]);
    server.ingest(&invoice("inv_retried")).await;
    eventually("the retry", WAIT, || async {
        (receiver.for_invoice("inv_retried").len() == 2).then_some(())
    })
    .await;

    // The second version waits for the first, whose retry then succeeds.
    receiver.script([crate::support::Reply::status(503)]);
    let mut inv = invoice("inv_waiting");
    server.ingest(&inv).await;
    inv["status"] = json!("PAID");
    server.ingest(&inv).await;
    let got = eventually("both versions", WAIT, || async {
        let ok: Vec<_> = receiver.for_invoice("inv_waiting");
        (ok.len() == 3).then_some(ok)
    })
    .await;
    assert_eq!(statuses(&got), ["OPEN", "OPEN", "PAID"]);
}

#[tokio::test]
async fn versions_of_one_invoice_arrive_in_order_even_when_one_retries() {
    let (server, receiver, _) = TestServer::start_with_webhook().await;
    // The first delivery fails twice; the later versions must wait for it.
    receiver.script([
        crate::support::Reply::status(500),
        crate::support::Reply::status(503),
    ]);
    let mut inv = invoice("inv_order");
    server.ingest(&inv).await;
    for status in ["PAID", "OVERDUE"] {
        inv["status"] = json!(status);
        server.ingest(&inv).await;
    }
    let got = eventually("all versions", WAIT, || async {
        let ok: Vec<_> = receiver.for_invoice("inv_order");
        (ok.len() == 5).then_some(ok)
    })
    .await;
    assert_eq!(statuses(&got), ["OPEN", "OPEN", "OPEN", "PAID", "OVERDUE"]);
}
