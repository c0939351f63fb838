//! Reading the sync log, and waiting on it (or on the invoices' sync states) for
//! deliveries to finish.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::{TestServer, eventually, string};

/// How long [`TestServer::synced`] waits: generous, as every wait in the suite.
const SYNCED_WAIT: Duration = Duration::from_secs(20);

impl TestServer {
    /// The sync log, filtered by a query string such as `invoice_id=inv_1`.
    pub async fn log(&self, query: &str) -> Vec<Value> {
        let (status, body) = self
            .call("GET", &format!("/v1/sync-log?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["entries"].as_array().expect("entries").clone()
    }

    /// The log entries (filtered by `query`) of one kind, to tell connection tests from syncs.
    pub async fn log_of_kind(&self, query: &str, kind: &str) -> Vec<Value> {
        self.log(query)
            .await
            .into_iter()
            .filter(|e| e["kind"] == kind)
            .collect()
    }

    /// How many attempts are logged for an invoice, to check a failure was not retried.
    pub async fn logged_attempts(&self, invoice_id: &str) -> usize {
        self.log(&format!("invoice_id={invoice_id}")).await.len()
    }

    /// Waits for an invoice's `successes`-th SUCCESS and answers its log (newest first).
    pub async fn synced(&self, invoice_id: &str, successes: usize) -> Vec<Value> {
        eventually(
            &format!("{successes} SUCCESS for {invoice_id}"),
            SYNCED_WAIT,
            || async {
                let entries = self.log(&format!("invoice_id={invoice_id}")).await;
                let ok = entries.iter().filter(|e| e["status"] == "SUCCESS").count();
                (ok >= successes).then_some(entries)
            },
        )
        .await
    }

    /// Waits for an invoice's first logged attempt, to catch a delivery that fails at once.
    pub async fn first_attempt(&self, invoice_id: &str, timeout: Duration) -> Value {
        eventually(
            &format!("the first attempt of {invoice_id}"),
            timeout,
            || async { self.log(&format!("invoice_id={invoice_id}")).await.pop() },
        )
        .await
    }

    /// Waits for an invoice's first attempt and checks it `FAILED` with an error naming
    /// every one of `words`; answers the entry for further checks.
    pub async fn failed_attempt(
        &self,
        invoice_id: &str,
        timeout: Duration,
        words: &[&str],
    ) -> Value {
        let entry = self.first_attempt(invoice_id, timeout).await;
        assert_eq!(entry["status"], "FAILED", "{entry}");
        let error = string(&entry["error"]);
        for word in words {
            assert!(error.contains(word), "{word:?} missing from {entry}");
        }
        entry
    }

    /// Waits until the latest delivery of every one of these invoices is final
    /// (`succeeded` or `failed`), and answers each invoice's latest sync state.
    pub async fn final_syncs(&self, ids: &[String], timeout: Duration) -> Vec<(String, Value)> {
        eventually("every delivery final", timeout, || async {
            let mut states = Vec::new();
            for id in ids {
                let (status, body) = self.invoice_state(id).await;
                assert_eq!(status, StatusCode::OK, "{id} is lost: {body}");
                let sync = body["sync"][0].clone();
                match sync["state"].as_str() {
                    Some("succeeded") | Some("failed") => states.push((id.clone(), sync)),
                    _ => return None,
                }
            }
            Some(states)
        })
        .await
    }
}
