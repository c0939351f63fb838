//! The one place a webhook body is built: the default envelope, a JSONPath template,
//! or a Wasm transform. The signature always covers exactly the bytes built here.

use std::sync::Arc;

use serde_json::{Value, json};

use super::WebhookConfig;
use crate::connectors::Outcome;
use crate::store::ConnectionRow;
use crate::transform::Transforms;
use crate::transform::template::Template;
use crate::transform::wasm::GuestContext;

/// A body ready to sign and send.
pub struct Payload {
    pub content_type: String,
    pub body: Vec<u8>,
    /// Extra headers from a Wasm transform.
    pub headers: Vec<(String, String)>,
}

/// The event a body is built for.
pub struct Event<'a> {
    pub id: &'a str,
    pub event_type: &'a str,
    pub created_ms: i64,
}

impl Event<'_> {
    fn metadata(&self) -> Value {
        json!({"id": self.id, "type": self.event_type, "created_at": crate::store::format_ms(self.created_ms)})
    }
}

/// The default envelope: `{"created_at", "data", "id", "type"}` (keys sorted, as every
/// JSON object erp-sync writes). `data_json` is JSON text, spliced in as it is: the
/// invoice's stored canonical text is already the bytes `data` would serialize to.
pub fn envelope(event: &Event<'_>, data_json: &str) -> Payload {
    let created_at = crate::store::format_ms(event.created_ms);
    let mut body = Vec::with_capacity(data_json.len() + 128);
    body.extend_from_slice(b"{\"created_at\":");
    write_json_string(&mut body, &created_at);
    body.extend_from_slice(b",\"data\":");
    body.extend_from_slice(data_json.as_bytes());
    body.extend_from_slice(b",\"id\":");
    write_json_string(&mut body, event.id);
    body.extend_from_slice(b",\"type\":");
    write_json_string(&mut body, event.event_type);
    body.push(b'}');
    Payload {
        content_type: "application/json".into(),
        body,
        headers: Vec::new(),
    }
}

fn write_json_string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("writing a string into a Vec cannot fail");
}

/// Builds bodies: the envelope, a template's rendering, or a transform's output.
pub struct PayloadBuilder {
    transforms: Arc<Transforms>,
}

impl PayloadBuilder {
    /// A builder running transforms through `transforms`.
    pub fn new(transforms: Arc<Transforms>) -> Self {
        PayloadBuilder { transforms }
    }

    /// The body for one event: failures come back as the attempt's outcome. `template` is
    /// the connection's template, compiled once by the caller (or why it did not compile).
    pub async fn build(
        &self,
        connection: &ConnectionRow,
        config: &WebhookConfig,
        template: Option<&Result<Template, String>>,
        event: &Event<'_>,
        data_json: &str,
    ) -> Result<(Payload, Option<String>), Outcome> {
        if let Some(compiled) = template {
            let template = compiled
                .as_ref()
                .map_err(|e| Outcome::permanent(None, e.clone()))?;
            let invoice: Value = serde_json::from_str(data_json).map_err(|e| {
                Outcome::permanent(None, format!("the invoice is not valid JSON: {e}"))
            })?;
            let rendered = template
                .render(&invoice, &event.metadata())
                .map_err(|e| Outcome::permanent(None, e.to_string()))?;
            return Ok((
                Payload {
                    content_type: "application/json".into(),
                    body: serde_json::to_vec(&rendered).expect("a JSON value always serializes"),
                    headers: Vec::new(),
                },
                None,
            ));
        }
        if let Some(transform_id) = &config.transform_id {
            let ctx = GuestContext {
                event_type: event.event_type.to_string(),
                event_id: event.id.to_string(),
                tenant_id: connection.tenant_id.clone(),
                connection_id: connection.id.clone(),
                config: config
                    .transform_config
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            };
            let run = self
                .transforms
                .webhook(&connection.tenant_id, transform_id, &ctx, data_json)
                .await;
            let logs = run.logs_text();
            return match run.result {
                Ok(out) => Ok((
                    Payload {
                        content_type: out.content_type,
                        body: out.body,
                        headers: out.headers,
                    },
                    logs,
                )),
                Err(f) if f.is_retryable() => {
                    Err(Outcome::retryable(None, f.to_string(), None).with_guest_logs(logs))
                }
                Err(f) => Err(Outcome::permanent(None, f.to_string()).with_guest_logs(logs)),
            };
        }
        Ok((envelope(event, data_json), None))
    }
}
