//! Test harness: a server, a webhook receiver, sample invoices, the fake ERPs wired into
//! a server, the real binary as a child process, and polling helpers.

pub mod api;
pub mod browser;
pub mod erp;
pub mod invoices;
pub mod postgres;
pub mod process;
pub mod receiver;
pub mod server;
pub mod sync_log;

use std::future::Future;
use std::time::Duration;

use serde_json::Value;

pub use invoices::{invoice, uk_invoice};
pub use receiver::{Received, Receiver, Reply};
pub use server::TestServer;

/// The `error.message` of an API error answer, which tests check names the problem.
pub fn error_message(answer: &Value) -> &str {
    answer["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("an error message in {answer}"))
}

/// A JSON string a test expects (an entry's `error`, a record's id), panicking with the
/// value when it is not one; keeps an assertion on it to one line.
pub fn string(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a string, not {value}"))
}

/// A JSON array a test expects (a list answer's items), panicking with the value when it
/// is not one.
pub fn array(value: &Value) -> &[Value] {
    value
        .as_array()
        .unwrap_or_else(|| panic!("an array, not {value}"))
}

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
