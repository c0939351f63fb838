//! The one place a webhook body is built.
//!
//! Today every body is the contract's default envelope; JSONPath templates and Wasm
//! transforms plug in here, so the signature always covers exactly the bytes sent.

use serde_json::json;

/// A body ready to sign and send.
pub struct Payload {
    pub content_type: String,
    pub body: Vec<u8>,
}

/// The default envelope: `{"id", "type", "created_at", "data"}`.
pub fn envelope(
    event_id: &str,
    event_type: &str,
    created_ms: i64,
    data: serde_json::Value,
) -> Payload {
    let body = json!({
        "id": event_id,
        "type": event_type,
        "created_at": crate::store::format_ms(created_ms),
        "data": data,
    });
    Payload {
        content_type: "application/json".into(),
        body: serde_json::to_vec(&body).expect("a JSON value always serializes"),
    }
}
