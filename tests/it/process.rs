//! The real `erp-sync` binary as an operator runs it: killed with SIGKILL in the middle of
//! deliveries, stopped with SIGTERM, and started twice on one data dir. Nothing may be
//! lost, redeliveries keep their event id, and nothing stays leased.
//!
//! The helpers here (spawning `serve`, `tenant create`, calling the API of a child
//! process) are shared with `cli.rs`.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use erp_sync::store::{Location, LogFilter, Store};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::support::{Receiver, Reply, eventually, invoice};

/// The product binary.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_erp-sync");

/// How long a child may take to start or to stop; generous, never a speed assertion.
pub(crate) const PROCESS_TIMEOUT: Duration = Duration::from_secs(30);

/// A command for the binary, unaffected by any `ERP_SYNC_*` variable of the test's own
/// environment, and killed if its handle is dropped.
pub(crate) fn erp_sync() -> Command {
    let mut cmd = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ERP_SYNC_") {
            cmd.env_remove(name);
        }
    }
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    cmd
}

/// Runs the binary to completion: exit status, stdout, stderr.
pub(crate) async fn run(args: &[&str]) -> (ExitStatus, String, String) {
    let child = erp_sync()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let output = tokio::time::timeout(PROCESS_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("erp-sync {args:?} did not finish"))
        .expect("the binary's output");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `erp-sync tenant create <name> --data-dir <dir>`: the tenant id and API key it prints.
pub(crate) async fn tenant_create(dir: &Path, name: &str) -> (String, String) {
    let dir = dir.to_str().expect("a UTF-8 temp dir");
    let (status, stdout, stderr) = run(&["tenant", "create", name, "--data-dir", dir]).await;
    assert!(
        status.success(),
        "tenant create failed: {status}\n{stdout}\n{stderr}"
    );
    let field = |label: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no `{label}` line in:\n{stdout}"))
    };
    (field("tenant_id:"), field("api_key:"))
}

/// A running `erp-sync serve` child; killed (SIGKILL) when dropped, whatever happened.
pub(crate) struct Serve {
    child: Child,
    /// `http://127.0.0.1:PORT`, from the `listening on` line.
    pub base: String,
    /// The key of a `dev tenant api_key:` line printed before `listening on`, if any.
    pub dev_key: Option<String>,
    /// Every stdout line up to and including `listening on`.
    pub startup_lines: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Reads a child's stderr to the end into a shared buffer, so the pipe never fills.
fn collect_stderr(child: &mut Child) -> Arc<Mutex<String>> {
    let buffer = Arc::new(Mutex::new(String::new()));
    let mut stderr = child.stderr.take().expect("piped stderr");
    let sink = buffer.clone();
    tokio::spawn(async move {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    buffer
}

impl Serve {
    /// `serve --listen 127.0.0.1:0 --data-dir <dir> --allow-private-targets
    /// --retry-base-ms 50 --request-timeout-ms 2000` plus `extra`, once it listens.
    pub(crate) async fn start(dir: &Path, extra: &[&str]) -> Serve {
        Self::start_tuned(dir, 50, 2000, &[], extra).await
    }

    /// [`Serve::start`] with other retry and timeout settings (the crash suite's) and
    /// `ERP_SYNC_*` variables (fake ERP endpoints, the log filter).
    pub(crate) async fn start_tuned(
        dir: &Path,
        retry_base_ms: u64,
        request_timeout_ms: u64,
        env: &[(&str, &str)],
        extra: &[&str],
    ) -> Serve {
        let dir = dir.to_str().expect("a UTF-8 temp dir");
        let mut command = erp_sync();
        let mut child = command
            .envs(env.iter().copied())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", dir])
            .arg("--allow-private-targets")
            .args(["--retry-base-ms", &retry_base_ms.to_string()])
            .args(["--request-timeout-ms", &request_timeout_ms.to_string()])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("erp-sync serve starts");
        let stderr = collect_stderr(&mut child);
        let (tx, mut lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("piped stdout");
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut serve = Serve {
            child,
            base: String::new(),
            dev_key: None,
            startup_lines: Vec::new(),
            stderr,
        };
        let deadline = tokio::time::Instant::now() + PROCESS_TIMEOUT;
        loop {
            let line = match tokio::time::timeout_at(deadline, lines.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => {
                    // Give the stderr reader a moment to collect the reason.
                    let _ = tokio::time::timeout(Duration::from_secs(5), serve.child.wait()).await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    panic!(
                        "erp-sync serve exited before listening; stdout {:?}\nstderr:\n{}",
                        serve.startup_lines,
                        serve.stderr()
                    );
                }
                Err(_) => panic!(
                    "erp-sync serve did not print `listening on` in time; stdout {:?}\nstderr:\n{}",
                    serve.startup_lines,
                    serve.stderr()
                ),
            };
            serve.startup_lines.push(line.clone());
            if let Some(key) = line.strip_prefix("dev tenant api_key:") {
                serve.dev_key = Some(key.trim().to_string());
            }
            if let Some(addr) = line.strip_prefix("listening on ") {
                let addr = addr.trim();
                assert!(
                    addr.starts_with("http://127.0.0.1:"),
                    "unexpected listen line: {line}"
                );
                serve.base = addr.to_string();
                break;
            }
        }
        serve
    }

    /// The child's process id (to read its memory use in `/proc`).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id().expect("the child is running")
    }

    /// What the child wrote to stderr so far.
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGKILL, and reap the child.
    pub(crate) async fn kill(&mut self) {
        self.child.start_kill().expect("SIGKILL is sent");
        tokio::time::timeout(PROCESS_TIMEOUT, self.child.wait())
            .await
            .expect("a killed child exits")
            .expect("the child's status");
    }

    /// SIGTERM, then waits for the exit status (a graceful stop drains first).
    pub(crate) async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().expect("the child is still running");
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM {pid} failed");
        tokio::time::timeout(PROCESS_TIMEOUT, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "erp-sync did not stop after SIGTERM; stderr:\n{}",
                    self.stderr()
                )
            })
            .expect("the child's status")
    }
}

/// An HTTP client for child servers; a request either answers or fails (server down).
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("an HTTP client")
}

/// Sends a request with `key`; `Err` when the server could not be reached.
pub(crate) async fn try_call(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(StatusCode, Value), reqwest::Error> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a valid method");
    let mut request = http
        .request(method, format!("{base}{path}"))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Like [`try_call`], for a server that must be up.
pub(crate) async fn call(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    try_call(http, base, key, method, path, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {base}{path} got no answer: {e}"))
}

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
                let (status, body) = call(
                    &http,
                    &server.base,
                    &key,
                    "POST",
                    "/v1/invoices",
                    Some(&invoice(&id)),
                )
                .await;
                assert_eq!(status, StatusCode::ACCEPTED, "{id}: {body}");
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
    let page = eventually(
        "a SUCCESS in the sync log for every invoice",
        Duration::from_secs(60),
        || async {
            let entries = successes(&http, &server.base, &key, 1000).await;
            let done: HashSet<String> = entries
                .iter()
                .filter_map(|e| e["invoice_id"].as_str().map(str::to_string))
                .collect();
            (done == all).then_some(entries)
        },
    )
    .await;
    let mut per_invoice: HashMap<String, usize> = HashMap::new();
    for entry in &page {
        *per_invoice
            .entry(entry["invoice_id"].as_str().unwrap().to_string())
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
            .map(|e| e["id"].as_str().unwrap().to_string())
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
        let (status, state) = call(
            &http,
            &server.base,
            &key,
            "GET",
            &format!("/v1/invoices/{id}"),
            None,
        )
        .await;
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
    let status = server.terminate().await;
    assert!(
        status.success(),
        "exit {status}; stderr:\n{}",
        server.stderr()
    );
    let store = Store::open_shared(Location::DataDir(dir.path()))
        .await
        .expect("the database opens");
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
        let (status, body) = call(
            &http,
            &server.base,
            &key,
            "POST",
            "/v1/invoices",
            Some(&invoice(id)),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    eventually(
        "two deliveries in flight",
        Duration::from_secs(30),
        || async { (invoice_requests(&receiver) >= 2).then_some(()) },
    )
    .await;
    let status = server.terminate().await;
    assert!(
        status.success(),
        "exit {status}; stderr:\n{}",
        server.stderr()
    );

    // Before any new server runs (start-up would recover leases): nothing is leased, and
    // each delivery the receiver got before the stop completed and is logged SUCCESS.
    let store = Store::open_shared(Location::DataDir(dir.path()))
        .await
        .expect("the database opens");
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
    eventually(
        "every invoice delivered after the restart",
        Duration::from_secs(30),
        || async {
            let entries = successes(&http, &server.base, &key, 100).await;
            let done: HashSet<String> = entries
                .iter()
                .filter_map(|e| e["invoice_id"].as_str().map(str::to_string))
                .collect();
            (done == all).then_some(())
        },
    )
    .await;
    let mut per_invoice: HashMap<String, usize> = HashMap::new();
    for request in receiver.received() {
        assert!(request.signature_ok, "a delivery with a bad signature");
        let body = request.json();
        if body["type"] != "test" {
            *per_invoice
                .entry(body["data"]["id"].as_str().unwrap().to_string())
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
    let status = server.terminate().await;
    assert!(
        status.success(),
        "exit {status}; stderr:\n{}",
        server.stderr()
    );
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
    let status = first.terminate().await;
    assert!(
        status.success(),
        "exit {status}; stderr:\n{}",
        first.stderr()
    );
}
