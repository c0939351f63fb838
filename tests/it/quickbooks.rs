//! The QuickBooks Online connector against the fake QuickBooks server: OAuth connect and
//! refresh, one QuickBooks invoice per invoice however many retries and re-syncs, the
//! right amounts and customer, faults, limits and reconnection.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fakes::quickbooks::{self as qbo, FakeQuickBooks};
use crate::support::{TestServer, eventually, invoice};

const WAIT: Duration = Duration::from_secs(20);

async fn start(fake: &FakeQuickBooks) -> TestServer {
    let app = fake.app();
    TestServer::start_with(move |c| {
        c.public_url = "http://erp-sync.test".into();
        c.quickbooks = app;
        // QuickBooks' 60 s throttle pause, shortened for the test.
        c.retry.max_retry_after = Duration::from_millis(100);
    })
    .await
}

/// Creates and authorizes a QuickBooks connection; answers its id.
async fn connect(server: &TestServer) -> String {
    let (id, done) = server
        .connect_oauth(json!({"provider": "quickbooks", "name": "Books"}))
        .await;
    assert_eq!(done["connection"]["status"], "active", "{done}");
    assert_eq!(done["connection"]["config"]["realm_id"], qbo::REALM);
    id
}

fn total(inv: &Value) -> String {
    inv["TotalAmt"].to_string()
}

async fn synced(server: &TestServer, invoice_id: &str, successes: usize) -> Vec<Value> {
    eventually(
        &format!("{successes} SUCCESS for {invoice_id}"),
        WAIT,
        || async {
            let entries = server.log(&format!("invoice_id={invoice_id}")).await;
            let ok = entries.iter().filter(|e| e["status"] == "SUCCESS").count();
            (ok >= successes).then_some(entries)
        },
    )
    .await
}

#[tokio::test]
async fn connect_authorizes_tests_and_refuses_a_replayed_state() {
    let fake = FakeQuickBooks::start().await;
    let server = start(&fake).await;
    let (status, created) = server
        .call(
            "POST",
            "/v1/connections",
            Some(json!({"provider": "quickbooks"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "pending_auth");
    let url = created["authorize_url"].as_str().unwrap();
    assert!(url.starts_with(&fake.auth_url()), "{url}");
    for part in [
        "client_id=qbo-test-client",
        "scope=com.intuit.quickbooks.accounting",
        "state=",
        "redirect_uri=",
    ] {
        assert!(url.contains(part), "{part} missing from {url}");
    }

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let location = browser.get(url).send().await.unwrap().headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    let callback = location.replace("http://erp-sync.test", &server.base);
    let first = browser.get(&callback).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let done: Value = first.json().await.unwrap();
    assert_eq!(done["test_sync"]["status"], "SUCCESS", "{done}");
    assert_eq!(done["connection"]["status"], "active");
    assert_eq!(done["connection"]["config"]["realm_id"], qbo::REALM);
    assert_eq!(
        done["connection"]["config"]["default_item_id"], "1",
        "the Services item was found"
    );
    assert!(
        !done.to_string().contains("access_token"),
        "tokens are never shown"
    );

    let again = browser.get(&callback).send().await.unwrap();
    assert_eq!(
        again.status(),
        StatusCode::BAD_REQUEST,
        "a state works once"
    );
    let forged = browser
        .get(format!(
            "{}/v1/oauth/callback?code=x&state=forged&realmId=1",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    let tests: Vec<Value> = server
        .log("")
        .await
        .into_iter()
        .filter(|e| e["kind"] == "test")
        .collect();
    assert_eq!(tests.len(), 1);
    assert_eq!(tests[0]["provider"], "quickbooks");
}

#[tokio::test]
async fn one_quickbooks_invoice_per_invoice_through_updates_and_void() {
    let fake = FakeQuickBooks::start().await;
    let server = start(&fake).await;
    connect(&server).await;
    let mut inv: Value =
        serde_json::from_str(include_str!("../../examples/invoices/multi-line-uk.json")).unwrap();
    inv["customer"]["name"] = json!("O'Brien & Müller Ltd");
    server.ingest(&inv).await;
    let entries = synced(&server, "inv_01J9Z8Q4UK0007", 1).await;
    let record_id = entries[0]["erp_record_id"].as_str().unwrap().to_string();

    let stored = fake.invoices(qbo::REALM);
    assert_eq!(stored.len(), 1);
    let q = &stored[0];
    assert_eq!(q["Id"], record_id);
    assert_eq!(q["DocNumber"], "INV-UK-0007");
    assert_eq!(
        total(q),
        "162.0",
        "QuickBooks' total equals the invoice's: {q}"
    );
    let customers = fake.customers(qbo::REALM);
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0]["DisplayName"], "O'Brien & Müller Ltd");
    assert_eq!(q["CustomerRef"]["value"], customers[0]["Id"]);

    inv["status"] = json!("PAID");
    inv["lines"][1]["description"] = json!("Events above plan (corrected)");
    server.ingest(&inv).await;
    synced(&server, "inv_01J9Z8Q4UK0007", 2).await;
    let stored = fake.invoices(qbo::REALM);
    assert_eq!(stored.len(), 1, "the re-sync updated the same record");
    assert_eq!(stored[0]["SyncToken"], "1");
    assert!(stored[0].to_string().contains("(corrected)"));

    inv["status"] = json!("VOID");
    server.ingest(&inv).await;
    synced(&server, "inv_01J9Z8Q4UK0007", 3).await;
    let stored = fake.invoices(qbo::REALM);
    assert_eq!(stored.len(), 1);
    assert!(
        stored[0]["PrivateNote"]
            .as_str()
            .unwrap()
            .starts_with("Voided"),
        "{}",
        stored[0]
    );
    assert_eq!(
        fake.customers(qbo::REALM).len(),
        1,
        "the customer was found again, not duplicated"
    );
}

#[tokio::test]
async fn a_lost_answer_a_stale_token_and_an_expired_token_never_duplicate() {
    let fake = FakeQuickBooks::start().await;
    let server = start(&fake).await;
    connect(&server).await;

    // The create commits but the answer is lost: the retry is replayed by requestid.
    fake.fail_after_commit(1);
    server.ingest(&invoice("inv_lost")).await;
    let entries = synced(&server, "inv_lost", 1).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[1]["status"], "FAILED");
    assert_eq!(entries[1]["response_code"], 500);
    assert_eq!(fake.invoices(qbo::REALM).len(), 1);

    // Someone edits the invoice in QuickBooks; our update re-reads the SyncToken.
    let id = fake.invoices(qbo::REALM)[0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    fake.edit_invoice_elsewhere(qbo::REALM, &id);
    let mut inv = invoice("inv_lost");
    inv["status"] = json!("PAID");
    server.ingest(&inv).await;
    let entries = synced(&server, "inv_lost", 2).await;
    assert_eq!(
        entries[0]["status"], "SUCCESS",
        "recovered within the attempt: {entries:?}"
    );
    assert_eq!(fake.invoices(qbo::REALM).len(), 1);

    // An expired access token is refreshed and the call retried, without a failed attempt.
    fake.expire_access_tokens();
    let refreshes = fake.token_refreshes();
    server.ingest(&invoice("inv_after_expiry")).await;
    let entries = synced(&server, "inv_after_expiry", 1).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["attempt"], 1);
    assert!(fake.token_refreshes() > refreshes);
    assert_eq!(fake.invoices(qbo::REALM).len(), 2);
}

#[tokio::test]
async fn a_refused_refresh_token_holds_deliveries_until_reauthorized() {
    let fake = FakeQuickBooks::start().await;
    let server = start(&fake).await;
    let id = connect(&server).await;
    fake.revoke_refresh_tokens();
    fake.expire_access_tokens();
    server.ingest(&invoice("inv_held")).await;
    let (_, conn) = eventually("needs_reauth", WAIT, || async {
        let (s, c) = server
            .call("GET", &format!("/v1/connections/{id}"), None)
            .await;
        (c["status"] == "needs_reauth").then_some((s, c))
    })
    .await;
    assert_eq!(conn["status"], "needs_reauth");
    // The worker marks the connection before it logs the held attempt (so that nothing
    // claims the job again in between): the entry may come a moment later.
    let entries = eventually("the held attempt logged", WAIT, || async {
        let entries = server.log("invoice_id=inv_held").await;
        (!entries.is_empty()).then_some(entries)
    })
    .await;
    assert!(
        entries[0]["error"]
            .as_str()
            .unwrap()
            .contains("re-authoriz"),
        "{entries:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, state) = server.call("GET", "/v1/invoices/inv_held", None).await;
    assert_eq!(
        state["sync"][0]["state"], "pending",
        "held, not failed: {state}"
    );
    assert!(fake.invoices(qbo::REALM).is_empty());
    // An invoice posted while the connection waits is queued for it, and held too.
    let accepted = server.ingest(&invoice("inv_during")).await;
    assert_eq!(accepted["jobs"].as_array().unwrap().len(), 1, "{accepted}");

    let (status, again) = server
        .call("POST", &format!("/v1/connections/{id}/reauthorize"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let (status, done) = server
        .authorize(again["authorize_url"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["connection"]["status"], "active");
    synced(&server, "inv_held", 1).await;
    synced(&server, "inv_during", 1).await;
    assert_eq!(fake.invoices(qbo::REALM).len(), 2);
}

#[tokio::test]
async fn validation_faults_fail_at_once_and_outages_retry() {
    let fake = FakeQuickBooks::start().await;
    let server = start(&fake).await;
    connect(&server).await;

    fake.throttle_next(1);
    fake.outage_next(1);
    server.ingest(&invoice("inv_bumpy")).await;
    let entries = synced(&server, "inv_bumpy", 1).await;
    let codes: Vec<_> = entries
        .iter()
        .rev()
        .map(|e| e["response_code"].clone())
        .collect();
    assert!(
        codes.contains(&json!(429)) && codes.contains(&json!(503)),
        "{codes:?}"
    );
    assert_eq!(fake.invoices(qbo::REALM).len(), 1);

    fake.remove_item(qbo::REALM, "Services");
    server.ingest(&invoice("inv_noitem")).await;
    let entry = eventually("the validation failure", WAIT, || async {
        server.log("invoice_id=inv_noitem").await.pop()
    })
    .await;
    assert_eq!(entry["status"], "FAILED");
    assert_eq!(entry["response_code"], 400);
    assert!(entry["error"].as_str().unwrap().contains("2500"), "{entry}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        server.log("invoice_id=inv_noitem").await.len(),
        1,
        "not retried"
    );
}

#[tokio::test]
async fn limits_hold_and_reconnecting_the_same_company_updates_the_same_records() {
    let fake = FakeQuickBooks::start().await;
    let server = start(&fake).await;
    let first = connect(&server).await;
    fake.set_delay(Duration::from_millis(30));
    for i in 0..25 {
        server.ingest(&invoice(&format!("inv_many_{i}"))).await;
    }
    eventually("25 invoices", Duration::from_secs(60), || async {
        (fake.invoices(qbo::REALM).len() == 25
            && server.log("status=SUCCESS&limit=1000").await.len() >= 26)
            .then_some(())
    })
    .await;
    assert!(
        fake.max_concurrent_seen(qbo::REALM) <= 10,
        "{}",
        fake.max_concurrent_seen(qbo::REALM)
    );
    fake.set_delay(Duration::ZERO);

    let (status, _) = server
        .call("DELETE", &format!("/v1/connections/{first}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        fake.invoices(qbo::REALM).len(),
        25,
        "disconnect deletes nothing in QuickBooks"
    );
    connect(&server).await;
    let mut inv = invoice("inv_many_3");
    inv["status"] = json!("PAID");
    server.ingest(&inv).await;
    synced(&server, "inv_many_3", 2).await;
    let stored = fake.invoices(qbo::REALM);
    assert_eq!(
        stored.len(),
        25,
        "the new connection updated the existing record"
    );
    let updated = stored
        .iter()
        .find(|i| i["DocNumber"] == "INV-inv_many_3")
        .unwrap();
    assert_eq!(updated["SyncToken"], "1");
}
