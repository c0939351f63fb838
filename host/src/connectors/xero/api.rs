//! Talking to the Xero API: errors and rate-limit headers.
//!
//! Xero answers a 401 or 403 with a problem document whose casing varies by era, a 404
//! with plain text, a 400 `ValidationException` listing element errors, element errors
//! inside a 200 when `summarizeErrors=false`, and a 429 with `Retry-After` and
//! `X-Rate-Limit-Problem` (see `docs/erp-apis.md`, Xero).

use std::time::Duration;

use serde_json::Value;

use crate::connectors::oauth_client::{CallError, CallErrorKind};

impl CallError {
    /// Reads a non-2xx Xero answer; `retry_after` and `problem` come from the headers.
    pub fn from_xero(
        status: u16,
        body: &str,
        retry_after: Option<Duration>,
        problem: Option<&str>,
    ) -> Self {
        let json: Option<Value> = serde_json::from_str(body).ok();
        let (kind, message) = match status {
            401 => (
                CallErrorKind::Unauthorized,
                format!(
                    "Xero refused the access token: {}",
                    problem_detail(&json, body)
                ),
            ),
            403 => (
                CallErrorKind::Permanent,
                format!(
                    "Xero refused access to this organisation ({}): it may have been disconnected from the app, or a scope is missing; re-authorize",
                    problem_detail(&json, body)
                ),
            ),
            404 => (CallErrorKind::NotFound, format!("Xero: {}", body.trim())),
            429 => {
                let wait = retry_after.unwrap_or(Duration::from_secs(60));
                let problem = problem.unwrap_or("unknown");
                (
                    CallErrorKind::Throttled(wait),
                    format!(
                        "Xero's {problem} rate limit was reached; retrying after {} s",
                        wait.as_secs()
                    ),
                )
            }
            400 => (
                CallErrorKind::Permanent,
                format!(
                    "Xero validation error: {}",
                    validation_messages(&json, body)
                ),
            ),
            s if s >= 500 => (
                CallErrorKind::Retryable(None),
                format!(
                    "Xero answered HTTP {s}: {}",
                    body.chars().take(200).collect::<String>()
                ),
            ),
            s => (
                CallErrorKind::Permanent,
                format!(
                    "Xero answered HTTP {s}: {}",
                    body.chars().take(200).collect::<String>()
                ),
            ),
        };
        CallError {
            kind,
            status: Some(status),
            message,
        }
    }
}

fn problem_detail(json: &Option<Value>, body: &str) -> String {
    let Some(v) = json else {
        return body.chars().take(200).collect();
    };
    ["Detail", "detail", "Title", "title"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .unwrap_or_default()
        .to_string()
}

/// Every `ValidationErrors[].Message` of a `ValidationException`, or of one element.
pub fn validation_messages(json: &Option<Value>, body: &str) -> String {
    let Some(v) = json else {
        return body.chars().take(300).collect();
    };
    let mut messages: Vec<String> = Vec::new();
    let mut collect = |element: &Value| {
        if let Some(errors) = element.get("ValidationErrors").and_then(Value::as_array) {
            messages.extend(
                errors
                    .iter()
                    .filter_map(|e| e["Message"].as_str().map(str::to_string)),
            );
        }
    };
    collect(v);
    if let Some(elements) = v.get("Elements").and_then(Value::as_array) {
        elements.iter().for_each(&mut collect);
    }
    if messages.is_empty() {
        v.get("Message")
            .and_then(Value::as_str)
            .unwrap_or("(no message)")
            .to_string()
    } else {
        messages.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_xero_error_shapes() {
        let v = r#"{"ErrorNumber":10,"Type":"ValidationException","Message":"A validation exception occurred",
            "Elements":[{"ValidationErrors":[{"Message":"Invoice # must be unique."}]}]}"#;
        let e = CallError::from_xero(400, v, None, None);
        assert_eq!(e.kind, CallErrorKind::Permanent);
        assert!(e.message.contains("Invoice # must be unique."));
        let e = CallError::from_xero(429, "", Some(Duration::from_secs(7)), Some("minute"));
        assert_eq!(e.kind, CallErrorKind::Throttled(Duration::from_secs(7)));
        assert!(e.message.contains("minute"));
        let e = CallError::from_xero(
            401,
            r#"{"Title":"Unauthorized","Status":401,"Detail":"TokenExpired: token expired"}"#,
            None,
            None,
        );
        assert_eq!(e.kind, CallErrorKind::Unauthorized);
        let e = CallError::from_xero(
            404,
            "The resource you're looking for cannot be found",
            None,
            None,
        );
        assert_eq!(e.kind, CallErrorKind::NotFound);
    }
}
