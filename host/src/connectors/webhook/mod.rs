//! The custom webhook connector: a signed HTTP POST per event.
//!
//! Headers follow the contract: `X-Aforo-Event-Id` (one id per invoice version and
//! connection, the same on every retry), `X-Aforo-Timestamp` and `X-Aforo-Signature`
//! (see [`crate::crypto::signature`]), and beside them the Standard Webhooks
//! `webhook-id`, `webhook-timestamp` and `webhook-signature` ([`signing`]). During a
//! secret rotation's grace both carry one signature per secret ([`secrets`]). Any 2xx is
//! success; anything else, a timeout or a network error is retried, as promised to users,
//! honouring `Retry-After`.

pub mod config;
pub mod payload;
pub mod secrets;
pub mod signing;

pub use secrets::WebhookSecrets;
pub use signing::{sign_with, signed_headers};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{
    Checked, ConfigChange, Connector, Outcome, Preview, PreviewInput, PreviewRequest, SyncRequest,
    egress, profile,
};
use crate::documents::AnyDocument;
use crate::domain::ids::{new_id, prefix};
use crate::store::ConnectionRow;

/// How much of a failed response body is kept in the sync log.
const MAX_ERROR_BODY: usize = 2048;

/// The non-secret configuration of a webhook connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// A JSONPath payload template (see `transform::template`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<serde_json::Value>,
    /// A webhook-transform component that builds the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform_id: Option<String>,
    /// Settings handed to the transform as its context's `config`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub transform_config: BTreeMap<String, String>,
    /// The connection's retry schedule, which the worker reads (every provider has one:
    /// `sync::RetryPolicy::for_config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<serde_json::Value>,
}

/// Delivers webhook events over the shared, SSRF-guarded HTTP client.
pub struct WebhookConnector {
    client: reqwest::Client,
    allow_private: bool,
    payloads: payload::PayloadBuilder,
    /// Each connection's parsed configuration, kept while its JSON is unchanged.
    parsed: crate::kept::PerConnection<serde_json::Value, Parsed>,
}

/// A connection's configuration, parsed once for as long as it stays the same: parsing
/// it, its URL and its template on every delivery showed in the delivery profile.
struct Parsed {
    config: WebhookConfig,
    url: Result<url::Url, String>,
    /// The compiled payload template, if the connection has one.
    template: Option<Result<crate::transform::template::Template, String>>,
}

impl WebhookConnector {
    /// A connector using `client` for every delivery.
    pub fn new(
        client: reqwest::Client,
        allow_private: bool,
        transforms: Arc<crate::transform::Transforms>,
    ) -> Self {
        WebhookConnector {
            client,
            allow_private,
            payloads: payload::PayloadBuilder::new(transforms),
            parsed: crate::kept::PerConnection::default(),
        }
    }

    fn parsed(&self, connection: &ConnectionRow) -> Result<Arc<Parsed>, Outcome> {
        self.parsed
            .get_or_make(&connection.id, &connection.config, || {
                let config: WebhookConfig = serde_json::from_value(connection.config.clone())
                    .map_err(|e| {
                        Outcome::permanent(None, format!("webhook config is invalid: {e}"))
                    })?;
                let url = url::Url::parse(&config.url)
                    .map_err(|e| format!("webhook url is invalid: {e}"));
                let template = config.template.as_ref().map(|doc| {
                    crate::transform::template::Template::compile(doc).map_err(|e| e.to_string())
                });
                Ok(Parsed {
                    config,
                    url,
                    template,
                })
            })
    }

    async fn send(
        &self,
        connection: &ConnectionRow,
        secrets: &serde_json::Value,
        event: payload::Event<'_>,
        data_json: &str,
    ) -> Outcome {
        let parsed = match self.parsed(connection) {
            Ok(p) => p,
            Err(outcome) => return outcome,
        };
        let (body, guest_logs) = match self
            .payloads
            .build(
                connection,
                &parsed.config,
                parsed.template.as_ref(),
                &event,
                data_json,
            )
            .await
        {
            Ok(built) => built,
            Err(outcome) => return outcome,
        };
        self.post(&parsed, secrets, event.id, body)
            .await
            .with_guest_logs(guest_logs)
    }

    async fn post(
        &self,
        parsed: &Parsed,
        secrets: &serde_json::Value,
        event_id: &str,
        body: payload::Payload,
    ) -> Outcome {
        let secrets = match WebhookSecrets::deserialize(secrets) {
            Ok(s) => s,
            Err(e) => {
                return Outcome::permanent(None, format!("webhook secrets are unreadable: {e}"));
            }
        };
        let url = match &parsed.url {
            Ok(u) => u.clone(),
            Err(e) => return Outcome::permanent(None, e.clone()),
        };
        if let Some(host) = url.host() {
            let literal = match host {
                url::Host::Ipv4(ip) => Some(std::net::IpAddr::V4(ip)),
                url::Host::Ipv6(ip) => Some(std::net::IpAddr::V6(ip)),
                url::Host::Domain(_) => None,
            };
            if let Some(ip) = literal.filter(|ip| !self.allow_private && egress::is_non_public(*ip))
            {
                return Outcome::permanent(
                    None,
                    format!(
                        "{ip} is a non-public address; refused without --allow-private-targets"
                    ),
                );
            }
        }
        let signed = delivery_headers(&secrets, event_id, &body);
        let mut request = self.client.post(url);
        for (name, value) in &signed {
            request = request.header(name.as_str(), value.as_str());
        }
        let result = request.body(body.body).send().await;
        let response = match result {
            Ok(r) => r,
            Err(e) => return network_failure(&e),
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::success(Some(status.as_u16()), None);
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let text = read_prefix(response, MAX_ERROR_BODY).await;
        let detail = if text.is_empty() {
            format!("the endpoint answered {status}")
        } else {
            format!("the endpoint answered {status}: {text}")
        };
        Outcome::retryable(Some(status.as_u16()), detail, retry_after)
    }
}

/// Every header a delivery carries (see [`signed_headers`]), signed now with every
/// secret of the connection still in use, so the receiver can check it.
fn delivery_headers(
    secrets: &WebhookSecrets,
    event_id: &str,
    body: &payload::Payload,
) -> Vec<(String, String)> {
    let signing = secrets.signing_at(crate::store::now_ms());
    let (current, previous) = signing
        .split_first()
        .expect("the current secret always signs");
    signed_headers(
        current,
        previous,
        event_id,
        &body.body,
        &body.content_type,
        &body.headers,
    )
}

/// Classifies a request that got no HTTP response.
fn network_failure(e: &reqwest::Error) -> Outcome {
    if let Some(blocked) = egress::is_blocked(e) {
        return Outcome::permanent(None, blocked);
    }
    let what = if e.is_timeout() {
        "timed out waiting for the endpoint"
    } else if e.is_connect() {
        "could not connect to the endpoint"
    } else {
        "the request failed"
    };
    let mut detail = what.to_string();
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(inner) = source {
        detail.push_str(": ");
        detail.push_str(&inner.to_string());
        source = inner.source();
    }
    Outcome::retryable(None, detail, None)
}

/// `Retry-After` as delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

async fn read_prefix(mut response: reqwest::Response, max: usize) -> String {
    let mut buf = Vec::new();
    while buf.len() < max {
        match response.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            _ => break,
        }
    }
    buf.truncate(max);
    String::from_utf8_lossy(&buf).trim().to_string()
}

#[async_trait]
impl Connector for WebhookConnector {
    profile!(Webhook, Immediate);

    async fn check_change(&self, change: ConfigChange<'_>) -> Checked {
        config::check(change).await
    }

    async fn sync(&self, req: SyncRequest<'_>) -> Outcome {
        let event = payload::Event {
            id: req.event_id,
            event_type: req.event_type,
            created_ms: req.event_created_ms,
        };
        self.send(req.connection, req.secrets, event, req.document_json)
            .await
    }

    /// Every other document goes in the default envelope, whatever template or transform
    /// the connection has: those shape invoices (`docs/architecture.md`, "Documents
    /// beyond invoices on a webhook").
    async fn sync_document(&self, req: SyncRequest<'_, AnyDocument>) -> Outcome {
        let parsed = match self.parsed(req.connection) {
            Ok(p) => p,
            Err(outcome) => return outcome,
        };
        let event = payload::Event {
            id: req.event_id,
            event_type: req.event_type,
            created_ms: req.event_created_ms,
        };
        let body = payload::envelope(&event, req.document_json);
        self.post(&parsed, req.secrets, req.event_id, body).await
    }

    /// A signed `test` event. With a template or transform, the body is what they make of
    /// the sample invoice, so a broken one shows at connect time; otherwise the envelope
    /// carries a short note.
    async fn test(&self, connection: &ConnectionRow, secrets: &serde_json::Value) -> Outcome {
        let event_id = new_id(prefix::EVENT);
        let event = payload::Event {
            id: &event_id,
            event_type: "test",
            created_ms: crate::store::now_ms(),
        };
        let shaped = connection.config.get("template").is_some()
            || connection.config.get("transform_id").is_some();
        let data = if shaped {
            crate::domain::sample::sample_invoice().canonical_text()
        } else {
            serde_json::json!({
                "connection_id": connection.id,
                "message": "erp-sync test delivery: this endpoint will receive invoice events signed like this one",
            })
            .to_string()
        };
        self.send(connection, secrets, event, &data).await
    }

    /// The body the template, transform or envelope makes of the document, with its
    /// signed headers (a transform runs in its sandbox, as at delivery).
    async fn preview(&self, input: PreviewInput<'_>) -> Result<Preview, Outcome> {
        let parsed = self.parsed(input.connection)?;
        let event = payload::Event {
            id: "evt_preview",
            event_type: input.event_type,
            created_ms: crate::store::now_ms(),
        };
        let (body, _logs) = self
            .payloads
            .build(
                input.connection,
                &parsed.config,
                parsed.template.as_ref(),
                &event,
                input.invoice_json,
            )
            .await?;
        let secrets = WebhookSecrets::deserialize(input.secrets).map_err(|e| {
            Outcome::permanent(None, format!("webhook secrets are unreadable: {e}"))
        })?;
        let headers = delivery_headers(&secrets, event.id, &body)
            .into_iter()
            .collect();
        let text = String::from_utf8_lossy(&body.body).into_owned();
        let json = serde_json::from_slice(&body.body).unwrap_or_else(|_| text.clone().into());
        Ok(Preview {
            request: Some(PreviewRequest {
                method: "POST".into(),
                url: parsed.config.url.clone(),
                headers,
                body: json,
                raw_body: Some(text),
            }),
            gaps: Vec::new(),
            notes: vec![
                "a delivery carries its own event id (X-Aforo-Event-Id), the same on every retry, and is signed when it is sent".into(),
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert!(parse_retry_after("soon").is_none());
    }
}
