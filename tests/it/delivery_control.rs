//! Delivery control (docs/contracts.md, "Delivery control"): pause and resume, a
//! connection's own retry schedule, bulk recovery of FAILED documents with progress,
//! alerts (listed, closed, delivered signed to the tenant's `alert_url`), the automatic
//! pause of a webhook that fails every delivery, and the gauges in `/metrics`. Each runs
//! on SQLite, and on PostgreSQL when the suite does; the `_across_hosts` tests need
//! PostgreSQL.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    Receiver, Reply, TestServer, array, error_message, eventually, invoice, string,
};

const WAIT: Duration = Duration::from_secs(30);

/// A webhook connection to `receiver` with `retry` as its retry schedule.
async fn connect_with_retry(server: &TestServer, receiver: &Receiver, retry: Value) -> String {
    let created = server
        .create_connection(json!({"provider": "webhook", "name": "hook",
            "config": {"url": receiver.url(), "retry": retry}}))
        .await;
    receiver.set_secret(string(&created["secret"]));
    string(&created["id"]).to_string()
}

async fn post(server: &TestServer, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    server.call("POST", path, body).await
}

/// Invoices `prefix_0..n`, posted one after the other.
async fn ingest_many(server: &TestServer, prefix: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = format!("{prefix}_{i}");
        server.ingest(&invoice(&id)).await;
        ids.push(id);
    }
    ids
}

/// What the receiver got, but the connect-time test events.
fn deliveries(receiver: &Receiver) -> Vec<crate::support::Received> {
    receiver
        .received()
        .into_iter()
        .filter(|r| r.json()["type"] != "test")
        .collect()
}

/// The event ids of the successful (2xx-answered, signed) deliveries per invoice.
fn delivered_events(receiver: &Receiver) -> HashMap<String, Vec<String>> {
    let mut events: HashMap<String, Vec<String>> = HashMap::new();
    for r in deliveries(receiver) {
        assert!(r.signature_ok, "every delivery is signed: {:?}", r.headers);
        let body = r.json();
        if let Some(id) = body["data"]["id"].as_str() {
            events
                .entry(id.to_string())
                .or_default()
                .push(r.header("x-aforo-event-id"));
        }
    }
    events
}

#[tokio::test]
async fn a_paused_connection_queues_everything_and_resuming_drains_it_in_order() {
    let (server, receiver, connection) = TestServer::start_with_webhook().await;
    let id = string(&connection["id"]);

    let (status, paused) = post(&server, &format!("/v1/connections/{id}/pause"), None).await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["status"], "paused");
    let (status, again) = post(&server, &format!("/v1/connections/{id}/pause"), None).await;
    assert_eq!(
        (status, &again["status"]),
        (StatusCode::OK, &json!("paused")),
        "pausing twice changes nothing"
    );

    // While paused: every document is accepted and queued for the connection...
    let ids = ingest_many(&server, "inv_paused", 120).await;
    let mut updated = invoice("inv_paused_0");
    updated["status"] = json!("PAID");
    let accepted = server.ingest(&updated).await;
    assert_eq!(
        array(&accepted["jobs"]).len(),
        1,
        "queued for the paused connection: {accepted}"
    );
    // ...and nothing is sent, cancelled or logged.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        receiver
            .received()
            .iter()
            .all(|r| r.json()["type"] == "test"),
        "a paused connection sends nothing but its connect-time test"
    );
    assert!(
        server.log("").await.iter().all(|e| e["kind"] == "test"),
        "nothing logged but the test sync"
    );
    let (_, state) = server.invoice_state("inv_paused_7").await;
    assert_eq!(state["sync"][0]["state"], "pending", "{state}");

    let (status, resumed) = post(&server, &format!("/v1/connections/{id}/resume"), None).await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["status"], "active");
    let states = server.final_syncs(&ids, WAIT).await;
    assert!(
        states.iter().all(|(_, s)| s["state"] == "succeeded"),
        "{states:?}"
    );
    server.synced("inv_paused_0", 2).await;
    let events = delivered_events(&receiver);
    assert_eq!(events.len(), 120, "every invoice delivered");
    assert!(
        events
            .iter()
            .all(|(id, e)| e.len() == 1 || id == "inv_paused_0"),
        "no doubles: {events:?}"
    );
    // The two versions of one invoice arrive in the order they were posted.
    let versions: Vec<String> = receiver
        .for_invoice("inv_paused_0")
        .iter()
        .map(|r| string(&r.json()["type"]).to_string())
        .collect();
    assert_eq!(versions, ["invoice.finalized", "invoice.updated"]);
    assert!(
        server.log("status=FAILED").await.is_empty(),
        "nothing failed or was cancelled"
    );
}

#[tokio::test]
async fn pause_and_resume_say_what_is_wrong() {
    let (server, _receiver, connection) = TestServer::start_with_webhook().await;
    let id = string(&connection["id"]);
    let (status, body) = post(&server, &format!("/v1/connections/{id}/resume"), None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "resuming an active connection changes nothing: {body}"
    );

    let other = server.second_tenant().await;
    let (status, body) = server
        .call_as(&other, "POST", &format!("/v1/connections/{id}/pause"), None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another tenant's connection: {body}"
    );

    server.disconnect(id).await;
    for action in ["pause", "resume"] {
        let (status, body) = post(&server, &format!("/v1/connections/{id}/{action}"), None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{action}: {body}");
        assert!(error_message(&body).contains("disconnected"), "{body}");
    }
}

#[tokio::test]
async fn each_connection_retries_on_its_own_schedule() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    receiver.set_default(Reply::status(500));
    let never = connect_with_retry(&server, &receiver, json!({"max_retries": 0})).await;
    let (status, _) = server.set_multi_erp(true).await;
    assert_eq!(status, StatusCode::OK);
    let five = connect_with_retry(
        &server,
        &receiver,
        json!({"max_retries": 5, "base_seconds": 0.02}),
    )
    .await;
    let default = server
        .create_connection(
            json!({"provider": "webhook", "name": "default", "config": {"url": receiver.url()}}),
        )
        .await;
    let default = string(&default["id"]).to_string();

    server.ingest(&invoice("inv_retry")).await;
    let attempts = |conn: String| {
        let server = &server;
        async move {
            eventually(&format!("{conn} gives up"), WAIT, || async {
                let entries = server
                    .log(&format!("invoice_id=inv_retry&connection_id={conn}"))
                    .await;
                entries
                    .iter()
                    .any(|e| string(&e["error"]).contains("gave up"))
                    .then_some(entries.len())
            })
            .await
        }
    };
    assert_eq!(
        attempts(never).await,
        1,
        "max_retries 0: the first attempt only"
    );
    assert_eq!(attempts(five).await, 6, "max_retries 5: six attempts");
    assert_eq!(
        attempts(default.clone()).await,
        4,
        "no retry key: the default 3 retries"
    );

    let (status, body) = server
        .post_connection(json!({"provider": "webhook", "config": {"url": receiver.url(), "retry": {"max_retries": 11}}}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        error_message(&body).contains("config.retry.max_retries"),
        "{body}"
    );
    let (status, body) = server
        .patch_connection(&default, json!({"config": {"retry": {"base_seconds": 0}}}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = server
        .patch_connection(&default, json!({"config": {"retry": {"max_retries": 1}}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["config"]["retry"], json!({"max_retries": 1}), "{body}");
}

/// Fails `n` invoices for good on a connection that never retries, answering its id.
async fn failed_invoices(
    server: &TestServer,
    receiver: &Receiver,
    n: usize,
) -> (String, Vec<String>) {
    receiver.set_default(Reply::status(503));
    let id = connect_with_retry(server, receiver, json!({"max_retries": 0})).await;
    let ids = ingest_many(server, "inv_lost", n).await;
    let states = server.final_syncs(&ids, WAIT).await;
    assert!(
        states.iter().all(|(_, s)| s["state"] == "failed"),
        "{states:?}"
    );
    (id, ids)
}

#[tokio::test]
async fn a_recovery_resends_each_failed_document_once_with_its_event_id() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let (id, ids) = failed_invoices(&server, &receiver, 300).await;
    let failed_events: HashMap<String, String> = deliveries(&receiver)
        .iter()
        .map(|r| {
            (
                string(&r.json()["data"]["id"]).to_string(),
                r.header("x-aforo-event-id"),
            )
        })
        .collect();
    assert_eq!(failed_events.len(), 300);

    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let path = format!("/v1/connections/{id}/recover");
    let recover = |body: Value| post(&server, &path, Some(body));
    let (status, dry) = recover(json!({"since": since, "status": "FAILED", "dry_run": true})).await;
    assert_eq!(
        (status, dry["count"].clone()),
        (StatusCode::OK, json!(300)),
        "{dry}"
    );
    let (status, none) =
        recover(json!({"since": since, "until": since, "status": "FAILED", "dry_run": true})).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an empty range: {none}"
    );
    let (status, bad) = recover(json!({"since": "yesterday", "status": "FAILED"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert!(error_message(&bad).contains("since"), "{bad}");
    assert!(
        deliveries(&receiver).len() == 300,
        "a dry run sends nothing"
    );

    receiver.set_default(Reply::status(200));
    let (status, started) =
        recover(json!({"since": since, "status": "FAILED", "max_per_second": 1000})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["count"], 300);
    let recovery = string(&started["recovery_id"]).to_string();
    let progress = eventually("the recovery done", WAIT, || async {
        let (status, p) = server
            .call("GET", &format!("/v1/recoveries/{recovery}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{p}");
        (p["done"] == true).then_some(p)
    })
    .await;
    assert_eq!(
        (
            &progress["queued"],
            &progress["succeeded"],
            &progress["failed"],
            &progress["remaining"]
        ),
        (&json!(300), &json!(300), &json!(0), &json!(0)),
        "{progress}"
    );
    let states = server.final_syncs(&ids, WAIT).await;
    assert!(
        states.iter().all(|(_, s)| s["state"] == "succeeded"),
        "{states:?}"
    );
    // Each document was re-sent once, under the event id of its failed delivery.
    let ok: Vec<_> = deliveries(&receiver).into_iter().skip(300).collect();
    assert_eq!(ok.len(), 300, "each failed document once");
    for r in &ok {
        let doc = string(&r.json()["data"]["id"]).to_string();
        assert_eq!(
            r.header("x-aforo-event-id"),
            failed_events[&doc],
            "{doc} keeps its event id"
        );
    }
    let (_, dry) = recover(json!({"since": since, "status": "FAILED", "dry_run": true})).await;
    assert_eq!(dry["count"], 0, "nothing is left to recover");
    let alerts = eventually("recovery.done", WAIT, || async {
        let (_, list) = server.call("GET", "/v1/alerts?open=true", None).await;
        let done: Vec<Value> = array(&list["alerts"])
            .iter()
            .filter(|a| a["type"] == "recovery.done")
            .cloned()
            .collect();
        (!done.is_empty()).then_some(done)
    })
    .await;
    assert_eq!(alerts.len(), 1, "one recovery.done: {alerts:?}");
    assert_eq!(alerts[0]["data"]["recovery_id"], recovery.as_str());
    assert_eq!(alerts[0]["data"]["succeeded"], 300);

    let other = server.second_tenant().await;
    let (status, _) = server
        .call_as(&other, "GET", &format!("/v1/recoveries/{recovery}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's recovery");
}

#[tokio::test]
async fn a_recovery_keeps_to_its_rate_and_fresh_invoices_go_first() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let (id, _) = failed_invoices(&server, &receiver, 40).await;
    receiver.set_default(Reply::status(200));
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let (status, started) = post(
        &server,
        &format!("/v1/connections/{id}/recover"),
        Some(json!({"since": since, "status": "FAILED", "max_per_second": 20})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    // A fresh invoice posted just after the recovery started is not queued behind it.
    server.ingest(&invoice("inv_fresh")).await;
    server.synced("inv_fresh", 1).await;
    let recovery = string(&started["recovery_id"]).to_string();
    eventually("the recovery done", WAIT, || async {
        let (_, p) = server
            .call("GET", &format!("/v1/recoveries/{recovery}"), None)
            .await;
        (p["done"] == true).then_some(())
    })
    .await;
    let resent: Vec<_> = deliveries(&receiver)
        .into_iter()
        .skip(40)
        .filter(|r| r.json()["data"]["id"] != "inv_fresh")
        .collect();
    assert_eq!(resent.len(), 40);
    let fresh_at = receiver.for_invoice("inv_fresh")[0].at;
    assert!(
        fresh_at < resent.last().unwrap().at,
        "the fresh invoice did not wait for the recovery"
    );
    // 40 documents at 20 per second: their due times span 39/20 s.
    let span = resent.last().unwrap().at - resent[0].at;
    assert!(
        span >= Duration::from_millis(1800),
        "the rate cap holds: 40 documents in {span:?}"
    );
}

#[tokio::test]
async fn alerts_are_listed_closed_and_delivered_signed_to_the_alert_url() {
    let server = TestServer::start().await;
    let alerts_in = Receiver::start().await;
    alerts_in.script([Reply::status(503)]);
    let (status, settings) = server
        .call(
            "PATCH",
            "/v1/settings",
            Some(json!({"alert_url": alerts_in.url()})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    let secret = string(&settings["alert_secret"]).to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(settings["alert_url"], alerts_in.url());
    alerts_in.set_secret(&secret);
    let (_, again) = server
        .call(
            "PATCH",
            "/v1/settings",
            Some(json!({"alert_url": alerts_in.url(), "multi_erp": false})),
        )
        .await;
    assert!(
        again.get("alert_secret").is_none(),
        "the secret is shown once: {again}"
    );
    let (_, shown) = server.call("GET", "/v1/settings", None).await;
    assert!(
        !shown.to_string().contains(&secret),
        "never shown again: {shown}"
    );
    let (status, body) = server
        .call(
            "PATCH",
            "/v1/settings",
            Some(json!({"alert_url": "ftp://example.com/x"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let receiver = Receiver::start().await;
    let (connection, _) = failed_invoices(&server, &receiver, 3).await;
    // Each failure raised an alert; the first delivery of each may meet the scripted
    // 503 and is retried under the same event id.
    let delivered = eventually("three sync.failed alerts delivered", WAIT, || async {
        let ok: HashSet<String> = alerts_in
            .received()
            .iter()
            .filter(|r| r.json()["type"] == "sync.failed")
            .map(|r| r.header("x-aforo-event-id"))
            .collect();
        let (_, list) = server.call("GET", "/v1/alerts", None).await;
        let done = array(&list["alerts"])
            .iter()
            .filter(|a| a["delivered_at"].is_string())
            .count();
        (done == 3).then_some(ok)
    })
    .await;
    assert_eq!(delivered.len(), 3, "one event id per alert");
    let received = alerts_in.received();
    assert_eq!(received.len(), 4, "three alerts, one of them sent twice");
    let library = standardwebhooks::Webhook::new(&secret).expect("a whsec_ secret");
    for r in &received {
        assert!(
            r.signature_ok,
            "signed with the alert secret: {:?}",
            r.headers
        );
        library
            .verify(&r.body, &r.headers)
            .expect("the alert verifies with the standardwebhooks crate");
        assert_eq!(
            r.header("webhook-id"),
            string(&r.json()["id"]),
            "webhook-id is the event id"
        );
        let event = r.json();
        assert_eq!(event["data"]["connection_id"], connection.as_str());
        assert!(
            event["data"]["document_id"]
                .as_str()
                .unwrap()
                .starts_with("inv_lost_"),
            "{event}"
        );
        assert!(string(&event["data"]["error"]).contains("503"), "{event}");
    }

    let (_, open) = server.call("GET", "/v1/alerts?open=true", None).await;
    let open = array(&open["alerts"]).to_vec();
    assert_eq!(open.len(), 3);
    let first = string(&open[0]["id"]);
    let (status, closed) = post(&server, &format!("/v1/alerts/{first}/close"), None).await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert!(closed["closed_at"].is_string(), "{closed}");
    let (_, open) = server.call("GET", "/v1/alerts?open=true", None).await;
    assert_eq!(array(&open["alerts"]).len(), 2);
    let other = server.second_tenant().await;
    let (_, theirs) = server.call_as(&other, "GET", "/v1/alerts", None).await;
    assert!(
        array(&theirs["alerts"]).is_empty(),
        "another tenant sees none: {theirs}"
    );
    let (status, _) = server
        .call_as(
            &other,
            "POST",
            &format!("/v1/alerts/{}/close", string(&open["alerts"][1]["id"])),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_webhook_failing_every_delivery_for_the_whole_window_pauses_itself() {
    let server =
        TestServer::start_with(|c| c.auto_pause_after = Some(Duration::from_secs(1))).await;
    let alerts_in = Receiver::start().await;
    let (_, settings) = server
        .call(
            "PATCH",
            "/v1/settings",
            Some(json!({"alert_url": alerts_in.url()})),
        )
        .await;
    alerts_in.set_secret(string(&settings["alert_secret"]));
    let receiver = Receiver::start().await;
    receiver.set_default(Reply::status(500));
    let connection = server.connect_webhook(&receiver, None).await;
    let id = string(&connection["id"]).to_string();

    // Invoices keep coming and keep failing until the connection pauses itself.
    let mut posted = 0;
    let paused = eventually("the connection paused itself", WAIT, || {
        posted += 1;
        let server = &server;
        let id = id.clone();
        let n = posted;
        async move {
            server.ingest(&invoice(&format!("inv_down_{n}"))).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let (_, c) = server.connection(&id).await;
            (c["status"] == "paused").then_some(c)
        }
    })
    .await;
    assert_eq!(paused["status"], "paused");
    let alert = eventually("connection.paused delivered", WAIT, || async {
        alerts_in
            .received()
            .into_iter()
            .find(|r| r.json()["type"] == "connection.paused")
    })
    .await;
    assert!(alert.signature_ok);
    let library = standardwebhooks::Webhook::new(string(&settings["alert_secret"])).unwrap();
    library
        .verify(&alert.body, &alert.headers)
        .expect("verifies with the standardwebhooks crate");
    assert_eq!(alert.json()["data"]["connection_id"], id.as_str());
    let (_, open) = server.call("GET", "/v1/alerts?open=true", None).await;
    assert!(
        array(&open["alerts"])
            .iter()
            .any(|a| a["type"] == "connection.paused"),
        "{open}"
    );

    // Paused, documents still queue and nothing is cancelled; resuming drains them
    // once the endpoint is back, and closes the alert.
    server.ingest(&invoice("inv_while_paused")).await;
    receiver.set_default(Reply::status(200));
    let (status, resumed) = post(&server, &format!("/v1/connections/{id}/resume"), None).await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    server.synced("inv_while_paused", 1).await;
    let (_, open) = server.call("GET", "/v1/alerts?open=true", None).await;
    assert!(
        !array(&open["alerts"])
            .iter()
            .any(|a| a["type"] == "connection.paused"),
        "closed by the resume: {open}"
    );
    assert!(
        server
            .log("status=FAILED")
            .await
            .iter()
            .all(|e| !string(&e["error"]).contains("cancel")),
        "nothing cancelled"
    );
}

#[tokio::test]
async fn metrics_count_connections_by_status_and_failed_documents_by_connection() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let (id, _) = failed_invoices(&server, &receiver, 25).await;
    post(&server, &format!("/v1/connections/{id}/pause"), None).await;
    let text = server
        .http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(line("erp_sync_connections{status=\"paused\"}"), "1");
    assert_eq!(
        line(&format!(
            "erp_sync_failed_documents{{connection_id=\"{id}\"}}"
        )),
        "25"
    );
}

#[tokio::test]
async fn a_pause_and_a_recovery_hold_across_hosts() {
    if crate::support::postgres::admin_url_or_skip().is_none() {
        return;
    }
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let (id, ids) = failed_invoices(&server, &receiver, 200).await;
    let other = server.another_host(|_| {}).await;

    // Paused through one host, the other sends nothing either.
    post(&server, &format!("/v1/connections/{id}/pause"), None).await;
    other.ingest(&invoice("inv_on_other_host")).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        deliveries(&receiver).len(),
        200,
        "no host sends for a paused connection"
    );

    // Resumed and recovered through the other host: both hosts share the work, each
    // document is sent once, and either host reports the progress.
    receiver.set_default(Reply::status(200));
    let (status, _) = post(&other, &format!("/v1/connections/{id}/resume"), None).await;
    assert_eq!(status, StatusCode::OK);
    other.synced("inv_on_other_host", 1).await;
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let (status, started) = post(
        &other,
        &format!("/v1/connections/{id}/recover"),
        Some(json!({"since": since, "status": "FAILED", "max_per_second": 500})),
    )
    .await;
    assert_eq!(
        (status, started["count"].clone()),
        (StatusCode::ACCEPTED, json!(200)),
        "{started}"
    );
    let recovery = string(&started["recovery_id"]).to_string();
    eventually(
        "the recovery done, seen from the first host",
        WAIT,
        || async {
            let (_, p) = server
                .call("GET", &format!("/v1/recoveries/{recovery}"), None)
                .await;
            (p["done"] == true && p["succeeded"] == 200).then_some(())
        },
    )
    .await;
    let states = server.final_syncs(&ids, WAIT).await;
    assert!(states.iter().all(|(_, s)| s["state"] == "succeeded"));
    let events = delivered_events(&receiver);
    let resent = events.values().filter(|e| e.len() == 2).count();
    assert_eq!(
        resent, 200,
        "each failed document sent once more, never twice"
    );
    assert!(
        events.values().all(|e| e.iter().all(|x| x == &e[0])),
        "under its own event id"
    );
}
