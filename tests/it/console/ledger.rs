//! The console's view of the ledger: an invoice page lists the credit notes and payments
//! applied to it with their sync state, each document has a page with a manual sync,
//! and the sync log filters by document type.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::{Operator, location};
use crate::support::{TestServer, eventually, invoice};

#[tokio::test]
async fn invoice_pages_list_their_documents_and_each_document_has_a_page() {
    let (server, _receiver, hook) = TestServer::start_with_webhook().await;
    server.ingest(&invoice("inv_c")).await;
    let payment = json!({"id": "pay_c", "status": "SUCCEEDED", "currency": "USD",
        "amount": "12.99", "received_at": "2026-11-21T09:00:00Z", "reference": "ch_<b>9",
        "customer": {"id": "cus_42", "name": "Acme Inc"},
        "applied_to": [{"invoice_id": "inv_c", "amount": "12.99"}]});
    let (status, body) = server.call("POST", "/v1/payments", Some(payment)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    eventually(
        "the payment's delivery",
        Duration::from_secs(20),
        || async {
            let log = server.log("document_id=pay_c&status=SUCCESS").await;
            (!log.is_empty()).then_some(())
        },
    )
    .await;

    let operator = Operator::sign_in(&server).await;
    let (status, _, page) = operator.get("/invoices/inv_c").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Credit notes, payments and refunds"),
        "{page}"
    );
    assert!(
        page.contains("href=\"/documents/payments/pay_c\""),
        "{page}"
    );

    let (status, _, page) = operator.get("/documents/payments/pay_c").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Payment pay_c"), "{page}");
    assert!(
        page.contains("href=\"/invoices/inv_c\""),
        "links its invoice: {page}"
    );
    assert!(
        page.contains("ch_&lt;b&gt;9"),
        "outside values are escaped: {page}"
    );
    assert!(!page.contains("ch_<b>9"));
    assert!(page.contains("succeeded"), "{page}");

    let form = [
        ("csrf", operator.csrf.as_str()),
        ("connection_id", hook["id"].as_str().unwrap()),
    ];
    let (status, headers, _) = operator.post("/documents/payments/pay_c/sync", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/documents/payments/pay_c?queued=1");
    eventually("the manual attempt", Duration::from_secs(20), || async {
        let log = server.log("document_id=pay_c").await;
        log.iter()
            .any(|e| e["kind"] == "manual" && e["status"] == "SUCCESS")
            .then_some(())
    })
    .await;

    let (status, _, page) = operator.get("/sync-log?document_type=payment").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("/documents/payments/pay_c"), "{page}");
    assert!(
        !page.contains("href=\"/invoices/inv_c\""),
        "only payments: {page}"
    );

    let (status, _, _) = operator.get("/documents/quotes/q_1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = operator.get("/documents/payments/pay_nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
