//! The QuickBooks Online connector against the fake QuickBooks server: OAuth connect and
//! refresh, one QuickBooks invoice per invoice however many retries and re-syncs, the
//! right amounts and customer, faults, limits and reconnection.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fakes::quickbooks::{self as qbo, FakeQuickBooks};
use crate::support::erp::{self, authorize_params, callback_url, quickbooks_company};
use crate::support::{TestServer, array, eventually, invoice, string, uk_invoice};

const WAIT: Duration = Duration::from_secs(20);

/// A server with the fake QuickBooks configured (also for `quickbooks_ledger`).
pub(crate) async fn start(fake: &FakeQuickBooks) -> TestServer {
    let quickbooks = erp::quickbooks(fake);
    TestServer::start_with(move |c| {
        quickbooks(c);
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

/// A fake QuickBooks company and a server connected to it, where most tests here start.
async fn connected() -> (FakeQuickBooks, TestServer, String) {
    let fake = FakeQuickBooks::start().await;
    let server = start(&fake).await;
    let id = connect(&server).await;
    (fake, server, id)
}

fn total(inv: &Value) -> String {
    inv["TotalAmt"].to_string()
}

#[tokio::test]
async fn connect_authorizes_tests_and_refuses_a_replayed_state() {
    let fake = FakeQuickBooks::start().await;
    let server = start(&fake).await;
    let created = server
        .create_connection(json!({"provider": "quickbooks"}))
        .await;
    assert_eq!(created["status"], "pending_auth");
    let url = string(&created["authorize_url"]);
    assert!(url.starts_with(&fake.auth_url()), "{url}");
    let params = authorize_params(url);
    assert_eq!(params["client_id"], "qbo-test-client", "{url}");
    assert_eq!(params["scope"], "com.intuit.quickbooks.accounting", "{url}");
    assert!(
        params.contains_key("state") && params.contains_key("redirect_uri"),
        "{url}"
    );

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let callback = callback_url(&browser, url, &server.base).await;
    let first = browser.get(&callback).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let done: Value = first.json().await.unwrap();
    assert_eq!(done["test_sync"]["status"], "SUCCESS", "{done}");
    assert_eq!(done["connection"]["status"], "active");
    assert_eq!(done["connection"]["config"]["realm_id"], qbo::REALM);
    assert!(
        done["connection"]["config"]
            .get("default_item_id")
            .is_none(),
        "the default stays the company's Services Item, not a copy of its id: {done}"
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
    let tests = server.log_of_kind("", "test").await;
    assert_eq!(tests.len(), 1);
    assert_eq!(tests[0]["provider"], "quickbooks");
}

#[tokio::test]
async fn one_quickbooks_invoice_per_invoice_through_updates_and_void() {
    let (fake, server, _) = connected().await;
    let mut inv = uk_invoice();
    // The company books in its home currency, dollars.
    inv["currency"] = json!("USD");
    inv["customer"]["name"] = json!("O'Brien & Müller Ltd");
    server.ingest(&inv).await;
    let entries = server.synced("inv_01J9Z8Q4UK0007", 1).await;
    let record_id = string(&entries[0]["erp_record_id"]).to_string();

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
    server.synced("inv_01J9Z8Q4UK0007", 2).await;
    let stored = fake.invoices(qbo::REALM);
    assert_eq!(stored.len(), 1, "the re-sync updated the same record");
    assert_eq!(stored[0]["SyncToken"], "1");
    assert!(stored[0].to_string().contains("(corrected)"));

    inv["status"] = json!("VOID");
    server.ingest(&inv).await;
    server.synced("inv_01J9Z8Q4UK0007", 3).await;
    let stored = fake.invoices(qbo::REALM);
    assert_eq!(stored.len(), 1);
    assert!(
        string(&stored[0]["PrivateNote"]).starts_with("Voided"),
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
    let (fake, server, _) = connected().await;

    // The create commits but the answer is lost: the retry is replayed by requestid.
    fake.fail_after_commit(1);
    server.ingest(&invoice("inv_lost")).await;
    let entries = server.synced("inv_lost", 1).await;
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
    let entries = server.synced("inv_lost", 2).await;
    assert_eq!(
        entries[0]["status"], "SUCCESS",
        "recovered within the attempt: {entries:?}"
    );
    assert_eq!(fake.invoices(qbo::REALM).len(), 1);

    // An expired access token is refreshed and the call retried, without a failed attempt.
    fake.expire_access_tokens();
    let refreshes = fake.token_refreshes();
    server.ingest(&invoice("inv_after_expiry")).await;
    let entries = server.synced("inv_after_expiry", 1).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["attempt"], 1);
    assert!(fake.token_refreshes() > refreshes);
    assert_eq!(fake.invoices(qbo::REALM).len(), 2);
}

#[tokio::test]
async fn a_refused_refresh_token_holds_deliveries_until_reauthorized() {
    let (fake, server, id) = connected().await;
    fake.revoke_refresh_tokens();
    fake.expire_access_tokens();
    server.ingest(&invoice("inv_held")).await;
    let (_, conn) = eventually("needs_reauth", WAIT, || async {
        let (s, c) = server.connection(&id).await;
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
        string(&entries[0]["error"]).contains("re-authoriz"),
        "{entries:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, state) = server.invoice_state("inv_held").await;
    assert_eq!(
        state["sync"][0]["state"], "pending",
        "held, not failed: {state}"
    );
    assert!(fake.invoices(qbo::REALM).is_empty());
    // An invoice posted while the connection waits is queued for it, and held too.
    let accepted = server.ingest(&invoice("inv_during")).await;
    assert_eq!(array(&accepted["jobs"]).len(), 1, "{accepted}");
    // The operator hears of it: one open connection.needs_reauth alert.
    let open_reauth_alerts = || async {
        let (_, list) = server.call("GET", "/v1/alerts?open=true", None).await;
        array(&list["alerts"])
            .iter()
            .filter(|a| a["type"] == "connection.needs_reauth" && a["connection_id"] == id.as_str())
            .count()
    };
    assert_eq!(open_reauth_alerts().await, 1);

    let (status, again) = server.reauthorize(&id).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let (status, done) = server.authorize(string(&again["authorize_url"])).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["connection"]["status"], "active");
    assert_eq!(
        open_reauth_alerts().await,
        0,
        "closed by the re-authorization"
    );
    server.synced("inv_held", 1).await;
    server.synced("inv_during", 1).await;
    assert_eq!(fake.invoices(qbo::REALM).len(), 2);
}

#[tokio::test]
async fn validation_faults_fail_at_once_and_outages_retry() {
    let (fake, server, _) = connected().await;

    fake.throttle_next(1);
    fake.outage_next(1);
    server.ingest(&invoice("inv_bumpy")).await;
    let entries = server.synced("inv_bumpy", 1).await;
    let codes: Vec<_> = entries
        .iter()
        .rev()
        .map(|e| e["response_code"].clone())
        .collect();
    assert_eq!(
        codes,
        vec![json!(503), json!(200)],
        "the outage spent a retry; the throttle was waited out within an attempt"
    );
    assert_eq!(
        fake.requests().iter().filter(|r| r.status == 429).count(),
        1,
        "QuickBooks did throttle"
    );
    assert_eq!(fake.invoices(qbo::REALM).len(), 1);

    fake.remove_item(qbo::REALM, "Services");
    server.ingest(&invoice("inv_noitem")).await;
    let entry = server.failed_attempt("inv_noitem", WAIT, &["2500"]).await;
    assert_eq!(entry["response_code"], 400);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(server.logged_attempts("inv_noitem").await, 1, "not retried");
}

#[tokio::test]
async fn limits_hold_and_reconnecting_the_same_company_updates_the_same_records() {
    let (fake, server, first) = connected().await;
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

    let (status, _) = server.disconnect(&first).await;
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
    server.synced("inv_many_3", 2).await;
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

/// Issue 18's case: `item_map` for one product and no `default_item_id`. The other lines
/// book to the company's `Services` Item, as the contract says, instead of failing.
#[tokio::test]
async fn a_partial_item_map_books_the_other_lines_to_services() {
    let fake = FakeQuickBooks::start().await;
    let server = start(&fake).await;
    let (first, done) = server
        .connect_oauth(
            json!({"provider": "quickbooks", "config": {"item_map": {"prod_plan": "2"}}}),
        )
        .await;
    assert_eq!(done["test_sync"]["status"], "SUCCESS", "{done}");
    let mut inv = uk_invoice();
    inv["currency"] = json!("USD");
    server.ingest(&inv).await;
    server.synced("inv_01J9Z8Q4UK0007", 1).await;
    let stored = fake.invoices(qbo::REALM);
    let items: Vec<&Value> = array(&stored[0]["Line"])
        .iter()
        .filter(|l| l["DetailType"] == "SalesItemLineDetail")
        .map(|l| &l["SalesItemLineDetail"]["ItemRef"]["value"])
        .collect();
    assert_eq!(
        items,
        vec!["2", "1"],
        "mapped product, then Services: {stored:?}"
    );
    assert_eq!(total(&stored[0]), "162.0");

    // Without a Services Item and without default_item_id, the test sync says which
    // setting to add.
    fake.remove_item(qbo::REALM, "Services");
    let (status, _) = server.disconnect(&first).await;
    assert_eq!(status, StatusCode::OK);
    let (_, again) = server
        .connect_oauth(
            json!({"provider": "quickbooks", "config": {"item_map": {"prod_plan": "2"}}}),
        )
        .await;
    let error = again["test_sync"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("default_item_id"), "{again}");
}

/// A multicurrency company: a euro invoice books in euros, to a customer created in
/// euros; the same customer's dollar invoice gets a dollar customer of its own. Without
/// multicurrency, a euro invoice fails at once naming the setting, and nothing is written.
#[tokio::test]
async fn foreign_currencies_book_in_their_own_currency_or_fail_naming_multicurrency() {
    let fake = quickbooks_company("US", "USD", &["EUR"]).await;
    let server = start(&fake).await;
    connect(&server).await;
    let mut eur = invoice("inv_eur");
    eur["currency"] = json!("EUR");
    server.ingest(&eur).await;
    server.ingest(&invoice("inv_usd")).await;
    server.synced("inv_eur", 1).await;
    server.synced("inv_usd", 1).await;
    let invoices = fake.invoices(qbo::REALM);
    let by_number = |n: &str| {
        invoices
            .iter()
            .find(|i| i["DocNumber"] == n)
            .unwrap()
            .clone()
    };
    let (e, u) = (by_number("INV-inv_eur"), by_number("INV-inv_usd"));
    assert_eq!(e["CurrencyRef"]["value"], "EUR", "{e}");
    assert_eq!(total(&e), "12.99");
    assert_eq!(u["CurrencyRef"]["value"], "USD", "{u}");
    let customers = fake.customers(qbo::REALM);
    assert_eq!(customers.len(), 2, "{customers:?}");
    let euro_customer = customers
        .iter()
        .find(|c| c["Id"] == e["CustomerRef"]["value"])
        .unwrap();
    assert_eq!(euro_customer["CurrencyRef"]["value"], "EUR");
    assert_ne!(e["CustomerRef"], u["CustomerRef"]);

    let off = FakeQuickBooks::start().await;
    let server = start(&off).await;
    connect(&server).await;
    server.ingest(&eur).await;
    let words = ["multicurrency", "not retried"];
    server.failed_attempt("inv_eur", WAIT, &words).await;
    assert!(off.invoices(qbo::REALM).is_empty());
    assert!(off.customers(qbo::REALM).is_empty(), "nothing was written");
}

/// A UK company computes VAT from each line's TaxCode: `tax_code_map` names them, and
/// QuickBooks' total equals ours (the discount comes off before tax, as on our invoice).
/// Without the map, the delivery fails at once naming it.
#[tokio::test]
async fn a_uk_company_books_tax_codes_from_the_tax_code_map() {
    let fake = quickbooks_company("GB", "GBP", &[]).await;
    let server = start(&fake).await;
    let id = connect(&server).await;
    server.ingest(&uk_invoice()).await;
    let words = ["tax_code_map"];
    server
        .failed_attempt("inv_01J9Z8Q4UK0007", WAIT, &words)
        .await;
    assert!(fake.invoices(qbo::REALM).is_empty());

    let (status, patched) = server
        .patch_connection(&id, json!({"config": {"tax_code_map": {"UK-VAT-20": "3"}}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let (status, _) = server.resync("inv_01J9Z8Q4UK0007", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    server.synced("inv_01J9Z8Q4UK0007", 1).await;
    let stored = fake.invoices(qbo::REALM);
    assert_eq!(stored.len(), 1);
    let q = &stored[0];
    assert!(
        q.get("CurrencyRef").is_none_or(|c| c["value"] == "GBP"),
        "{q}"
    );
    assert_eq!(q["TxnTaxDetail"]["TotalTax"].to_string(), "27.0", "{q}");
    assert_eq!(total(q), "162.0", "QuickBooks' VAT total equals ours: {q}");
    for line in array(&q["Line"]) {
        if line["DetailType"] == "SalesItemLineDetail" {
            assert_eq!(line["SalesItemLineDetail"]["TaxCodeRef"]["value"], "3");
        }
    }
}
