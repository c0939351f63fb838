//! The ledger in quickbooks: credit notes, payments, refunds and customer updates, booked as the
//! vendor books them, with their fault storms (see docs/architecture.md, "The ledger").
//!
//! Payments are QuickBooks Payments linked to their invoices, credit notes CreditMemos
//! applied to their invoice by a zero-amount Payment, refunds a cheque to the customer
//! settled with the credit memo by a zero-amount Payment, customer updates sparse updates
//! of the Customer. The fake keeps each invoice's open balance, and the tests compare it to
//! the platform's own figures: total − credits − payments.

use std::time::Duration;

use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::fakes::quickbooks::{self as qbo, FakeQuickBooks};
use crate::quickbooks::start;
use crate::support::{TestServer, eventually, invoice, string};

const WAIT: Duration = Duration::from_secs(30);

/// The fake's deposit account "Checking".
const CHECKING: &str = "35";

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

/// Asks for a manual re-sync (`path`: `/v1/<documents>/<id>/sync`).
async fn resync(server: &TestServer, path: &str) {
    let (status, body) = server.call("POST", path, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{path}: {body}");
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

/// The open balance in QuickBooks of the invoice of `invoice` (`INV-<invoice>`).
fn open(fake: &FakeQuickBooks, invoice: &str) -> Decimal {
    fake.invoice_balance(qbo::REALM, &format!("INV-{invoice}"))
}

/// The credit left on the credit memo of credit note `note` (`CN-<note>`).
fn credit_left(fake: &FakeQuickBooks, note: &str) -> Decimal {
    fake.credit_memo_balance(qbo::REALM, &format!("CN-{note}"))
}

/// The balance of the deposit account, "Checking".
fn bank(fake: &FakeQuickBooks) -> Decimal {
    fake.account_balance(qbo::REALM, CHECKING)
}

/// Waits a little, then asserts that each of `ids` had one attempt only.
async fn not_retried(server: &TestServer, ids: &[&str]) {
    tokio::time::sleep(Duration::from_millis(400)).await;
    for id in ids {
        let log = server.log(&format!("document_id={id}")).await;
        assert_eq!(log.len(), 1, "{id}: not retried: {log:?}");
    }
}

/// The one entity of `list`, which the first delivery (its log `entries`) recorded as its
/// ERP record.
fn the_one(list: Vec<Value>, entries: &[Value]) -> Value {
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(entries[0]["erp_record_id"], list[0]["Id"]);
    list.into_iter().next().expect("one")
}

/// Payments that are not voided and carry a non-zero amount, with their note.
fn live(payments: &[Value]) -> Vec<&Value> {
    payments
        .iter()
        .filter(|p| !string(&p["PrivateNote"]).starts_with("Voided"))
        .collect()
}

/// `n` invoices `<prefix>_<i>` (12.99 each), ingested and synced.
async fn synced_invoices(server: &TestServer, prefix: &str, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}_{i}")).collect();
    for id in &ids {
        server.ingest(&invoice(id)).await;
    }
    for id in &ids {
        server.synced(id, 1).await;
    }
    ids
}

/// A storm over the writes that follow: `lost` answers lost after commit, `throttled`
/// 429s, and an expired access token.
fn storm(fake: &FakeQuickBooks, lost: usize, throttled: usize) {
    fake.fail_after_commit(lost);
    fake.throttle_next(throttled);
    fake.expire_access_tokens();
}

/// Asserts that no two of `entities` carry the same `field` (else `what` was booked
/// twice); answers how many there are.
fn distinct(entities: &[Value], field: &str, what: &str) -> usize {
    let mut keys: Vec<&str> = entities.iter().map(|e| string(&e[field])).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), entities.len(), "{what} booked twice: {keys:?}");
    entities.len()
}

/// Asserts that `lost` answers were lost after commit (500) on paths ending in one of
/// `paths` (on any path when `paths` is empty), that the fake throttled, and, with
/// `refreshed`, that the token was refreshed.
fn weathered(fake: &FakeQuickBooks, paths: &[&str], lost: usize, refreshed: bool) {
    let on = |path: &str| paths.is_empty() || paths.iter().any(|p| path.ends_with(p));
    let requests = fake.requests();
    let failed = requests.iter().filter(|r| r.status == 500 && on(&r.path));
    assert_eq!(failed.count(), lost, "the ledger's answers were lost");
    if refreshed {
        assert!(requests.iter().any(|r| r.status == 429), "throttled");
        assert!(fake.token_refreshes() > 0, "the token was refreshed");
    }
}

/// Asserts that every POST to a path ending in one of `paths` carried a `requestid`.
fn every_write_carried_a_requestid(fake: &FakeQuickBooks, paths: &[&str]) {
    let requests = fake.requests();
    let writes: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "POST" && paths.iter().any(|p| r.path.ends_with(p)))
        .collect();
    let keyed = writes.iter().all(|r| r.details.requestid.is_some());
    assert!(keyed, "a write without a requestid: {writes:?}");
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
    let p = &the_one(fake.payments(qbo::REALM), &entries);
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
    assert_eq!(open(&fake, "inv_a"), Decimal::ZERO);
    assert_eq!(open(&fake, "inv_b"), dec("12.99"));

    // The same content again is a no-op; a manual re-sync writes nothing new.
    let again = post(&server, "/v1/payments", &first).await;
    assert_eq!(again["unchanged"], true, "{again}");
    resync(&server, "/v1/payments/pay_1/sync").await;
    done(&server, "pay_1", 2).await;
    assert_eq!(fake.payments(qbo::REALM).len(), 1);
    assert_eq!(open(&fake, "inv_a"), Decimal::ZERO);

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
    assert_eq!(open(&fake, "inv_a"), dec("12.99"));
    assert_eq!(open(&fake, "inv_b"), Decimal::ZERO);

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
    assert_eq!(open(&fake, "inv_b"), dec("12.99"));
    every_write_carried_a_requestid(&fake, &["/payment"]);
}

#[tokio::test]
async fn a_credit_note_is_a_credit_memo_applied_to_its_invoice_updated_and_deleted_on_void() {
    let (fake, server, _) = connected().await;
    server.ingest(&invoice("inv_c")).await; // 12.99
    done(&server, "inv_c", 1).await;
    let before = fake.requests().len();
    let doc = credit_note("cn_1", "inv_c", "2.17");
    post(&server, "/v1/credit-notes", &doc).await;
    let entries = done(&server, "cn_1", 1).await;
    // Its own write and one call beyond: the CreditMemo, then the Payment applying it.
    let calls: Vec<String> = fake.requests()[before..]
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.method,
                r.path.rsplit('/').next().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(calls, ["POST creditmemo", "POST payment"], "{calls:?}");
    let memo = the_one(fake.credit_memos(qbo::REALM), &entries);
    assert_eq!(memo["DocNumber"], "CN-cn_1");
    assert_eq!(memo["TotalAmt"].to_string(), "2.17");
    assert_eq!(memo["Balance"].to_string(), "0.0", "all of it applied");
    assert_eq!(
        memo["CustomerRef"],
        fake.invoices(qbo::REALM)[0]["CustomerRef"]
    );
    let applications = fake.payments(qbo::REALM);
    assert_eq!(applications.len(), 1);
    assert_eq!(applications[0]["TotalAmt"].to_string(), "0.0");
    assert_eq!(open(&fake, "inv_c"), dec("10.82"));

    // A payment of the rest settles the invoice.
    let doc = payment("pay_c", "10.82", &[("inv_c", "10.82")]);
    post(&server, "/v1/payments", &doc).await;
    done(&server, "pay_c", 1).await;
    assert_eq!(open(&fake, "inv_c"), Decimal::ZERO);

    // A larger credit on a settled invoice: the CreditMemo grows, and what the invoice
    // no longer has open stays as the customer's credit.
    let doc = credit_note("cn_1", "inv_c", "3.00");
    post(&server, "/v1/credit-notes", &doc).await;
    done(&server, "cn_1", 2).await;
    let memos = fake.credit_memos(qbo::REALM);
    assert_eq!(memos.len(), 1, "updated, not created: {memos:?}");
    assert_eq!(memos[0]["TotalAmt"].to_string(), "3.0");
    assert_eq!(memos[0]["Balance"].to_string(), "0.83");
    assert_eq!(open(&fake, "inv_c"), Decimal::ZERO);
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
    assert_eq!(open(&fake, "inv_c"), dec("2.17"));
    let left = fake.payments(qbo::REALM);
    assert_eq!(left.len(), 1, "only the payment is left: {left:?}");
}

#[tokio::test]
async fn payments_wait_for_their_invoice_and_fail_clearly_when_they_cannot_be_booked() {
    let (fake, server, _) = connected().await;
    // Posted before its invoice, it lands after it.
    let doc = payment("pay_early", "12.99", &[("inv_late", "12.99")]);
    post(&server, "/v1/payments", &doc).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(fake.payments(qbo::REALM).is_empty());
    server.ingest(&invoice("inv_late")).await;
    let entries = done(&server, "pay_early", 1).await;
    assert_eq!(entries.len(), 1, "no failed attempt: {entries:?}");
    assert_eq!(open(&fake, "inv_late"), Decimal::ZERO);

    // More than the invoice has open: refused at once, naming the invoice and amounts.
    let doc = payment("pay_over", "5.00", &[("inv_late", "5.00")]);
    post(&server, "/v1/payments", &doc).await;
    let entry = failed(&server, "pay_over").await;
    let error = string(&entry["error"]);
    for word in ["inv_late", "0.00 open", "applies 5.00", "not retried"] {
        assert!(error.contains(word), "{word:?} missing from {error}");
    }
    not_retried(&server, &["pay_over"]).await;
    assert_eq!(fake.payments(qbo::REALM).len(), 1);

    // Without payment_account, a payment fails at once naming the setting.
    let (fake, server, _) = connected_with(json!({})).await;
    server.ingest(&invoice("inv_x")).await;
    let doc = payment("pay_x", "12.99", &[("inv_x", "12.99")]);
    post(&server, "/v1/payments", &doc).await;
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
    resync(&server, "/v1/customers/cus_42/sync").await;
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
    let ids = synced_invoices(&server, "inv_storm", 24).await;
    // Every fault below hits the ledger's writes.
    storm(&fake, 12, 6);
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
    let total = distinct(&payments, "PrivateNote", "a payment or application");
    let credits = documents.iter().filter(|d| d.starts_with("cn_")).count();
    let paid = documents.iter().filter(|d| d.starts_with("pay_")).count();
    let one_each = "one Payment per payment and per credit application";
    assert_eq!(total, credits + paid, "{one_each}");
    let memos = fake.credit_memos(qbo::REALM);
    assert_eq!(distinct(&memos, "DocNumber", "a credit memo"), credits);
    for (id, balance, _, _) in &expected {
        assert_eq!(
            open(&fake, id),
            *balance,
            "{id}: QuickBooks' open balance is the platform's total − credits − payments"
        );
    }
    weathered(&fake, &["/payment", "/creditmemo"], 12, true);
}

fn refund(id: &str, credit_note_id: Option<&str>, amount: &str) -> Value {
    let mut body = json!({
        "id": id, "status": "SUCCEEDED", "currency": "USD", "amount": amount,
        "refunded_at": "2026-11-22T15:30:00Z", "reference": "re_3N8y",
        "customer": { "id": "cus_42", "name": "Acme Inc" }, "metadata": {}
    });
    if let Some(note) = credit_note_id {
        body["credit_note_id"] = json!(note);
    }
    body
}

/// The fake's Accounts Receivable account.
const RECEIVABLE: &str = "84";

/// An invoice paid in full, then a credit note of `credit` on it: the credit memo's
/// credit stays open, to be refunded.
async fn paid_then_credited(server: &TestServer, id: &str, credit: &str) {
    server.ingest(&invoice(&format!("inv_{id}"))).await; // 12.99
    server.synced(&format!("inv_{id}"), 1).await;
    let paid = payment(
        &format!("pay_{id}"),
        "12.99",
        &[(format!("inv_{id}").as_str(), "12.99")],
    );
    post(server, "/v1/payments", &paid).await;
    done(server, &format!("pay_{id}"), 1).await;
    let note = credit_note(&format!("cn_{id}"), &format!("inv_{id}"), credit);
    post(server, "/v1/credit-notes", &note).await;
    done(server, &format!("cn_{id}"), 1).await;
}

/// Payments that carry `text` in their note.
fn payments_noting(fake: &FakeQuickBooks, text: &str) -> usize {
    fake.payments(qbo::REALM)
        .iter()
        .filter(|p| string(&p["PrivateNote"]).contains(text))
        .count()
}

#[tokio::test]
async fn a_refund_pays_the_credit_memo_out_by_cheque_and_is_deleted_on_void() {
    let (fake, server, _) = connected().await;
    paid_then_credited(&server, "r", "2.17").await;
    assert_eq!(credit_left(&fake, "cn_r"), dec("2.17"));
    assert_eq!(bank(&fake), dec("12.99"));
    assert_eq!(fake.payments(qbo::REALM).len(), 1, "nothing to apply to");

    let first = refund("re_1", Some("cn_r"), "1.00");
    post(&server, "/v1/refunds", &first).await;
    let entries = done(&server, "re_1", 1).await;
    let check = &the_one(fake.purchases(qbo::REALM), &entries);
    assert_eq!(check["PaymentType"], "Check");
    assert_eq!(check["AccountRef"]["value"], CHECKING);
    assert_eq!(check["EntityRef"]["type"], "Customer");
    let memo = &fake.credit_memos(qbo::REALM)[0];
    assert_eq!(check["EntityRef"]["value"], memo["CustomerRef"]["value"]);
    assert_eq!(check["TotalAmt"].to_string(), "1.0");
    assert_eq!(
        check["Line"][0]["AccountBasedExpenseLineDetail"]["AccountRef"]["value"],
        RECEIVABLE
    );
    assert_eq!(check["TxnDate"], "2026-11-22");
    // The credit memo's credit went down by the refund, the bank by the money paid out;
    // the invoice is untouched.
    assert_eq!(credit_left(&fake, "cn_r"), dec("1.17"));
    assert_eq!(bank(&fake), dec("11.99"));
    assert_eq!(open(&fake, "inv_r"), Decimal::ZERO);
    let applications: Vec<Value> = fake
        .payments(qbo::REALM)
        .into_iter()
        .filter(|p| string(&p["PrivateNote"]).contains("refund re_1"))
        .collect();
    assert_eq!(applications.len(), 1);
    assert_eq!(applications[0]["TotalAmt"].to_string(), "0.0");
    assert_eq!(
        applications[0]["Line"][0]["LinkedTxn"][0]["TxnType"],
        "Check"
    );
    assert_eq!(
        applications[0]["Line"][1]["LinkedTxn"][0]["TxnId"],
        memo["Id"]
    );

    // A re-sync of the credit note leaves the refund alone: the credit left is not
    // applied to the settled invoice.
    resync(&server, "/v1/credit-notes/cn_r/sync").await;
    done(&server, "cn_r", 2).await;
    assert_eq!(credit_left(&fake, "cn_r"), dec("1.17"));
    assert_eq!(open(&fake, "inv_r"), Decimal::ZERO);

    // The same content again is a no-op; a manual re-sync books nothing new.
    let again = post(&server, "/v1/refunds", &first).await;
    assert_eq!(again["unchanged"], true, "{again}");
    resync(&server, "/v1/refunds/re_1/sync").await;
    done(&server, "re_1", 2).await;
    assert_eq!(fake.purchases(qbo::REALM).len(), 1);
    assert_eq!(payments_noting(&fake, "refund re_1"), 1);
    assert_eq!(credit_left(&fake, "cn_r"), dec("1.17"));
    assert_eq!(bank(&fake), dec("11.99"));

    // A changed amount: the same cheque, updated, applied again for the new amount.
    let doc = refund("re_1", Some("cn_r"), "2.17");
    post(&server, "/v1/refunds", &doc).await;
    done(&server, "re_1", 3).await;
    let purchases = fake.purchases(qbo::REALM);
    assert_eq!(purchases.len(), 1, "updated, not created: {purchases:?}");
    assert_eq!(purchases[0]["Id"], check["Id"]);
    assert_eq!(purchases[0]["TotalAmt"].to_string(), "2.17");
    assert_eq!(payments_noting(&fake, "refund re_1"), 1);
    assert_eq!(credit_left(&fake, "cn_r"), Decimal::ZERO);
    assert_eq!(bank(&fake), dec("10.82"));

    // VOID: the application goes, then the cheque; the credit and the money are back.
    let mut void = refund("re_1", Some("cn_r"), "2.17");
    void["status"] = json!("VOID");
    post(&server, "/v1/refunds", &void).await;
    done(&server, "re_1", 4).await;
    assert!(fake.purchases(qbo::REALM).is_empty());
    assert_eq!(payments_noting(&fake, "refund re_1"), 0);
    assert_eq!(credit_left(&fake, "cn_r"), dec("2.17"));
    assert_eq!(bank(&fake), dec("12.99"));
    every_write_carried_a_requestid(&fake, &["/purchase", "/payment"]);
}

#[tokio::test]
async fn refunds_fail_at_once_without_a_credit_note_or_above_the_credit_left() {
    let (fake, server, _) = connected().await;
    // A credit note on an open invoice: all of its credit is applied there.
    server.ingest(&invoice("inv_s")).await;
    let doc = credit_note("cn_s", "inv_s", "2.17");
    post(&server, "/v1/credit-notes", &doc).await;
    done(&server, "cn_s", 1).await;
    assert_eq!(credit_left(&fake, "cn_s"), Decimal::ZERO);

    post(&server, "/v1/refunds", &refund("re_none", None, "1.00")).await;
    let entry = failed(&server, "re_none").await;
    let error = string(&entry["error"]);
    assert!(error.contains("credit_note_id"), "{error}");

    let doc = refund("re_over", Some("cn_s"), "1.00");
    post(&server, "/v1/refunds", &doc).await;
    let entry = failed(&server, "re_over").await;
    let error = string(&entry["error"]);
    for word in [
        "re_over",
        "1.00 USD",
        "cn_s",
        "0.00 USD",
        "nothing was sent",
    ] {
        assert!(error.contains(word), "{word:?} missing from {error}");
    }
    not_retried(&server, &["re_over", "re_none"]).await;
    assert!(fake.purchases(qbo::REALM).is_empty());
    assert_eq!(payments_noting(&fake, "refund"), 0);
}

#[tokio::test]
async fn a_refund_whose_answers_are_lost_after_commit_is_booked_once() {
    let (fake, server, _) = connected().await;
    paid_then_credited(&server, "l", "2.17").await;
    // The cheque's answer and the application's are both lost after QuickBooks kept them.
    fake.fail_after_commit(2);
    let doc = refund("re_lost", Some("cn_l"), "2.17");
    post(&server, "/v1/refunds", &doc).await;
    done(&server, "re_lost", 1).await;
    assert_eq!(fake.purchases(qbo::REALM).len(), 1, "one cheque");
    assert_eq!(
        payments_noting(&fake, "refund re_lost"),
        1,
        "one application"
    );
    assert_eq!(credit_left(&fake, "cn_l"), Decimal::ZERO);
    assert_eq!(bank(&fake), dec("10.82"));
    weathered(&fake, &["/purchase", "/payment"], 2, false);
}

/// Invoices paid in full, each credited afterwards and the credit refunded (all of it or
/// part), through lost answers after commit, throttling and expired tokens: one cheque
/// and one application per refund, and each credit memo's remaining credit is the credit
/// less its refund, the bank account the payments less the refunds.
#[tokio::test]
async fn a_fault_storm_books_every_refund_exactly_once() {
    let (fake, server, _) = connected().await;
    const N: usize = 12;
    let ids = synced_invoices(&server, "inv_rs", N).await;
    storm(&fake, 6, 4);
    for (i, id) in ids.iter().enumerate() {
        let p = payment(&format!("pay_rs_{i}"), "12.99", &[(id, "12.99")]);
        post(&server, "/v1/payments", &p).await;
    }
    for i in 0..N {
        done(&server, &format!("pay_rs_{i}"), 1).await;
    }
    // The storm goes on over the credit notes and their refunds.
    storm(&fake, 10, 6);
    let mut refunded = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let note = credit_note(&format!("cn_rs_{i}"), id, "2.00");
        post(&server, "/v1/credit-notes", &note).await;
        let amount = ["2.00", "1.50", "0.50"][i % 3];
        let r = refund(&format!("re_rs_{i}"), Some(&format!("cn_rs_{i}")), amount);
        post(&server, "/v1/refunds", &r).await;
        refunded.push(dec(amount));
    }
    for i in 0..N {
        done(&server, &format!("cn_rs_{i}"), 1).await;
        done(&server, &format!("re_rs_{i}"), 1).await;
    }

    let cheques = distinct(&fake.purchases(qbo::REALM), "PrivateNote", "a cheque");
    assert_eq!(cheques, N, "one cheque per refund");
    let payments = distinct(&fake.payments(qbo::REALM), "PrivateNote", "a payment");
    assert_eq!(
        payments,
        2 * N,
        "one payment and one refund application each"
    );
    let memos = distinct(&fake.credit_memos(qbo::REALM), "DocNumber", "a credit memo");
    assert_eq!(memos, N, "a credit memo booked twice");
    for (i, amount) in refunded.iter().enumerate() {
        assert_eq!(
            credit_left(&fake, &format!("cn_rs_{i}")),
            dec("2.00") - amount,
            "cn_rs_{i}: the credit memo's remaining credit is the credit less the refund"
        );
        assert_eq!(open(&fake, &ids[i]), Decimal::ZERO);
    }
    let paid_out: Decimal = refunded.iter().sum();
    assert_eq!(
        bank(&fake),
        dec("12.99") * Decimal::from(N) - paid_out,
        "the bank holds the payments less the refunds"
    );
    weathered(&fake, &[], 16, true);
}
