//! A noisy neighbour: one tenant's webhook transforms spin forever and hoard memory on
//! every delivery, while another tenant's plain webhook deliveries go on. Each hostile
//! call must fail with a clear error naming the limit it hit, and the other tenant's
//! invoices must all be delivered, promptly.
//!
//! The other tenant's latency (post to arrival at its endpoint) is measured alone first,
//! then beside the hostile load, and printed for `docs/reliability.md`. The only bound
//! asserted is the one a user would notice: every delivery within 30 s, half the 60 s
//! promise of the design.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use erp_sync_guest_artifacts as guests;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Receiver, TestServer, array, eventually, invoice, string};

/// Latencies of `ids` from their post time to their first arrival at `receiver`.
fn latencies(receiver: &Receiver, posted: &HashMap<String, Instant>) -> Vec<Duration> {
    let mut arrived: HashMap<String, Instant> = HashMap::new();
    for r in receiver.received() {
        if let Some(id) = r.json()["data"]["id"].as_str() {
            arrived.entry(id.to_string()).or_insert(r.at);
        }
    }
    let mut out: Vec<Duration> = posted
        .iter()
        .map(|(id, at)| arrived[id].saturating_duration_since(*at))
        .collect();
    out.sort();
    out
}

fn summary(l: &[Duration]) -> String {
    let pick = |q: f64| l[((l.len() - 1) as f64 * q) as usize];
    format!(
        "p50 {:?}, p95 {:?}, max {:?}",
        pick(0.5),
        pick(0.95),
        l[l.len() - 1]
    )
}

/// Posts `ids` as tenant `key`, remembering when each was accepted.
async fn post_all(server: &TestServer, key: &str, ids: &[String]) -> HashMap<String, Instant> {
    let mut posted = HashMap::new();
    for id in ids {
        let at = Instant::now();
        let (status, body) = server
            .call_as(key, "POST", "/v1/invoices", Some(invoice(id)))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        posted.insert(id.clone(), at);
    }
    posted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_guests_of_one_tenant_do_not_hold_up_another_tenants_deliveries() {
    const QUIET: usize = 40;
    const HOSTILE_INVOICES: usize = 100;
    let server = TestServer::start().await;
    let noisy = server.key.clone();
    let quiet = server.second_tenant().await;

    // The noisy tenant: two webhooks through the hostile guest, one spinning, one hoarding.
    let (status, _) = server.set_multi_erp(true).await;
    assert_eq!(status, StatusCode::OK);
    let upload = server
        .upload_guest(guests::HOSTILE, "world=webhook-transform&name=hostile")
        .await;
    let noisy_sink = Receiver::start().await;
    for mode in ["loop", "memory"] {
        server
            .create_connection(json!({"provider": "webhook", "name": mode, "config": {
                "url": noisy_sink.url(), "transform_id": upload["id"],
                "transform_config": {"mode": mode}}}))
            .await;
    }

    // The quiet tenant: one plain webhook.
    let quiet_sink = Receiver::start().await;
    let (status, conn) = server
        .call_as(
            &quiet,
            "POST",
            "/v1/connections",
            Some(json!({"provider": "webhook", "name": "plain", "config": {"url": quiet_sink.url()}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{conn}");
    quiet_sink.set_secret(string(&conn["secret"]));

    // Alone.
    let ids: Vec<String> = (0..QUIET).map(|i| format!("inv_alone_{i}")).collect();
    let alone = post_all(&server, &quiet, &ids).await;
    eventually(
        "the quiet deliveries alone",
        Duration::from_secs(30),
        || async { (quiet_sink.received().len() > QUIET).then_some(()) },
    )
    .await;
    let alone = latencies(&quiet_sink, &alone);

    // Beside the hostile load: both tenants post at once.
    let started = Instant::now();
    let noisy_ids: Vec<String> = (0..HOSTILE_INVOICES)
        .map(|i| format!("inv_noisy_{i}"))
        .collect();
    let quiet_ids: Vec<String> = (0..QUIET).map(|i| format!("inv_beside_{i}")).collect();
    let (_, beside) = tokio::join!(
        post_all(&server, &noisy, &noisy_ids),
        post_all(&server, &quiet, &quiet_ids)
    );
    eventually(
        "the quiet deliveries beside the hostile load",
        Duration::from_secs(60),
        || async { (quiet_sink.received().len() > 2 * QUIET).then_some(()) },
    )
    .await;
    let beside = latencies(&quiet_sink, &beside);
    assert!(
        quiet_sink.received().iter().all(|r| r.signature_ok),
        "every quiet delivery is signed"
    );

    // Every hostile call failed, each naming the limit it hit, and nothing reached the
    // noisy tenant's endpoint but its connection tests.
    let hostile_failures = eventually(
        "every hostile delivery settled",
        Duration::from_secs(120),
        || async {
            let failed = server.log_of_kind("status=FAILED&limit=1000", "sync").await;
            (failed.len() >= 2 * HOSTILE_INVOICES).then_some(failed)
        },
    )
    .await;
    let took = started.elapsed();
    for entry in &hostile_failures {
        let error = entry["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("fuel") || error.contains("memory cap") || error.contains("time"),
            "{entry}"
        );
    }
    assert!(
        noisy_sink
            .received()
            .iter()
            .all(|r| r.json()["type"] == "test" || r.json().get("echo").is_none()),
        "no hostile call produced a body"
    );
    let (_, quiet_ok) = server
        .call_as(
            &quiet,
            "GET",
            "/v1/sync-log?status=SUCCESS&limit=1000",
            None,
        )
        .await;
    let delivered = array(&quiet_ok["entries"])
        .iter()
        .filter(|e| e["kind"] == "sync")
        .count();
    assert_eq!(delivered, 2 * QUIET, "every quiet invoice delivered");

    eprintln!(
        "noisy neighbour: quiet tenant alone {}; beside {} hostile calls (spin + hoard) {}; \
         all {} hostile calls failed on their limits within {took:?}",
        summary(&alone),
        2 * HOSTILE_INVOICES,
        summary(&beside),
        hostile_failures.len()
    );
    let worst = beside[beside.len() - 1];
    assert!(
        worst < Duration::from_secs(30),
        "a quiet delivery took {worst:?} beside the hostile load"
    );
}
