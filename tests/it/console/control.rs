//! Delivery control from the console over plain HTTP: pause and resume, a webhook's
//! secret rotated (shown once), a recovery counted first, then followed to done, the
//! open alerts dismissed from the Overview, and refusals in the API's words. These need
//! the delivery-control endpoints (`/pause`, `/resume`, `/rotate-secret`, `/recover`,
//! `/v1/recoveries`, `/v1/alerts`).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::{Operator, location};
use crate::support::{Reply, TestServer, array, eventually, invoice, string};

const PATIENCE: Duration = Duration::from_secs(30);

/// The `value="…"` of the input named `name` in `page`.
fn input_value(page: &str, name: &str) -> String {
    let at = page
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("an input {name} in {page}"));
    let rest = &page[at..];
    let start = rest.find("value=\"").expect("a value") + "value=\"".len();
    rest[start..start + rest[start..].find('"').unwrap()].to_string()
}

#[tokio::test]
async fn pause_resume_and_rotate_the_secret_from_the_connection_page() {
    let (server, receiver, hook) = TestServer::start_with_webhook().await;
    let id = string(&hook["id"]);
    let old_secret = string(&hook["secret"]).to_string();
    let operator = Operator::sign_in(&server).await;
    let page_of = format!("/connections/{id}");

    let (_, _, page) = operator.get(&page_of).await;
    assert!(
        page.contains("Pause deliveries") && !page.contains("Resume deliveries"),
        "{page}"
    );
    let (status, headers, _) = operator
        .post(&format!("{page_of}/pause"), &[("csrf", &operator.csrf)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), format!("{page_of}?notice=paused"));
    let (_, shown) = server.connection(id).await;
    assert_eq!(shown["status"], "paused", "{shown}");
    let (_, _, page) = operator.get(&location(&headers)).await;
    assert!(page.contains("Deliveries paused"), "{page}");
    assert!(page.contains("Resume deliveries") && !page.contains("Pause deliveries"));

    let (status, headers, _) = operator
        .post(&format!("{page_of}/resume"), &[("csrf", &operator.csrf)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), format!("{page_of}?notice=resumed"));
    let (_, shown) = server.connection(id).await;
    assert_eq!(shown["status"], "active", "{shown}");

    // Rotating shows the new secret once, with the end of the old one's grace.
    let (status, _, page) = operator
        .post(
            &format!("{page_of}/rotate-secret"),
            &[("csrf", &operator.csrf), ("grace_hours", "2")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let at = page.find("<code id=\"secret\">").expect("the secret") + "<code id=\"secret\">".len();
    let secret = page[at..at + page[at..].find('<').unwrap()].to_string();
    assert!(
        secret.starts_with("whsec_") && secret != old_secret,
        "{secret}"
    );
    assert!(page.contains("shown this once") && page.contains("data-copy=\"secret\""));
    assert!(page.contains("keeps signing requests too until"), "{page}");
    let (_, _, again) = operator.get(&page_of).await;
    assert!(!again.contains(&secret), "the secret is never shown again");

    // Deliveries are signed with the new secret.
    receiver.set_secret(&secret);
    server.ingest(&invoice("inv_rotated")).await;
    server.synced("inv_rotated", 1).await;
    assert!(
        receiver
            .for_invoice("inv_rotated")
            .iter()
            .all(|r| r.signature_ok)
    );

    // A refusal is the connection page with the API's words.
    let (status, _, page) = operator
        .post(
            &format!("{page_of}/rotate-secret"),
            &[("csrf", &operator.csrf), ("grace_hours", "soon")],
        )
        .await;
    assert!(status.is_client_error(), "{status}: {page}");
    assert!(
        page.contains("notice error") && page.contains("grace_seconds"),
        "{page}"
    );
}

#[tokio::test]
async fn a_recovery_is_counted_first_then_followed_to_done_and_alerts_are_dismissed() {
    let (server, receiver, hook) = TestServer::start_with_webhook().await;
    let id = string(&hook["id"]);
    receiver.set_default(Reply::status(500));
    let failing = ["inv_rec1".to_string(), "inv_rec2".to_string()];
    for f in &failing {
        server.ingest(&invoice(f)).await;
    }
    server.final_syncs(&failing, PATIENCE).await;
    receiver.set_default(Reply::status(200));
    let operator = Operator::sign_in(&server).await;
    let page_of = format!("/connections/{id}");

    // The failures raised alerts: on the Overview, each with a Dismiss button.
    let alerts = eventually("a sync.failed alert", PATIENCE, || async {
        let (_, open) = server.call("GET", "/v1/alerts?open=true", None).await;
        let alerts: Vec<Value> = open["alerts"].as_array().cloned().unwrap_or_default();
        alerts
            .iter()
            .any(|a| a["type"] == "sync.failed" && a["connection_id"] == id)
            .then_some(alerts)
    })
    .await;
    let (_, _, page) = operator.get("/overview").await;
    assert!(
        page.contains(&format!("<dd id=\"total-alerts\">{}</dd>", alerts.len())),
        "{page}"
    );
    assert!(page.contains("A delivery FAILED"), "{page}");
    assert!(
        page.contains("href=\"/invoices/inv_rec1\">invoice inv_rec1</a>"),
        "the alert links its document: {page}"
    );
    let alert_id = string(&alerts[0]["id"]);
    assert!(
        page.contains(&format!("action=\"/alerts/{alert_id}/close\"")),
        "{page}"
    );
    let (status, headers, _) = operator
        .post(
            &format!("/alerts/{alert_id}/close"),
            &[("csrf", &operator.csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/overview?dismissed=1");
    let (_, open) = server.call("GET", "/v1/alerts?open=true", None).await;
    assert!(
        array(&open["alerts"])
            .iter()
            .all(|a| a["id"] != alerts[0]["id"]),
        "{open}"
    );
    let (_, _, page) = operator.get("/overview?dismissed=1").await;
    assert!(page.contains("Alert dismissed."), "{page}");

    // The form defaults to the last 24 hours; its first answer is a dry run.
    let (_, _, page) = operator.get(&page_of).await;
    let since = input_value(&page, "since");
    let until = input_value(&page, "until");
    let sent_before = receiver.received().len();
    let (status, _, page) = operator
        .post(
            &format!("{page_of}/recover"),
            &[
                ("csrf", &operator.csrf),
                ("since", &since),
                ("until", &until),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("<strong id=\"recover-count\">2</strong>"),
        "{page}"
    );
    assert!(page.contains("Recover 2 documents"), "{page}");
    assert_eq!(
        receiver.received().len(),
        sent_before,
        "a dry run sends nothing"
    );

    // Confirmed: the recovery's page, refreshing itself until done.
    let (status, headers, page) = operator
        .post(
            &format!("{page_of}/recover"),
            &[
                ("csrf", &operator.csrf),
                ("since", &input_value(&page, "since")),
                ("until", &input_value(&page, "until")),
                ("confirm", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let progress = location(&headers);
    assert!(progress.starts_with("/recoveries/"), "{progress}");
    let (status, _, page) = operator.get(&progress).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("<progress id=\"recovery-progress\""),
        "{page}"
    );
    let done = eventually("the recovery to finish", PATIENCE, || async {
        let (_, _, page) = operator.get(&progress).await;
        page.contains("Recovery done.").then_some(page)
    })
    .await;
    assert!(done.contains("<dd id=\"succeeded\">2</dd>"), "{done}");
    assert!(done.contains("<dd id=\"remaining\">0</dd>"), "{done}");
    assert!(
        !done.contains("http-equiv=\"refresh\""),
        "a finished recovery stays still"
    );
    server.synced("inv_rec1", 1).await;
    server.synced("inv_rec2", 1).await;

    // A time the API cannot read: its words on the connection page.
    let (status, _, page) = operator
        .post(
            &format!("{page_of}/recover"),
            &[("csrf", &operator.csrf), ("since", "yesterday")],
        )
        .await;
    assert!(status.is_client_error(), "{status}: {page}");
    assert!(
        page.contains("notice error") && page.contains("since"),
        "{page}"
    );
}
