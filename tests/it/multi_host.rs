//! Several erp-sync hosts sharing one PostgreSQL store: three real `erp-sync serve`
//! processes on one database, 5,000 invoices (500 of them with a second version) posted
//! round-robin to all three, one host killed with SIGKILL mid-run and restarted. After
//! the run every invoice's latest version is delivered, versions of an invoice arrived
//! in order, nothing stays leased, and a duplicate is only ever a redelivery under the
//! same event id (their number is printed).
//!
//! Needs PostgreSQL: `ERP_SYNC_TEST_POSTGRES` (set by `.ci/run`); without it the test
//! says so and returns.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use erp_sync::store::{Location, Store};
use serde_json::{Value, json};

use crate::support::postgres::{TEST_SECRET_KEY, admin_url_or_skip, fresh_schema};
use crate::support::process::{PROCESS_TIMEOUT, Serve, call, http, tenant_create_with, try_call};
use crate::support::{Receiver, array, eventually, invoice, string};

const INVOICES: usize = 5_000;
const UPDATED: usize = 500;
const HOSTS: usize = 3;

/// Starts one host on the shared database.
async fn host(dir: &std::path::Path, url: &str) -> Serve {
    Serve::start_tuned(
        dir,
        50,
        2000,
        &[
            ("ERP_SYNC_DATABASE_URL", url),
            ("ERP_SYNC_SECRET_KEY", TEST_SECRET_KEY),
        ],
        &[],
    )
    .await
}

/// Posts `body` to any living host, trying the next one while a host is down.
async fn post_anywhere(client: &reqwest::Client, bases: &[String], start: usize, body: &Value) {
    let deadline = tokio::time::Instant::now() + PROCESS_TIMEOUT * 4;
    let mut i = start;
    loop {
        let base = &bases[i % bases.len()];
        if let Ok((status, answer)) = try_call(
            client,
            base,
            KEY.get().unwrap(),
            "POST",
            "/v1/invoices",
            Some(body),
        )
        .await
        {
            assert_eq!(status, 202, "{answer}");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no host accepted {body}"
        );
        i += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hosts_share_one_queue_and_survive_a_sigkill() {
    let Some(admin) = admin_url_or_skip() else {
        return;
    };
    let url = fresh_schema(&admin).await;
    let dirs: Vec<tempfile::TempDir> = (0..HOSTS).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut hosts = Vec::new();
    for dir in &dirs {
        hosts.push(host(dir.path(), &url).await);
    }
    let (_, key) = tenant_create_with(dirs[0].path(), "billing", &["--database-url", &url]).await;
    KEY.set(key.clone()).unwrap();
    let client = http();
    let receiver = Receiver::start().await;
    let (status, created) = call(
        &client,
        &hosts[0].base,
        &key,
        "POST",
        "/v1/connections",
        Some(&json!({"provider": "webhook", "name": "hook", "config": {"url": receiver.url()}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    receiver.set_secret(string(&created["secret"]));

    let bases: Arc<Vec<String>> = Arc::new(hosts.iter().map(|h| h.base.clone()).collect());
    let posted = Arc::new(AtomicUsize::new(0));
    let poster = {
        let (client, bases, posted) = (client.clone(), bases.clone(), posted.clone());
        tokio::spawn(async move {
            let mut batch = Vec::new();
            for n in 0..INVOICES {
                let (client, bases, posted) = (client.clone(), bases.clone(), posted.clone());
                batch.push(tokio::spawn(async move {
                    let id = format!("inv_{n:05}");
                    let mut body = invoice(&id);
                    post_anywhere(&client, &bases, n, &body).await;
                    if n < UPDATED {
                        body["metadata"]["po_number"] = json!("PO-8");
                        post_anywhere(&client, &bases, n + 1, &body).await;
                    }
                    posted.fetch_add(1, Ordering::Relaxed);
                }));
                if batch.len() == 32 {
                    for t in batch.drain(..) {
                        t.await.unwrap();
                    }
                }
            }
            for t in batch {
                t.await.unwrap();
            }
        })
    };

    // Kill the second host once deliveries are well under way, then bring it back.
    eventually(
        "a third of the invoices delivered",
        Duration::from_secs(300),
        || async { (receiver.received().len() > INVOICES / 3).then_some(()) },
    )
    .await;
    hosts[1].kill().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    hosts[1] = host(dirs[1].path(), &url).await;
    // Its restart has a new address; the old one now refuses, and posts move on.
    poster.await.unwrap();
    assert_eq!(posted.load(Ordering::Relaxed), INVOICES);

    // Every invoice's latest version arrives (a dead host's leases come back after its
    // heartbeat times out).
    let latest = |n: usize| {
        if n < UPDATED {
            "invoice.updated"
        } else {
            "invoice.finalized"
        }
    };
    eventually(
        "every invoice's latest version delivered",
        Duration::from_secs(600),
        || async {
            let got: HashSet<(String, String)> = receiver
                .received()
                .iter()
                .map(|r| {
                    let e = r.json();
                    (
                        e["data"]["id"].as_str().unwrap_or_default().to_string(),
                        e["type"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            (0..INVOICES)
                .all(|n| got.contains(&(format!("inv_{n:05}"), latest(n).to_string())))
                .then_some(())
        },
    )
    .await;

    let received = receiver.received();
    assert!(
        received.iter().all(|r| r.signature_ok),
        "every delivery is signed"
    );
    // Duplicates are redeliveries of one event (same id), never a new event.
    let mut per_event: HashMap<String, (String, String, usize)> = HashMap::new();
    let mut order: HashMap<String, Vec<String>> = HashMap::new();
    for r in &received {
        let e = r.json();
        if e["type"] == "test" {
            continue; // the connection's test sync
        }
        let id = string(&e["data"]["id"]).to_string();
        let kind = string(&e["type"]).to_string();
        let event_id = r.headers["x-aforo-event-id"].to_str().unwrap().to_string();
        let entry = per_event
            .entry(event_id)
            .or_insert((id.clone(), kind.clone(), 0));
        assert_eq!(
            (&entry.0, &entry.1),
            (&id, &kind),
            "one event id is one invoice version"
        );
        entry.2 += 1;
        order.entry(id).or_default().push(kind);
    }
    let events_per_version: HashMap<(String, String), usize> =
        per_event
            .values()
            .fold(HashMap::new(), |mut m, (id, kind, _)| {
                *m.entry((id.clone(), kind.clone())).or_default() += 1;
                m
            });
    assert!(
        events_per_version.values().all(|n| *n == 1),
        "each invoice version was sent under exactly one event id"
    );
    assert_eq!(per_event.len(), INVOICES + UPDATED, "one event per version");
    for (id, kinds) in &order {
        let first_update = kinds.iter().position(|k| k == "invoice.updated");
        if let Some(at) = first_update {
            assert!(
                kinds[at..].iter().all(|k| k == "invoice.updated"),
                "{id}: versions arrived out of order: {kinds:?}"
            );
        }
    }
    let redeliveries: usize = per_event.values().map(|(_, _, n)| n - 1).sum();
    eprintln!(
        "multi-host: {} requests for {} events; {redeliveries} redeliveries (same event id)",
        received.len(),
        per_event.len()
    );

    // Nothing stays leased once the queue is empty.
    let store = Store::open_shared(Location::Postgres(&url)).await.unwrap();
    eventually(
        "no job left leased or pending",
        Duration::from_secs(60),
        || async {
            let depth = store.queue_depth().await.unwrap();
            depth.is_empty().then_some(())
        },
    )
    .await;
    assert_eq!(store.leased_count().await.unwrap(), 0);
    store.close().await;
}

/// Two hosts accept versions of one new invoice at the same moment: every post is
/// accepted (never a 500 from two hosts both writing version 1), and the versions are
/// numbered 1..=N with none lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hosts_ingesting_one_invoice_at_once_number_its_versions_without_gaps() {
    if admin_url_or_skip().is_none() {
        return;
    }
    const N: usize = 24;
    let a = crate::support::TestServer::start().await;
    let b = Arc::new(a.another_host(|_| {}).await);
    let a = Arc::new(a);
    let mut posts = Vec::new();
    for n in 0..N {
        let host = if n % 2 == 0 { a.clone() } else { b.clone() };
        posts.push(tokio::spawn(async move {
            let mut body = invoice("inv_contended");
            body["metadata"]["po_number"] = json!(format!("PO-{n}"));
            let (status, answer) = host.call("POST", "/v1/invoices", Some(body)).await;
            assert_eq!(status, 202, "{answer}");
            answer["version"].as_i64().unwrap()
        }));
    }
    let mut versions = Vec::new();
    for p in posts {
        versions.push(p.await.unwrap());
    }
    versions.sort();
    assert_eq!(versions, (1..=N as i64).collect::<Vec<_>>());
    let (_, state) = b.call("GET", "/v1/invoices/inv_contended", None).await;
    assert_eq!(array(&state["versions"]).len(), N, "{state}");
}
