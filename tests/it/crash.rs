//! The crash suite: the real `erp-sync` binary is killed with SIGKILL two dozen times, at
//! random moments, while 2,000 invoices flow to a flaky webhook endpoint, and restarted
//! each time on the same data dir. After the last restart every invoice must reach its
//! final state (delivered, or FAILED after its retries), none may be lost, the sync log
//! must account for every request the endpoint saw, and no job may stay leased.
//!
//! The endpoint ([`FlakySink`]) answers like a bad day on the internet: 30 % 5xx, 10 %
//! hangs past the request timeout, and bursts of 429 with `Retry-After`. Its choices and
//! the kill moments come from one seeded random generator; the seed is printed, and
//! `CRASH_SEED=<n>` replays a run.
//!
//! Retries are fast (`--retry-base-ms 20`, `--request-timeout-ms 400`) so the whole run
//! takes well under a minute; nothing here asserts speed, only outcomes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::support::process::{
    Serve, call, http, invoice_state, open_store, post_until_accepted, queue_depth, sync_log_pages,
    tenant_create,
};
use crate::support::{eventually, invoice, string};

const INVOICES: usize = 2_000;
const KILLS: usize = 24;
/// Hangs last longer than this (the `--request-timeout-ms` given to the server).
const TIMEOUT_MS: u64 = 400;

/// What the sink answered to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Answer {
    Ok,
    ServerError(u16),
    TooMany,
    Hang,
}

/// One request the sink received: which invoice, under which event id, answered how.
#[derive(Clone, Debug)]
struct Seen {
    invoice_id: String,
    event_id: String,
    answer: Answer,
    signature_ok: bool,
}

#[derive(Default)]
struct SinkState {
    rng: Option<StdRng>,
    secret: Option<String>,
    burst_left: u32,
    seen: Vec<Seen>,
}

/// A webhook endpoint with a bad day; see the module docs.
#[derive(Clone)]
struct FlakySink {
    state: Arc<Mutex<SinkState>>,
    url: String,
}

async fn flaky(
    State(state): State<Arc<Mutex<SinkState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let answer = {
        let mut s = state.lock().unwrap();
        if event["type"] == "test" {
            Answer::Ok
        } else {
            let rng = s.rng.as_mut().expect("seeded");
            let roll = rng.gen_range(0..1000);
            let burst = rng.gen_range(8..20);
            let code = if rng.gen_bool(0.5) { 500 } else { 503 };
            let answer = if s.burst_left > 0 {
                s.burst_left -= 1;
                Answer::TooMany
            } else if roll < 8 {
                s.burst_left = burst;
                Answer::TooMany
            } else if roll < 308 {
                Answer::ServerError(code)
            } else if roll < 408 {
                Answer::Hang
            } else {
                Answer::Ok
            };
            let signature_ok = match (&s.secret, headers.get("x-aforo-signature")) {
                (Some(secret), Some(h)) => erp_sync::crypto::signature::verify(
                    h.to_str().unwrap_or_default(),
                    &body,
                    secret.as_bytes(),
                    chrono::Utc::now().timestamp(),
                    300,
                )
                .is_ok(),
                _ => false,
            };
            s.seen.push(Seen {
                invoice_id: event["data"]["id"].as_str().unwrap_or_default().to_string(),
                event_id: headers
                    .get("x-aforo-event-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string(),
                answer,
                signature_ok,
            });
            answer
        }
    };
    let mut reply = HeaderMap::new();
    let status = match answer {
        Answer::Ok => StatusCode::OK,
        Answer::ServerError(code) => StatusCode::from_u16(code).unwrap(),
        Answer::TooMany => {
            reply.insert("retry-after", "1".parse().unwrap());
            StatusCode::TOO_MANY_REQUESTS
        }
        Answer::Hang => {
            tokio::time::sleep(Duration::from_millis(TIMEOUT_MS * 4)).await;
            StatusCode::OK
        }
    };
    (status, reply, "flaky sink")
}

impl FlakySink {
    async fn start(seed: u64) -> Self {
        let state = Arc::new(Mutex::new(SinkState {
            rng: Some(StdRng::seed_from_u64(seed)),
            ..SinkState::default()
        }));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(flaky))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FlakySink { state, url }
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_dozen_sigkills_during_a_flaky_flow_of_2000_invoices_lose_nothing() {
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().r#gen());
    eprintln!("crash suite seed: CRASH_SEED={seed}");
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("a temp dir");
    let (_, key) = tenant_create(dir.path(), "t").await;
    let sink = FlakySink::start(seed).await;
    let client = http();
    let mut server = Serve::start_tuned(dir.path(), 20, TIMEOUT_MS, &[], &[]).await;
    let hook = json!({"provider": "webhook", "name": "flaky", "config": {"url": sink.url}});
    let (status, created) = call(
        &client,
        &server.base,
        &key,
        "POST",
        "/v1/connections",
        Some(&hook),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    sink.state.lock().unwrap().secret = Some(string(&created["secret"]).to_string());

    // Four posters share the invoices and follow the server across restarts.
    let base = Arc::new(Mutex::new(server.base.clone()));
    let ids: Vec<String> = (0..INVOICES).map(|i| format!("inv_crash_{i:04}")).collect();
    let posters: Vec<_> = ids
        .chunks(INVOICES / 4)
        .map(|chunk| {
            let (client, base, key, chunk) =
                (client.clone(), base.clone(), key.clone(), chunk.to_vec());
            tokio::spawn(async move {
                for id in &chunk {
                    post_until_accepted(&client, &base, &key, ("/v1/invoices", &invoice(id))).await;
                }
            })
        })
        .collect();

    // Kill at random moments: while invoices are posted, and later while retries run.
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut downtime = Duration::ZERO;
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(100..900))).await;
        server.kill().await;
        let down = Instant::now();
        server = Serve::start_tuned(dir.path(), 20, TIMEOUT_MS, &[], &[]).await;
        downtime += down.elapsed();
        *base.lock().unwrap() = server.base.clone();
    }
    for poster in posters {
        poster.await.expect("a poster");
    }
    let posted_at = started.elapsed();

    // After the last restart, the queue drains: every job settled.
    eventually("the queue to drain", Duration::from_secs(180), || async {
        (queue_depth(&client, &server.base).await == Some(0)).then_some(())
    })
    .await;
    let drained_at = started.elapsed();

    // Final state of every invoice, through the API.
    let mut states: HashMap<String, (String, i64)> = HashMap::new();
    for chunk in ids.chunks(50) {
        let reads = chunk.iter().map(|id| {
            let (client, base, key) = (client.clone(), server.base.clone(), key.clone());
            let id = id.clone();
            async move {
                let (status, state) = invoice_state(&client, &base, &key, &id).await;
                assert_eq!(status, StatusCode::OK, "{id} is lost: {state}");
                let sync = state["sync"].as_array().expect("sync states");
                assert_eq!(sync.len(), 1, "{id} has one delivery: {state}");
                let s = string(&sync[0]["state"]).to_string();
                (id, (s, sync[0]["attempts"].as_i64().unwrap()))
            }
        });
        states.extend(futures_join_all(reads).await);
    }
    let delivered: HashSet<&String> = states
        .iter()
        .filter(|(_, (s, _))| s == "succeeded")
        .map(|(id, _)| id)
        .collect();
    let failed: HashSet<&String> = states
        .iter()
        .filter(|(_, (s, _))| s == "failed")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        delivered.len() + failed.len(),
        INVOICES,
        "every invoice is delivered or failed: {:?}",
        states
            .iter()
            .filter(|(_, (s, _))| s != "succeeded" && s != "failed")
            .take(5)
            .collect::<Vec<_>>()
    );

    // The sync log against what the sink saw, invoice by invoice.
    let log = sync_log_pages(&client, &server.base, &key, "").await;
    let seen = sink.seen();
    let mut log_by: HashMap<&str, Vec<&Value>> = HashMap::new();
    for e in log.iter().filter(|e| e["kind"] == "sync") {
        log_by.entry(string(&e["invoice_id"])).or_default().push(e);
    }
    let mut seen_by: HashMap<&str, Vec<&Seen>> = HashMap::new();
    for s in &seen {
        assert!(s.signature_ok, "an unsigned or badly signed request: {s:?}");
        seen_by.entry(s.invoice_id.as_str()).or_default().push(s);
    }
    let mut interrupted_total = 0;
    for id in &ids {
        let entries = log_by
            .get(id.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let requests = seen_by
            .get(id.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let interrupted = entries
            .iter()
            .filter(|e| {
                e["error"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("interrupted")
            })
            .count();
        interrupted_total += interrupted;
        // Every request the sink saw is in the log (as its outcome, or as interrupted when
        // the server died first), and every other logged attempt reached the sink.
        assert!(
            requests.len() <= entries.len() && entries.len() - interrupted <= requests.len(),
            "{id}: the sink saw {} requests, the log has {} attempts ({interrupted} interrupted)\n{entries:#?}",
            requests.len(),
            entries.len()
        );
        for answer in [200, 500, 503, 429] {
            let logged = entries
                .iter()
                .filter(|e| e["response_code"] == answer)
                .count();
            let answered = requests
                .iter()
                .filter(|r| match (r.answer, answer) {
                    (Answer::Ok, 200) | (Answer::TooMany, 429) => true,
                    (Answer::ServerError(c), a) => c == a,
                    _ => false,
                })
                .count();
            assert!(
                logged <= answered,
                "{id}: {logged} entries with {answer}, the sink answered {answered}"
            );
        }
        // One event id for all deliveries of the invoice.
        let events: HashSet<&str> = requests.iter().map(|r| r.event_id.as_str()).collect();
        assert!(events.len() <= 1, "{id}: several event ids {events:?}");
        let successes = entries.iter().filter(|e| e["status"] == "SUCCESS").count();
        let (state, attempts) = &states[id];
        if state == "succeeded" {
            assert_eq!(successes, 1, "{id}: one SUCCESS entry\n{entries:#?}");
            assert!(
                requests.iter().any(|r| r.answer == Answer::Ok),
                "{id}: logged as delivered, but the sink never answered 200"
            );
        } else {
            // FAILED after its retries: four attempts, plus any interrupted by a kill.
            assert_eq!(successes, 0, "{id}");
            let last = entries.last().expect("a failed invoice has attempts");
            assert!(
                last["error"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("gave up after"),
                "{id}: {last}"
            );
            assert!(
                (4..=4 + interrupted as i64).contains(attempts),
                "{id}: {attempts} attempts with {interrupted} interrupted"
            );
        }
    }

    // A graceful stop, then nothing is leased or pending in the database.
    server.stop_cleanly().await;
    let store = open_store(dir.path()).await;
    assert_eq!(store.leased_count().await.expect("a count"), 0);
    assert_eq!(store.queue_depth().await.expect("depths"), vec![]);
    store.close().await;

    let count = |a: fn(&Answer) -> bool| seen.iter().filter(|s| a(&s.answer)).count();
    let oks = |id: &str| {
        seen_by
            .get(id)
            .map_or(0, |r| r.iter().filter(|r| r.answer == Answer::Ok).count())
    };
    // At-least-once, seen from the endpoint: a 200 the server never recorded (killed
    // first) is delivered again under the same event id, and such an interrupted attempt
    // counts as one of the four, so the invoice may even end FAILED although the endpoint
    // once accepted it. Reported, not hidden.
    let twice = ids.iter().filter(|id| oks(id) > 1).count();
    let failed_after_a_200 = failed.iter().filter(|id| oks(id) > 0).count();
    eprintln!(
        "crash suite: seed {seed}, {KILLS} SIGKILLs (restarts took {downtime:.1?} in all), {INVOICES} invoices \
         posted by {posted_at:.1?}, queue drained at {drained_at:.1?}; {} delivered, {} FAILED after retries; \
         sink saw {} requests ({} 200, {} 5xx, {} 429, {} hangs); log has {} sync attempts, {} interrupted by kills; \
         {twice} invoices answered 200 more than once, {failed_after_a_200} FAILED after an unrecorded 200",
        delivered.len(),
        failed.len(),
        seen.len(),
        count(|a| *a == Answer::Ok),
        count(|a| matches!(a, Answer::ServerError(_))),
        count(|a| *a == Answer::TooMany),
        count(|a| *a == Answer::Hang),
        log_by.values().map(Vec::len).sum::<usize>(),
        interrupted_total,
    );
    assert!(
        interrupted_total > 0,
        "two dozen kills interrupted no attempt at all"
    );
    assert!(
        !failed.is_empty() && !delivered.is_empty(),
        "a flaky sink gives both outcomes"
    );
}

/// Runs futures concurrently and collects their outputs (no `futures` crate needed).
async fn futures_join_all<T: Send + 'static>(
    futures: impl IntoIterator<Item = impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("a task"));
    }
    out
}
