//! A first Xero bill run, every customer new, against the fake Xero of the integration
//! tests (`tests/it/fakes/xero/`), which limits the way Xero does: 60 calls in any
//! minute per organisation, 5 in flight, 5,000 a day, answered 429 with `Retry-After`.
//!
//! Run: `cargo bench -p erp-sync --bench xero_bill_run` (both runs of issue 18: 600
//! invoices of 12 customers, then 10,000 invoices of 2,000 customers), or
//! `cargo bench -p erp-sync --bench xero_bill_run -- <invoices> <customers> [delay-ms]`.
//! Each call to the fake takes `delay-ms` (default 250, a guess at Xero's latency).
//!
//! It prints how long the run took until every invoice was in Xero, the calls made by
//! kind, and how many were refused (429) or sent during a `Retry-After`. Figures go in
//! docs/performance.md. The fake is test code, so this is a bench target, not a
//! subcommand of the binary.

#[allow(dead_code, unused_imports)]
#[path = "../../tests/it/fakes/mod.rs"]
mod fakes;
use fakes::xero as fake;

use std::time::{Duration, Instant};

use erp_sync::config::Config;
use serde_json::{Value, json};

struct Run {
    invoices: usize,
    customers: usize,
    delay: Duration,
}

fn runs() -> Vec<Run> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let delay =
        |i: usize| Duration::from_millis(args.get(i).and_then(|a| a.parse().ok()).unwrap_or(250));
    match (args.first(), args.get(1)) {
        (Some(n), Some(c)) => vec![Run {
            invoices: n.parse().expect("invoices: a number"),
            customers: c.parse().expect("customers: a number"),
            delay: delay(2),
        }],
        _ => vec![
            Run {
                invoices: 600,
                customers: 12,
                delay: delay(9),
            },
            Run {
                invoices: 10_000,
                customers: 2_000,
                delay: delay(9),
            },
        ],
    }
}

/// Plays the operator's browser through the OAuth round trip at the fake.
async fn authorize(base: &str, authorize_url: &str) -> Value {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = browser.get(authorize_url).send().await.unwrap();
    let location = answer.headers()["location"].to_str().unwrap().to_string();
    let callback = location.replace("http://erp-sync.test", base);
    json_answer(browser.get(callback)).await
}

/// The JSON answer to a request that must get one.
async fn json_answer(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

fn count(fake: &fake::FakeXero, method: &str, resource: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|r| {
            r.method == method && r.path.starts_with("/api.xro/") && r.path.ends_with(resource)
        })
        .count()
}

async fn bill_run(run: &Run) {
    let fake = fake::FakeXero::start().await;
    fake.set_delay(run.delay);
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_data_dir(dir.path());
    config.public_url = "http://erp-sync.test".into();
    config.xero = fake.app();
    config.retry.base = Duration::from_secs(2);
    let server = erp_sync::server::start(config)
        .await
        .expect("the server starts");
    let (_, key) = server.store.create_tenant("bench").await.unwrap();
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::new();
    let created = json_answer(
        http.post(format!("{base}/v1/connections"))
            .bearer_auth(&key)
            .json(&json!({"provider": "xero", "name": "bill run"})),
    )
    .await;
    let done = authorize(&base, created["authorize_url"].as_str().unwrap()).await;
    assert_eq!(done["connection"]["status"], "active", "{done}");
    let calls_before = fake.calls_for(fake::TENANT_ID);

    let started = Instant::now();
    let posters: Vec<_> = (0..8)
        .map(|p| {
            let (http, base, key) = (http.clone(), base.clone(), key.clone());
            let (n, customers) = (run.invoices, run.customers);
            tokio::spawn(async move {
                for i in (p..n).step_by(8) {
                    let c = i % customers;
                    let invoice = json!({
                        "id": format!("inv_run_{i:05}"), "number": format!("INV-RUN-{i:05}"), "status": "OPEN",
                        "currency": "GBP", "issue_date": "2026-11-01", "due_date": "2026-12-01",
                        "finalized_at": "2026-11-01T10:00:00Z",
                        "customer": {"id": format!("cus_{c:05}"), "name": format!("Customer {c:05} Ltd")},
                        "lines": [{"id": "li_1", "type": "USAGE_FEE", "description": "API calls",
                                   "quantity": "12000", "unit_price": "0.001", "amount": "12.00",
                                   "tax_amount": "2.40", "tax_code": "UK-VAT-20"}],
                        "subtotal": "12.00", "tax_total": "2.40", "total": "14.40"
                    });
                    let answer = http
                        .post(format!("{base}/v1/invoices"))
                        .bearer_auth(&key)
                        .json(&invoice)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(answer.status(), 202);
                }
            })
        })
        .collect();
    for p in posters {
        p.await.unwrap();
    }
    let posted = started.elapsed();
    let mut last_report = Instant::now();
    loop {
        // Counted without cloning: the fake answers calls under the same lock.
        let in_xero = fake.invoice_count(fake::TENANT_ID);
        if in_xero >= run.invoices {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(15) {
            eprintln!(
                "  {:>5.0} s: {in_xero} of {} invoices in Xero, {} calls",
                started.elapsed().as_secs_f64(),
                run.invoices,
                fake.calls_for(fake::TENANT_ID) - calls_before
            );
            last_report = Instant::now();
        }
        if started.elapsed() > Duration::from_secs(900) {
            eprintln!("  gave up after 15 minutes with {in_xero} invoices in Xero");
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let took = started.elapsed();
    let failed = json_answer(
        http.get(format!("{base}/v1/sync-log?status=FAILED&limit=1000"))
            .bearer_auth(&key),
    )
    .await;
    // What went wrong, most frequent first (the detail up to its first digit or quote,
    // so that ids and times do not split the counts).
    let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
    for e in failed["entries"].as_array().into_iter().flatten() {
        let error = e["error"].as_str().unwrap_or_default();
        let head: String = error
            .chars()
            .take_while(|c| !c.is_ascii_digit() && *c != '"')
            .take(90)
            .collect();
        *reasons.entry(head).or_default() += 1;
    }
    let mut reasons: Vec<(String, usize)> = reasons.into_iter().collect();
    reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
    for (reason, n) in reasons.iter().take(8) {
        println!("  FAILED x{n}: {reason}");
    }
    if let Some(first) = failed["entries"].as_array().and_then(|e| e.last()) {
        println!(
            "  first FAILED entry: {}",
            first["error"].as_str().unwrap_or_default()
        );
    }
    let numbers: std::collections::HashSet<String> = fake
        .invoices(fake::TENANT_ID)
        .iter()
        .map(|i| i["InvoiceNumber"].as_str().unwrap_or_default().to_string())
        .collect();
    println!(
        "xero bill run: {} invoices of {} customers, {} ms per call: all in Xero after {:.1} s (posted in {:.1} s)",
        run.invoices,
        run.customers,
        run.delay.as_millis(),
        took.as_secs_f64(),
        posted.as_secs_f64()
    );
    println!(
        "  calls: {} in all; contact look-ups {}, contact creates {}, invoice writes {}, invoice look-ups {}",
        fake.calls_for(fake::TENANT_ID) - calls_before,
        count(&fake, "GET", "/Contacts"),
        count(&fake, "PUT", "/Contacts"),
        count(&fake, "PUT", "/Invoices"),
        count(&fake, "GET", "/Invoices"),
    );
    println!(
        "  refused (429): {}; sent during a Retry-After: {}; most in flight: {}; FAILED attempts: {}; distinct invoices in Xero: {} of {}; contacts: {}",
        fake.rate_limited_count(),
        fake.calls_during_retry_after(),
        fake.max_concurrent_seen(fake::TENANT_ID),
        failed["entries"].as_array().map_or(0, Vec::len),
        numbers.len(),
        fake.invoices(fake::TENANT_ID).len(),
        fake.contacts(fake::TENANT_ID).len(),
    );
    server.shutdown().await;
}

#[tokio::main]
async fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    for run in runs() {
        bill_run(&run).await;
    }
}
