//! The ledger in netsuite: credit notes, payments, refunds and customer updates, booked as the
//! vendor books them, with their fault storms (see docs/architecture.md, "The ledger").
//!
//! Payments are customer payments applied to their invoices, credit notes credit memos
//! applied to theirs, refunds customer refunds drawing on a credit memo, customer updates
//! upserts of the same customer; each is one NetSuite record per document however many
//! lost answers, retries and versions, and the fake's open balance of every invoice is the
//! billing platform's own figure.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::fakes::netsuite::{self as ns, FakeNetSuite};
use crate::netsuite::connect_with;
use crate::support::erp::netsuite_config;
use crate::support::{TestServer, eventually, invoice, string};

const WAIT: Duration = Duration::from_secs(20);

/// The connection config: the fake's credentials and items, payments into its bank account.
fn config(fake: &FakeNetSuite) -> Value {
    let mut config = netsuite_config(fake);
    config["item_map"] = json!({"prod_api": ns::ITEM_USAGE, "TAX": ns::ITEM_TAX});
    config["payment_account"] = json!(ns::ACCOUNT_BANK);
    config
}

/// A fake NetSuite and a server connected to it with [`config`] as `edit` leaves it.
async fn connected_with(edit: impl FnOnce(&mut Value)) -> (FakeNetSuite, TestServer) {
    let fake = FakeNetSuite::start().await;
    let server = TestServer::start().await;
    let mut config = config(&fake);
    edit(&mut config);
    connect_with(&server, config).await;
    (fake, server)
}

async fn connected() -> (FakeNetSuite, TestServer) {
    connected_with(|_| {}).await
}

/// Ingests the example invoices `ids` and waits until each has synced.
async fn with_invoices(server: &TestServer, ids: &[&str]) {
    for id in ids {
        server.ingest(&invoice(id)).await;
        server.synced(id, 1).await;
    }
}

/// The example invoice's customer.
fn customer() -> Value {
    invoice("x")["customer"].clone()
}

/// A payment of `amount`, applied as `applied` (invoice id, amount).
fn payment(id: &str, amount: &str, applied: &[(&str, &str)]) -> Value {
    let mut payment = json!({
        "id": id, "status": "SUCCEEDED", "currency": "USD", "amount": amount,
        "received_at": "2026-11-21T09:00:00Z", "method": "card", "reference": "ch_3N8x",
        "customer": customer(), "metadata": {}
    });
    let line = |(i, a): &(&str, &str)| json!({"invoice_id": i, "amount": a});
    payment["applied_to"] = applied.iter().map(line).collect();
    payment
}

/// A credit note of `total` (one untaxed usage line) on `invoice_id`.
fn credit_note(id: &str, invoice_id: &str, total: &str) -> Value {
    let line = json!({"id": "cnl_1", "type": "USAGE_FEE", "description": "API calls credit",
                      "product_id": "prod_api", "amount": total});
    json!({
        "id": id, "number": format!("CN-{id}"), "status": "ISSUED", "invoice_id": invoice_id,
        "currency": "USD", "issue_date": "2026-11-20", "reason": "Overbilled API calls",
        "customer": customer(), "lines": [line], "subtotal": total, "tax_total": "0",
        "total": total, "metadata": {}
    })
}

fn refund(id: &str, credit_note_id: &str, amount: &str) -> Value {
    json!({
        "id": id, "status": "SUCCEEDED", "currency": "USD", "amount": amount,
        "refunded_at": "2026-11-22T09:00:00Z", "credit_note_id": credit_note_id,
        "reference": "re_3N8y", "customer": customer()
    })
}

async fn post(server: &TestServer, path: &str, body: &Value) -> Value {
    let (status, answer) = server.call("POST", path, Some(body.clone())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{path}: {answer}");
    answer
}

/// Posts [`payment`] `id`.
async fn post_payment(server: &TestServer, id: &str, amount: &str, applied: &[(&str, &str)]) {
    post(server, "/v1/payments", &payment(id, amount, applied)).await;
}

/// Posts [`credit_note`] `id`.
async fn post_credit_note(server: &TestServer, id: &str, invoice_id: &str, total: &str) {
    post(
        server,
        "/v1/credit-notes",
        &credit_note(id, invoice_id, total),
    )
    .await;
}

/// Waits for the `successes`-th SUCCESS of a document; answers its log, newest first.
async fn synced(server: &TestServer, doc_type: &str, id: &str, successes: usize) -> Vec<Value> {
    eventually(
        &format!("{successes} SUCCESS for {doc_type} {id}"),
        WAIT,
        || async {
            let entries = server
                .log(&format!("document_type={doc_type}&document_id={id}"))
                .await;
            let ok = entries.iter().filter(|e| e["status"] == "SUCCESS").count();
            (ok >= successes).then_some(entries)
        },
    )
    .await
}

/// Waits for a document's first logged attempt and checks it FAILED naming `words`.
async fn failed(server: &TestServer, doc_type: &str, id: &str, words: &[&str]) -> Value {
    let entry = eventually(&format!("an attempt of {id}"), WAIT, || async {
        server
            .log(&format!("document_type={doc_type}&document_id={id}"))
            .await
            .pop()
    })
    .await;
    assert_eq!(entry["status"], "FAILED", "{entry}");
    for word in words {
        assert!(
            string(&entry["error"]).contains(word),
            "{word:?} missing: {entry}"
        );
    }
    entry
}

fn by_tran_id(records: Vec<Value>, tran_id: &str) -> Value {
    let found: Vec<Value> = records
        .into_iter()
        .filter(|r| r["tranId"] == tran_id)
        .collect();
    assert_eq!(found.len(), 1, "one record numbered {tran_id}: {found:?}");
    found.into_iter().next().unwrap()
}

fn invoice_in(fake: &FakeNetSuite, id: &str) -> Value {
    by_tran_id(fake.invoices(), &format!("INV-{id}"))
}

fn dec(v: &Value) -> Decimal {
    match v {
        Value::String(s) => Decimal::from_str(s).unwrap(),
        other => Decimal::from_str(&other.to_string()).unwrap(),
    }
}

fn open(fake: &FakeNetSuite, id: &str) -> Decimal {
    dec(&invoice_in(fake, id)["amountRemaining"])
}

fn d(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

#[tokio::test]
async fn a_payment_is_one_customer_payment_on_the_right_invoice_through_lost_answers_updates_and_voids()
 {
    let (fake, server) = connected().await;
    with_invoices(&server, &["inv_a", "inv_b"]).await;
    let b = invoice_in(&fake, "inv_b");

    // The upsert commits but its answer is lost: the retry updates the same payment.
    fake.fail_after_commit(1);
    let first = payment("pay_1", "15.00", &[("inv_b", "10.00")]);
    post(&server, "/v1/payments", &first).await;
    let entries = synced(&server, "payment", "pay_1", 1).await;
    assert_eq!(
        entries.len(),
        2,
        "a lost answer, then the retry: {entries:?}"
    );
    assert_eq!(entries[1]["response_code"], 500);
    let payments = fake.payments();
    assert_eq!(payments.len(), 1, "{payments:?}");
    let paid = &payments[0];
    assert_eq!(entries[0]["erp_record_id"], paid["id"]);
    assert!(string(&paid["externalId"]).starts_with("es_pay_"));
    assert_eq!(paid["customer"]["id"], b["entity"]["id"]);
    assert_eq!(paid["account"]["id"], ns::ACCOUNT_BANK);
    assert_eq!(paid["payment"], json!(15));
    assert_eq!(paid["apply"]["items"][0]["doc"]["id"], b["id"]);
    assert_eq!(
        paid["unapplied"],
        json!(5),
        "the remainder stays on the customer"
    );
    assert_eq!(open(&fake, "inv_b"), d("2.99"));
    assert_eq!(
        open(&fake, "inv_a"),
        d("12.99"),
        "the other invoice is untouched"
    );
    assert_eq!(fake.customers().len(), 1, "the invoices' customer");

    // The same content again is a no-op; a changed version updates the same payment.
    let again = post(&server, "/v1/payments", &first).await;
    assert_eq!(again["unchanged"], true);
    let changed = payment("pay_1", "15.00", &[("inv_b", "12.99"), ("inv_a", "2.01")]);
    post(&server, "/v1/payments", &changed).await;
    synced(&server, "payment", "pay_1", 2).await;
    let payments = fake.payments();
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert_eq!(payments[0]["id"], paid["id"]);
    assert_eq!(payments[0]["unapplied"], json!(0));
    assert_eq!(open(&fake, "inv_b"), Decimal::ZERO);
    assert_eq!(open(&fake, "inv_a"), d("10.98"));
    // Dropping an invoice from applied_to takes the application away.
    let fewer = payment("pay_1", "15.00", &[("inv_b", "12.99")]);
    post(&server, "/v1/payments", &fewer).await;
    synced(&server, "payment", "pay_1", 3).await;
    assert_eq!(open(&fake, "inv_a"), d("12.99"));
    assert_eq!(
        fake.payments()[0]["apply"]["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A void deletes it, its answer lost too: the invoice is open again, once.
    let mut void = fewer.clone();
    void["status"] = json!("VOID");
    fake.fail_after_commit(1);
    post(&server, "/v1/payments", &void).await;
    synced(&server, "payment", "pay_1", 4).await;
    assert!(fake.payments().is_empty());
    assert_eq!(open(&fake, "inv_b"), d("12.99"));
    let (status, _) = server.call("POST", "/v1/payments/pay_1/sync", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    synced(&server, "payment", "pay_1", 5).await;
    assert!(fake.payments().is_empty());
    assert_eq!(open(&fake, "inv_b"), d("12.99"));
}

#[tokio::test]
async fn a_payment_posted_before_its_invoice_lands_after_it() {
    let (fake, server) = connected().await;
    post_payment(&server, "pay_early", "12.99", &[("inv_late", "12.99")]).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(fake.payments().is_empty(), "it waits for its invoice");
    server.ingest(&invoice("inv_late")).await;
    let entries = synced(&server, "payment", "pay_early", 1).await;
    assert_eq!(entries.len(), 1, "waiting is not an attempt: {entries:?}");
    let inv = invoice_in(&fake, "inv_late");
    assert_eq!(
        fake.payments()[0]["apply"]["items"][0]["doc"]["id"],
        inv["id"]
    );
    assert_eq!(open(&fake, "inv_late"), Decimal::ZERO);
    assert_eq!(inv["status"]["id"], "Paid In Full");
}

#[tokio::test]
async fn payments_need_a_payment_account_and_never_more_than_is_open() {
    let (fake, server) = connected_with(|c| {
        c.as_object_mut().unwrap().remove("payment_account");
    })
    .await;
    with_invoices(&server, &["inv_1"]).await;
    post_payment(&server, "pay_no_account", "12.99", &[("inv_1", "12.99")]).await;
    let entry = failed(&server, "payment", "pay_no_account", &["payment_account"]).await;
    assert!(
        entry["response_code"].is_null(),
        "nothing was sent: {entry}"
    );

    // A wrong account is refused when the connection is made.
    let mut wrong = config(&fake);
    wrong["payment_account"] = json!("999");
    let (status, body) = TestServer::start()
        .await
        .post_connection(json!({"provider": "netsuite", "config": wrong}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("payment_account 999"), "{body}");

    // More than is open: permanent, naming the invoice and the amounts.
    let (fake, server) = connected().await;
    with_invoices(&server, &["inv_1"]).await;
    post_payment(&server, "pay_over", "20.00", &[("inv_1", "20.00")]).await;
    let words = ["pay_over", "inv_1", "20", "12.99 open"];
    failed(&server, "payment", "pay_over", &words).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let attempts = server
        .log("document_type=payment&document_id=pay_over")
        .await;
    assert_eq!(attempts.len(), 1, "not retried: {attempts:?}");
    assert!(fake.payments().is_empty());
    assert_eq!(open(&fake, "inv_1"), d("12.99"));
}

#[tokio::test]
async fn credit_notes_are_credit_memos_applied_to_their_invoice_and_refunds_draw_on_them() {
    let (fake, server) = connected().await;
    with_invoices(&server, &["inv_open", "inv_paid"]).await;

    // On an open invoice: applied to it, once through a lost answer.
    fake.fail_after_commit(1);
    post_credit_note(&server, "cn_open", "inv_open", "2.00").await;
    let entries = synced(&server, "credit_note", "cn_open", 1).await;
    let memo = by_tran_id(fake.credit_memos(), "CN-cn_open");
    assert_eq!(entries[0]["erp_record_id"], memo["id"], "{entries:?}");
    assert!(string(&memo["externalId"]).starts_with("es_cn_"));
    assert_eq!(memo["total"], json!(2));
    assert_eq!(memo["item"]["items"][0]["item"]["id"], ns::ITEM_USAGE);
    let inv = invoice_in(&fake, "inv_open");
    assert_eq!(memo["apply"]["items"][0]["doc"]["id"], inv["id"]);
    assert_eq!(memo["apply"]["items"][0]["amount"], json!(2));
    assert_eq!(open(&fake, "inv_open"), d("10.99"));
    assert_eq!(fake.credit_memos().len(), 1);

    // A changed version updates the same memo and its application.
    post_credit_note(&server, "cn_open", "inv_open", "3.50").await;
    synced(&server, "credit_note", "cn_open", 2).await;
    assert_eq!(fake.credit_memos().len(), 1);
    let memo = by_tran_id(fake.credit_memos(), "CN-cn_open");
    assert_eq!(memo["total"], json!(3.5));
    assert_eq!(
        memo["item"]["items"].as_array().unwrap().len(),
        1,
        "lines replaced"
    );
    assert_eq!(open(&fake, "inv_open"), d("9.49"));

    // On a paid invoice: the credit stays on the customer, and a refund pays it out.
    post_payment(&server, "pay_full", "12.99", &[("inv_paid", "12.99")]).await;
    synced(&server, "payment", "pay_full", 1).await;
    post_credit_note(&server, "cn_paid", "inv_paid", "2.00").await;
    synced(&server, "credit_note", "cn_paid", 1).await;
    let credit = by_tran_id(fake.credit_memos(), "CN-cn_paid");
    assert_eq!(credit["unapplied"], json!(2));
    fake.fail_after_commit(1);
    post(&server, "/v1/refunds", &refund("re_1", "cn_paid", "2.00")).await;
    let entries = synced(&server, "refund", "re_1", 1).await;
    let refunds = fake.refunds();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(entries[0]["erp_record_id"], refunds[0]["id"]);
    assert_eq!(refunds[0]["apply"]["items"][0]["doc"]["id"], credit["id"]);
    assert_eq!(refunds[0]["account"]["id"], ns::ACCOUNT_BANK);
    assert_eq!(refunds[0]["total"], json!(2));
    assert_eq!(
        by_tran_id(fake.credit_memos(), "CN-cn_paid")["unapplied"],
        json!(0)
    );

    // A refund of more than a credit memo has left fails, naming it.
    post(&server, "/v1/refunds", &refund("re_2", "cn_open", "1.00")).await;
    failed(&server, "refund", "re_2", &["re_2", "has 0 USD unapplied"]).await;

    // Voids delete: the refund gives the credit back, the credit note reopens the invoice.
    let mut void = refund("re_1", "cn_paid", "2.00");
    void["status"] = json!("VOID");
    post(&server, "/v1/refunds", &void).await;
    synced(&server, "refund", "re_1", 2).await;
    assert!(fake.refunds().is_empty());
    assert_eq!(
        by_tran_id(fake.credit_memos(), "CN-cn_paid")["unapplied"],
        json!(2)
    );
    let mut void = credit_note("cn_open", "inv_open", "3.50");
    void["status"] = json!("VOID");
    fake.fail_after_commit(1);
    post(&server, "/v1/credit-notes", &void).await;
    synced(&server, "credit_note", "cn_open", 3).await;
    assert_eq!(fake.credit_memos().len(), 1, "only cn_paid's memo is left");
    assert_eq!(open(&fake, "inv_open"), d("12.99"));
}

#[tokio::test]
async fn customer_updates_upsert_the_customer_invoices_made() {
    let (fake, server) = connected().await;
    // Not in NetSuite yet: nothing to update, and nothing is created.
    let details = json!({"name": "Acme Incorporated", "email": "billing@acme.test"});
    let (status, _) = server
        .call("PUT", "/v1/customers/cus_42", Some(details.clone()))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let entries = synced(&server, "customer", "cus_42", 1).await;
    assert!(entries[0]["erp_record_id"].is_null(), "{entries:?}");
    assert!(fake.customers().is_empty());

    with_invoices(&server, &["inv_1"]).await;
    fake.fail_after_commit(1);
    let renamed = json!({"name": "Acme Holdings", "email": "ap@acmeholdings.test",
                         "address": {"line1": "2 Main St"}});
    server
        .call("PUT", "/v1/customers/cus_42", Some(renamed))
        .await;
    let entries = synced(&server, "customer", "cus_42", 2).await;
    let customers = fake.customers();
    assert_eq!(customers.len(), 1, "{customers:?}");
    assert_eq!(customers[0]["companyName"], "Acme Holdings");
    assert_eq!(customers[0]["email"], "ap@acmeholdings.test");
    assert_eq!(entries[0]["erp_record_id"], customers[0]["id"]);
    let inv = invoice_in(&fake, "inv_1");
    assert_eq!(inv["entity"]["id"], customers[0]["id"]);
}

/// Waits until the latest delivery of every one of `docs` (API path, id) is final, and
/// answers each one's sync state.
async fn all_final(server: &TestServer, docs: &[(&str, String)]) -> Vec<(String, Value)> {
    eventually("every document final", Duration::from_secs(90), || async {
        let mut states = Vec::new();
        for (path, id) in docs {
            let (_, body) = server.call("GET", &format!("/v1/{path}/{id}"), None).await;
            match body["sync"][0]["state"].as_str() {
                Some("succeeded") | Some("failed") => {
                    states.push((id.clone(), body["sync"][0].clone()))
                }
                _ => return None,
            }
        }
        Some(states)
    })
    .await
}

/// Tens of invoices with payments and credit notes, some posted before their invoices,
/// through lost answers after commit, refusals for too many requests and a refused login:
/// exactly one NetSuite record per document, and every invoice's open balance in NetSuite
/// is the platform's total less its credits and payments.
#[tokio::test]
async fn a_fault_storm_books_every_document_once_and_balances_match() {
    const N: usize = 24;
    let fake = FakeNetSuite::start().await;
    let server = TestServer::start_with(|c| c.retry.max_retries = 10).await;
    connect_with(&server, config(&fake)).await;
    fake.set_delay(Duration::from_millis(5));
    fake.fail_after_commit(6);
    fake.throttle_next(4);
    fake.refuse_logins_next(1);

    let total = d("12.99");
    let mut credits: HashMap<String, Decimal> = HashMap::new();
    let mut paid: HashMap<String, Decimal> = HashMap::new();
    let mut payments = Vec::new();
    let mut notes = Vec::new();
    let invoices: Vec<String> = (0..N).map(|i| format!("inv_storm_{i:02}")).collect();
    let mut docs: Vec<(&str, String)> = Vec::new();
    for (i, id) in invoices.iter().enumerate() {
        // A third of the payments go out before their invoice is even posted.
        if i % 3 != 0 {
            server.ingest(&invoice(id)).await;
            docs.push(("invoices", id.clone()));
        }
        if i % 2 == 0 {
            let note = format!("cn_storm_{i:02}");
            post_credit_note(&server, &note, id, "2.00").await;
            *credits.entry(id.clone()).or_default() += d("2.00");
            docs.push(("credit-notes", note.clone()));
            notes.push(note);
        }
        let pay = format!("pay_storm_{i:02}");
        let (amount, applied) = match i % 4 {
            0 => ("10.99", vec![(id.as_str(), "10.99")]),
            1 => ("5.00", vec![(id.as_str(), "5.00")]),
            // Pays two invoices: this one in part and the previous one's rest.
            2 => (
                "9.00",
                vec![(id.as_str(), "6.00"), (invoices[i - 1].as_str(), "3.00")],
            ),
            // Leaves 1.00 unapplied on the customer.
            _ => ("13.99", vec![(id.as_str(), "12.99")]),
        };
        for (inv, a) in &applied {
            *paid.entry(inv.to_string()).or_default() += d(a);
        }
        post_payment(&server, &pay, amount, &applied).await;
        docs.push(("payments", pay.clone()));
        payments.push(pay);
        if i % 3 == 0 {
            server.ingest(&invoice(id)).await;
            docs.push(("invoices", id.clone()));
        }
        if i == N / 2 {
            // A second wave of faults once the first has passed (two refused logins in a
            // row for one call would rightly fail it: NetSuite refused the token twice).
            all_final(&server, &docs).await;
            fake.fail_after_commit(4);
            fake.throttle_next(2);
            fake.refuse_logins_next(1);
        }
    }

    let states = all_final(&server, &docs).await;
    for (id, sync) in &states {
        let audit = fake.login_audit();
        assert_eq!(sync["state"], "succeeded", "{id}: {sync} {audit:?}");
    }
    let lost = fake.requests().iter().filter(|r| r.status == 500).count();
    assert!(lost >= 10, "the answers were lost ({lost})");
    assert!(fake.login_audit().contains(&"InvalidToken".to_string()));

    // One record per document, by external id and by count.
    let memos = fake.credit_memos();
    let recorded = fake.payments();
    assert_eq!(memos.len(), notes.len(), "one credit memo per credit note");
    assert_eq!(
        recorded.len(),
        payments.len(),
        "one customer payment per payment"
    );
    let eids: HashSet<String> = recorded
        .iter()
        .map(|p| string(&p["externalId"]).to_string())
        .collect();
    assert_eq!(eids.len(), payments.len(), "no payment twice");
    assert_eq!(fake.invoices().len(), N);
    assert_eq!(fake.customers().len(), 1);

    // Every invoice's open balance is the platform's: total − credits − payments.
    for id in &invoices {
        let expected = total
            - credits.get(id).copied().unwrap_or_default()
            - paid.get(id).copied().unwrap_or_default();
        assert_eq!(open(&fake, id), expected, "{id}");
    }
    let unapplied: Decimal = recorded.iter().map(|p| dec(&p["unapplied"])).sum();
    assert_eq!(
        unapplied,
        d("1.00") * Decimal::from(N / 4),
        "the remainders stay unapplied"
    );
}
