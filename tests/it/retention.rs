//! Sync-log retention (pruning by age in small batches) and export (CSV and NDJSON by
//! `Accept`), through the library's store and the HTTP API.

use std::collections::HashSet;
use std::time::Duration;

use erp_sync::delivery::retention::{self, cutoff_ms};
use erp_sync::domain::DocumentType;
use erp_sync::store::{DocumentRef, LogEntry, LogKind, LogStatus, Provider, Store, now_ms};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::support::{TestServer, eventually, invoice};

const DAY_MS: i64 = 86_400_000;
/// The default retention, 400 days.
const KEEP: Duration = Duration::from_secs(400 * 86_400);

/// The `i`-th of a run of entries: alternating connections, every third one FAILED, every
/// other one about an invoice.
fn entry(tenant_id: &str, at_ms: i64, i: usize) -> LogEntry {
    let failed = i.is_multiple_of(3);
    LogEntry {
        tenant_id: tenant_id.into(),
        at_ms,
        document: i.is_multiple_of(2).then(|| DocumentRef {
            doc_type: DocumentType::Invoice,
            id: format!("inv_{i}"),
        }),
        connection_id: format!("conn_{}", ["a", "b"][i % 2]),
        provider: Provider::ALL[0],
        kind: LogKind::ALL[0],
        job_id: Some(format!("job_{i}")),
        event_id: None,
        attempt: 1 + (i % 4) as i64,
        status: if failed {
            LogStatus::Failed
        } else {
            LogStatus::Success
        },
        response_code: failed.then_some(500),
        error: failed.then(|| format!("the ERP said \"no\", twice, for entry {i}\nsecond line")),
        erp_record_id: (!failed).then(|| format!("rec,{i}")),
        duration_ms: (i % 97) as i64,
        guest_logs: None,
    }
}

/// Appends `n` entries of `tenant_id`, the `i`-th at `at(i)`, 64 at a time (in order of
/// `i` per batch, so ids follow time closely enough).
async fn fill(store: &Store, tenant_id: &str, n: usize, at: impl Fn(usize) -> i64) {
    futures_util::stream::iter(0..n)
        .map(|i| {
            let e = entry(tenant_id, at(i), i);
            async move { store.append_log(&e).await.expect("an entry appended") }
        })
        .buffered(64)
        .collect::<Vec<()>>()
        .await;
}

async fn tenant_id(server: &TestServer, key: &str) -> String {
    let tenant = server.store().tenant_by_api_key(key).await.unwrap();
    tenant.expect("the key's tenant").id
}

/// `GET /v1/sync-log?{query}` with `Accept: {accept}`, as `key`: status, content type, body.
async fn get(
    server: &TestServer,
    key: &str,
    query: &str,
    accept: &str,
) -> (StatusCode, String, String) {
    let answer = server
        .http
        .get(format!("{}/v1/sync-log?{query}", server.base))
        .bearer_auth(key)
        .header("accept", accept)
        .send()
        .await
        .expect("the server answers");
    let status = answer.status();
    let content_type = answer
        .headers()
        .get("content-type")
        .map_or("", |v| v.to_str().unwrap())
        .to_string();
    (status, content_type, answer.text().await.unwrap())
}

/// Every entry matching `query` through the JSON pages (1,000 at a time, by cursor).
async fn json_pages(server: &TestServer, key: &str, query: &str) -> Vec<Value> {
    let (mut all, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let after = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
        let (status, _, body) = get(
            server,
            key,
            &format!("{query}&limit=1000{after}"),
            "application/json",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        all.extend(page["entries"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return all,
        }
    }
}

/// The NDJSON export of `query`, one value per line.
async fn ndjson(server: &TestServer, key: &str, query: &str) -> Vec<Value> {
    let (status, content_type, body) = get(server, key, query, "application/x-ndjson").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type, "application/x-ndjson");
    body.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The CSV export of `query`, parsed: the header and the records.
async fn csv_export(
    server: &TestServer,
    key: &str,
    query: &str,
) -> (Vec<String>, Vec<Vec<String>>) {
    let (status, content_type, body) = get(server, key, query, "text/csv").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let records = reader
        .records()
        .map(|r| r.expect("a CSV record").iter().map(String::from).collect())
        .collect();
    (header, records)
}

/// An entry's `at` in unix ms.
fn at_ms(entry: &Value) -> i64 {
    let at = entry["at"].as_str().expect("an entry's time");
    chrono::DateTime::parse_from_rfc3339(at)
        .expect("RFC 3339")
        .timestamp_millis()
}

/// A JSON entry's fields as the CSV writes them: null empty, strings bare, numbers as text.
fn as_csv(entry: &Value, header: &[String]) -> Vec<String> {
    header
        .iter()
        .map(|field| match &entry[field] {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// A server whose own retention task keeps everything (a century), so that only the
/// test prunes: the task's start-up round would otherwise race the test's filling.
async fn server_keeping_everything() -> TestServer {
    TestServer::start_with(|c| c.log_retention = Duration::from_secs(100 * 365 * 86_400)).await
}

#[tokio::test]
async fn prunes_entries_older_than_the_retention_and_keeps_younger_ones() {
    let server = server_keeping_everything().await;
    let tenant = tenant_id(&server, &server.key).await;
    let now = now_ms();
    fill(server.store(), &tenant, 3_000, |i| {
        now - 500 * DAY_MS + i as i64
    })
    .await;
    // Just inside the retention, and well inside it.
    fill(server.store(), &tenant, 1_000, |i| {
        now - 399 * DAY_MS + i as i64
    })
    .await;
    fill(server.store(), &tenant, 1_000, |i| now - DAY_MS + i as i64).await;

    let cutoff = cutoff_ms(now, KEEP);
    let store = server.store();
    let pruned = store
        .prune_sync_log(cutoff, 250, Duration::from_millis(1))
        .await
        .unwrap();
    assert_eq!(pruned, 3_000);
    let kept = ndjson(&server, &server.key, "").await;
    assert_eq!(kept.len(), 2_000);
    // Entries appended concurrently take ids a little out of time order: the oldest is
    // found by time.
    let oldest = kept.iter().map(at_ms).min();
    assert_eq!(
        oldest,
        Some(now - 399 * DAY_MS),
        "the oldest young entry is kept"
    );
    assert_eq!(
        store
            .prune_sync_log(cutoff, 250, Duration::ZERO)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn the_retention_task_prunes_at_start() {
    let server = TestServer::start().await;
    let tenant = tenant_id(&server, &server.key).await;
    let now = now_ms();
    fill(server.store(), &tenant, 2_000, |i| {
        now - 3 * DAY_MS + i as i64
    })
    .await;
    fill(server.store(), &tenant, 500, |i| now + i as i64).await;

    let stop = CancellationToken::new();
    let task = tokio::spawn(retention::run(
        server.store().clone(),
        Duration::from_secs(86_400),
        stop.clone(),
    ));
    eventually(
        "the retention task to prune",
        Duration::from_secs(20),
        || async { (ndjson(&server, &server.key, "").await.len() == 500).then_some(()) },
    )
    .await;
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn pruning_during_ingest_loses_no_new_entry() {
    let server = server_keeping_everything().await;
    let receiver = crate::support::Receiver::start().await;
    server.connect_webhook(&receiver, None).await;
    let tenant = tenant_id(&server, &server.key).await;
    let now = now_ms();
    fill(server.store(), &tenant, 5_000, |i| {
        now - 500 * DAY_MS + i as i64
    })
    .await;

    let store = server.store().clone();
    let prune = tokio::spawn(async move {
        store
            .prune_sync_log(cutoff_ms(now_ms(), KEEP), 100, Duration::from_millis(2))
            .await
    });
    let ids: Vec<String> = (0..200).map(|i| format!("inv_r{i}")).collect();
    futures_util::stream::iter(&ids)
        .for_each_concurrent(8, |id| {
            let server = &server;
            async move {
                server.ingest(&invoice(id)).await;
            }
        })
        .await;
    assert_eq!(
        prune.await.unwrap().unwrap(),
        5_000,
        "every old entry, and only them"
    );

    eventually(
        "every invoice delivered",
        Duration::from_secs(60),
        || async {
            let delivered: HashSet<String> = json_pages(&server, &server.key, "status=SUCCESS")
                .await
                .iter()
                .filter_map(|e| e["invoice_id"].as_str().map(String::from))
                .collect();
            ids.iter().all(|id| delivered.contains(id)).then_some(())
        },
    )
    .await;
    let cutoff = cutoff_ms(now_ms(), KEEP);
    for e in json_pages(&server, &server.key, "").await {
        let at = chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap();
        assert!(
            at.timestamp_millis() >= cutoff,
            "an old entry survived: {e}"
        );
    }
}

#[tokio::test]
async fn csv_and_ndjson_exports_hold_the_json_pages_entries() {
    let server = TestServer::start().await;
    let tenant = tenant_id(&server, &server.key).await;
    let other_key = server.second_tenant().await;
    let other = tenant_id(&server, &other_key).await;
    let now = now_ms();
    fill(server.store(), &tenant, 2_500, |i| {
        now - 10 * DAY_MS + (i as i64) * 1000
    })
    .await;
    fill(server.store(), &other, 600, |i| {
        now - 10 * DAY_MS + (i as i64) * 1000
    })
    .await;

    for query in [
        "",
        "status=FAILED",
        "connection_id=conn_a",
        "status=FAILED&connection_id=conn_b",
        "document_type=invoice",
    ] {
        let pages = json_pages(&server, &server.key, query).await;
        assert!(pages.len() > 300, "{query}: a realistic volume");
        assert_eq!(
            ndjson(&server, &server.key, query).await,
            pages,
            "{query}: NDJSON"
        );
        let (header, records) = csv_export(&server, &server.key, query).await;
        let keys: Vec<String> = pages[0].as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            header.iter().cloned().collect::<HashSet<_>>(),
            keys.into_iter().collect::<HashSet<_>>(),
            "the CSV header names the JSON keys"
        );
        assert_eq!(header[..2], ["id".to_string(), "at".to_string()]);
        let expected: Vec<Vec<String>> = pages.iter().map(|e| as_csv(e, &header)).collect();
        assert_eq!(records, expected, "{query}: CSV");
    }

    // `limit` caps an export; a cursor starts it where a page ended.
    let all = json_pages(&server, &server.key, "").await;
    assert_eq!(
        ndjson(&server, &server.key, "limit=1500").await,
        all[..1500]
    );
    let cursor = all[99]["id"].as_str().unwrap();
    assert_eq!(
        ndjson(&server, &server.key, &format!("cursor={cursor}&limit=10")).await,
        all[100..110]
    );
    let (status, content_type, body) =
        get(&server, &server.key, "limit=3", "application/ndjson").await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "application/ndjson")
    );
    assert_eq!(body.lines().count(), 3);

    // Another tenant's export holds its own entries only.
    let theirs = ndjson(&server, &other_key, "").await;
    assert_eq!(theirs.len(), 600);
    let mine: HashSet<&str> = all.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(
        theirs
            .iter()
            .all(|e| !mine.contains(e["id"].as_str().unwrap()))
    );
    let (_, their_csv) = csv_export(&server, &other_key, "status=FAILED").await;
    assert_eq!(their_csv.len(), 200);
}

#[tokio::test]
async fn answers_json_by_default_and_406_for_unsupported_types() {
    let server = TestServer::start().await;
    let tenant = tenant_id(&server, &server.key).await;
    fill(server.store(), &tenant, 150, |i| now_ms() + i as i64).await;

    for accept in ["*/*", "application/json", "text/html, */*;q=0.8"] {
        let (status, content_type, body) = get(&server, &server.key, "", accept).await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::OK, "application/json"),
            "{accept}"
        );
        let page: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            page["entries"].as_array().unwrap().len(),
            100,
            "the JSON page as before"
        );
    }
    let (status, _, body) = get(&server, &server.key, "", "image/png").await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["code"], "not_acceptable");
    let message = error["error"]["message"].as_str().unwrap();
    for media in ["application/json", "text/csv", "application/x-ndjson"] {
        assert!(message.contains(media), "{message}");
    }
    // An export refuses bad filters before answering, like the JSON page.
    let (status, _, _) = get(&server, &server.key, "status=MAYBE", "text/csv").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
