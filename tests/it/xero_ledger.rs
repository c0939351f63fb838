//! The ledger in xero: credit notes, payments, refunds and customer updates, booked as the
//! vendor books them, with their fault storms (see docs/architecture.md, "The ledger").
//!
//! Credit notes are `ACCRECCREDIT` credit notes allocated to their invoice, payments one
//! Xero payment per invoice into `payment_account`, refunds payments out of their credit
//! note, customer updates contact updates. The fake keeps every invoice's open balance
//! (`AmountDue`) as Xero does, so the tests compare it with the platform's own figures.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::time::Duration;

use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::fakes::xero::{self as fx, FakeXero};
use crate::support::erp;
use crate::support::{TestServer, eventually, invoice, string};

const WAIT: Duration = Duration::from_secs(30);
/// The fake organisation's bank account.
const BANK: &str = "090";

/// The contract's example invoice (total 12.99) in pounds, the organisation's currency.
fn gbp(id: &str) -> Value {
    let mut inv = invoice(id);
    inv["currency"] = json!("GBP");
    inv
}

fn credit_note(id: &str, invoice_id: Option<&str>, total: &str) -> Value {
    let mut note = json!({
        "id": id, "number": format!("CN-{id}"), "status": "ISSUED",
        "entity": "US", "currency": "GBP", "issue_date": "2026-11-20",
        "reason": "Overbilled API calls", "customer": { "id": "cus_42", "name": "Acme Inc" },
        "lines": [ { "id": "cnl_1", "type": "USAGE_FEE", "description": "API calls credit",
                     "amount": total } ],
        "subtotal": total, "tax_total": "0", "total": total, "metadata": {}
    });
    if let Some(invoice_id) = invoice_id {
        note["invoice_id"] = json!(invoice_id);
    }
    note
}

fn payment(id: &str, applied: &[(&str, &str)]) -> Value {
    let total: Decimal = applied
        .iter()
        .map(|(_, a)| Decimal::from_str(a).unwrap())
        .sum();
    let applied: Vec<Value> = applied
        .iter()
        .map(|(i, a)| json!({"invoice_id": i, "amount": a}))
        .collect();
    json!({
        "id": id, "status": "SUCCEEDED", "entity": "US", "currency": "GBP",
        "amount": total.to_string(), "received_at": "2026-11-21T09:00:00Z", "method": "card",
        "reference": format!("ch_{id}"), "customer": { "id": "cus_42", "name": "Acme Inc" },
        "applied_to": applied, "metadata": {}
    })
}

fn refund(id: &str, credit_note_id: &str, amount: &str) -> Value {
    json!({
        "id": id, "status": "SUCCEEDED", "currency": "GBP", "amount": amount,
        "refunded_at": "2026-11-22T09:00:00Z", "credit_note_id": credit_note_id,
        "customer": { "id": "cus_42", "name": "Acme Inc" }, "entity": "US"
    })
}

async fn post(server: &TestServer, path: &str, body: &Value) -> Value {
    let (status, answer) = server.call("POST", path, Some(body.clone())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{path}: {answer}");
    answer
}

/// A server connected to a fake organisation, payments landing in [`BANK`].
async fn connected() -> (FakeXero, TestServer, String) {
    let fake = FakeXero::start().await;
    let server = TestServer::start_with({
        let xero = erp::xero(&fake);
        move |c| {
            xero(c);
            c.retry.max_retry_after = Duration::from_secs(2);
        }
    })
    .await;
    let (id, done) = server
        .connect_oauth(json!({"provider": "xero", "name": "UK books"}))
        .await;
    assert_eq!(done["connection"]["status"], "active", "{done}");
    let (status, patched) = server
        .patch_connection(&id, json!({"config": {"payment_account": BANK}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    (fake, server, id)
}

/// Waits for the `n`-th SUCCESS of a document and answers its log.
async fn succeeded(server: &TestServer, doc_type: &str, id: &str, n: usize) -> Vec<Value> {
    succeeded_within(server, doc_type, id, n, WAIT).await
}

/// [`succeeded`], waiting up to `wait`.
async fn succeeded_within(
    server: &TestServer,
    doc_type: &str,
    id: &str,
    n: usize,
    wait: Duration,
) -> Vec<Value> {
    let query = format!("document_type={doc_type}&document_id={id}");
    eventually(
        &format!("{n} SUCCESS for {doc_type} {id}"),
        wait,
        || async {
            let entries = server.log(&query).await;
            let ok = entries.iter().filter(|e| e["status"] == "SUCCESS").count();
            (ok >= n).then_some(entries)
        },
    )
    .await
}

/// Waits for a document's first FAILED entry and answers it.
async fn failed(server: &TestServer, doc_type: &str, id: &str) -> Value {
    let query = format!("document_type={doc_type}&document_id={id}&status=FAILED");
    eventually(&format!("a FAILED {doc_type} {id}"), WAIT, || async {
        server.log(&query).await.pop()
    })
    .await
}

/// Posts a payment and waits for its delivery to fail.
async fn failed_payment(server: &TestServer, payment: &Value) -> Value {
    post(server, "/v1/payments", payment).await;
    failed(server, "payment", string(&payment["id"])).await
}

/// The fake's invoice with our number `INV-<id>`.
fn xero_invoice(fake: &FakeXero, id: &str) -> Value {
    let number = format!("INV-{id}");
    fake.invoices(fx::TENANT_ID)
        .into_iter()
        .find(|i| i["InvoiceNumber"] == number.as_str())
        .unwrap_or_else(|| panic!("no Xero invoice {number}"))
}

fn money(v: &Value) -> Decimal {
    Decimal::from_str(&v.to_string()).unwrap_or_else(|_| panic!("{v} is an amount"))
}

/// The live (not deleted) Xero payments, by the Xero document they pay.
fn live_payments(fake: &FakeXero) -> Vec<Value> {
    fake.payments(fx::TENANT_ID)
        .into_iter()
        .filter(|p| p["Status"] == "AUTHORISED")
        .collect()
}

#[tokio::test]
async fn a_payment_is_one_xero_payment_per_invoice_updated_and_reversed() {
    let (fake, server, _) = connected().await;
    server.ingest(&gbp("inv_p1")).await;
    server.ingest(&gbp("inv_p2")).await;
    let first = payment("pay_1", &[("inv_p1", "5.00"), ("inv_p2", "7.99")]);
    post(&server, "/v1/payments", &first).await;
    succeeded(&server, "payment", "pay_1", 1).await;
    let (one, two) = (xero_invoice(&fake, "inv_p1"), xero_invoice(&fake, "inv_p2"));
    let live = live_payments(&fake);
    assert_eq!(live.len(), 2, "{live:?}");
    let on = |invoice: &Value| {
        live.iter()
            .find(|p| p["Invoice"]["InvoiceID"] == invoice["InvoiceID"])
            .cloned()
            .expect("a payment on the invoice")
    };
    assert_eq!(money(&on(&one)["Amount"]), Decimal::new(500, 2));
    assert_eq!(on(&one)["Account"]["Code"], BANK);
    assert!(string(&on(&one)["Reference"]).contains("pay_1"));
    assert_eq!(money(&one["AmountDue"]), Decimal::new(799, 2));
    assert_eq!(money(&two["AmountDue"]), Decimal::new(500, 2));

    // The same content again is a no-op; a manual re-sync books nothing twice.
    assert_eq!(
        post(&server, "/v1/payments", &first).await["unchanged"],
        true
    );
    let (status, _) = server.call("POST", "/v1/payments/pay_1/sync", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    succeeded(&server, "payment", "pay_1", 2).await;
    assert_eq!(
        live_payments(&fake).len(),
        2,
        "the re-sync paid nothing twice"
    );

    // A changed share replaces that invoice's payment (Xero cannot edit one).
    let changed = payment("pay_1", &[("inv_p1", "6.00"), ("inv_p2", "7.99")]);
    post(&server, "/v1/payments", &changed).await;
    succeeded(&server, "payment", "pay_1", 3).await;
    let live = live_payments(&fake);
    assert_eq!(live.len(), 2, "{live:?}");
    assert_eq!(
        money(&xero_invoice(&fake, "inv_p1")["AmountDue"]),
        Decimal::new(699, 2)
    );
    assert_eq!(
        money(&xero_invoice(&fake, "inv_p2")["AmountDue"]),
        Decimal::new(500, 2)
    );

    // VOID reverses every one of them.
    let mut void = changed.clone();
    void["status"] = json!("VOID");
    post(&server, "/v1/payments", &void).await;
    succeeded(&server, "payment", "pay_1", 4).await;
    assert!(live_payments(&fake).is_empty());
    for id in ["inv_p1", "inv_p2"] {
        let x = xero_invoice(&fake, id);
        assert_eq!(money(&x["AmountDue"]), Decimal::new(1299, 2), "{x}");
        assert_eq!(x["Status"], "AUTHORISED");
    }
    fake.assert_every_write_has_an_idempotency_key();
}

#[tokio::test]
async fn a_payment_posted_before_its_invoice_lands_after_it() {
    let (fake, server, _) = connected().await;
    post(
        &server,
        "/v1/payments",
        &payment("pay_early", &[("inv_late", "12.99")]),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(fake.payments(fx::TENANT_ID).is_empty(), "it waits");
    server.ingest(&gbp("inv_late")).await;
    let entries = succeeded(&server, "payment", "pay_early", 1).await;
    assert_eq!(entries.len(), 1, "no failed attempt: {entries:?}");
    let x = xero_invoice(&fake, "inv_late");
    assert_eq!(x["Status"], "PAID", "{x}");
    assert_eq!(money(&x["AmountDue"]), Decimal::ZERO);
    assert_eq!(live_payments(&fake).len(), 1);
}

#[tokio::test]
async fn payments_that_cannot_be_booked_fail_at_once_saying_why() {
    let (fake, server, id) = connected().await;
    server.ingest(&gbp("inv_f1")).await;
    server.synced("inv_f1", 1).await;
    // An unapplied remainder: Xero has no simple place for it.
    let mut remainder = payment("pay_rest", &[("inv_f1", "2.00")]);
    remainder["amount"] = json!("5.00");
    let entry = failed_payment(&server, &remainder).await;
    let error = string(&entry["error"]);
    assert!(
        error.contains("3.00") && error.contains("unapplied"),
        "{error}"
    );
    assert_eq!(entry["attempt"], 1, "not retried");

    // More than the invoice still owes in Xero (paid there meanwhile).
    let invoice_id = string(&xero_invoice(&fake, "inv_f1")["InvoiceID"]).to_string();
    fake.add_payment(fx::TENANT_ID, &invoice_id, "10.00");
    let entry = failed_payment(&server, &payment("pay_over", &[("inv_f1", "12.99")])).await;
    let error = string(&entry["error"]);
    assert!(
        error.contains("inv_f1") && error.contains("12.99") && error.contains("2.99"),
        "{error}"
    );
    assert_eq!(entry["attempt"], 1, "not retried");

    // No payment_account: the delivery names the key.
    let (status, _) = server
        .patch_connection(&id, json!({"config": {"payment_account": null}}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let entry = failed_payment(&server, &payment("pay_noacct", &[("inv_f1", "1.00")])).await;
    assert!(
        string(&entry["error"]).contains("payment_account"),
        "{entry}"
    );
    assert!(live_payments(&fake).is_empty(), "none of them was booked");

    // A payment_account that is not a bank account fails the test sync.
    let (status, answer) = server
        .patch_connection(&id, json!({"config": {"payment_account": "200"}}))
        .await;
    assert!(
        status != StatusCode::OK || answer["test_sync"]["status"] != "SUCCESS",
        "{answer}"
    );
}

#[tokio::test]
async fn a_credit_note_is_allocated_once_updated_and_voided() {
    let (fake, server, _) = connected().await;
    server.ingest(&gbp("inv_c1")).await;
    server.synced("inv_c1", 1).await;
    fake.fail_after_commit(1);
    let note = credit_note("cn_1", Some("inv_c1"), "2.00");
    post(&server, "/v1/credit-notes", &note).await;
    succeeded(&server, "credit_note", "cn_1", 1).await;
    let notes = fake.credit_notes(fx::TENANT_ID);
    let [x] = notes.as_slice() else {
        panic!("the lost answer created nothing twice: {notes:?}");
    };
    assert_eq!(x["Type"], "ACCRECCREDIT");
    assert_eq!(x["CreditNoteNumber"], "CN-cn_1");
    assert_eq!(money(&x["RemainingCredit"]), Decimal::ZERO, "{x}");
    assert_eq!(x["Allocations"].as_array().unwrap().len(), 1);
    let inv = xero_invoice(&fake, "inv_c1");
    assert_eq!(
        x["Allocations"][0]["Invoice"]["InvoiceID"],
        inv["InvoiceID"]
    );
    assert_eq!(money(&inv["AmountCredited"]), Decimal::new(200, 2));
    assert_eq!(money(&inv["AmountDue"]), Decimal::new(1099, 2));

    // A changed version updates the same credit note and allocates it again, once.
    let mut changed = note.clone();
    changed["reason"] = json!("Goodwill");
    changed["lines"][0]["amount"] = json!("3.00");
    changed["subtotal"] = json!("3.00");
    changed["total"] = json!("3.00");
    post(&server, "/v1/credit-notes", &changed).await;
    succeeded(&server, "credit_note", "cn_1", 2).await;
    let notes = fake.credit_notes(fx::TENANT_ID);
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["Reference"], "Goodwill");
    assert_eq!(notes[0]["Allocations"].as_array().unwrap().len(), 1);
    let inv = xero_invoice(&fake, "inv_c1");
    assert_eq!(money(&inv["AmountCredited"]), Decimal::new(300, 2));
    assert_eq!(money(&inv["AmountDue"]), Decimal::new(999, 2));

    let mut void = changed.clone();
    void["status"] = json!("VOID");
    post(&server, "/v1/credit-notes", &void).await;
    succeeded(&server, "credit_note", "cn_1", 3).await;
    let notes = fake.credit_notes(fx::TENANT_ID);
    assert_eq!(notes[0]["Status"], "VOIDED");
    let inv = xero_invoice(&fake, "inv_c1");
    assert_eq!(money(&inv["AmountDue"]), Decimal::new(1299, 2));
}

/// The fake's credit note creates: `PUT`/`POST CreditNotes` (not an update of one, not
/// an allocation).
fn credit_note_creates(fake: &FakeXero) -> usize {
    fake.requests()
        .iter()
        .filter(|r| (r.method == "PUT" || r.method == "POST") && r.path.ends_with("/CreditNotes"))
        .count()
}

/// Credit notes arriving together for one organisation go in multi-credit-note creates,
/// each still its own credit note allocated once to its own invoice; one refused by Xero
/// (a currency the organisation lacks) fails alone.
#[tokio::test]
async fn credit_notes_arriving_together_share_create_requests() {
    let (fake, server, _) = connected().await;
    let ids: Vec<String> = (0..12).map(|n| format!("inv_b{n:02}")).collect();
    for id in &ids {
        server.ingest(&gbp(id)).await;
    }
    for id in &ids {
        server.synced(id, 1).await;
    }
    assert_eq!(credit_note_creates(&fake), 0);
    for (n, id) in ids.iter().enumerate() {
        let note = credit_note(&format!("cn_b{n:02}"), Some(id), "2.00");
        post(&server, "/v1/credit-notes", &note).await;
        if n == 5 {
            let mut foreign = credit_note("cn_b_eur", None, "1.00");
            foreign["currency"] = json!("EUR");
            post(&server, "/v1/credit-notes", &foreign).await;
        }
    }
    for n in 0..ids.len() {
        succeeded(&server, "credit_note", &format!("cn_b{n:02}"), 1).await;
    }
    let entry = failed(&server, "credit_note", "cn_b_eur").await;
    let error = string(&entry["error"]);
    assert!(
        error.contains("refused credit note CN-cn_b_eur") && error.contains("EUR"),
        "{error}"
    );
    let creates = credit_note_creates(&fake);
    eprintln!(
        "{} credit notes went in {creates} create requests",
        ids.len() + 1
    );
    assert!(
        creates < ids.len(),
        "{creates} create requests for {} credit notes",
        ids.len() + 1
    );
    let notes = fake.credit_notes(fx::TENANT_ID);
    assert_eq!(
        notes.len(),
        ids.len(),
        "each once, the refused one not at all"
    );
    let numbers: BTreeSet<&str> = notes
        .iter()
        .map(|n| string(&n["CreditNoteNumber"]))
        .collect();
    assert_eq!(numbers.len(), ids.len());
    for note in &notes {
        assert_eq!(note["Allocations"].as_array().unwrap().len(), 1, "{note}");
        assert_eq!(money(&note["RemainingCredit"]), Decimal::ZERO, "{note}");
    }
    for id in &ids {
        let x = xero_invoice(&fake, id);
        assert_eq!(
            money(&x["AmountCredited"]),
            Decimal::new(200, 2),
            "{id}: {x}"
        );
        assert_eq!(money(&x["AmountDue"]), Decimal::new(1099, 2), "{id}: {x}");
    }
    fake.assert_every_write_has_an_idempotency_key();
}

#[tokio::test]
async fn a_refund_is_a_payment_out_of_its_credit_note() {
    let (fake, server, _) = connected().await;
    let note = credit_note("cn_r", None, "5.00");
    post(&server, "/v1/credit-notes", &note).await;
    succeeded(&server, "credit_note", "cn_r", 1).await;
    post(&server, "/v1/refunds", &refund("re_1", "cn_r", "5.00")).await;
    succeeded(&server, "refund", "re_1", 1).await;
    let live = live_payments(&fake);
    assert_eq!(live.len(), 1);
    let cn = &fake.credit_notes(fx::TENANT_ID)[0];
    assert_eq!(live[0]["CreditNote"]["CreditNoteID"], cn["CreditNoteID"]);
    assert_eq!(cn["Status"], "PAID");
    assert_eq!(money(&cn["RemainingCredit"]), Decimal::ZERO);

    let mut void = refund("re_1", "cn_r", "5.00");
    void["status"] = json!("VOID");
    post(&server, "/v1/refunds", &void).await;
    succeeded(&server, "refund", "re_1", 2).await;
    assert!(live_payments(&fake).is_empty());
    let cn = &fake.credit_notes(fx::TENANT_ID)[0];
    assert_eq!(money(&cn["RemainingCredit"]), Decimal::new(500, 2));
}

#[tokio::test]
async fn a_customer_update_updates_the_contact_it_already_has() {
    let (fake, server, _) = connected().await;
    let details = json!({"name": "Nobody Yet Ltd", "email": "a@b.test"});
    let (status, _) = server
        .call("PUT", "/v1/customers/cus_new", Some(details))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    succeeded(&server, "customer", "cus_new", 1).await;
    assert!(
        fake.contacts(fx::TENANT_ID).is_empty(),
        "nothing was created"
    );

    server.ingest(&gbp("inv_k1")).await;
    server.synced("inv_k1", 1).await;
    let details = json!({"name": "Acme Incorporated", "email": "billing@acme.test",
                         "tax_number": "GB123456789"});
    let (status, _) = server
        .call("PUT", "/v1/customers/cus_42", Some(details))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    succeeded(&server, "customer", "cus_42", 1).await;
    let contacts = fake.contacts(fx::TENANT_ID);
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["Name"], "Acme Incorporated");
    assert_eq!(contacts[0]["EmailAddress"], "billing@acme.test");
    assert_eq!(contacts[0]["TaxNumber"], "GB123456789");
}

/// Tens of invoices with payments and credit notes through lost answers (after Xero
/// committed), 429s and an expired token, with Xero's idempotency replay switched off so
/// that only erp-sync's own records and look-ups stand between a retry and a second
/// payment: not one payment or credit note is booked twice, and every invoice's open
/// balance in Xero is the platform's total − credits − payments.
#[tokio::test]
async fn a_fault_storm_books_every_payment_and_credit_once() {
    let (fake, server, _) = connected().await;
    fake.set_idempotency_window(Duration::ZERO);
    let ids: Vec<String> = (0..30).map(|n| format!("inv_s{n:02}")).collect();
    for id in &ids {
        server.ingest(&gbp(id)).await;
    }
    for id in &ids {
        server.synced(id, 1).await;
    }
    let mut paid: HashMap<String, Decimal> = HashMap::new();
    let mut credited: HashMap<String, Decimal> = HashMap::new();
    // Every committed write from here on loses its answer, until 5 have.
    fake.fail_after_commit(5);
    fake.throttle_next(3, "minute");
    fake.expire_access_tokens();
    for (n, id) in ids.iter().enumerate() {
        if n % 3 == 0 {
            let cn = format!("cn_s{n:02}");
            post(
                &server,
                "/v1/credit-notes",
                &credit_note(&cn, Some(id), "2.00"),
            )
            .await;
            *credited.entry(id.clone()).or_default() += Decimal::new(200, 2);
        }
        let share = if n % 2 == 0 { "5.00" } else { "10.99" };
        let pay = format!("pay_s{n:02}");
        post(&server, "/v1/payments", &payment(&pay, &[(id, share)])).await;
        *paid.entry(id.clone()).or_default() += Decimal::from_str(share).unwrap();
        if n == 15 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            fake.fail_after_commit(4);
            fake.expire_access_tokens();
        }
    }
    // Xero's 60 calls a minute are the real bound here (each credit note is a create and
    // an allocation; each lost answer costs look-ups): the storm may wait out a minute.
    let storm = Duration::from_secs(180);
    for n in 0..30 {
        succeeded_within(&server, "payment", &format!("pay_s{n:02}"), 1, storm).await;
        if n % 3 == 0 {
            succeeded_within(&server, "credit_note", &format!("cn_s{n:02}"), 1, storm).await;
        }
    }
    let calls = fake.calls_for(fx::TENANT_ID);
    let live = live_payments(&fake);
    assert_eq!(live.len(), 30, "one Xero payment per payment");
    let references: BTreeSet<&str> = live.iter().map(|p| string(&p["Reference"])).collect();
    assert_eq!(references.len(), 30, "no payment booked twice");
    let notes = fake.credit_notes(fx::TENANT_ID);
    assert_eq!(notes.len(), 10, "no credit note created twice");
    for note in &notes {
        assert_eq!(note["Allocations"].as_array().unwrap().len(), 1, "{note}");
    }
    assert_eq!(fake.invoice_count(fx::TENANT_ID), 30);
    let total = Decimal::new(1299, 2);
    for id in &ids {
        let x = xero_invoice(&fake, id);
        let expected = total - credited.get(id).copied().unwrap_or_default() - paid[id];
        assert_eq!(money(&x["AmountDue"]), expected, "{id}: {x}");
    }
    assert!(fake.max_concurrent_seen(fx::TENANT_ID) <= 5);
    let requests = fake.requests();
    let lost = requests.iter().filter(|r| r.status == 500).count();
    assert!(lost > 0, "answers were lost");
    let looked = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/Payments"))
        .count();
    assert!(looked > 0, "lost payments were looked up by reference");
    let creates = credit_note_creates(&fake);
    eprintln!("the storm took {calls} calls to Xero, {creates} credit note creates");
}
