//! The real `erp-sync` binary as a child process, as an operator runs it: `serve` on an
//! ephemeral port, `tenant create`, the API of a child server, and the checks of a
//! stopped server's data dir. Shared by the tests of the process (`process.rs`,
//! `crash.rs`, `multi_host.rs`), the command line (`cli.rs`), hostile clients and the
//! security promises.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use erp_sync::store::{Location, Store};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

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
    // Compiled components go to a cache of the test run's own, never the user's.
    cmd.env(
        "ERP_SYNC_CACHE_DIR",
        std::env::temp_dir().join("erp-sync-test-wasm-cache"),
    );
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
    tenant_create_with(dir, name, &[]).await
}

/// [`tenant_create`] with `extra` arguments (such as `--database-url`).
pub(crate) async fn tenant_create_with(dir: &Path, name: &str, extra: &[&str]) -> (String, String) {
    let dir = dir.to_str().expect("a UTF-8 temp dir");
    let mut args = vec!["tenant", "create", name, "--data-dir", dir];
    args.extend_from_slice(extra);
    let (status, stdout, stderr) = run(&args).await;
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

    /// SIGTERM, asserting the clean exit (status 0) every test of the binary ends with.
    pub(crate) async fn stop_cleanly(&mut self) {
        let status = self.terminate().await;
        assert!(
            status.success(),
            "exit {status}; stderr:\n{}",
            self.stderr()
        );
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

/// Opens a stopped server's store, for the checks no API offers (leases, queue depths).
pub(crate) async fn open_store(dir: &Path) -> Store {
    Store::open_shared(Location::DataDir(dir))
        .await
        .expect("the database opens")
}

/// `GET /v1/invoices/{id}` on a child server, as the tests read an invoice's final state.
pub(crate) async fn invoice_state(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    id: &str,
) -> (StatusCode, Value) {
    call(http, base, key, "GET", &format!("/v1/invoices/{id}"), None).await
}

/// Jobs waiting or in flight, from `/metrics` (which counts them in the database).
pub(crate) async fn queue_depth(client: &reqwest::Client, base: &str) -> Option<i64> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let mut total = 0;
    for line in text.lines() {
        if line.starts_with("erp_sync_queue_depth{") {
            total += line.rsplit(' ').next()?.parse::<i64>().ok()?;
        }
    }
    Some(total)
}

/// The sync log, oldest first, page by page: all of it, or what `filter` (`&key=value…`)
/// selects.
pub(crate) async fn sync_log_pages(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    filter: &str,
) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/sync-log?limit=1000{filter}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = call(client, base, key, "GET", &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        entries.extend(page["entries"].as_array().expect("entries").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    entries.reverse();
    entries
}

/// Posts `body` to `path` until a server accepts it, whichever server is up at the moment
/// (`base` changes at each restart). A post cut by a kill, or answered 429, is simply sent
/// again: the same content is a no-op. Any other refusal fails the test.
pub(crate) async fn post_until_accepted(
    client: &reqwest::Client,
    base: &Mutex<String>,
    key: &str,
    (path, body): (&str, &Value),
) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let current = base.lock().unwrap().clone();
        match try_call(client, &current, key, "POST", path, Some(body)).await {
            Ok((StatusCode::ACCEPTED, _)) => return,
            Ok((status, answer))
                if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS =>
            {
                panic!("{path} {} was refused: {status} {answer}", body["id"])
            }
            _ => {}
        }
        let id = &body["id"];
        assert!(
            std::time::Instant::now() < deadline,
            "{path} {id} was never accepted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
