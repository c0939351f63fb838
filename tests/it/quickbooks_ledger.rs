//! The ledger in quickbooks: credit notes, payments, refunds and customer updates, booked as the
//! vendor books them, with their fault storms (see docs/architecture.md, "The ledger").
//!
//! Payments are QuickBooks Payments linked to their invoices, credit notes CreditMemos
//! applied to their invoice by a zero-amount Payment, customer updates sparse updates of
//! the Customer. The fake keeps each invoice's open balance, and the tests compare it to
//! the platform's own figures: total − credits − payments.

use std::time::Duration;

use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::fakes::quickbooks::{self as qbo, FakeQuickBooks};
use crate::support::{TestServer, erp, eventually, invoice, string};

const WAIT: Duration = Duration::from_secs(30);

/// The fake's deposit account "Checking".
const CHECKING: &str = "35";

async fn start(fake: &FakeQuickBooks) -> TestServer {
    let quickbooks = erp::quickbooks(fake);
    TestServer::start_with(move |c| {
        quickbooks(c);
        // QuickBooks' 60 s throttle pause, shortened for the test.
        c.retry.max_retry_after = Duration::from_millis(100);
    })
    .await
}

/// A fake company and a server connected to it with `config`.
async fn connected_with(config: Value) -> (FakeQuickBooks, TestServer, String) {
    let fake = FakeQuickBooks::start().await;
    let server = start(&fake).await;
    let (id, done) = server
        .connect_oauth(json!({"provider": "quickbooks", "config": config}))
        .await;
    assert_eq!(done["connection"]["status"], "active", "{done}");
    (fake, server, id)
}

async fn connected() -> (FakeQuickBooks, TestServer, String) {
    connected_with(json!({"payment_account": CHECKING})).await
}

fn payment(id: &str, amount: &str, applied: &[(&str, &str)]) -> Value {
    let applied: Vec<Value> = applied
        .iter()
        .map(|(inv, a)| json!({"invoice_id": inv, "amount": a}))
        .collect();
    json!({
        "id": id, "status": "SUCCEEDED", "currency": "USD", "amount": amount,
        "received_at": "2026-11-21T09:00:00Z", "method": "card", "reference": "ch_3N8x",
        "customer": { "id": "cus_42", "name": "Acme Inc" },
        "applied_to": applied, "metadata": {}
    })
}

fn credit_note(id: &str, invoice_id: &str, total: &str) -> Value {
    json!({
        "id": id, "number": format!("CN-{id}"), "status": "ISSUED",
        "invoice_id": invoice_id, "currency": "USD",
        "issue_date": "2026-11-20", "reason": "Overbilled API calls",
        "customer": { "id": "cus_42", "name": "Acme Inc" },
        "lines": [ { "id": "cnl_1", "type": "USAGE_FEE", "description": "API calls credit",
                     "amount": total } ],
        "subtotal": total, "tax_total": "0", "total": total, "metadata": {}
    })
}

async fn post(server: &TestServer, path: &str, body: &Value) -> Value {
    let (status, answer) = server.call("POST", path, Some(body.clone())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{path}: {answer}");
    answer
}

/// Waits for a document's `n`-th SUCCESS; answers its log, newest first.
async fn done(server: &TestServer, id: &str, n: usize) -> Vec<Value> {
    eventually(&format!("{n} SUCCESS for {id}"), WAIT, || async {
        let entries = server.log(&format!("document_id={id}")).await;
        let ok = entries.iter().filter(|e| e["status"] == "SUCCESS").count();
        (ok >= n).then_some(entries)
    })
    .await
}

/// Waits for a document's first FAILED attempt; answers its error.
async fn failed(server: &TestServer, id: &str) -> Value {
    eventually(&format!("a FAILED attempt of {id}"), WAIT, || async {
        server
            .log(&format!("document_id={id}&status=FAILED"))
            .await
            .pop()
    })
    .await
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// The QuickBooks Id of the invoice numbered `INV-<id>`.
fn invoice_id(fake: &FakeQuickBooks, id: &str) -> String {
    let number = format!("INV-{id}");
    let invoices = fake.invoices(qbo::REALM);
    let found = invoices.iter().find(|i| i["DocNumber"] == number.as_str());
    string(&found.unwrap_or_else(|| panic!("no {number}"))["Id"]).to_string()
}

/// Payments that are not voided and carry a non-zero amount, with their note.
fn live(payments: &[Value]) -> Vec<&Value> {
    payments
        .iter()
        .filter(|p| !string(&p["PrivateNote"]).starts_with("Voided"))
        .collect()
}

#[tokio::test]
async fn a_payment_is_applied_updated_resynced_and_voided_as_one_quickbooks_payment() {
    let (fake, server, _) = connected().await;
    server.ingest(&invoice("inv_a")).await; // 12.99
    server.ingest(&invoice("inv_b")).await;
    server.synced("inv_a", 1).await;
    server.synced("inv_b", 1).await;

    // 15.00 received, 12.99 of it for inv_a: the rest stays as the customer's credit.
    let first = payment("pay_1", "15.00", &[("inv_a", "12.99")]);
    post(&server, "/v1/payments", &first).await;
    let entries = done(&server, "pay_1", 1).await;
    let payments = fake.payments(qbo::REALM);
    assert_eq!(payments.len(), 1, "{payments:?}");
    let p = &payments[0];
    assert_eq!(entries[0]["erp_record_id"], p["Id"]);
    assert_eq!(
        p["Line"][0]["LinkedTxn"][0]["TxnId"],
        invoice_id(&fake, "inv_a")
    );
    assert_eq!(p["Line"][0]["LinkedTxn"][0]["TxnType"], "Invoice");
    assert_eq!(p["DepositToAccountRef"]["value"], CHECKING);
    assert_eq!(p["TotalAmt"].to_string(), "15.0");
    assert_eq!(p["UnappliedAmt"].to_string(), "2.01");
    assert_eq!(p["TxnDate"], "2026-11-21");
    let invoices = fake.invoices(qbo::REALM);
    assert_eq!(
        p["CustomerRef"], invoices[0]["CustomerRef"],
        "the invoice's customer"
    );
    assert_eq!(fake.invoice_balance(qbo::REALM, "INV-inv_a"), Decimal::ZERO);
    assert_eq!(fake.invoice_balance(qbo::REALM, "INV-inv_b"), dec("12.99"));

    // The same content again is a no-op; a manual re-sync writes nothing new.
    let again = post(&server, "/v1/payments", &first).await;
    assert_eq!(again["unchanged"], true, "{again}");
    let (status, body) = server.call("POST", "/v1/payments/pay_1/sync", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    done(&server, "pay_1", 2).await;
    assert_eq!(fake.payments(qbo::REALM).len(), 1);
    assert_eq!(fake.invoice_balance(qbo::REALM, "INV-inv_a"), Decimal::ZERO);

    // A changed version moves the money to inv_b: the same Payment, updated.
    let moved = payment("pay_1", "12.99", &[("inv_b", "12.99")]);
    post(&server, "/v1/payments", &moved).await;
    done(&server, "pay_1", 3).await;
    let payments = fake.payments(qbo::REALM);
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert_eq!(
        payments[0]["SyncToken"], "2",
        "the re-sync and the change updated it"
    );
    assert_eq!(fake.invoice_balance(qbo::REALM, "INV-inv_a"), dec("12.99"));
    assert_eq!(fake.invoice_balance(qbo::REALM, "INV-inv_b"), Decimal::ZERO);

    // VOID voids it in QuickBooks: the invoice is open again.
    let mut void = moved.clone();
    void["status"] = json!("VOID");
    post(&server, "/v1/payments", &void).await;
    done(&server, "pay_1", 4).await;
    let payments = fake.payments(qbo::REALM);
    assert_eq!(payments.len(), 1);
    assert!(
        string(&payments[0]["PrivateNote"]).starts_with("Voided"),
        "{payments:?}"
    );
    assert_eq!(fake.invoice_balance(qbo::REALM, "INV-inv_b"), dec("12.99"));
    // Every write carried a requestid.
    let writes: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/payment"))
        .collect();
    assert!(
        writes.iter().all(|r| r.details.requestid.is_some()),
        "{writes:?}"
    );
}

#[tokio::test]
async fn a_credit_note_is_a_credit_memo_applied_to_its_invoice_updated_and_deleted_on_void() {
    let (fake, server, _) = connected().await;
    server.ingest(&invoice("inv_c")).await; // 12.99
    post(
        &server,
        "/v1/credit-notes",
        &credit_note("cn_1", "inv_c", "2.17"),
    )
    .await;
    let entries = done(&server, "cn_1", 1).await;
    let memos = fake.credit_memos(qbo::REALM);
    assert_eq!(memos.len(), 1, "{memos:?}");
    assert_eq!(entries[0]["erp_record_id"], memos[0]["Id"]);
    assert_eq!(memos[0]["DocNumber"], "CN-cn_1");
    assert_eq!(memos[0]["TotalAmt"].to_string(), "2.17");
    assert_eq!(memos[0]["Balance"].to_string(), "0.0", "all of it applied");
    assert_eq!(
        memos[0]["CustomerRef"],
        fake.invoices(qbo::REALM)[0]["CustomerRef"]
    );
    let applications = fake.payments(qbo::REALM);
    assert_eq!(applications.len(), 1);
    assert_eq!(applications[0]["TotalAmt"].to_string(), "0.0");
    assert_eq!(fake.invoice_balance(qbo::REALM, "INV-inv_c"), dec("10.82"));

    // A payment of the rest settles the invoice.
    post(
        &server,
        "/v1/payments",
        &payment("pay_c", "10.82", &[("inv_c", "10.82")]),
    )
    .await;
    done(&server, "pay_c", 1).await;
    assert_eq!(fake.invoice_balance(qbo::REALM, "INV-inv_c"), Decimal::ZERO);

    // A larger credit on a settled invoice: the CreditMemo grows, and what the invoice
    // no longer has open stays as the customer's credit.
    post(
        &server,
        "/v1/credit-notes",
        &credit_note("cn_1", "inv_c", "3.00"),
    )
    .await;
    done(&server, "cn_1", 2).await;
    let memos = fake.credit_memos(qbo::REALM);
    assert_eq!(memos.len(), 1, "updated, not created: {memos:?}");
    assert_eq!(memos[0]["TotalAmt"].to_string(), "3.0");
    assert_eq!(memos[0]["Balance"].to_string(), "0.83");
    assert_eq!(fake.invoice_balance(qbo::REALM, "INV-inv_c"), Decimal::ZERO);
    assert_eq!(
        live(&fake.payments(qbo::REALM)).len(),
        2,
        "one payment, one application"
    );

    // VOID: the application goes, then the CreditMemo (QuickBooks has no void for it).
    let mut void = credit_note("cn_1", "inv_c", "3.00");
    void["status"] = json!("VOID");
    post(&server, "/v1/credit-notes", &void).await;
    done(&server, "cn_1", 3).await;
    assert!(fake.credit_memos(qbo::REALM).is_empty());
    assert_eq!(fake.invoice_balance(qbo::REALM, "INV-inv_c"), dec("2.17"));
    assert_eq!(
        fake.payments(qbo::REALM).len(),
        1,
        "only the payment is left"
    );
}

#[tokio::test]
async fn payments_wait_for_their_invoice_and_fail_clearly_when_they_cannot_be_booked() {
    let (fake, server, _) = connected().await;
    // Posted before its invoice, it lands after it.
    post(
        &server,
        "/v1/payments",
        &payment("pay_early", "12.99", &[("inv_late", "12.99")]),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(fake.payments(qbo::REALM).is_empty());
    server.ingest(&invoice("inv_late")).await;
    let entries = done(&server, "pay_early", 1).await;
    assert_eq!(entries.len(), 1, "no failed attempt: {entries:?}");
    assert_eq!(
        fake.invoice_balance(qbo::REALM, "INV-inv_late"),
        Decimal::ZERO
    );

    // More than the invoice has open: refused at once, naming the invoice and amounts.
    post(
        &server,
        "/v1/payments",
        &payment("pay_over", "5.00", &[("inv_late", "5.00")]),
    )
    .await;
    let entry = failed(&server, "pay_over").await;
    let error = string(&entry["error"]);
    for word in ["inv_late", "0.00 open", "applies 5.00", "not retried"] {
        assert!(error.contains(word), "{word:?} missing from {error}");
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        server.log("document_id=pay_over").await.len(),
        1,
        "not retried"
    );
    assert_eq!(fake.payments(qbo::REALM).len(), 1);

    // Without payment_account, a payment fails at once naming the setting.
    let (fake, server, _) = connected_with(json!({})).await;
    server.ingest(&invoice("inv_x")).await;
    post(
        &server,
        "/v1/payments",
        &payment("pay_x", "12.99", &[("inv_x", "12.99")]),
    )
    .await;
    let entry = failed(&server, "pay_x").await;
    assert!(
        string(&entry["error"]).contains("payment_account"),
        "{entry}"
    );
    assert!(fake.payments(qbo::REALM).is_empty());
}

#[tokio::test]
async fn a_customer_update_updates_the_quickbooks_customer_once_it_exists() {
    let (fake, server, _) = connected().await;
    let details = json!({"name": "Acme Incorporated", "email": "billing@acme.test",
                         "tax_number": "US-12-3456789"});
    let (status, body) = server
        .call("PUT", "/v1/customers/cus_42", Some(details.clone()))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    done(&server, "cus_42", 1).await;
    assert!(fake.customers(qbo::REALM).is_empty(), "nothing created");

    server.ingest(&invoice("inv_k")).await;
    server.synced("inv_k", 1).await;
    let (status, _) = server.call("POST", "/v1/customers/cus_42/sync", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    done(&server, "cus_42", 2).await;
    let customers = fake.customers(qbo::REALM);
    assert_eq!(customers.len(), 1, "{customers:?}");
    assert_eq!(customers[0]["DisplayName"], "Acme Incorporated");
    assert_eq!(
        customers[0]["PrimaryEmailAddr"]["Address"],
        "billing@acme.test"
    );
    assert_eq!(customers[0]["SyncToken"], "1");
    let sparse = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/customer"))
        .count();
    assert_eq!(sparse, 2, "one create, one update");
}

/// Tens of invoices, each with a credit note and a payment, through lost answers after
/// commit, throttling and an expired token: nothing is booked twice, and every invoice's
/// open balance in QuickBooks is the platform's total − credits − payments.
#[tokio::test]
async fn a_fault_storm_books_every_credit_and_payment_exactly_once() {
    let (fake, server, _) = connected().await;
    const N: usize = 24;
    let ids: Vec<String> = (0..N).map(|i| format!("inv_storm_{i}")).collect();
    for id in &ids {
        server.ingest(&invoice(id)).await;
    }
    for id in &ids {
        server.synced(id, 1).await;
    }
    // Every fault below hits the ledger's writes.
    fake.fail_after_commit(12);
    fake.throttle_next(6);
    fake.expire_access_tokens();
    let mut expected = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let credit = if i % 3 == 0 { "0" } else { "1.00" };
        let paid = match i % 4 {
            0 => "12.99",
            1 => "11.99",
            2 => "5.00",
            _ => "0",
        };
        // Credits and payments never exceed the invoice: 1.00 + 11.99 = 12.99 at most.
        let paid = if credit == "1.00" && paid == "12.99" {
            "11.99"
        } else {
            paid
        };
        if credit != "0" {
            let note = credit_note(&format!("cn_storm_{i}"), id, credit);
            post(&server, "/v1/credit-notes", &note).await;
        }
        if paid != "0" {
            let p = payment(&format!("pay_storm_{i}"), paid, &[(id, paid)]);
            post(&server, "/v1/payments", &p).await;
        }
        expected.push((
            id.clone(),
            dec("12.99") - dec(credit) - dec(paid),
            credit,
            paid,
        ));
    }
    // A payment spanning two invoices, with a remainder.
    let split = payment(
        "pay_storm_split",
        "3.00",
        &[(ids[3].as_str(), "1.00"), (ids[7].as_str(), "1.50")],
    );
    post(&server, "/v1/payments", &split).await;
    for (id, balance, _, _) in &mut expected {
        if id == &ids[3] {
            *balance -= dec("1.00");
        }
        if id == &ids[7] {
            *balance -= dec("1.50");
        }
    }
    let mut documents: Vec<String> = Vec::new();
    for (i, (_, _, credit, paid)) in expected.iter().enumerate() {
        if *credit != "0" {
            documents.push(format!("cn_storm_{i}"));
        }
        if *paid != "0" {
            documents.push(format!("pay_storm_{i}"));
        }
    }
    documents.push("pay_storm_split".into());
    for id in &documents {
        done(&server, id, 1).await;
    }

    let payments = fake.payments(qbo::REALM);
    let mut notes: Vec<String> = payments
        .iter()
        .map(|p| string(&p["PrivateNote"]).to_string())
        .collect();
    notes.sort();
    let total = notes.len();
    notes.dedup();
    assert_eq!(
        notes.len(),
        total,
        "a payment or application booked twice: {notes:?}"
    );
    let credits = documents.iter().filter(|d| d.starts_with("cn_")).count();
    let paid = documents.iter().filter(|d| d.starts_with("pay_")).count();
    assert_eq!(
        total,
        credits + paid,
        "one Payment per payment and per credit application"
    );
    let memos = fake.credit_memos(qbo::REALM);
    let mut numbers: Vec<&str> = memos.iter().map(|m| string(&m["DocNumber"])).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), memos.len(), "a credit memo booked twice");
    assert_eq!(memos.len(), credits);
    for (id, balance, _, _) in &expected {
        assert_eq!(
            fake.invoice_balance(qbo::REALM, &format!("INV-{id}")),
            *balance,
            "{id}: QuickBooks' open balance is the platform's total − credits − payments"
        );
    }
    let lost = fake
        .requests()
        .into_iter()
        .filter(|r| r.status == 500)
        .filter(|r| r.path.ends_with("/payment") || r.path.ends_with("/creditmemo"))
        .count();
    assert_eq!(lost, 12, "the ledger's answers were lost");
    assert!(fake.requests().iter().any(|r| r.status == 429), "throttled");
    assert!(fake.token_refreshes() > 0, "the token was refreshed");
}
