//! `/healthz`, `/metrics` and `/openapi.json`.

use std::time::Duration;

use reqwest::StatusCode;

use crate::support::{Receiver, TestServer, eventually, invoice};

#[tokio::test]
async fn health_metrics_and_openapi() {
    let server = TestServer::start().await;
    let health = server
        .http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    let receiver = Receiver::start().await;
    server.connect_webhook(&receiver, None).await;
    server.ingest(&invoice("inv_m")).await;
    eventually("the delivery", Duration::from_secs(10), || async {
        (!receiver.for_invoice("inv_m").is_empty()).then_some(())
    })
    .await;
    let text = eventually(
        "the success to be counted",
        Duration::from_secs(10),
        || async {
            let text = server.metrics().await;
            text.contains(r#"erp_sync_attempts_total{provider="webhook",outcome="success"} 1"#)
                .then_some(text)
        },
    )
    .await;
    for name in [
        "erp_sync_queue_depth{state=\"pending\"}",
        "erp_sync_finalization_to_success_seconds_bucket",
        "erp_sync_ingest_to_success_seconds_count 1",
        "erp_sync_invoices_ingested_total{result=\"new_version\"} 1",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }

    let (status, doc) = server.call("GET", "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/invoices",
        "/v1/invoices/{id}",
        "/v1/invoices/{id}/sync",
        "/v1/connections",
        "/v1/connections/{id}",
        "/v1/connections/{id}/reauthorize",
        "/v1/sync-log",
        "/v1/settings",
        "/healthz",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    let (status, body) = server.call("GET", "/v1/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
}
