//! One connection's calls to the Xero Accounting API: its session (tokens and
//! organisation), and each call within the organisation's limits.
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
use tokio_util::sync::CancellationToken;

use super::XeroConnector;
use super::api::{XeroError, XeroErrorKind};
use crate::connectors::Outcome;
use crate::connectors::limits::Pass;
use crate::connectors::oauth::OAuthTokens;
use crate::store::ConnectionRow;

/// 429s one call waits out before it gives up as a retryable failure.
const MAX_THROTTLES: u32 = 8;

/// One connection's live credentials and the organisation it books into.
pub struct Session {
    pub connection: ConnectionRow,
    pub tenant_id: String,
    pub tokens: OAuthTokens,
    /// Cancelled when the connection is disconnected.
    pub stop: CancellationToken,
}

impl Session {
    /// The organisation's key for limits and ERP records.
    pub fn account(&self) -> String {
        format!("xero:{}", self.tenant_id)
    }
}

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
    pub(super) fn session(
        connection: ConnectionRow,
        tokens: OAuthTokens,
        stop: CancellationToken,
    ) -> Result<Session, Outcome> {
        let tenant_id = connection
            .config
            .get("tenant_id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                Outcome::held("no Xero organisation is chosen yet: set tenant_id on the connection")
            })?;
        Ok(Session {
            connection,
            tenant_id,
            tokens,
            stop,
        })
    }

    /// A session whose access token is valid for at least a minute.
    pub(super) async fn fresh_session(
        &self,
        connection_id: &str,
        stop: CancellationToken,
    ) -> Result<Session, Outcome> {
        let (connection, tokens) = self.tokens.fresh(connection_id).await?;
        Self::session(connection, tokens, stop)
    }

    /// Waits for leave to send one call to the session's organisation.
    pub(super) async fn enter(&self, session: &Session) -> Result<Pass, Outcome> {
        self.limits
            .enter("Xero", &session.account(), &session.stop)
            .await
    }

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
        let mut refreshed = false;
        let mut throttled = 0;
        loop {
            let pass = match pass.take() {
                Some(p) => p,
                None => self.enter(session).await?,
            };
            let result = self.send(session, &call).await;
            drop(pass);
            match result {
                Err(e) if e.kind == XeroErrorKind::Unauthorized && !refreshed => {
                    refreshed = true;
                    let failed = session.tokens.access_token.clone();
                    let (connection, tokens) = self
                        .tokens
                        .refresh(&session.connection.id, Some(&failed))
                        .await?;
                    *session = Self::session(connection, tokens, session.stop.clone())?;
                }
                Err(XeroError {
                    kind: XeroErrorKind::Throttled(wait),
                    ..
                }) if throttled < MAX_THROTTLES => {
                    throttled += 1;
                    self.limits.pause(&session.account(), wait);
                }
                Err(e) => return Err(e.into()),
                Ok(v) => return Ok(v),
            }
        }
    }

    async fn send(&self, session: &Session, call: &Call<'_>) -> Result<Value, XeroError> {
        let url = format!(
            "{}/api.xro/2.0/{}",
            self.app.api_base.trim_end_matches('/'),
            call.path
        );
        let mut request = self
            .http
            .request(call.method.clone(), url)
            .bearer_auth(&session.tokens.access_token)
            .header("xero-tenant-id", &session.tenant_id)
            .header(reqwest::header::ACCEPT, "application/json")
            .query(call.query);
        if let Some(key) = call.idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = call.body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| XeroError::network(&e))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let problem = header("x-rate-limit-problem");
        let minute_left = header("x-minlimit-remaining").and_then(|v| v.trim().parse::<u32>().ok());
        let text = response.text().await.map_err(|e| XeroError::network(&e))?;
        if let Some(left) = minute_left {
            self.limits.observe(&session.account(), left).await;
        }
        if (200..300).contains(&status) {
            return serde_json::from_str(&text).map_err(|e| XeroError {
                kind: XeroErrorKind::Retryable(None),
                status: Some(status),
                message: format!("Xero answered {status} with unreadable JSON: {e}"),
            });
        }
        Err(XeroError::from_response(
            status,
            &text,
            retry_after,
            problem.as_deref(),
        ))
    }
}
