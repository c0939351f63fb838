//! One connection's calls to the Xero Accounting API, on the shared OAuth client
//! ([`crate::connectors::oauth_client`]): how a request is sent and how its answer is
//! read.
//!
//! A call waits for a slot and a unit of the organisation's budget (60 calls in any
//! minute, 5 in flight), checks the connection was not stopped, sends, and reads Xero's
//! own count of calls left (`X-MinLimit-Remaining`) to correct the budget. A 429 pauses
//! every call to the organisation for its `Retry-After` and the same request (same
//! `Idempotency-Key`) goes again once the pause is over, without spending a retry; a
//! pause longer than an attempt may wait (the daily limit) defers the attempt instead. A
//! 401 refreshes the token once and sends again.

use std::time::Duration;

use serde_json::Value;

use super::XeroConnector;
use crate::connectors::Outcome;
use crate::connectors::limits::Pass;
use crate::connectors::oauth_client::{CallError, Next, Retries};

pub use crate::connectors::oauth_client::Session;

/// One request: method, path below `api.xro/2.0/`, query, body and idempotency key.
pub struct Call<'a> {
    pub method: reqwest::Method,
    pub path: &'a str,
    pub query: &'a [(&'a str, &'a str)],
    pub body: Option<&'a Value>,
    pub idempotency_key: Option<&'a str>,
}

impl<'a> Call<'a> {
    /// A read.
    pub fn get(path: &'a str, query: &'a [(&'a str, &'a str)]) -> Self {
        Call {
            method: reqwest::Method::GET,
            path,
            query,
            body: None,
            idempotency_key: None,
        }
    }

    /// A write carrying `key` as its `Idempotency-Key`.
    pub fn write(
        method: reqwest::Method,
        path: &'a str,
        query: &'a [(&'a str, &'a str)],
        body: &'a Value,
        key: &'a str,
    ) -> Self {
        Call {
            method,
            path,
            query,
            body: Some(body),
            idempotency_key: Some(key),
        }
    }
}

impl XeroConnector {
    /// One call within the organisation's limits (see the module docs).
    pub(super) async fn call(
        &self,
        session: &mut Session,
        call: Call<'_>,
    ) -> Result<Value, Outcome> {
        self.call_with(session, None, call).await
    }

    /// [`XeroConnector::call`], sending the first time with `pass` when the caller
    /// already holds one (a batch leader waited for it while its batch filled).
    pub(super) async fn call_with(
        &self,
        session: &mut Session,
        mut pass: Option<Pass>,
        call: Call<'_>,
    ) -> Result<Value, Outcome> {
        let mut retries = Retries::default();
        loop {
            let leave = self.client.pass(session, pass.take()).await?;
            let sent = self.send(session, &call).await;
            drop(leave);
            if let Next::Done(v) = self.client.after(session, &mut retries, sent).await? {
                return Ok(v);
            }
        }
    }

    async fn send(&self, session: &Session, call: &Call<'_>) -> Result<Value, CallError> {
        let base = self.app.api_base.trim_end_matches('/');
        let url = format!("{base}/api.xro/2.0/{}", call.path);
        let mut request = self
            .client
            .request(session, call.method.clone(), url)
            .header("xero-tenant-id", &session.account_id)
            .query(call.query);
        if let Some(key) = call.idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = call.body {
            request = request.json(body);
        }
        let answer = self.client.answer(request).await?;
        let trimmed = |name: &str| answer.header(name).map(str::trim);
        if let Some(left) = trimmed("x-minlimit-remaining").and_then(|v| v.parse::<u32>().ok()) {
            self.client.limits.observe(session.account(), left).await;
        }
        if answer.is_success() {
            return answer.json();
        }
        Err(CallError::from_xero(
            answer.status,
            &answer.text,
            trimmed("retry-after")
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_secs),
            answer.header("x-rate-limit-problem"),
        ))
    }
}
