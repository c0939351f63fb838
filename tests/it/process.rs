//! The real `erp-sync` binary as an operator runs it: killed with SIGKILL in the middle of
//! deliveries, stopped with SIGTERM, and started twice on one data dir. Nothing may be
//! lost, redeliveries keep their event id, and nothing stays leased.
//!
//! The helpers that spawn `serve`, run `tenant create` and call the API of a child
//! process are in `support/process.rs`, shared with the other tests of the binary.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use erp_sync::store::LogFilter;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::process::{
    Serve, call, http, invoice_state, open_store, run, tenant_create, try_call,
};
use crate::support::{Receiver, Reply, eventually, invoice, string};

/// Creates a webhook connection to `receiver` and teaches the receiver its secret.
async fn connect(http: &reqwest::Client, base: &str, key: &str, receiver: &Receiver) {
    let body = json!({"provider": "webhook", "name": "hook", "config": {"url": receiver.url()}});
    let (status, created) = call(http, base, key, "POST", "/v1/connections", Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["test_sync"]["status"], "SUCCESS", "{created}");
    receiver.set_secret(created["secret"].as_str().expect("a generated secret"));
}

/// Posts invoices one after another; answers the ids the server accepted with 202.
/// Posts that reach no server (it was killed) are simply not accepted.
async fn post_all(
    http: reqwest::Client,
    base: String,
    key: String,
    ids: Vec<String>,
) -> Vec<String> {
    let mut accepted = Vec::new();
    for id in ids {
        let body = invoice(&id);
        if let Ok((StatusCode::ACCEPTED, _)) =
            try_call(&http, &base, &key, "POST", "/v1/invoices", Some(&body)).await
        {
            accepted.push(id);
        }
    }
    accepted
}

/// Posts the example invoice `id` to the server at `base`, expecting it accepted.
async fn post_invoice(http: &reqwest::Client, base: &str, key: &str, id: &str) {
    let body = invoice(id);
    let (status, answer) = call(http, base, key, "POST", "/v1/invoices", Some(&body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{id}: {answer}");
}

/// Every `sync` entry with status SUCCESS, following `next_cursor` page by page.
async fn successes(http: &reqwest::Client, base: &str, key: &str, limit: usize) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut path = format!("/v1/sync-log?status=SUCCESS&limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = call(http, base, key, "GET", &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let got = page["entries"].as_array().expect("entries");
        assert!(got.len() <= limit, "a page larger than its limit");
        entries.extend(got.iter().filter(|e| e["kind"] == "sync").cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return entries,
        }
    }
    panic!("the sync log did not end within 1000 pages");
}

/// Waits until the log's SUCCESS entries (pages of `limit`) cover exactly `all`; answers them.
async fn all_succeeded(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    all: &HashSet<String>,
    limit: usize,
    timeout_secs: u64,
) -> Vec<Value> {
    let timeout = Duration::from_secs(timeout_secs);
    eventually(
        "a SUCCESS in the sync log for every invoice",
        timeout,
        || async {
            let entries = successes(http, base, key, limit).await;
            let done: HashSet<String> = entries
                .iter()
                .filter_map(|e| e["invoice_id"].as_str().map(str::to_string))
                .collect();
            (done == *all).then_some(entries)
        },
    )
    .await
}

/// The invoice requests the receiver got (not the connection's test event).
fn invoice_requests(receiver: &Receiver) -> usize {
    receiver
        .received()
        .iter()
        .filter(|r| r.json()["type"] != "test")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_delivery_loses_nothing_and_redelivers_with_the_same_event_id() {
    const INVOICES: usize = 300;
    const ROUNDS: usize = 4; // the server is killed at the end of the first three
    let dir = tempfile::tempdir().expect("a temp dir");
    let (_, key) = tenant_create(dir.path(), "t").await;
    let receiver = Receiver::start().await;
    let http = http();

    let mut server = Serve::start(dir.path(), &[]).await;
    connect(&http, &server.base, &key, &receiver).await;
    // Slow answers keep many deliveries in flight when the kill comes; the first few
    // invoice deliveries fail with 500 and are retried.
    let script_from = receiver.received().len();
    const SCRIPTED_500S: usize = 5;
    receiver.script(vec![Reply::status(500); SCRIPTED_500S]);
    receiver.set_default(Reply::hang(Duration::from_millis(400)));

    let ids: Vec<String> = (0..INVOICES).map(|i| format!("inv_kill_{i:03}")).collect();
    let mut accepted: HashSet<String> = HashSet::new();
    let mut restarts = 0;
    for (round, chunk) in ids.chunks(INVOICES / ROUNDS).enumerate() {
        let before = invoice_requests(&receiver);
        let poster = tokio::spawn(post_all(
            http.clone(),
            server.base.clone(),
            key.clone(),
            chunk.to_vec(),
        ));
        if round + 1 < ROUNDS {
            // Kill as soon as deliveries of this round are under way, posts still running.
            eventually("deliveries under way", Duration::from_secs(30), || async {
                (invoice_requests(&receiver) >= before + 20).then_some(())
            })
            .await;
            server.kill().await;
            accepted.extend(poster.await.expect("the poster"));
            server = Serve::start(dir.path(), &[]).await;
            restarts += 1;
            // Whatever the dead server did not accept is posted again; content it had
            // stored before dying is a no-op now.
            let missing: Vec<String> = ids[..(round + 1) * chunk.len()]
                .iter()
                .filter(|id| !accepted.contains(*id))
                .cloned()
                .collect();
            for id in missing {
                post_invoice(&http, &server.base, &key, &id).await;
                accepted.insert(id);
            }
        } else {
            accepted.extend(poster.await.expect("the poster"));
        }
    }
    assert_eq!(restarts, 3);
    assert_eq!(
        accepted.len(),
        INVOICES,
        "every invoice is accepted in the end"
    );

    // The sync log shows exactly one SUCCESS per invoice (one job each, settled once).
    let all: HashSet<String> = accepted.clone();
    let page = all_succeeded(&http, &server.base, &key, &all, 1000, 60).await;
    let mut per_invoice: HashMap<String, usize> = HashMap::new();
    for entry in &page {
        *per_invoice
            .entry(string(&entry["invoice_id"]).to_string())
            .or_default() += 1;
        assert_eq!(entry["response_code"], 200, "{entry}");
    }
    let doubled: Vec<_> = per_invoice.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        doubled.is_empty(),
        "invoices with several SUCCESS entries: {doubled:?}"
    );
    // Paging through small pages with the cursor finds the same entries.
    let paged = successes(&http, &server.base, &key, 37).await;
    let ids_of = |entries: &[Value]| -> Vec<String> {
        entries
            .iter()
            .map(|e| string(&e["id"]).to_string())
            .collect()
    };
    assert_eq!(
        ids_of(&paged),
        ids_of(&page),
        "cursor pages cover the log exactly once"
    );

    // The kills interrupted deliveries in flight; each is logged and was retried.
    let (status, failed) = call(
        &http,
        &server.base,
        &key,
        "GET",
        "/v1/sync-log?status=FAILED&limit=1000",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{failed}");
    let failed = failed["entries"].as_array().expect("entries").clone();
    let interrupted: Vec<&Value> = failed
        .iter()
        .filter(|e| {
            e["error"]
                .as_str()
                .unwrap_or_default()
                .contains("interrupted")
        })
        .collect();
    assert!(
        !interrupted.is_empty(),
        "three kills during slow deliveries left no interrupted attempt in the log"
    );
    // An interrupted attempt is logged under its own number (the first is 1), and does
    // not count against the retries: the retry runs under the same number.
    for entry in &interrupted {
        let attempt = entry["attempt"].as_i64().unwrap_or_default();
        assert!(
            attempt >= 1,
            "an interrupted attempt logged as {attempt}: {entry}"
        );
    }
    // A 500 answered just before a kill may be logged as interrupted instead.
    assert!(
        failed.iter().filter(|e| e["response_code"] == 500).count() <= SCRIPTED_500S,
        "more 500s logged than the receiver answered"
    );

    // What the receiver saw: every invoice answered 2xx at least once, every request
    // signed, and all deliveries of one invoice under one event id.
    let received = receiver.received();
    let mut event_ids: HashMap<String, HashSet<String>> = HashMap::new();
    let mut answered_ok: HashSet<String> = HashSet::new();
    for (i, request) in received.iter().enumerate() {
        assert!(
            request.signature_ok,
            "request {i} has a bad signature: {}",
            request.header("x-aforo-signature")
        );
        let body = request.json();
        if body["type"] == "test" {
            continue;
        }
        let id = body["data"]["id"].as_str().expect("data.id").to_string();
        let event_id = request.header("x-aforo-event-id");
        assert_eq!(
            body["id"],
            event_id.as_str(),
            "the header names the body's event"
        );
        event_ids.entry(id.clone()).or_default().insert(event_id);
        let got_500 = (script_from..script_from + SCRIPTED_500S).contains(&i);
        if !got_500 {
            answered_ok.insert(id);
        }
    }
    assert_eq!(
        answered_ok, all,
        "every invoice got a 2xx from the receiver"
    );
    let split: Vec<_> = event_ids.iter().filter(|(_, e)| e.len() != 1).collect();
    assert!(
        split.is_empty(),
        "redeliveries changed the event id: {split:?}"
    );
    let distinct: HashSet<&String> = event_ids.values().flatten().collect();
    assert_eq!(
        distinct.len(),
        INVOICES,
        "each invoice has its own event id"
    );
    let redelivered: Vec<String> = received
        .iter()
        .filter(|r| r.json()["type"] != "test")
        .map(|r| r.json()["data"]["id"].as_str().unwrap().to_string())
        .fold(HashMap::<String, usize>::new(), |mut m, id| {
            *m.entry(id).or_default() += 1;
            m
        })
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(id, _)| id)
        .collect();
    assert!(
        !redelivered.is_empty(),
        "the 500s and the kills caused no redelivery at all"
    );

    // A sample of invoices, and every interrupted one, reads as succeeded.
    let mut sample: Vec<String> = interrupted
        .iter()
        .filter_map(|e| e["invoice_id"].as_str().map(str::to_string))
        .collect();
    sample.extend(ids.iter().step_by(50).cloned());
    sample.sort();
    sample.dedup();
    for id in &sample {
        let (status, state) = invoice_state(&http, &server.base, &key, id).await;
        assert_eq!(status, StatusCode::OK, "{state}");
        assert_eq!(state["sync"][0]["state"], "succeeded", "{id}: {state}");
        let log = call(
            &http,
            &server.base,
            &key,
            "GET",
            &format!("/v1/sync-log?invoice_id={id}&status=SUCCESS"),
            None,
        )
        .await
        .1;
        assert_eq!(
            log["entries"].as_array().map(Vec::len),
            Some(1),
            "{id}: {log}"
        );
    }

    // A graceful stop leaves nothing leased.
    server.stop_cleanly().await;
    let store = open_store(dir.path()).await;
    assert_eq!(store.leased_count().await.expect("a count"), 0);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_deliveries_in_flight_finish_and_leaves_nothing_leased() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (tenant_id, key) = tenant_create(dir.path(), "t").await;
    let receiver = Receiver::start().await;
    let http = http();
    // Two at a time, so some invoices are still waiting (not leased) when SIGTERM comes.
    let mut server = Serve::start(dir.path(), &["--concurrency", "2"]).await;
    connect(&http, &server.base, &key, &receiver).await;
    receiver.set_default(Reply::hang(Duration::from_secs(1)));

    let ids: Vec<String> = (0..6).map(|i| format!("inv_term_{i}")).collect();
    for id in &ids {
        post_invoice(&http, &server.base, &key, id).await;
    }
    eventually(
        "two deliveries in flight",
        Duration::from_secs(30),
        || async { (invoice_requests(&receiver) >= 2).then_some(()) },
    )
    .await;
    server.stop_cleanly().await;

    // Before any new server runs (start-up would recover leases): nothing is leased, and
    // each delivery the receiver got before the stop completed and is logged SUCCESS.
    let store = open_store(dir.path()).await;
    assert_eq!(
        store.leased_count().await.expect("a count"),
        0,
        "jobs left leased after SIGTERM"
    );
    let delivered_before: HashSet<String> = receiver
        .received()
        .iter()
        .filter(|r| r.json()["type"] != "test")
        .map(|r| r.json()["data"]["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!delivered_before.is_empty());
    for id in &delivered_before {
        let page = store
            .query_log(
                &tenant_id,
                &LogFilter {
                    invoice_id: Some(id.clone()),
                    limit: 100,
                    ..LogFilter::default()
                },
            )
            .await
            .expect("the log");
        let statuses: Vec<&str> = page.entries.iter().map(|e| e.status.as_str()).collect();
        assert_eq!(
            statuses,
            ["SUCCESS"],
            "{id}: the attempt in flight finished before exit"
        );
    }
    store.close().await;

    // After a restart the rest is delivered, and nothing twice.
    let mut server = Serve::start(dir.path(), &[]).await;
    let all: HashSet<String> = ids.iter().cloned().collect();
    all_succeeded(&http, &server.base, &key, &all, 100, 30).await;
    let mut per_invoice: HashMap<String, usize> = HashMap::new();
    for request in receiver.received() {
        assert!(request.signature_ok, "a delivery with a bad signature");
        let body = request.json();
        if body["type"] != "test" {
            *per_invoice
                .entry(string(&body["data"]["id"]).to_string())
                .or_default() += 1;
        }
    }
    assert_eq!(per_invoice.len(), ids.len());
    assert!(
        per_invoice.values().all(|n| *n == 1),
        "a drained delivery was sent again: {per_invoice:?}"
    );
    let (_, failed) = call(
        &http,
        &server.base,
        &key,
        "GET",
        "/v1/sync-log?status=FAILED",
        None,
    )
    .await;
    assert_eq!(failed["entries"], json!([]), "no attempt was interrupted");
    server.stop_cleanly().await;
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_is_refused_naming_the_lock() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (_, key) = tenant_create(dir.path(), "t").await;
    let mut first = Serve::start(dir.path(), &[]).await;

    let path = dir.path().to_str().unwrap();
    let (status, stdout, stderr) =
        run(&["serve", "--listen", "127.0.0.1:0", "--data-dir", path]).await;
    assert!(!status.success(), "the second server started: {stdout}");
    assert!(
        stderr.contains("in use"),
        "stderr does not say the dir is in use:\n{stderr}"
    );
    assert!(
        stderr.contains("erp-sync.lock"),
        "stderr does not name the lock file:\n{stderr}"
    );
    assert!(!stdout.contains("listening on"), "{stdout}");

    // The first server is unharmed.
    let (status, body) = call(&http(), &first.base, &key, "GET", "/v1/settings", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    first.stop_cleanly().await;
}
