//! One connection per tenant unless Multi-ERP is on, entity routing, disconnect, SSRF
//! refusals and secrets that never leave sealed storage.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{
    Receiver, Reply, TestServer, array, error_message, eventually, invoice, string,
};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_second_connection_needs_multi_erp_and_then_routes_by_entity() {
    let server = TestServer::start().await;
    let us = Receiver::start().await;
    let uk = Receiver::start().await;
    let us_conn = server.connect_webhook(&us, Some("US")).await;

    let (status, body) = server
        .post_connection(json!({"provider": "webhook", "config": {"url": uk.url()}}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(error_message(&body).contains("multi_erp"), "{body}");
    assert_eq!(uk.received().len(), 0, "a refused connection sends no test");

    let (status, settings) = server.set_multi_erp(true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(settings["multi_erp"], true);
    server.connect_webhook(&uk, Some("UK")).await;

    let mut uk_invoice = invoice("inv_uk");
    uk_invoice["entity"] = json!("UK");
    uk_invoice["currency"] = json!("GBP");
    server.ingest(&invoice("inv_us")).await;
    let accepted = server.ingest(&uk_invoice).await;
    assert_eq!(array(&accepted["jobs"]).len(), 1);

    eventually("both deliveries", WAIT, || async {
        (us.for_invoice("inv_us").len() == 1 && uk.for_invoice("inv_uk").len() == 1).then_some(())
    })
    .await;
    assert!(us.for_invoice("inv_uk").is_empty());
    assert!(uk.for_invoice("inv_us").is_empty());

    let (status, body) = server.set_multi_erp(false).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, list) = server.connections().await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == us_conn["id"])
    );
}

#[tokio::test]
async fn disconnect_cancels_waiting_jobs_and_sends_nothing_more() {
    let server = TestServer::start_with(|c| c.retry.base = Duration::from_secs(30)).await;
    let receiver = Receiver::start().await;
    let conn = server.connect_webhook(&receiver, None).await;
    let id = string(&conn["id"]);
    receiver.set_default(Reply::status(500));
    server.ingest(&invoice("inv_d")).await;
    eventually("the first failure", WAIT, || async {
        (server.log("invoice_id=inv_d").await.len() == 1).then_some(())
    })
    .await;

    let (status, body) = server.disconnect(id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "disconnected");
    assert_eq!(body["cancelled_jobs"], 1);
    let entries = server.log("invoice_id=inv_d").await;
    assert_eq!(entries.len(), 2);
    assert!(
        string(&entries[0]["error"]).contains("disconnected"),
        "{}",
        entries[0]
    );

    // New invoices are not routed to it, and a manual sync to it is refused.
    receiver.set_default(Reply::status(200));
    let accepted = server.ingest(&invoice("inv_after")).await;
    assert!(array(&accepted["jobs"]).is_empty());
    let (status, _) = server.resync("inv_d", Some(id)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.for_invoice("inv_d").len(), 1);
    assert!(receiver.for_invoice("inv_after").is_empty());

    // Reconnecting is a new connection.
    let again = server.connect_webhook(&receiver, None).await;
    assert_ne!(again["id"], conn["id"]);
}

#[tokio::test]
async fn private_targets_are_refused_unless_allowed() {
    let server = TestServer::start_with(|c| c.allow_private_targets = false).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://10.0.0.8/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/hook",
        "http://192.168.1.20/hook",
    ] {
        let (status, body) = server
            .post_connection(json!({"provider": "webhook", "config": {"url": url}}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert!(
            error_message(&body).contains("--allow-private-targets"),
            "{body}"
        );
    }
    assert!(array(&server.connections().await.1).is_empty());
}

#[tokio::test]
async fn bad_connection_requests_name_the_problem() {
    let server = TestServer::start().await;
    let cases = [
        (json!({"provider": "sap", "config": {}}), "provider"),
        (json!({"provider": "webhook", "config": {}}), "config.url"),
        (
            json!({"provider": "webhook", "config": {"url": "not a url"}}),
            "config.url",
        ),
        (
            json!({"provider": "webhook", "config": {"url": "ftp://example.com"}}),
            "config.url",
        ),
        (
            json!({"provider": "webhook", "config": {"url": "https://example.com", "secret": "short"}}),
            "config.secret",
        ),
        (
            json!({"provider": "webhook", "config": {"url": "https://example.com", "colour": "red"}}),
            "config.colour",
        ),
        (json!({"config": {}}), "provider"),
    ];
    for (body, field) in cases {
        let (status, answer) = server.post_connection(body.clone()).await;
        assert!(status.is_client_error(), "{body}: {status}");
        assert!(error_message(&answer).contains(field), "{body}: {answer}");
    }
}

#[tokio::test]
async fn secrets_stay_sealed_and_are_never_returned() {
    let mut server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let secret = "whsec_my-own-very-secret-signing-key";
    let created = server
        .create_connection(
            json!({"provider": "webhook", "config": {"url": receiver.url(), "secret": secret}}),
        )
        .await;
    assert!(
        created["secret"].is_null(),
        "a secret the operator brought is not echoed"
    );
    receiver.set_secret(secret);
    server.ingest(&invoice("inv_s")).await;
    let got = eventually("the delivery", WAIT, || async {
        receiver.for_invoice("inv_s").pop()
    })
    .await;
    assert!(got.signature_ok, "signed with the operator's secret");

    let id = string(&created["id"]);
    for path in [
        "/v1/connections".to_string(),
        format!("/v1/connections/{id}"),
        "/v1/sync-log".into(),
    ] {
        let (_, body) = server.call("GET", &path, None).await;
        assert!(
            !body.to_string().contains(secret),
            "{path} leaks the secret"
        );
    }
    let server_dir = server.dir.path().to_path_buf();
    server.stop().await;
    for entry in std::fs::read_dir(&server_dir).unwrap() {
        // SQLite may remove its -wal/-shm files as the last connection closes.
        let Ok(bytes) = std::fs::read(entry.unwrap().path()) else {
            continue;
        };
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a file of the data dir holds the secret in clear"
        );
    }
}

#[tokio::test]
async fn patching_the_url_reruns_the_test() {
    let server = TestServer::start().await;
    let first = Receiver::start().await;
    let second = Receiver::start().await;
    let conn = server.connect_webhook(&first, None).await;
    let id = string(&conn["id"]);
    let (status, body) = server
        .patch_connection(id, json!({"name": "renamed"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "renamed");
    assert!(body["test_sync"].is_null());
    let (status, body) = server
        .patch_connection(id, json!({"config": {"url": second.url()}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["test_sync"]["status"], "SUCCESS");
    assert_eq!(second.received().len(), 1);
    let (status, _) = server
        .patch_connection(id, json!({"config": {"secret": "0123456789abcdef0"}}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
