//! The operator's main scenario in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven over WebDriver with fantoccini): a wrong key refused, sign
//! in, connect a webhook to a local receiver, see an invoice's delivery SUCCESS in the
//! log as it happens, see a failing one FAILED, filter by FAILED, press Manual sync and
//! see the new attempt SUCCESS; a hostile customer name shown as text; then the
//! Overview's chart, pause and resume, a secret rotated and a recovery run to done.
//!
//! One browser for the whole scenario keeps the suite quick on a 2-core CI machine.

use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;

use crate::support::browser::Browser;
use crate::support::{Receiver, Reply, TestServer, eventually, invoice};

fn has_row(rows: &[String], words: &[&str]) -> bool {
    rows.iter().any(|r| words.iter().all(|w| r.contains(w)))
}

#[tokio::test]
async fn an_operator_connects_watches_the_log_filters_and_resyncs_in_a_real_browser() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let browser = Browser::start().await;
    let base = &server.base;

    // Not signed in: the console asks for the key; a wrong one is refused.
    browser.goto(&format!("{base}/sync-log")).await;
    assert!(
        browser.url().await.ends_with("/login"),
        "{}",
        browser.url().await
    );
    browser.fill("#api_key", "esk_wrong_key").await;
    browser.click("main form button[type=submit]").await;
    browser
        .wait_for("the refusal", "main", |t| {
            t.join("").contains("That API key is not valid here")
        })
        .await;
    let cookies = browser.client.get_all_cookies().await.expect("cookies");
    assert!(
        cookies.is_empty(),
        "no session for a wrong key: {cookies:?}"
    );

    // Signed in: the Overview, with no connection yet; the cookie is invisible to scripts.
    browser.fill("#api_key", &server.key).await;
    browser.click("main form button[type=submit]").await;
    browser
        .wait_for("the overview", "h1", |t| t.iter().any(|h| h == "Overview"))
        .await;
    let seen_by_script = browser
        .client
        .execute("return document.cookie;", vec![])
        .await
        .expect("a script runs");
    assert_eq!(
        seen_by_script,
        json!(""),
        "the key is not readable by scripts"
    );

    // Connections → + Connect ERP → webhook to the local receiver; the test sync passes
    // and the generated secret is shown once.
    browser.click("nav a[href='/connections']").await;
    browser
        .wait_for("the connections page", "h1", |t| {
            t.iter().any(|h| h == "Connections")
        })
        .await;
    browser.click("a.button[href='/connections/new']").await;
    browser.wait_for_url("/connections/new").await;
    browser.fill("#webhook_name", "Receiver").await;
    browser.fill("#wh_url", &receiver.url()).await;
    browser.click("#webhook form button[type=submit]").await;
    let shown = browser
        .wait_for("the new connection", "main", |t| {
            t.join("").contains("Connected: Receiver")
        })
        .await
        .join("\n");
    assert!(shown.contains("SUCCESS"), "the test sync result: {shown}");
    let secret = browser.texts("#secret").await.join("");
    assert!(secret.starts_with("whsec_"), "{secret}");
    receiver.set_secret(&secret);

    // The sync log, open while an invoice arrives: its delivery appears without a reload.
    browser.goto(&format!("{base}/sync-log")).await;
    browser
        .wait_for("the log", "h1", |t| t.iter().any(|h| h == "Sync log"))
        .await;
    server.ingest(&invoice("inv_ok")).await;
    browser
        .wait_for("inv_ok SUCCESS", "#log-rows tr", |rows| {
            has_row(rows, &["inv_ok", "sync", "SUCCESS"])
        })
        .await;
    assert!(
        receiver.received().iter().any(|r| r.signature_ok),
        "signed deliveries"
    );

    // The receiver fails: the attempts show FAILED.
    receiver.set_default(Reply::status(500));
    server.ingest(&invoice("inv_bad")).await;
    browser
        .wait_for("inv_bad FAILED", "#log-rows tr", |rows| {
            has_row(rows, &["inv_bad", "FAILED", "500"])
        })
        .await;
    eventually(
        "inv_bad's retries to end",
        Duration::from_secs(30),
        || async {
            let (_, state) = server.call("GET", "/v1/invoices/inv_bad", None).await;
            (state["sync"][0]["state"] == "failed").then_some(())
        },
    )
    .await;

    // Filter by FAILED: the filter is in the URL, and only failures are listed.
    browser
        .client
        .find(Locator::Css("#status"))
        .await
        .expect("the status filter")
        .select_by_value("FAILED")
        .await
        .expect("FAILED can be chosen");
    browser.click("form.filters button[type=submit]").await;
    // The unfiltered page lists inv_bad's failures too: wait for the navigation first.
    browser.wait_for_url("status=FAILED").await;
    let rows = browser
        .wait_for("the FAILED filter", "#log-rows tr", |rows| {
            has_row(rows, &["inv_bad", "FAILED"])
        })
        .await;
    assert!(rows.iter().all(|r| r.contains("FAILED")), "{rows:#?}");
    assert!(!has_row(&rows, &["inv_ok"]), "{rows:#?}");

    // The invoice page: Manual sync with the receiver healthy again; the new attempt
    // appears as SUCCESS.
    browser.click("#log-rows a[href='/invoices/inv_bad']").await;
    browser
        .wait_for("the invoice page", "h1", |t| t.join("").contains("inv_bad"))
        .await;
    receiver.set_default(Reply::status(200));
    browser
        .click("section[aria-labelledby=manual] button[type=submit]")
        .await;
    browser
        .wait_for("the manual attempt", "#log-rows tr", |rows| {
            has_row(rows, &["manual", "SUCCESS"])
        })
        .await;
    let page = browser.main_text().await;
    assert!(page.contains("Manual sync queued: 1"), "{page}");

    // A hostile customer name is shown as text: no element is made of it.
    let hostile = "<img src=x onerror=alert(1)>";
    let mut body = invoice("inv_xss");
    body["customer"]["name"] = json!(hostile);
    server.ingest(&body).await;
    browser.goto(&format!("{base}/invoices/inv_xss")).await;
    let facts = browser
        .wait_for("the invoice", "dl.facts", |t| !t.is_empty())
        .await
        .join("\n");
    assert!(facts.contains(hostile), "{facts}");
    let images = browser
        .client
        .find_all(Locator::Css("img"))
        .await
        .expect("a query");
    assert!(images.is_empty(), "the name made an element");
    assert!(
        browser.client.get_alert_text().await.is_err(),
        "no script ran"
    );

    overview_and_delivery_control(&browser, &server, &receiver, &secret).await;
    browser.close().await;
}

/// The Overview's chart of the Receiver's day, then from its connection page: pause and
/// resume, rotate the secret (shown once), and recover a FAILED delivery (counted first,
/// then followed on the progress page to done).
async fn overview_and_delivery_control(
    browser: &Browser,
    server: &TestServer,
    receiver: &Receiver,
    secret: &str,
) {
    browser.click("nav a[href='/overview']").await;
    browser
        .wait_for("the overview", "h1", |t| t.iter().any(|h| h == "Overview"))
        .await;
    let bars = browser
        .client
        .execute(
            "return document.querySelectorAll('svg.chart g.hour title').length;",
            vec![],
        )
        .await
        .expect("a script runs");
    assert_eq!(bars, json!(24), "a bar with a title per hour");
    let caption = browser.texts("figure.chart figcaption").await.join("");
    assert!(
        caption.contains(" succeeded, ") && caption.contains("failures in"),
        "{caption}"
    );

    // The connection, from its card: pause, then resume.
    browser.click("section.health h2 a").await;
    let connection = browser.wait_for_url("/connections/").await;
    browser.click("#pause").await;
    browser
        .wait_for("the pause", "main", |t| {
            t.join("").contains("Deliveries paused")
        })
        .await;
    browser.click("#resume").await;
    browser
        .wait_for("the resume", "main", |t| {
            t.join("").contains("Deliveries resumed")
        })
        .await;

    // Rotate the signing secret: the new one is shown once.
    browser.fill("#grace_hours", "1").await;
    browser.click("#rotate").await;
    browser
        .wait_for("the new secret", "h1", |t| {
            t.join("").contains("New signing secret")
        })
        .await;
    let rotated = browser.texts("#secret").await.join("");
    assert!(
        rotated.starts_with("whsec_") && rotated != secret,
        "{rotated}"
    );
    receiver.set_secret(&rotated);

    // A delivery FAILS to the end; the receiver recovers; so does the delivery.
    receiver.set_default(Reply::status(500));
    server.ingest(&invoice("inv_recover")).await;
    eventually(
        "inv_recover's retries to end",
        Duration::from_secs(30),
        || async {
            let (_, state) = server.call("GET", "/v1/invoices/inv_recover", None).await;
            (state["sync"][0]["state"] == "failed").then_some(())
        },
    )
    .await;
    receiver.set_default(Reply::status(200));
    browser.goto(&connection).await;
    browser.click("#recover").await;
    browser
        .wait_for("the dry run", "#recover-count", |t| t.join("") == "1")
        .await;
    browser.click("#confirm-recover").await;
    browser.wait_for_url("/recoveries/").await;
    browser
        .wait_for("the recovery to finish", "#recovery-status", |t| {
            t.join("") == "done"
        })
        .await;
    assert_eq!(browser.texts("#succeeded").await.join(""), "1");
    assert_eq!(browser.texts("#remaining").await.join(""), "0");
    server.synced("inv_recover", 1).await;
}
