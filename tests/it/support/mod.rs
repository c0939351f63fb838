//! Test harness: a server, a webhook receiver, sample invoices and polling helpers.

pub mod browser;
pub mod postgres;
pub mod receiver;
pub mod server;

use std::future::Future;
use std::time::Duration;

use serde_json::{Value, json};

pub use receiver::{Received, Receiver, Reply};
pub use server::TestServer;

/// Polls `check` until it returns `Some`, failing the test after `timeout`. Waiting for
/// asynchronous work this way asserts behaviour, not speed: the timeout is generous.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The contract's example invoice, with the given id.
pub fn invoice(id: &str) -> Value {
    json!({
        "id": id, "number": format!("INV-{id}"), "status": "OPEN",
        "entity": "US", "currency": "USD",
        "issue_date": "2026-11-01", "due_date": "2026-12-01",
        "finalized_at": "2026-11-01T10:00:00Z",
        "customer": { "id": "cus_42", "name": "Acme Inc", "email": "ap@acme.test",
                      "address": { "line1": "1 Main St", "city": "Austin", "region": "TX",
                                   "postal_code": "78701", "country": "US" } },
        "lines": [ { "id": "li_1", "type": "USAGE_FEE", "description": "API calls",
                     "product_id": "prod_api", "quantity": "12000", "unit_price": "0.001",
                     "amount": "12.00", "tax_amount": "0.99", "tax_code": "TX-STATE" } ],
        "subtotal": "12.00", "tax_total": "0.99", "total": "12.99",
        "metadata": { "po_number": "PO-7" }
    })
}
