//! Talking to the QuickBooks Online API: one request, its limits, and its errors.
//!
//! QuickBooks answers failures in several shapes (see `docs/erp-apis.md`, QuickBooks):
//! a capital-F `Fault` for validation errors, a lowercase `fault` from the gateway on
//! 401/403, an XML or JSON throttle fault on 429 with no `Retry-After`, and an HTML page
//! on 503. [`CallError::from_quickbooks`] turns all of them into one typed error.

use std::time::Duration;

use serde_json::Value;

use crate::connectors::oauth_client::{CallError, CallErrorKind};

/// The minor version every request asks for (versions below 75 are no longer served).
pub const MINOR_VERSION: &str = "75";

/// QuickBooks asks for a minute's pause after a 429.
pub const THROTTLE_PAUSE: Duration = Duration::from_secs(60);

impl CallError {
    /// Reads a non-2xx QuickBooks answer.
    pub fn from_quickbooks(status: u16, content_type: &str, body: &str) -> Self {
        let json: Option<Value> = serde_json::from_str(body).ok();
        let (code, detail) = json.as_ref().map(fault_text).unwrap_or_default();
        let kind = match (status, code.as_str()) {
            (401, _) => CallErrorKind::Unauthorized,
            (429, _) | (_, "3001") => CallErrorKind::Throttled(THROTTLE_PAUSE),
            (400, "5010") => CallErrorKind::Stale,
            (400, "6240") => CallErrorKind::DuplicateName,
            (400, "610") => CallErrorKind::NotFound,
            (s, _) if s >= 500 => CallErrorKind::Retryable(None),
            _ => CallErrorKind::Permanent,
        };
        let message = if json.is_none() && content_type.contains("html") {
            format!(
                "QuickBooks answered HTTP {status} with an HTML page (an outage page); will retry"
            )
        } else if code.is_empty() {
            format!(
                "QuickBooks answered HTTP {status}: {}",
                body.chars().take(300).collect::<String>()
            )
        } else {
            format!("QuickBooks error {code} (HTTP {status}): {detail}")
        };
        CallError {
            kind,
            status: Some(status),
            message,
        }
    }
}

/// The code and text of a `Fault` (or gateway `fault`) envelope.
fn fault_text(body: &Value) -> (String, String) {
    let fault = body.get("Fault").or_else(|| body.get("fault"));
    let first = fault
        .and_then(|f| f.get("Error").or_else(|| f.get("error")))
        .and_then(|e| e.get(0));
    let Some(first) = first else {
        return (String::new(), String::new());
    };
    let text = |k: &str, alt: &str| {
        first
            .get(k)
            .or_else(|| first.get(alt))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let code = text("code", "Code");
    let message = text("Message", "message");
    let detail = text("Detail", "detail");
    let element = text("element", "Element");
    let mut out = message;
    if !detail.is_empty() && detail != out {
        out.push_str(": ");
        out.push_str(&detail);
    }
    if !element.is_empty() {
        out.push_str(&format!(" (element {element})"));
    }
    (code, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_fault_shape() {
        let stale = r#"{"Fault":{"Error":[{"Message":"Stale Object Error","Detail":"Stale Object Error : You and Craig were working on this at the same time.","code":"5010","element":""}],"type":"ValidationFault"},"time":"x"}"#;
        assert_eq!(
            CallError::from_quickbooks(400, "application/json", stale).kind,
            CallErrorKind::Stale
        );
        let gateway = r#"{"fault":{"error":[{"message":"message=AuthenticationFailed; errorCode=003200; statusCode=401","detail":"Token expired","code":"3200"}],"type":"AUTHENTICATION"}}"#;
        assert_eq!(
            CallError::from_quickbooks(401, "application/json", gateway).kind,
            CallErrorKind::Unauthorized
        );
        let throttle = r#"{"Fault":{"Error":[{"Message":"message=ThrottleExceeded; errorCode=003001; statusCode=429","Detail":"The request limit was reached.","code":"3001"}],"type":"SERVICE"}}"#;
        assert_eq!(
            CallError::from_quickbooks(429, "application/json", throttle).kind,
            CallErrorKind::Throttled(THROTTLE_PAUSE)
        );
        let html = "<html><title>503 Service Temporarily Unavailable</title></html>";
        let e = CallError::from_quickbooks(503, "text/html", html);
        assert_eq!(e.kind, CallErrorKind::Retryable(None));
        assert!(e.message.contains("HTML"));
        let invalid = r#"{"Fault":{"Error":[{"Message":"Invalid Reference Id","Detail":"Invalid Reference Id : Item assigned to this transaction has been deleted","code":"2500","element":"Line.SalesItemLineDetail.ItemRef"}],"type":"ValidationFault"}}"#;
        let e = CallError::from_quickbooks(400, "application/json", invalid);
        assert_eq!(e.kind, CallErrorKind::Permanent);
        assert!(
            e.message.contains("2500") && e.message.contains("ItemRef"),
            "{}",
            e.message
        );
    }
}
