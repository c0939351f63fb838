//! The Xero connector against the fake Xero server: OAuth with PKCE, choosing an
//! organisation, one Xero invoice per invoice through retries, updates and voids,
//! rate limits and validation errors.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fakes::xero::{self as fx, FakeXero};
use crate::support::erp::{self, authorize_params, authorize_two_organisations};
use crate::support::postgres::admin_url_or_skip;
use crate::support::{TestServer, array, error_message, eventually, invoice, string, uk_invoice};

const WAIT: Duration = Duration::from_secs(20);

/// The contract's example invoice in pounds: the fake organisation's currency is GBP,
/// and Xero refuses currencies an organisation is not subscribed to.
fn gbp(id: &str) -> Value {
    let mut inv = invoice(id);
    inv["currency"] = json!("GBP");
    inv
}

async fn start(fake: &FakeXero) -> TestServer {
    TestServer::start_with(configure(fake)).await
}

/// Points a server's Xero app at the fake.
fn configure(fake: &FakeXero) -> impl FnOnce(&mut erp_sync::config::Config) + use<> {
    let xero = erp::xero(fake);
    move |c| {
        xero(c);
        c.retry.max_retry_after = Duration::from_secs(2);
    }
}

async fn connect(server: &TestServer) -> String {
    let (id, done) = server
        .connect_oauth(json!({"provider": "xero", "name": "UK books"}))
        .await;
    assert_eq!(done["connection"]["status"], "active", "{done}");
    id
}

/// A fake Xero organisation and a server connected to it, where most tests here start.
async fn connected() -> (FakeXero, TestServer, String) {
    let fake = FakeXero::start().await;
    let server = start(&fake).await;
    let id = connect(&server).await;
    (fake, server, id)
}

#[tokio::test]
async fn connect_uses_pkce_and_binds_the_only_organisation() {
    let fake = FakeXero::start().await;
    let server = start(&fake).await;
    let created = server.create_connection(json!({"provider": "xero"})).await;
    assert_eq!(created["status"], "pending_auth");
    let url = string(&created["authorize_url"]);
    let params = authorize_params(url);
    assert_eq!(params["code_challenge_method"], "S256", "{url}");
    assert!(
        params.contains_key("code_challenge") && params.contains_key("state"),
        "{url}"
    );
    assert!(params["scope"].contains("offline_access"), "{url}");
    assert_eq!(params["client_id"], "xero-test-client", "{url}");
    let (status, done) = server.authorize(url).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["test_sync"]["status"], "SUCCESS", "{done}");
    assert_eq!(done["connection"]["config"]["tenant_id"], fx::TENANT_ID);
    assert!(!done.to_string().contains("access_token"));
}

#[tokio::test]
async fn several_organisations_wait_for_a_choice() {
    let fake = FakeXero::start().await;
    let second = authorize_two_organisations(&fake, "Second Ltd");
    let server = start(&fake).await;
    let (_, created) = server.post_connection(json!({"provider": "xero"})).await;
    let id = string(&created["id"]);
    let (status, answer) = server.authorize(string(&created["authorize_url"])).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(error_message(&answer).contains("Second Ltd"), "{answer}");

    let (status, bad) = server
        .patch_connection(id, json!({"config": {"tenant_id": "not-one-of-them"}}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    let (status, chosen) = server
        .patch_connection(id, json!({"config": {"tenant_id": second}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{chosen}");
    assert_eq!(chosen["test_sync"]["status"], "SUCCESS", "{chosen}");
    assert_eq!(chosen["status"], "active");

    server.ingest(&uk_invoice()).await;
    server.synced("inv_01J9Z8Q4UK0007", 1).await;
    assert!(
        fake.invoices(fx::TENANT_ID).is_empty(),
        "nothing went to the other organisation"
    );
    assert_eq!(fake.invoices(second).len(), 1);
}

#[tokio::test]
async fn one_xero_invoice_per_invoice_with_the_right_totals() {
    let (fake, server, _) = connected().await;
    let mut inv = uk_invoice();
    inv["customer"]["name"] = json!("O'Brien & Müller Ltd");
    fake.fail_after_commit(1);
    server.ingest(&inv).await;
    server.synced("inv_01J9Z8Q4UK0007", 1).await;
    // The create's answer was lost after Xero committed it: one look-up by number found
    // it, within the same attempt, and nothing was created twice.
    let lookups = fake
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == "GET" && r.path.ends_with("/Invoices") && r.query.contains("InvoiceNumbers")
        })
        .count();
    assert_eq!(lookups, 1, "the lost answer was settled by one look-up");
    let stored = fake.invoices(fx::TENANT_ID);
    assert_eq!(
        stored.len(),
        1,
        "the lost answer did not duplicate: {stored:?}"
    );
    let x = &stored[0];
    assert_eq!(x["InvoiceNumber"], "INV-UK-0007");
    assert_eq!(x["Type"], "ACCREC");
    assert_eq!(x["Total"].to_string(), "162.0", "{x}");
    assert_eq!(x["Status"], "AUTHORISED");
    let contacts = fake.contacts(fx::TENANT_ID);
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["ContactNumber"], "cus_uk_9");
    assert_eq!(contacts[0]["Name"], "O'Brien & Müller Ltd");

    inv["lines"][0]["description"] = json!("Platform plan (November, corrected)");
    server.ingest(&inv).await;
    server.synced("inv_01J9Z8Q4UK0007", 2).await;
    let stored = fake.invoices(fx::TENANT_ID);
    assert_eq!(stored.len(), 1, "the update addressed the same InvoiceID");
    assert!(stored[0].to_string().contains("corrected"));
    assert_eq!(
        array(&stored[0]["LineItems"]).len(),
        3,
        "lines replaced, not appended"
    );

    inv["status"] = json!("VOID");
    server.ingest(&inv).await;
    server.synced("inv_01J9Z8Q4UK0007", 3).await;
    assert_eq!(fake.invoices(fx::TENANT_ID)[0]["Status"], "VOIDED");
    fake.assert_every_write_has_an_idempotency_key();
}

#[tokio::test]
async fn rate_limits_pause_and_validation_errors_fail_at_once() {
    let (fake, server, id) = connected().await;
    fake.throttle_next(1, "minute");
    server.ingest(&gbp("inv_throttled")).await;
    let entries = server.synced("inv_throttled", 1).await;
    // The 429 (Retry-After: 1) was waited out and the same request sent again, within
    // the first attempt: no retry was spent.
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["attempt"], 1);
    assert_eq!(
        fake.requests().iter().filter(|r| r.status == 429).count(),
        1,
        "Xero did throttle"
    );
    assert_eq!(fake.invoices(fx::TENANT_ID).len(), 1);

    let (status, _) = server
        .patch_connection(&id, json!({"config": {"account_code": "999"}}))
        .await;
    assert_eq!(status, StatusCode::OK);
    server.ingest(&gbp("inv_bad_account")).await;
    let words = ["Xero validation error"];
    server.failed_attempt("inv_bad_account", WAIT, &words).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.logged_attempts("inv_bad_account").await,
        1,
        "not retried"
    );
    assert!(fake.max_concurrent_seen(fx::TENANT_ID) <= 5);
}

#[tokio::test]
async fn a_bill_run_uses_multi_invoice_requests_within_the_minute_limit() {
    let fake = FakeXero::start().await;
    fake.set_minute_limit(60);
    let server = start(&fake).await;
    connect(&server).await;
    for i in 0..200 {
        server.ingest(&gbp(&format!("inv_run_{i}"))).await;
    }
    eventually("200 invoices in Xero", Duration::from_secs(60), || async {
        (fake.invoices(fx::TENANT_ID).len() == 200).then_some(())
    })
    .await;
    let writes = fake
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/Invoices"))
        .count();
    assert!(writes <= 20, "{writes} invoice requests for 200 invoices");
    let throttled = server.log("status=FAILED&limit=1000").await;
    assert!(throttled.is_empty(), "no limit was hit: {throttled:?}");
    let numbers: std::collections::HashSet<String> = fake
        .invoices(fx::TENANT_ID)
        .iter()
        .map(|i| string(&i["InvoiceNumber"]).to_string())
        .collect();
    assert_eq!(numbers.len(), 200, "each invoice once");
}

/// Two hosts on one PostgreSQL store meet an expired access token at once. Xero's
/// refresh tokens rotate, and here (grace period zero) a used one is dead at once: a
/// second refresh with the same token would answer `invalid_grant` and break the
/// connection. The hosts take turns through the database, so one refreshes and the
/// other uses the new token. Needs PostgreSQL (`ERP_SYNC_TEST_POSTGRES`).
#[tokio::test]
async fn two_hosts_meeting_an_expired_token_refresh_it_once() {
    if admin_url_or_skip().is_none() {
        return;
    }
    let fake = FakeXero::start().await;
    let a = start(&fake).await;
    let b = a.another_host(configure(&fake)).await;
    let connection = connect(&a).await;
    fake.set_refresh_grace(Duration::ZERO);
    fake.expire_access_tokens();
    let ids: Vec<String> = (0..12).map(|n| format!("inv_two_hosts_{n:02}")).collect();
    for (n, id) in ids.iter().enumerate() {
        let mut inv = uk_invoice();
        inv["id"] = json!(id);
        inv["number"] = json!(format!("INV-TH-{n:02}"));
        let host = if n % 2 == 0 { &a } else { &b };
        host.ingest(&inv).await;
    }
    for id in &ids {
        a.synced(id, 1).await;
    }
    assert_eq!(
        fake.token_refreshes(),
        1,
        "one refresh for both hosts (a second would have used a dead refresh token)"
    );
    let (_, conn) = b.connection(&connection).await;
    assert_eq!(conn["status"], "active", "{conn}");
    assert_eq!(fake.invoices(fx::TENANT_ID).len(), ids.len());
}

/// An invoice in pounds for customer `c` of a bill run.
fn run_invoice(id: &str, c: usize) -> Value {
    let mut inv = gbp(id);
    inv["customer"] =
        json!({"id": format!("cus_run_{c:04}"), "name": format!("Run Customer {c:04} Ltd")});
    inv
}

/// Accounting calls the fake received, by method and resource.
fn calls(fake: &FakeXero, method: &str, resource: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|r| {
            r.method == method && r.path.starts_with("/api.xro/") && r.path.ends_with(resource)
        })
        .count()
}

/// A first bill run with every customer new, against Xero's limits (60 calls in any
/// minute, 5 in flight): 600 invoices of 12 customers. The contacts are looked up and
/// created a batch at a time (not once per invoice), the invoices go 50 a request, no
/// call is refused, and each invoice is in Xero once, with its customer's contact. The
/// bill run is posted while the connection is paused and released at once by the
/// resume, as a billing platform's run arrives: how many invoices a claim finds together
/// then does not depend on how fast this machine posts them.
#[tokio::test]
async fn a_first_bill_run_resolves_contacts_in_bulk_within_xeros_limits() {
    const N: usize = 600;
    const CUSTOMERS: usize = 12;
    let fake = FakeXero::start().await;
    fake.set_delay(Duration::from_millis(20));
    let server = start(&fake).await;
    let connection = connect(&server).await;
    let (status, _) = server
        .call("POST", &format!("/v1/connections/{connection}/pause"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<String> = (0..N).map(|i| format!("inv_bill_{i:04}")).collect();
    for (i, id) in ids.iter().enumerate() {
        server.ingest(&run_invoice(id, i % CUSTOMERS)).await;
    }
    let (status, _) = server
        .call(
            "POST",
            &format!("/v1/connections/{connection}/resume"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    server.final_syncs(&ids, Duration::from_secs(120)).await;
    let failed = server.log("status=FAILED&limit=1000").await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(fake.invoice_count(fx::TENANT_ID), N);
    let stored = fake.invoices(fx::TENANT_ID);
    let numbers: std::collections::HashSet<&str> =
        stored.iter().map(|i| string(&i["InvoiceNumber"])).collect();
    assert_eq!(numbers.len(), N, "each invoice once");
    let contacts = fake.contacts(fx::TENANT_ID);
    assert_eq!(contacts.len(), CUSTOMERS);
    for inv in &stored {
        let number = string(&inv["InvoiceNumber"]);
        let i: usize = number.trim_start_matches("INV-inv_bill_").parse().unwrap();
        let contact = contacts
            .iter()
            .find(|c| c["ContactID"] == inv["Contact"]["ContactID"])
            .unwrap();
        assert_eq!(
            contact["ContactNumber"],
            format!("cus_run_{:04}", i % CUSTOMERS)
        );
    }
    let (lookups, creates) = (
        calls(&fake, "GET", "/Contacts"),
        calls(&fake, "PUT", "/Contacts"),
    );
    let writes = calls(&fake, "PUT", "/Invoices");
    eprintln!(
        "xero bill run: {N} invoices of {CUSTOMERS} customers: {lookups} contact look-ups, {creates} contact creates, {writes} invoice writes"
    );
    // The customers are resolved together (not once per invoice, nor once per customer).
    assert!(
        lookups <= 4 && creates <= 4,
        "{lookups} look-ups, {creates} creates"
    );
    assert!(
        writes <= 2 * N / 50,
        "{writes} invoice writes for {N} invoices"
    );
    assert_eq!(
        fake.rate_limited_count(),
        0,
        "nothing else used the budget: no 429"
    );
    assert!(fake.max_concurrent_seen(fx::TENANT_ID) <= 5);
}

/// Another app spent 58 of the organisation's 60 calls this minute. The first answer's
/// `X-MinLimit-Remaining` tells erp-sync, which then waits for the window instead of
/// sending into a 429; the invoice syncs on its first attempt.
#[tokio::test]
async fn calls_others_spent_are_counted_from_xeros_remaining_header() {
    let (fake, server, _) = connected().await;
    fake.spend_minute_budget(fx::TENANT_ID, 58);
    server.ingest(&gbp("inv_shared_budget")).await;
    let entries = eventually("the invoice synced", Duration::from_secs(150), || async {
        let entries = server.log("invoice_id=inv_shared_budget").await;
        entries
            .iter()
            .any(|e| e["status"] == "SUCCESS")
            .then_some(entries)
    })
    .await;
    assert_eq!(entries.len(), 1, "one attempt: {entries:?}");
    assert_eq!(fake.rate_limited_count(), 0, "no call went over the limit");
    assert_eq!(fake.invoices(fx::TENANT_ID).len(), 1);
}

/// A 429's Retry-After holds back every call to the organisation, including the calls
/// already waiting for a slot; and after `DELETE /v1/connections/{id}` answers, nothing
/// more goes to Xero, though hundreds of deliveries were waiting for the limits.
#[tokio::test]
async fn a_pause_holds_every_call_and_a_disconnect_stops_the_waiting_ones() {
    const N: usize = 1000;
    let fake = FakeXero::start().await;
    fake.set_delay(Duration::from_millis(400));
    let server = start(&fake).await;
    let id = connect(&server).await;
    fake.throttle_next(1, "minute");
    // Every customer new, so each delivery needs its contact: many calls queue up.
    for i in 0..N {
        server
            .ingest(&run_invoice(&format!("inv_stop_{i:04}"), i))
            .await;
    }
    eventually("some invoices in Xero", Duration::from_secs(30), || async {
        (!fake.invoices(fx::TENANT_ID).is_empty()).then_some(())
    })
    .await;
    assert_eq!(
        fake.calls_during_retry_after(),
        0,
        "the pause held every call back"
    );
    let (status, body) = server.disconnect(&id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sent = fake.requests().len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after: Vec<String> = fake.requests()[sent..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        after.is_empty(),
        "calls after the disconnect answered: {after:?}"
    );
    let in_xero = fake.invoices(fx::TENANT_ID).len();
    assert!(
        body["cancelled_jobs"].as_u64().unwrap_or(0) > 0,
        "the run was still going when it was disconnected: {body}"
    );
    let numbers: std::collections::HashSet<String> = fake
        .invoices(fx::TENANT_ID)
        .iter()
        .map(|i| string(&i["InvoiceNumber"]).to_string())
        .collect();
    assert_eq!(numbers.len(), in_xero, "each invoice once");
}
