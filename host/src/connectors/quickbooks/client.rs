//! One connection's calls to the QuickBooks Online Accounting API, on the shared OAuth
//! client ([`crate::connectors::oauth_client`]): how a request is sent and its answer
//! read, and the queries built on it.
//!
//! A call waits for one of the company's 10 slots and a unit of its budget (500 calls in
//! any minute), checks the connection was not stopped, and sends. A 429 (QuickBooks
//! sends no `Retry-After`; its docs say to wait a minute) pauses every call to the
//! company and the same request (same `requestid`) goes again after the pause, without
//! spending a retry. A 401 refreshes the token once and sends again.

use serde_json::Value;

use super::QuickBooksConnector;
use super::api::MINOR_VERSION;
use super::mapping::quote;
use crate::connectors::Outcome;
use crate::connectors::oauth_client::{CallError, Next, Retries};

pub use crate::connectors::oauth_client::Session;

impl QuickBooksConnector {
    /// One API call within the company's limits (see the module docs).
    pub(super) async fn call(
        &self,
        session: &mut Session,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, Outcome> {
        let mut retries = Retries::default();
        loop {
            let leave = self.client.pass(session, None).await?;
            let sent = self.send(session, method.clone(), path, query, body).await;
            drop(leave);
            if let Next::Done(v) = self.client.after(session, &mut retries, sent).await? {
                return Ok(v);
            }
        }
    }

    async fn send(
        &self,
        session: &Session,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, CallError> {
        let base = self.app.api_base.trim_end_matches('/');
        let url = format!("{base}/v3/company/{}/{path}", session.account_id);
        let mut request = self
            .client
            .request(session, method, url)
            .query(&[("minorversion", MINOR_VERSION)])
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let answer = self.client.answer(request).await?;
        if answer.is_success() {
            answer.json()
        } else {
            let content_type = answer.header(reqwest::header::CONTENT_TYPE);
            let content_type = content_type.unwrap_or_default();
            Err(CallError::from_quickbooks(
                answer.status,
                content_type,
                &answer.text,
            ))
        }
    }

    /// The answer to one query `q` (QuickBooks' SQL-like query language).
    async fn query(&self, session: &mut Session, q: &str) -> Result<Value, Outcome> {
        let query = [("query", q)];
        self.call(session, reqwest::Method::GET, "query", &query, None)
            .await
    }

    /// The first `entity` whose `field` equals `value`, if any.
    pub(super) async fn query_one(
        &self,
        session: &mut Session,
        entity: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<Value>, Outcome> {
        let q = format!("select * from {entity} where {field} = {}", quote(value));
        let answer = self.query(session, &q).await?;
        Ok(answer["QueryResponse"][entity].get(0).cloned())
    }

    /// Every `entity` matching `filter` (e.g. `where Active = true`), a page of 1,000 at a
    /// time, up to `limit`.
    pub(super) async fn query_all(
        &self,
        session: &mut Session,
        entity: &str,
        filter: &str,
        limit: usize,
    ) -> Result<Vec<Value>, Outcome> {
        const PAGE: usize = 1000;
        let mut all = Vec::new();
        loop {
            let q = format!(
                "select * from {entity} {filter} startposition {} maxresults {PAGE}",
                all.len() + 1
            );
            let answer = self.query(session, &q).await?;
            let page = answer["QueryResponse"][entity]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let n = page.len();
            all.extend(page);
            if n < PAGE || all.len() >= limit {
                all.truncate(limit);
                return Ok(all);
            }
        }
    }
}
