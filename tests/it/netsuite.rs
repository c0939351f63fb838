//! The NetSuite connector against the fake NetSuite: Token-Based Authentication on
//! connect, one NetSuite invoice per invoice however many lost answers and re-syncs (and
//! never a doubled line), voids as credit memos, limits and errors.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fakes::netsuite::{self as ns, FakeNetSuite};
use crate::support::erp::{NETSUITE_SECRETS, netsuite_config};
use crate::support::postgres::admin_url_or_skip;
use crate::support::{TestServer, array, error_message, eventually, invoice, string, uk_invoice};

const WAIT: Duration = Duration::from_secs(20);

/// The connection config: the fake's credentials and items, and its URL as `api_base`.
fn config(fake: &FakeNetSuite) -> Value {
    let mut config = netsuite_config(fake);
    config["item_map"] =
        json!({"prod_api": ns::ITEM_USAGE, "DISCOUNT": ns::ITEM_DISCOUNT, "TAX": ns::ITEM_TAX});
    config
}

pub(crate) async fn connect_with(server: &TestServer, config: Value) -> String {
    let created = server
        .create_connection(json!({"provider": "netsuite", "name": "Books", "config": config}))
        .await;
    assert_eq!(created["status"], "active", "{created}");
    string(&created["id"]).to_string()
}

async fn connect(server: &TestServer, fake: &FakeNetSuite) -> String {
    connect_with(server, config(fake)).await
}

/// A fake NetSuite account and a server connected to it, where most tests here start.
async fn connected() -> (FakeNetSuite, TestServer) {
    let fake = FakeNetSuite::start().await;
    let server = TestServer::start().await;
    connect(&server, &fake).await;
    (fake, server)
}

/// The fake's invoice with our tranId.
fn by_number(fake: &FakeNetSuite, number: &str) -> Value {
    let found: Vec<Value> = fake
        .invoices()
        .into_iter()
        .filter(|i| i["tranId"] == number)
        .collect();
    assert_eq!(found.len(), 1, "one NetSuite invoice numbered {number}");
    found.into_iter().next().unwrap()
}

fn line_count(inv: &Value) -> usize {
    array(&inv["item"]["items"]).len()
}

#[tokio::test]
async fn connect_runs_a_signed_test_sync_and_never_shows_the_credentials() {
    let fake = FakeNetSuite::start().await;
    let url = fake.url.clone();
    // The server-wide API base (ERP_SYNC_NETSUITE_API_BASE) instead of the config's.
    let server = TestServer::start_with(move |c| c.netsuite_api_base = Some(url)).await;
    let mut body = config(&fake);
    body.as_object_mut().unwrap().remove("api_base");
    let created = server
        .create_connection(json!({"provider": "netsuite", "config": body}))
        .await;
    assert_eq!(created["status"], "active");
    assert_eq!(created["test_sync"]["status"], "SUCCESS", "{created}");
    assert_eq!(created["test_sync"]["response_code"], 200);
    assert_eq!(created["config"]["account_id"], ns::ACCOUNT_ID);
    let id = string(&created["id"]);
    let (_, shown) = server.connection(id).await;
    for text in [created.to_string(), shown.to_string()] {
        for secret in NETSUITE_SECRETS {
            assert!(!text.contains(secret), "a credential is shown: {text}");
        }
    }

    let tests = server.log_of_kind("", "test").await;
    assert_eq!(tests.len(), 1);
    assert_eq!(tests[0]["status"], "SUCCESS");
    assert_eq!(tests[0]["provider"], "netsuite");
    let requests = fake.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.path == "/services/rest/record/v1/customer" && r.query == "limit=1"),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.path == "/services/rest/record/v1/subsidiary/1")
    );
    assert!(fake.login_audit().is_empty(), "{:?}", fake.login_audit());
}

#[tokio::test]
async fn wrong_credentials_or_subsidiary_are_refused_and_nothing_is_stored() {
    let fake = FakeNetSuite::start().await;
    let server = TestServer::start().await;

    let mut wrong = config(&fake);
    wrong["token_secret"] =
        json!("0000000000000000000000000000000000000000000000000000000000000000");
    let (status, body) = server
        .post_connection(json!({"provider": "netsuite", "config": wrong}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "connection_test_failed");
    let message = error_message(&body);
    assert!(
        message.contains("INVALID_LOGIN") && message.contains("token"),
        "{message}"
    );
    assert!(
        !body.to_string().contains("0000000000000000"),
        "the secret is not echoed"
    );
    assert_eq!(
        fake.login_audit(),
        vec!["InvalidSignature", "InvalidSignature"],
        "refused, then tried once more with a fresh nonce"
    );

    let mut wrong = config(&fake);
    wrong["subsidiary_id"] = json!("7");
    let (status, body) = server
        .post_connection(json!({"provider": "netsuite", "config": wrong}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(error_message(&body).contains("subsidiary_id 7"), "{body}");

    let (_, list) = server.connections().await;
    assert!(list.as_array().unwrap().is_empty(), "{list}");
    assert!(server.log("").await.is_empty());
}

#[tokio::test]
async fn one_netsuite_invoice_per_invoice_through_lost_answers_and_resyncs() {
    let (fake, server) = connected().await;

    let mut inv = uk_invoice();
    server.ingest(&inv).await;
    let entries = server.synced("inv_01J9Z8Q4UK0007", 1).await;
    let stored = by_number(&fake, "INV-UK-0007");
    assert_eq!(entries[0]["erp_record_id"], stored["id"]);
    assert_eq!(
        stored["total"],
        json!(162),
        "NetSuite's total equals the invoice's: {stored}"
    );
    assert_eq!(
        line_count(&stored),
        4,
        "two charges, a discount, a tax line"
    );
    let lines = &stored["item"]["items"];
    assert_eq!(lines[0]["item"]["id"], ns::ITEM_SERVICES);
    assert_eq!(lines[0]["quantity"], json!(1));
    assert_eq!(lines[2]["item"]["id"], ns::ITEM_DISCOUNT);
    assert_eq!(lines[2]["amount"], json!(-15));
    assert_eq!(lines[3]["item"]["id"], ns::ITEM_TAX);
    assert_eq!(lines[3]["amount"], json!(27));
    assert_eq!(stored["currency"]["refName"], "GBP");
    assert_eq!(stored["tranDate"], "2026-11-01");
    assert_eq!(stored["dueDate"], "2026-11-30");
    assert_eq!(stored["subsidiary"]["id"], ns::SUBSIDIARY_ID);
    assert_eq!(stored["otherRefNum"], "PO-UK-551");
    let external_id = string(&stored["externalId"]).to_string();
    assert!(external_id.starts_with("es_inv_"), "{external_id}");
    let customers = fake.customers();
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0]["companyName"], "Brompton & Sons Ltd");
    assert_eq!(customers[0]["email"], "accounts@brompton.test");
    assert_eq!(stored["entity"]["id"], customers[0]["id"]);

    // The upsert of another invoice commits but its answer is lost: the retry upserts
    // the same record again, replacing (not appending) its lines.
    let mut other = uk_invoice();
    other["id"] = json!("inv_lost_answer");
    other["number"] = json!("INV-UK-0008");
    fake.fail_after_commit(1);
    server.ingest(&other).await;
    let entries = server.synced("inv_lost_answer", 1).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[1]["status"], "FAILED");
    assert_eq!(entries[1]["response_code"], 500);
    assert!(string(&entries[1]["error"]).contains("UNEXPECTED_ERROR"));
    let lost = by_number(&fake, "INV-UK-0008");
    assert_eq!(entries[0]["erp_record_id"], lost["id"]);
    assert_eq!(line_count(&lost), 4, "{lost}");
    assert_eq!(lost["total"], json!(162));
    assert_eq!(fake.invoices().len(), 2);

    // Three re-syncs of the first invoice: new versions, then a manual sync.
    inv["status"] = json!("PAID");
    server.ingest(&inv).await;
    server.synced("inv_01J9Z8Q4UK0007", 2).await;
    inv["lines"][1]["description"] = json!("Events above plan (corrected)");
    server.ingest(&inv).await;
    server.synced("inv_01J9Z8Q4UK0007", 3).await;
    let (status, body) = server.resync("inv_01J9Z8Q4UK0007", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let entries = server.synced("inv_01J9Z8Q4UK0007", 4).await;
    assert!(
        entries.iter().all(|e| e["status"] == "SUCCESS"),
        "{entries:?}"
    );
    assert!(
        entries.iter().all(|e| e["erp_record_id"] == stored["id"]),
        "{entries:?}"
    );

    assert_eq!(fake.invoices().len(), 2, "re-syncs updated the same record");
    let resynced = by_number(&fake, "INV-UK-0007");
    assert_eq!(resynced["id"], stored["id"]);
    assert_eq!(resynced["externalId"], external_id.as_str());
    assert_eq!(
        line_count(&resynced),
        4,
        "the lines were replaced, not appended: {resynced}"
    );
    assert_eq!(resynced["total"], json!(162));
    assert_eq!(
        resynced["item"]["items"][1]["description"],
        "Events above plan (corrected)"
    );
    assert_eq!(fake.customers().len(), 1, "the customer was upserted once");
}

#[tokio::test]
async fn void_credits_the_invoice_in_full_once() {
    let (fake, server) = connected().await;

    let mut inv = invoice("inv_void");
    server.ingest(&inv).await;
    server.synced("inv_void", 1).await;
    let created = by_number(&fake, "INV-inv_void");
    assert_eq!(created["total"], json!(12.99));

    // The credit memo is committed but the answer lost: the retry finds it by external id.
    fake.fail_after_commit(1);
    inv["status"] = json!("VOID");
    server.ingest(&inv).await;
    let entries = server.synced("inv_void", 2).await;
    assert_eq!(entries[0]["erp_record_id"], created["id"], "{entries:?}");
    assert_eq!(entries[1]["response_code"], 500, "{entries:?}");
    let memos = fake.credit_memos();
    assert_eq!(memos.len(), 1, "{memos:?}");
    assert_eq!(memos[0]["createdFrom"]["id"], created["id"]);
    assert_eq!(memos[0]["total"], json!(12.99));
    assert!(string(&memos[0]["externalId"]).starts_with("es_void_"));
    let voided = by_number(&fake, "INV-inv_void");
    assert_eq!(voided["amountRemaining"], json!(0));

    // Voiding again changes nothing.
    let (status, _) = server.resync("inv_void", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    server.synced("inv_void", 3).await;
    assert_eq!(fake.credit_memos().len(), 1);
    assert_eq!(fake.invoices().len(), 1);

    // An invoice voided before it ever reached NetSuite needs nothing there.
    let mut never = invoice("inv_never");
    never["status"] = json!("VOID");
    server.ingest(&never).await;
    let entries = server.synced("inv_never", 1).await;
    assert_eq!(entries.len(), 1);
    assert!(entries[0]["erp_record_id"].is_null());
    assert_eq!(fake.invoices().len(), 1);
    assert_eq!(fake.credit_memos().len(), 1);
}

#[tokio::test]
async fn throttling_and_outages_retry_within_the_accounts_concurrency_limit() {
    let (fake, server) = connected().await;
    fake.set_delay(Duration::from_millis(30));
    fake.throttle_next(2);
    fake.outage_next(1);
    for i in 0..20 {
        server.ingest(&invoice(&format!("inv_burst_{i}"))).await;
    }
    eventually("20 NetSuite invoices", Duration::from_secs(60), || async {
        (fake.invoices().len() == 20 && server.log("status=SUCCESS&limit=1000").await.len() >= 21)
            .then_some(())
    })
    .await;
    assert!(
        fake.max_concurrent_seen() <= ns::DEFAULT_CONCURRENCY_LIMIT,
        "{} requests in flight at once",
        fake.max_concurrent_seen()
    );
    // The refusals for too many requests at once are waited out within their attempts
    // (no retry spent, nothing FAILED); the outage spends a retry.
    let failed = server.log("status=FAILED&limit=1000").await;
    assert_eq!(
        fake.requests().iter().filter(|r| r.status == 429).count(),
        2,
        "NetSuite refused twice"
    );
    assert!(
        failed.iter().all(|e| e["response_code"] != 429),
        "{failed:?}"
    );
    assert_eq!(
        failed.iter().filter(|e| e["response_code"] == 503).count(),
        1
    );
    let mut numbers: Vec<String> = fake
        .invoices()
        .iter()
        .map(|i| string(&i["tranId"]).to_string())
        .collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 20, "one NetSuite invoice per invoice");
    assert!(fake.invoices().iter().all(|i| line_count(i) == 2));
    assert_eq!(fake.customers().len(), 1);
    let customer_upserts = fake
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/customer/") && r.status == 204)
        .count();
    assert_eq!(customer_upserts, 1, "the burst upserted its customer once");
}

/// The account's limit is shared with its other integrations: here they leave erp-sync 2
/// of the 5 it assumes. The connector learns that from the refusals, so every invoice of a
/// bill run syncs without a manual re-sync, and the refusals stop early.
#[tokio::test]
async fn a_busier_accounts_lower_concurrency_limit_is_learned() {
    const N: usize = 40;
    let (fake, server) = connected().await;
    fake.set_concurrency_limit(2);
    fake.set_delay(Duration::from_millis(20));
    let ids: Vec<String> = (0..N).map(|i| format!("inv_busy_{i:02}")).collect();
    for id in &ids {
        server.ingest(&invoice(id)).await;
    }
    server.final_syncs(&ids, Duration::from_secs(60)).await;
    let refused = fake.requests().iter().filter(|r| r.status == 429).count();
    assert!(refused >= 1, "the account's limit was hit");
    for id in &ids {
        let (_, body) = server.invoice_state(id).await;
        assert_eq!(
            body["sync"][0]["state"], "succeeded",
            "{id} did not sync on its own: {}",
            body["sync"][0]
        );
    }
    // Without learning, every wave of 5 requests meets 3 refusals until the retries run
    // out; learning leaves the first wave's refusals and one per probe for a slot back.
    assert!(
        refused <= N / 4,
        "{refused} refusals for {N} invoices: the limit was not learned"
    );
    assert_eq!(fake.invoices().len(), N, "one NetSuite invoice per invoice");
}

#[tokio::test]
async fn validation_errors_fail_at_once_with_netsuites_codes() {
    let fake = FakeNetSuite::start().await;
    let server = TestServer::start().await;
    let mut cfg = config(&fake);
    cfg["item_map"]["prod_api"] = json!("999");
    cfg.as_object_mut().unwrap().remove("default_item_id");
    connect_with(&server, cfg).await;

    server.ingest(&invoice("inv_bad_item")).await;
    let words = ["INVALID_KEY_OR_REF", "item.items[0].item"];
    let entry = server.failed_attempt("inv_bad_item", WAIT, &words).await;
    assert_eq!(entry["response_code"], 400);

    // A line no item setting covers fails before anything is sent.
    let mut unmapped = invoice("inv_unmapped");
    unmapped["lines"][0]["product_id"] = json!("prod_other");
    let before = fake.requests().len();
    server.ingest(&unmapped).await;
    let words = ["item_map", "default_item_id"];
    let entry = server.failed_attempt("inv_unmapped", WAIT, &words).await;
    assert!(entry["response_code"].is_null());

    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        server.logged_attempts("inv_bad_item").await,
        1,
        "not retried"
    );
    assert_eq!(server.logged_attempts("inv_unmapped").await, 1);
    assert!(
        fake.requests()[before..]
            .iter()
            .all(|r| !(r.method == "PUT" && r.path.contains("/invoice/"))),
        "nothing was sent for the unmapped invoice"
    );
    assert!(fake.invoices().is_empty());
}

/// The account's concurrency limit is the account's, not each host's: two hosts on one
/// PostgreSQL store, each allowed the whole limit alone, share it through the database,
/// so a burst split between them never exceeds it and NetSuite refuses nothing. Needs
/// PostgreSQL (`ERP_SYNC_TEST_POSTGRES`).
#[tokio::test]
async fn two_hosts_share_one_accounts_concurrency_limit() {
    if admin_url_or_skip().is_none() {
        return;
    }
    let fake = FakeNetSuite::start().await;
    let a = TestServer::start().await;
    let b = a.another_host(|_| {}).await;
    connect(&a, &fake).await;
    // Slow answers keep requests in flight long enough for the hosts to overlap.
    fake.set_delay(Duration::from_millis(40));
    let ids: Vec<String> = (0..30).map(|i| format!("inv_shared_{i:02}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let host = if i % 2 == 0 { &a } else { &b };
        host.ingest(&invoice(id)).await;
    }
    eventually("30 NetSuite invoices", Duration::from_secs(60), || async {
        (fake.invoices().len() == ids.len()).then_some(())
    })
    .await;
    assert!(
        fake.max_concurrent_seen() <= ns::DEFAULT_CONCURRENCY_LIMIT,
        "{} requests in flight at once across both hosts",
        fake.max_concurrent_seen()
    );
    let refused = fake.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(refused, 0, "no request went over the account's limit");
}
