//! Screenshots of every console page, for the README: starts a server with demo data
//! (a local webhook receiver, a transform, invoices delivered, one failed and re-synced),
//! signs in with headless Chromium and saves one PNG per page into `docs/console/`.
//!
//! ```sh
//! apt-get install -y chromium chromium-driver   # once
//! cargo run -p erp-sync --example console_screenshots [-- <output dir>]
//! ```

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A webhook endpoint that answers 200, or 500 while `failing` is set.
async fn receiver(failing: Arc<AtomicBool>) -> Result<String> {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let failing = failing.clone();
            async move {
                if failing.load(Ordering::SeqCst) {
                    (
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        "the ledger is closed for maintenance",
                    )
                } else {
                    (axum::http::StatusCode::OK, "ok")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/hook"))
}

/// The API, as the billing platform would call it.
struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await?;
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{path}: {status} {body}");
        }
        Ok(body)
    }

    async fn wait_for_log(&self, query: &str, done: impl Fn(&[Value]) -> bool) -> Result<()> {
        for _ in 0..300 {
            let page = self
                .call(reqwest::Method::GET, &format!("/v1/sync-log?{query}"), None)
                .await?;
            if done(page["entries"].as_array().map(Vec::as_slice).unwrap_or(&[])) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the sync log never showed what {query} waited for")
    }
}

fn demo_invoice(id: &str, number: &str, customer: &str, entity: &str, total: &str) -> Value {
    json!({
        "id": id, "number": number, "status": "OPEN", "entity": entity, "currency": "USD",
        "issue_date": "2026-11-01", "due_date": "2026-12-01", "finalized_at": "2026-11-01T10:00:00Z",
        "customer": {"id": format!("cus_{id}"), "name": customer, "email": "ap@example.com",
                     "address": {"line1": "1 Main St", "city": "Austin", "region": "TX", "postal_code": "78701", "country": "US"}},
        "lines": [{"id": "li_1", "type": "USAGE_FEE", "description": "API calls", "product_id": "prod_api",
                   "quantity": "1", "unit_price": total, "amount": total, "tax_amount": "0", "tax_code": "NONE"}],
        "subtotal": total, "tax_total": "0", "total": total,
        "metadata": {"po_number": "PO-7"}
    })
}

/// chromedriver, in a process group of its own that Chromium joins: dropping this ends
/// the group, so an error half-way leaves no browser behind.
struct Driver(tokio::process::Child);

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(pid) = self.0.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", "--", &format!("-{pid}")])
                .status();
        }
    }
}

/// chromedriver on a free port, and a headless Chromium session with a fresh profile.
async fn browser(profile: &std::path::Path) -> Result<(Client, Driver)> {
    for binary in [CHROMEDRIVER, CHROMIUM] {
        if !std::path::Path::new(binary).exists() {
            bail!("{binary} is missing: apt-get install -y chromium chromium-driver");
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let driver = Driver(
        tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .context("starting chromedriver")?,
    );
    let webdriver = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if reqwest::get(format!("{webdriver}/status")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let args = json!([
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        format!("--user-data-dir={}", profile.display())
    ]);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({"binary": CHROMIUM, "args": args}),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&webdriver)
        .await
        .context("opening a Chromium session")?;
    Ok((client, driver))
}

async fn shot(client: &Client, dir: &std::path::Path, name: &str) -> Result<()> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let png = client.screenshot().await?;
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
    println!("saved {}", path.display());
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let out: PathBuf = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/console")));
    std::fs::create_dir_all(&out)?;

    // A server with demo data.
    let data = tempfile::tempdir()?;
    let mut config = erp_sync::config::Config::for_data_dir(data.path());
    config.listen = "127.0.0.1:0".parse()?;
    config.allow_private_targets = true;
    config.retry.base = Duration::from_millis(50);
    config.worker.idle_poll = Duration::from_millis(200);
    // A QuickBooks app, so a connection can wait in `pending_auth` (nothing is called).
    config.quickbooks.client_id = "demo-client".into();
    config.quickbooks.client_secret = "demo-secret".into();
    config.quickbooks.auth_url = "https://appcenter.intuit.com/connect/oauth2".into();
    config.quickbooks.token_url =
        "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer".into();
    config.quickbooks.api_base = "https://quickbooks.api.intuit.com".into();
    let server = erp_sync::server::start(config).await?;
    let (_, key) = server.store.create_tenant("demo").await?;
    let base = format!("http://{}", server.addr);
    let api = Api {
        http: reqwest::Client::new(),
        base: base.clone(),
        key: key.clone(),
    };
    let failing = Arc::new(AtomicBool::new(false));
    let hook = receiver(failing.clone()).await?;
    use reqwest::Method;
    api.call(
        Method::PATCH,
        "/v1/settings",
        Some(json!({"multi_erp": true})),
    )
    .await?;
    let wasm = std::fs::read(erp_sync_guest_artifacts::FLAT_ACCOUNTING)?;
    let transform: Value = api
        .http
        .post(format!(
            "{base}/v1/transforms?world=webhook-transform&name=flat-accounting"
        ))
        .bearer_auth(&key)
        .body(wasm)
        .send()
        .await?
        .json()
        .await?;
    let transform_id = transform["id"]
        .as_str()
        .context("a transform id")?
        .to_string();
    api.call(
        Method::POST,
        "/v1/connections",
        Some(json!({"provider": "quickbooks", "name": "QuickBooks (US)", "entity": "US"})),
    )
    .await?;
    api.call(
        Method::POST,
        "/v1/connections",
        Some(
            json!({"provider": "webhook", "name": "Ledger bridge (UK)", "entity": "UK",
        "config": {"url": hook, "transform_id": transform_id}}),
        ),
    )
    .await?;

    let profile = tempfile::tempdir()?;
    let (client, driver) = browser(profile.path()).await?;
    client.set_window_size(1200, 820).await?;
    // Opens a page and saves a screenshot of it as `name`.
    let visit = |url: String, name: &'static str| {
        let (client, out) = (client.clone(), out.clone());
        async move {
            client.goto(&url).await?;
            shot(&client, &out, name).await
        }
    };
    let click = |css: &'static str| {
        let client = client.clone();
        async move {
            client
                .find(Locator::Css(css))
                .await?
                .click()
                .await
                .map_err(anyhow::Error::from)
        }
    };

    visit(format!("{base}/login"), "01-sign-in").await?;
    client
        .find(Locator::Css("#api_key"))
        .await?
        .send_keys(&key)
        .await?;
    click("main form button[type=submit]").await?;
    // Signed in, the console opens on the Overview.
    client
        .wait()
        .for_element(Locator::Css("a[href='/overview'][aria-current=page]"))
        .await?;

    // Connect a webhook through the console, as an operator would.
    client
        .goto(&format!("{base}/connections/new#webhook"))
        .await?;
    client
        .find(Locator::Css("#webhook_name"))
        .await?
        .send_keys("Finance webhook")
        .await?;
    client
        .find(Locator::Css("#wh_url"))
        .await?
        .send_keys(&hook)
        .await?;
    shot(&client, &out, "03-connect-erp").await?;
    click("#webhook form button[type=submit]").await?;
    client.wait().for_element(Locator::Css("#secret")).await?;
    shot(&client, &out, "04-webhook-connected").await?;

    // Invoices: a few delivered, one failed (the receiver down) and then re-synced.
    for (i, (customer, entity, total)) in [
        ("Acme Inc", "US", "1290.00"),
        ("Globex Ltd", "UK", "310.50"),
        ("Initech", "US", "88.20"),
        ("Umbrella plc", "UK", "4020.00"),
    ]
    .iter()
    .enumerate()
    {
        let id = format!("inv_2026_{:04}", 41 + i);
        api.call(
            Method::POST,
            "/v1/invoices",
            Some(demo_invoice(
                &id,
                &format!("INV-2026-{:04}", 41 + i),
                customer,
                entity,
                total,
            )),
        )
        .await?;
    }
    api.wait_for_log("status=SUCCESS", |e| {
        e.iter().filter(|e| e["kind"] == "sync").count() >= 4
    })
    .await?;
    failing.store(true, Ordering::SeqCst);
    api.call(
        Method::POST,
        "/v1/invoices",
        Some(demo_invoice(
            "inv_2026_0045",
            "INV-2026-0045",
            "Hooli <Billing>",
            "US",
            "12.99",
        )),
    )
    .await?;
    api.wait_for_log("invoice_id=inv_2026_0045&status=FAILED", |e| e.len() >= 4)
        .await?;
    failing.store(false, Ordering::SeqCst);

    visit(format!("{base}/connections"), "02-connections").await?;
    let connections = api.call(Method::GET, "/v1/connections", None).await?;
    let finance = connections
        .as_array()
        .and_then(|l| l.iter().find(|c| c["name"] == "Finance webhook"))
        .and_then(|c| c["id"].as_str())
        .context("the finance webhook")?
        .to_string();
    visit(format!("{base}/connections/{finance}"), "05-connection").await?;
    visit(
        format!("{base}/connections/{finance}/disconnect"),
        "06-disconnect-confirmation",
    )
    .await?;

    client.set_window_size(1200, 1100).await?;
    visit(format!("{base}/sync-log"), "07-sync-log").await?;
    visit(
        format!("{base}/sync-log?status=FAILED"),
        "08-sync-log-failed",
    )
    .await?;
    client
        .goto(&format!("{base}/invoices/inv_2026_0045"))
        .await?;
    click("section[aria-labelledby=manual] button[type=submit]").await?;
    api.wait_for_log("invoice_id=inv_2026_0045&status=SUCCESS", |e| !e.is_empty())
        .await?;
    client.refresh().await?;
    shot(&client, &out, "09-invoice").await?;
    visit(format!("{base}/overview"), "14-overview").await?;

    // One more invoice fails for good on the finance webhook; recover it from the
    // console: counted first, then followed to done.
    failing.store(true, Ordering::SeqCst);
    api.call(
        Method::POST,
        "/v1/invoices",
        Some(demo_invoice(
            "inv_2026_0046",
            "INV-2026-0046",
            "Vandelay Industries",
            "US",
            "640.00",
        )),
    )
    .await?;
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let dry_run = json!({"since": since, "status": "FAILED", "dry_run": true});
    let mut recoverable = 0;
    for _ in 0..300 {
        let counted = api
            .call(
                Method::POST,
                &format!("/v1/connections/{finance}/recover"),
                Some(dry_run.clone()),
            )
            .await?;
        recoverable = counted["count"].as_i64().unwrap_or(0);
        if recoverable > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if recoverable == 0 {
        bail!("inv_2026_0046 never failed for good on the finance webhook");
    }
    failing.store(false, Ordering::SeqCst);
    client
        .goto(&format!("{base}/connections/{finance}"))
        .await?;
    click("#recover").await?;
    client
        .wait()
        .for_element(Locator::Css("#confirm-recover"))
        .await?;
    click("#confirm-recover").await?;
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::XPath("//dd[@id='recovery-status'][text()='done']"))
        .await?;
    shot(&client, &out, "15-recovery").await?;

    client.set_window_size(1200, 820).await?;
    visit(format!("{base}/settings"), "10-settings").await?;
    visit(format!("{base}/transforms"), "11-transforms").await?;
    click("main table form button[type=submit]").await?;
    client
        .wait()
        .for_element(Locator::Css("pre.output"))
        .await?;
    shot(&client, &out, "12-transform-run").await?;

    client.set_window_size(390, 1500).await?;
    visit(format!("{base}/sync-log"), "13-sync-log-phone").await?;

    client.close().await?;
    drop(driver);
    server.shutdown().await;
    Ok(())
}
