//! Talking to the QuickBooks Online API: one request, its limits, and its errors.
//!
//! QuickBooks answers failures in several shapes (see `docs/erp-apis.md`, QuickBooks):
//! a capital-F `Fault` for validation errors, a lowercase `fault` from the gateway on
//! 401/403, an XML or JSON throttle fault on 429 with no `Retry-After`, and an HTML page
//! on 503. [`QboError::from_response`] turns all of them into one typed error.

use std::time::Duration;

use serde_json::Value;

/// The minor version every request asks for (versions below 75 are no longer served).
pub const MINOR_VERSION: &str = "75";

/// QuickBooks asks for a minute's pause after a 429.
pub const THROTTLE_PAUSE: Duration = Duration::from_secs(60);

/// What to do about a failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QboErrorKind {
    /// Try again later (outage, 5xx, network); `Some` is the least wait.
    Retryable(Option<Duration>),
    /// 429 (or fault 3001): the company's limit was reached; wait this long and send the
    /// same request again.
    Throttled(Duration),
    /// The request was sent but no answer came back: it may or may not have happened.
    Uncertain,
    /// No retry can fix it (validation, bad mapping, forbidden).
    Permanent,
    /// 5010: the SyncToken is stale; re-read and re-apply.
    Stale,
    /// 6240: a customer with this DisplayName exists already.
    DuplicateName,
    /// 610: the object does not exist (any more).
    NotFound,
    /// 401: the access token was refused.
    Unauthorized,
}

/// A failed QuickBooks call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QboError {
    pub kind: QboErrorKind,
    pub status: Option<u16>,
    pub message: String,
}

impl QboError {
    /// A failure that happened before or instead of an HTTP answer.
    pub fn network(e: &reqwest::Error) -> Self {
        let kind = if e.is_timeout() {
            QboErrorKind::Uncertain
        } else {
            QboErrorKind::Retryable(None)
        };
        QboError {
            kind,
            status: None,
            message: format!("QuickBooks did not answer: {e}"),
        }
    }

    /// Reads a non-2xx answer.
    pub fn from_response(status: u16, content_type: &str, body: &str) -> Self {
        let json: Option<Value> = serde_json::from_str(body).ok();
        let (code, detail) = json.as_ref().map(fault_text).unwrap_or_default();
        let kind = match (status, code.as_str()) {
            (401, _) => QboErrorKind::Unauthorized,
            (429, _) | (_, "3001") => QboErrorKind::Throttled(THROTTLE_PAUSE),
            (400, "5010") => QboErrorKind::Stale,
            (400, "6240") => QboErrorKind::DuplicateName,
            (400, "610") => QboErrorKind::NotFound,
            (s, _) if s >= 500 => QboErrorKind::Retryable(None),
            _ => QboErrorKind::Permanent,
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
        QboError {
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
            QboError::from_response(400, "application/json", stale).kind,
            QboErrorKind::Stale
        );
        let gateway = r#"{"fault":{"error":[{"message":"message=AuthenticationFailed; errorCode=003200; statusCode=401","detail":"Token expired","code":"3200"}],"type":"AUTHENTICATION"}}"#;
        assert_eq!(
            QboError::from_response(401, "application/json", gateway).kind,
            QboErrorKind::Unauthorized
        );
        let throttle = r#"{"Fault":{"Error":[{"Message":"message=ThrottleExceeded; errorCode=003001; statusCode=429","Detail":"The request limit was reached.","code":"3001"}],"type":"SERVICE"}}"#;
        assert_eq!(
            QboError::from_response(429, "application/json", throttle).kind,
            QboErrorKind::Throttled(THROTTLE_PAUSE)
        );
        let html = "<html><title>503 Service Temporarily Unavailable</title></html>";
        let e = QboError::from_response(503, "text/html", html);
        assert_eq!(e.kind, QboErrorKind::Retryable(None));
        assert!(e.message.contains("HTML"));
        let invalid = r#"{"Fault":{"Error":[{"Message":"Invalid Reference Id","Detail":"Invalid Reference Id : Item assigned to this transaction has been deleted","code":"2500","element":"Line.SalesItemLineDetail.ItemRef"}],"type":"ValidationFault"}}"#;
        let e = QboError::from_response(400, "application/json", invalid);
        assert_eq!(e.kind, QboErrorKind::Permanent);
        assert!(
            e.message.contains("2500") && e.message.contains("ItemRef"),
            "{}",
            e.message
        );
    }
}
