//! `GET /v1/overview` and the console's Overview page: each connection's last 24 hours
//! counted from what was really delivered, the deliveries waiting, the documents left
//! FAILED, one tenant never seeing another's connections; and the page drawing it all as
//! inline SVG under the strict CSP.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Operator, location};
use crate::support::{Receiver, Reply, TestServer, array, eventually, invoice, string};

/// The tenant's overview, answered 200.
async fn overview(server: &TestServer, key: &str) -> Value {
    let (status, body) = server.call_as(key, "GET", "/v1/overview", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The sum of `field` over a connection's hourly buckets.
fn total(connection: &Value, field: &str) -> i64 {
    array(&connection["hours"])
        .iter()
        .map(|h| h[field].as_i64().expect("a count"))
        .sum()
}

#[tokio::test]
async fn the_overview_counts_what_was_delivered_what_failed_and_what_waits_for_this_tenant_only() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let hook = server.connect_webhook(&receiver, None).await;
    let id = string(&hook["id"]);

    // Two deliveries succeed, one fails to the end (its retries included).
    for ok in ["inv_ov1", "inv_ov2"] {
        server.ingest(&invoice(ok)).await;
        server.synced(ok, 1).await;
    }
    receiver.set_default(Reply::status(500));
    server.ingest(&invoice("inv_ov_bad")).await;
    server
        .final_syncs(&["inv_ov_bad".to_string()], Duration::from_secs(30))
        .await;

    let body = overview(&server, &server.key).await;
    let connections = array(&body["connections"]);
    assert_eq!(connections.len(), 1, "{body}");
    let c = &connections[0];
    assert_eq!(c["id"], id);
    assert_eq!(c["name"], "hook");
    assert_eq!(c["provider"], "webhook");
    assert_eq!(c["status"], "active");
    let hours = array(&c["hours"]);
    assert_eq!(hours.len(), 24, "{body}");
    assert_eq!(body["since"], hours[0]["start"]);
    let now = chrono::Utc::now();
    let last: chrono::DateTime<chrono::Utc> = string(&hours[23]["start"]).parse().unwrap();
    assert!(
        last <= now && now - last < chrono::Duration::hours(1),
        "{last} {now}"
    );

    // The counts are the sync log's deliveries (the test sync is not one).
    let log = server.log(&format!("connection_id={id}&limit=1000")).await;
    let delivered = |status: &str| {
        log.iter()
            .filter(|e| e["kind"] != "test" && e["status"] == status)
            .count() as i64
    };
    assert_eq!(total(c, "succeeded"), 2, "{body}");
    assert_eq!(total(c, "succeeded"), delivered("SUCCESS"));
    assert!(total(c, "failed") >= 1, "{body}");
    assert_eq!(
        total(c, "failed"),
        delivered("FAILED"),
        "every retry counts"
    );
    assert_eq!(c["failed_documents"], 1, "inv_ov_bad is left FAILED");
    assert_eq!(c["queue_depth"], 0, "nothing waits");
    // The failure raises an alert (right after its attempt is logged); the overview
    // counts the open ones.
    let open = eventually("the sync.failed alert", Duration::from_secs(20), || async {
        let (_, open) = server.call("GET", "/v1/alerts?open=true", None).await;
        let n = array(&open["alerts"]).len() as i64;
        (n >= 1).then_some(n)
    })
    .await;
    let body = overview(&server, &server.key).await;
    assert_eq!(body["open_alerts"], open, "{body}");

    // What a paused connection holds is its queue depth.
    receiver.set_default(Reply::status(200));
    let (status, paused) = server
        .call("POST", &format!("/v1/connections/{id}/pause"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    for waiting in ["inv_ov3", "inv_ov4"] {
        server.ingest(&invoice(waiting)).await;
    }
    let body = overview(&server, &server.key).await;
    assert_eq!(body["connections"][0]["status"], "paused", "{body}");
    assert_eq!(body["connections"][0]["queue_depth"], 2, "{body}");

    // Another tenant sees its own connection only, and none of this tenant's counts.
    let other = server.second_tenant().await;
    let (status, theirs) = server
        .call_as(
            &other,
            "POST",
            "/v1/connections",
            Some(
                json!({"provider": "webhook", "name": "theirs", "config": {"url": receiver.url()}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    let body = overview(&server, &other).await;
    let connections = array(&body["connections"]);
    assert_eq!(connections.len(), 1, "{body}");
    assert_eq!(connections[0]["id"], theirs["id"]);
    assert_eq!(
        total(&connections[0], "succeeded") + total(&connections[0], "failed"),
        0
    );
    assert_eq!(connections[0]["failed_documents"], 0);
    assert_eq!(connections[0]["queue_depth"], 0);
    assert_eq!(
        body["open_alerts"], 0,
        "another tenant's alerts are not counted"
    );
    let mine = overview(&server, &server.key).await;
    assert!(
        array(&mine["connections"])
            .iter()
            .all(|c| c["id"] != theirs["id"]),
        "{mine}"
    );

    let (status, _) = server
        .call_as("esk_nope", "GET", "/v1/overview", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_overview_page_is_the_landing_page_and_draws_each_day_as_inline_svg() {
    let (server, receiver, hook) = TestServer::start_with_webhook().await;
    let id = string(&hook["id"]);
    server.ingest(&invoice("inv_pg1")).await;
    server.synced("inv_pg1", 1).await;
    receiver.set_default(Reply::status(500));
    server.ingest(&invoice("inv_pg_bad")).await;
    server
        .final_syncs(&["inv_pg_bad".to_string()], Duration::from_secs(30))
        .await;
    let operator = Operator::sign_in(&server).await;

    // `/` and the sign-in lead to the Overview, the first item of the navigation.
    let (status, headers, _) = operator.get("/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/overview");
    let (status, headers, page) = operator.get("/overview").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("style-src 'self';") && !csp.contains("unsafe"),
        "{csp}"
    );
    let nav = &page[page.find("<nav").unwrap()..];
    assert!(
        nav.find("/overview").unwrap() < nav.find("/connections").unwrap(),
        "Overview comes first"
    );
    assert!(
        nav.contains("href=\"/overview\" aria-current=\"page\""),
        "{nav}"
    );

    // One card for the connection: a link to it, its status, an SVG of 24 bars each
    // with a title, a sentence for screen readers, what waits and what FAILED.
    assert!(
        page.contains(&format!("href=\"/connections/{id}\"")),
        "{page}"
    );
    assert!(page.contains("<svg class=\"chart\""), "{page}");
    assert_eq!(page.matches("<g class=\"hour\">").count(), 24, "{page}");
    assert!(page.contains(" UTC: 1 succeeded, "), "{page}");
    assert!(page.contains("class=\"bad\""), "a FAILED bar: {page}");
    assert!(
        page.contains(&format!("aria-describedby=\"summary-{id}\""))
            && page.contains(&format!(
                "<figcaption id=\"summary-{id}\">Last 24 hours: 1 succeeded, "
            )),
        "{page}"
    );
    assert!(page.contains("<dd class=\"failed\">1"), "{page}");
    assert!(page.contains("<dd class=\"queue\">0</dd>"), "{page}");
    assert!(
        !page.contains("style=") && !page.contains("<script>"),
        "nothing inline"
    );
    assert!(page.contains("Open alerts"), "{page}");

    // The API's figures, drawn: the page and the API agree.
    let body = overview(&server, &server.key).await;
    let failed = total(&body["connections"][0], "failed");
    assert!(
        page.contains(&format!("1 succeeded, {failed} FAILED;")),
        "{failed} failures in {page}"
    );

    // Without a session, the Overview asks to sign in.
    let answer = super::client()
        .get(format!("{}/overview", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(location(answer.headers()), "/login");
}
