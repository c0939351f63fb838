//! The ledger beyond invoices on a webhook connection: credit notes, payments, refunds
//! and customer updates are checked as strictly as invoices, stored once per content,
//! delivered signed in the default envelope with their event types, logged with their
//! document type, and ordered after the documents they apply to.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Receiver, Reply, TestServer, eventually, invoice};

const WAIT: Duration = Duration::from_secs(15);

/// A credit note on `invoice_id` for `total` (one line, no tax).
fn credit_note(id: &str, invoice_id: &str, total: &str) -> Value {
    json!({
        "id": id, "number": format!("CN-{id}"), "status": "ISSUED",
        "invoice_id": invoice_id, "entity": "US", "currency": "USD",
        "issue_date": "2026-11-20", "reason": "Overbilled API calls",
        "customer": { "id": "cus_42", "name": "Acme Inc" },
        "lines": [ { "id": "cnl_1", "type": "USAGE_FEE", "description": "API calls credit",
                     "amount": total } ],
        "subtotal": total, "tax_total": "0", "total": total, "metadata": {}
    })
}

/// A payment of `amount`, all of it applied to `invoice_id`.
fn payment(id: &str, invoice_id: &str, amount: &str) -> Value {
    json!({
        "id": id, "status": "SUCCEEDED", "entity": "US", "currency": "USD",
        "amount": amount, "received_at": "2026-11-21T09:00:00Z", "method": "card",
        "reference": "ch_3N8x", "customer": { "id": "cus_42", "name": "Acme Inc" },
        "applied_to": [ { "invoice_id": invoice_id, "amount": amount } ], "metadata": {}
    })
}

/// A refund of `amount` against `credit_note_id`.
fn refund(id: &str, credit_note_id: &str, amount: &str) -> Value {
    json!({
        "id": id, "status": "SUCCEEDED", "currency": "USD", "amount": amount,
        "refunded_at": "2026-11-22T09:00:00Z", "credit_note_id": credit_note_id,
        "customer": { "id": "cus_42", "name": "Acme Inc" }, "entity": "US"
    })
}

/// Puts a customer's details, answering the status and body.
pub(crate) async fn put_customer(
    server: &TestServer,
    id: &str,
    body: Value,
) -> (StatusCode, Value) {
    let path = format!("/v1/customers/{id}");
    server.call("PUT", &path, Some(body)).await
}

/// Posts a payment of 12.99 for `invoice_id` and expects it accepted.
async fn pay(server: &TestServer, id: &str, invoice_id: &str) {
    post(server, "/v1/payments", &payment(id, invoice_id, "12.99")).await;
}

/// Posts a document and expects it accepted.
async fn post(server: &TestServer, path: &str, body: &Value) -> Value {
    let (status, answer) = server.call("POST", path, Some(body.clone())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{path}: {answer}");
    answer
}

/// The event types the receiver got for document `id`, in arrival order.
fn event_types(receiver: &Receiver, id: &str) -> Vec<String> {
    receiver
        .for_invoice(id)
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_document_reaches_a_webhook_signed_in_the_default_envelope() {
    let (server, receiver, conn) = TestServer::start_with_webhook().await;
    server.ingest(&invoice("inv_1")).await;
    let accepted = post(
        &server,
        "/v1/credit-notes",
        &credit_note("cn_1", "inv_1", "2.17"),
    )
    .await;
    assert_eq!(accepted["document_type"], "credit_note");
    assert_eq!(accepted["document_id"], "cn_1");
    assert_eq!(accepted["version"], 1);
    assert_eq!(accepted["jobs"][0]["connection_id"], conn["id"]);
    post(&server, "/v1/payments", &payment("pay_1", "inv_1", "10.82")).await;
    post(&server, "/v1/refunds", &refund("re_1", "cn_1", "2.17")).await;
    let details = json!({"name": "Acme Incorporated", "email": "billing@acme.test"});
    let (status, customer) = put_customer(&server, "cus_42", details).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{customer}");
    assert_eq!(customer["document_type"], "customer");

    for (id, event_type) in [
        ("cn_1", "credit_note.issued"),
        ("pay_1", "payment.succeeded"),
        ("re_1", "refund.succeeded"),
        ("cus_42", "customer.updated"),
    ] {
        let got = eventually(&format!("the delivery of {id}"), WAIT, || async {
            receiver.for_invoice(id).pop()
        })
        .await;
        assert!(got.signature_ok, "{id}: the signature verifies");
        let body = got.json();
        assert_eq!(body["type"], event_type);
        assert_eq!(body["id"].as_str().unwrap(), got.header("x-aforo-event-id"));
        assert_eq!(body["data"]["id"], id);
    }
    let refund_body = receiver.for_invoice("re_1").pop().unwrap().json();
    assert_eq!(refund_body["data"]["amount"], "2.17");
    assert_eq!(refund_body["data"]["credit_note_id"], "cn_1");
    let customer_body = receiver.for_invoice("cus_42").pop().unwrap().json();
    assert_eq!(customer_body["data"]["name"], "Acme Incorporated");

    // The sync log says which document each entry is about, and filters by both.
    let entries = eventually("the payment's SUCCESS entry", WAIT, || async {
        let e = server
            .log("document_type=payment&document_id=pay_1&status=SUCCESS")
            .await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert_eq!(entries[0]["document_type"], "payment");
    assert_eq!(entries[0]["document_id"], "pay_1");
    assert_eq!(entries[0]["invoice_id"], Value::Null);
    let credit_notes = server.log("document_type=credit_note").await;
    assert!(!credit_notes.is_empty());
    assert!(credit_notes.iter().all(|e| e["document_id"] == "cn_1"));
    let invoices = server.log("invoice_id=inv_1").await;
    assert!(
        invoices
            .iter()
            .all(|e| e["document_type"] == "invoice" && e["invoice_id"] == "inv_1")
    );
    let (status, refused) = server
        .call("GET", "/v1/sync-log?document_type=quote", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");

    // Each document answers GET like an invoice, and the invoice lists what applies to it.
    let (status, shown) = server.call("GET", "/v1/payments/pay_1", None).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["payment_id"], "pay_1");
    assert_eq!(shown["payment"]["amount"], "10.82");
    assert_eq!(shown["sync"][0]["state"], "succeeded");
    let (_, shown) = server.invoice_state("inv_1").await;
    let applied: Vec<(String, String)> = shown["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["document_type"].as_str().unwrap().to_string(),
                d["document_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        applied,
        [
            ("credit_note".to_string(), "cn_1".to_string()),
            ("payment".to_string(), "pay_1".to_string())
        ]
    );
    let (status, _) = server.call("GET", "/v1/refunds/re_missing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn reposts_are_no_ops_and_versions_arrive_in_order() {
    let (server, receiver, _conn) = TestServer::start_with_webhook().await;
    server.ingest(&invoice("inv_2")).await;
    let first = credit_note("cn_2", "inv_2", "2.00");
    post(&server, "/v1/credit-notes", &first).await;
    let again = post(&server, "/v1/credit-notes", &first).await;
    assert_eq!(again["unchanged"], true);
    assert_eq!(again["jobs"].as_array().unwrap().len(), 0);
    let mut changed = first.clone();
    changed["reason"] = json!("Goodwill");
    assert_eq!(
        post(&server, "/v1/credit-notes", &changed).await["version"],
        2
    );
    let mut void = changed.clone();
    void["status"] = json!("VOID");
    assert_eq!(post(&server, "/v1/credit-notes", &void).await["version"], 3);

    let types = eventually("three credit note events", WAIT, || async {
        let t = event_types(&receiver, "cn_2");
        (t.len() == 3).then_some(t)
    })
    .await;
    assert_eq!(
        types,
        [
            "credit_note.issued",
            "credit_note.updated",
            "credit_note.voided"
        ]
    );
    // A voided payment is delivered as payment.voided.
    let paid = payment("pay_2", "inv_2", "5.00");
    post(&server, "/v1/payments", &paid).await;
    let mut reversed = paid.clone();
    reversed["status"] = json!("VOID");
    post(&server, "/v1/payments", &reversed).await;
    let types = eventually("both payment events", WAIT, || async {
        let t = event_types(&receiver, "pay_2");
        (t.len() == 2).then_some(t)
    })
    .await;
    assert_eq!(types, ["payment.succeeded", "payment.voided"]);
    // The same id may name an invoice and a credit note: they are different documents.
    let twin = post(
        &server,
        "/v1/credit-notes",
        &credit_note("inv_2", "inv_2", "1.00"),
    )
    .await;
    assert_eq!(twin["version"], 1);
}

#[tokio::test]
async fn a_payment_before_its_invoice_waits_and_then_follows_it() {
    let (server, receiver, _conn) = TestServer::start_with_webhook().await;
    pay(&server, "pay_early", "inv_late").await;
    // It waits without failing and without using its attempts.
    let waiting = eventually("the payment to wait", WAIT, || async {
        let (_, shown) = server.call("GET", "/v1/payments/pay_early", None).await;
        let error = shown["sync"][0]["last_error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        error.contains("waiting").then_some(shown)
    })
    .await;
    assert_eq!(waiting["sync"][0]["state"], "pending");
    assert!(
        waiting["sync"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("invoice inv_late"),
        "{waiting}"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(receiver.for_invoice("pay_early").is_empty());
    assert!(server.log("document_id=pay_early").await.is_empty());

    server.ingest(&invoice("inv_late")).await;
    eventually("the payment, after its invoice", WAIT, || async {
        receiver.for_invoice("pay_early").pop()
    })
    .await;
    let order: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| {
            r.json()["data"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .filter(|id| id == "inv_late" || id == "pay_early")
        .collect();
    assert_eq!(order, ["inv_late", "pay_early"]);
    let entries = server.log("document_id=pay_early").await;
    assert_eq!(entries.len(), 1, "one attempt, no failed ones: {entries:?}");
    assert_eq!(entries[0]["status"], "SUCCESS");
    assert_eq!(entries[0]["attempt"], 1);
}

#[tokio::test]
async fn a_payment_for_an_invoice_that_failed_there_fails_at_once_naming_it() {
    let (server, receiver, _conn) = TestServer::start_with_webhook().await;
    receiver.set_default(Reply::status(500));
    server.ingest(&invoice("inv_bad")).await;
    eventually("the invoice to fail", WAIT, || async {
        let (_, s) = server.invoice_state("inv_bad").await;
        (s["sync"][0]["state"] == "failed").then_some(())
    })
    .await;
    receiver.set_default(Reply::status(200));
    pay(&server, "pay_bad", "inv_bad").await;
    let entry = eventually("the payment to fail", WAIT, || async {
        server.log("document_id=pay_bad&status=FAILED").await.pop()
    })
    .await;
    let error = entry["error"].as_str().unwrap();
    assert!(error.contains("invoice inv_bad FAILED"), "{error}");
    assert_eq!(entry["attempt"], 1, "failed at once, not retried");
    assert!(
        receiver.for_invoice("pay_bad").is_empty(),
        "nothing was sent"
    );

    // Re-syncing the invoice, then the payment, delivers both, the payment once.
    let (status, _) = server.resync("inv_bad", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    eventually("the invoice", WAIT, || async {
        let (_, s) = server.invoice_state("inv_bad").await;
        (s["sync"][0]["state"] == "succeeded").then_some(())
    })
    .await;
    let (status, body) = server.call("POST", "/v1/payments/pay_bad/sync", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    eventually("the payment", WAIT, || async {
        receiver.for_invoice("pay_bad").pop()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.for_invoice("pay_bad").len(), 1);
}

#[tokio::test]
async fn credit_notes_may_not_exceed_their_invoice_total() {
    let (server, _receiver, _conn) = TestServer::start_with_webhook().await;
    server.ingest(&invoice("inv_cap")).await; // total 12.99
    post(
        &server,
        "/v1/credit-notes",
        &credit_note("cn_a", "inv_cap", "10.00"),
    )
    .await;
    let (status, refused) = server
        .call(
            "POST",
            "/v1/credit-notes",
            Some(credit_note("cn_b", "inv_cap", "3.00")),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["details"][0]["field"], "total");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("inv_cap") && message.contains("12.99"),
        "{message}"
    );
    assert!(message.contains("at most 2.99"), "{message}");
    let (status, _) = server.call("GET", "/v1/credit-notes/cn_b", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was stored");

    // Exactly the rest fits; voiding the first frees its share.
    post(
        &server,
        "/v1/credit-notes",
        &credit_note("cn_c", "inv_cap", "2.99"),
    )
    .await;
    let mut void = credit_note("cn_a", "inv_cap", "10.00");
    void["status"] = json!("VOID");
    post(&server, "/v1/credit-notes", &void).await;
    post(
        &server,
        "/v1/credit-notes",
        &credit_note("cn_b", "inv_cap", "3.00"),
    )
    .await;
}

#[tokio::test]
async fn bad_documents_get_a_clear_error_and_store_nothing() {
    let (server, receiver, _conn) = TestServer::start_with_webhook().await;
    let mut bad = payment("pay_x", "inv_1", "12.99");
    bad["amount"] = json!("twelve");
    bad["currency"] = json!("ZZZ");
    bad["received_at"] = json!("yesterday");
    let (status, answer) = server.call("POST", "/v1/payments", Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_payment");
    let details = answer["error"]["details"].to_string();
    for field in ["amount", "currency", "received_at"] {
        let named = format!("\"field\":\"{field}\"");
        assert!(details.contains(&named), "{field} in {details}");
    }
    // Applying more than the payment's amount is refused too.
    let mut over = payment("pay_y", "inv_1", "12.99");
    over["applied_to"][0]["amount"] = json!("20.00");
    let (status, answer) = server.call("POST", "/v1/payments", Some(over)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["details"][0]["field"], "applied_to");
    let (status, answer) = server
        .post_raw("/v1/refunds", b"{\"id\": \"re_1\",".to_vec())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["code"], "malformed_json");
    let (status, answer) = put_customer(&server, "cus_1", json!({"email": "x@y.test"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["details"][0]["field"], "name");
    for path in [
        "/v1/payments/pay_x",
        "/v1/payments/pay_y",
        "/v1/refunds/re_1",
        "/v1/customers/cus_1",
    ] {
        let (status, _) = server.call("GET", path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: nothing was stored");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "only the connection's test event"
    );
}

/// A store written before the ledger (migrations up to `0003`) keeps every invoice, its
/// versions, jobs and log entries through the ledger migration, and they read back as
/// invoices.
#[tokio::test]
async fn a_store_from_before_the_ledger_keeps_its_invoices() {
    use erp_sync::store::{DocumentRef, LogFilter};
    use sqlx::Connection;

    let dir = tempfile::tempdir().unwrap();
    let old_migrations = tempfile::tempdir().unwrap();
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for name in ["0001_init.sql", "0002_transforms.sql", "0003_erp.sql"] {
        std::fs::copy(all.join(name), old_migrations.path().join(name)).unwrap();
    }
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("erp-sync.db").display()
    );
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(old_migrations.path())
        .await
        .unwrap()
        .run(&mut db)
        .await
        .unwrap();
    let body = invoice("inv_old").to_string();
    for sql in [
        "INSERT INTO tenants (id, name, multi_erp, created_ms) VALUES ('ten_old', 'old', 0, 1)".to_string(),
        "INSERT INTO invoices (tenant_id, id, version, content_hash, status, entity, updated_ms)
         VALUES ('ten_old', 'inv_old', 1, 'h1', 'OPEN', 'US', 2)".to_string(),
        format!(
            "INSERT INTO invoice_versions (tenant_id, invoice_id, version, content_hash, status, body, received_ms)
             VALUES ('ten_old', 'inv_old', 1, 'h1', 'OPEN', '{body}', 2)"
        ),
        "INSERT INTO jobs (id, tenant_id, connection_id, invoice_id, version, event_id, event_type, kind,
                           event_ms, state, attempts, run_at_ms, created_ms, updated_ms)
         VALUES ('job_old', 'ten_old', 'conn_old', 'inv_old', 1, 'evt_old', 'invoice.finalized', 'sync',
                 2, 'succeeded', 1, 2, 2, 3)".to_string(),
        // Logged within the retention (yesterday), so start-up pruning keeps it.
        format!(
            "INSERT INTO sync_log (tenant_id, at_ms, invoice_id, connection_id, provider, kind, job_id, event_id,
                                   attempt, status, duration_ms)
             VALUES ('ten_old', {}, 'inv_old', 'conn_old', 'webhook', 'sync', 'job_old', 'evt_old', 1, 'SUCCESS', 1)",
            chrono::Utc::now().timestamp_millis() - 86_400_000
        ),
    ] {
        sqlx::query(&sql).execute(&mut db).await.unwrap();
    }
    db.close().await.unwrap();

    let path = dir.path().to_path_buf();
    let server = TestServer::start_with(move |c| {
        c.data_dir = path;
        c.database_url = None;
    })
    .await;
    let store = server.store();
    let state = store
        .document_state("ten_old", &DocumentRef::invoice("inv_old"))
        .await
        .expect("the old invoice reads back");
    assert_eq!(state.version, 1);
    assert_eq!(state.document["id"], "inv_old");
    assert_eq!(state.sync.len(), 1);
    assert_eq!(state.sync[0].state, "succeeded");
    let filter = LogFilter {
        invoice_id: Some("inv_old".into()),
        limit: 10,
        ..LogFilter::default()
    };
    let page = store.query_log("ten_old", &filter).await.unwrap();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].document_type.as_deref(), Some("invoice"));
    assert_eq!(page.entries[0].document_id.as_deref(), Some("inv_old"));
    drop(server);
    drop(dir);
}

/// A connection's template shapes invoices; every other document reaches the same
/// connection in the default envelope (a template takes an invoice).
#[tokio::test]
async fn templated_webhooks_get_other_documents_in_the_default_envelope() {
    let server = TestServer::start().await;
    let receiver = crate::support::Receiver::start().await;
    let template = json!({"kind": "$event.type", "invoice": "$.number"});
    let config = json!({"url": receiver.url(), "template": template});
    let created = server
        .create_connection(json!({"provider": "webhook", "config": config}))
        .await;
    receiver.set_secret(created["secret"].as_str().unwrap());
    server.ingest(&invoice("inv_t")).await;
    pay(&server, "pay_t", "inv_t").await;
    let got = eventually("both deliveries", WAIT, || async {
        let got = receiver.received();
        (got.len() == 3).then_some(got)
    })
    .await;
    let shaped = got[1].json();
    assert_eq!(
        shaped,
        json!({"kind": "invoice.finalized", "invoice": "INV-inv_t"})
    );
    let payment = got[2].json();
    assert_eq!(payment["type"], "payment.succeeded");
    assert_eq!(payment["data"]["id"], "pay_t");
    assert!(got[2].signature_ok);
}
