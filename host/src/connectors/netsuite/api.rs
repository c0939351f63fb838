//! NetSuite's answers: the REST error envelope and what each failure means for a retry.
//!
//! REST web services answer errors as
//! `{"type", "title", "status", "o:errorDetails": [{"detail", "o:errorCode", "o:errorPath"?, ...}]}`
//! (`docs/erp-apis.md` §3.6). The `type` URI changed over the years and is never
//! looked at; the codes and paths go into the sync log word for word.
//!
//! What a failure means:
//! - 401 (`INVALID_LOGIN`: bad signature, credentials, realm, clock or nonce) — the
//!   connector tries once more with a fresh nonce and timestamp, then fails for good
//!   asking to check the token;
//! - 429, or a concurrency code (`SSS_REQUEST_LIMIT_EXCEEDED`, `CONCURRENCY_LIMIT_EXCEEDED`,
//!   `WS_REQUEST_BLOCKED`, ...) under any status — retried with backoff;
//! - 5xx and network failures — retried: every write is an upsert by external id (or
//!   checked by external id first), so sending it again cannot duplicate anything;
//! - 404 — not found, which callers decide about;
//! - any other 4xx (400 `USER_ERROR`, `INVALID_KEY_OR_REF`, 403) — permanent.

use std::time::Duration;

use serde_json::Value;

/// Error codes that mean "too many requests at once", whatever the HTTP status.
const CONCURRENCY_CODES: &[&str] = &[
    "SSS_REQUEST_LIMIT_EXCEEDED",
    "CONCURRENCY_LIMIT_EXCEEDED",
    "WS_REQUEST_BLOCKED",
    "WS_CONCUR_SESSION_DISALLWD",
    "EXCEEDED_CONCURRENT_REQUEST_LIMIT",
    "EXCEEDED_REQUEST_LIMIT",
];

/// Codes worth another try under a 4xx: the record changed under us.
const TRANSIENT_CODES: &[&str] = &["RCRD_HAS_BEEN_CHANGED"];

/// What to do about a failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NsErrorKind {
    /// Try again later; `Some` is the server's `Retry-After`.
    Retryable(Option<Duration>),
    /// The login was refused (401).
    Unauthorized,
    /// The record does not exist (404).
    NotFound,
    /// No retry can fix it.
    Permanent,
    /// Nothing was sent: the account's limits held the call back longer than an attempt
    /// may wait, or the connection was stopped. Runs again after this long, not counted.
    Deferred(Duration),
}

/// One entry of `o:errorDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorDetail {
    pub code: String,
    pub detail: String,
    pub path: Option<String>,
}

/// A failed NetSuite call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NsError {
    pub kind: NsErrorKind,
    pub status: Option<u16>,
    pub details: Vec<ErrorDetail>,
    pub message: String,
}

impl NsError {
    /// A failure before or instead of an HTTP answer (connection refused, timeout).
    pub fn network(e: &reqwest::Error) -> Self {
        let what = if e.is_timeout() {
            "timed out"
        } else {
            "could not be reached"
        };
        NsError {
            kind: NsErrorKind::Retryable(None),
            status: None,
            details: Vec::new(),
            message: format!("NetSuite {what}: {e}; will retry"),
        }
    }

    /// Whether the account refused the request as one too many at once: a 429, or a
    /// concurrency code under any status.
    pub fn is_over_concurrency(&self) -> bool {
        self.status == Some(429)
            || self
                .details
                .iter()
                .any(|d| CONCURRENCY_CODES.contains(&d.code.as_str()))
    }

    /// Whether NetSuite named this error code.
    pub fn has_code(&self, code: &str) -> bool {
        self.details.iter().any(|d| d.code == code)
    }

    /// Reads a non-2xx answer.
    pub fn from_response(status: u16, retry_after: Option<Duration>, body: &str) -> Self {
        let json: Option<Value> = serde_json::from_str(body).ok();
        let details = json.as_ref().map(error_details).unwrap_or_default();
        let title = json
            .as_ref()
            .and_then(|j| j.get("title"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let code_in = |set: &[&str]| details.iter().any(|d| set.contains(&d.code.as_str()));
        let invalid_login = details.iter().any(|d| d.code.starts_with("INVALID_LOGIN"));
        let kind = if status == 401 || (status >= 500 && invalid_login) {
            NsErrorKind::Unauthorized
        } else if status == 429
            || status == 408
            || status >= 500
            || code_in(CONCURRENCY_CODES)
            || code_in(TRANSIENT_CODES)
        {
            NsErrorKind::Retryable(retry_after)
        } else if status == 404 {
            NsErrorKind::NotFound
        } else {
            NsErrorKind::Permanent
        };
        let what = if details.is_empty() {
            let text: String = body.chars().take(300).collect();
            if text.trim().is_empty() {
                title.to_string()
            } else {
                text
            }
        } else {
            details
                .iter()
                .map(|d| {
                    let mut s = d.code.clone();
                    if let Some(path) = &d.path {
                        s.push_str(&format!(" at {path}"));
                    }
                    if !d.detail.is_empty() {
                        s.push_str(&format!(": {}", d.detail));
                    }
                    s
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let message = match &kind {
            NsErrorKind::Unauthorized => format!(
                "NetSuite refused the login (HTTP {status} {what}). Check the connection's account id and \
                 token: the consumer key and secret must be the integration record's, the token id and \
                 secret an active access token's, and its role needs the REST Web Services and Log in \
                 using Access Tokens permissions (NetSuite's Login Audit Trail shows the reason)"
            ),
            NsErrorKind::Retryable(_) if status == 429 || code_in(CONCURRENCY_CODES) => format!(
                "NetSuite's request limit for the account was reached (HTTP {status} {what}); will retry"
            ),
            NsErrorKind::Retryable(_) => {
                format!("NetSuite answered HTTP {status} ({what}); will retry")
            }
            _ => format!("NetSuite answered HTTP {status}: {what}"),
        };
        NsError {
            kind,
            status: Some(status),
            details,
            message,
        }
    }
}

/// The entries of `o:errorDetails`, keys read case-insensitively and with or without the
/// `o:` prefix.
fn error_details(body: &Value) -> Vec<ErrorDetail> {
    let field = |v: &Value, name: &str| -> Option<String> {
        v.as_object()?.iter().find_map(|(k, v)| {
            let k = k.strip_prefix("o:").unwrap_or(k);
            k.eq_ignore_ascii_case(name)
                .then(|| v.as_str().map(str::to_string))
                .flatten()
        })
    };
    let list = body.as_object().and_then(|o| {
        o.iter()
            .find(|(k, _)| {
                k.strip_prefix("o:")
                    .unwrap_or(k)
                    .eq_ignore_ascii_case("errorDetails")
            })
            .and_then(|(_, v)| v.as_array())
    });
    list.map(|items| {
        items
            .iter()
            .map(|d| ErrorDetail {
                code: field(d, "errorCode").unwrap_or_else(|| "UNKNOWN".into()),
                detail: field(d, "detail").unwrap_or_default(),
                path: field(d, "errorPath")
                    .or_else(|| field(d, "errorQueryParam"))
                    .or_else(|| field(d, "errorHeader")),
            })
            .collect()
    })
    .unwrap_or_default()
}

/// The internal id at the end of a `Location` header
/// (`https://…/record/v1/invoice/4711` → `4711`).
pub fn id_from_location(location: &str) -> Option<String> {
    let path = location.split(['?', '#']).next()?;
    let id = path.trim_end_matches('/').rsplit('/').next()?;
    (!id.is_empty() && !id.contains(':')).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_error_envelope() {
        let body = r#"{"type":"https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1","title":"Bad Request","status":400,
            "o:errorDetails":[{"detail":"Error while accessing a resource. Please enter value(s) for: Company Name.","o:errorCode":"USER_ERROR","o:errorPath":"companyName"}]}"#;
        let e = NsError::from_response(400, None, body);
        assert_eq!(e.kind, NsErrorKind::Permanent);
        assert!(e.has_code("USER_ERROR"));
        assert_eq!(
            e.message,
            "NetSuite answered HTTP 400: USER_ERROR at companyName: Error while accessing a resource. Please enter value(s) for: Company Name."
        );
    }

    #[test]
    fn logins_limits_outages_and_missing_records() {
        let login = r#"{"type":"x","title":"Unauthorized","status":401,"o:errorDetails":[{"detail":"Invalid login attempt.","o:errorCode":"INVALID_LOGIN"}]}"#;
        let e = NsError::from_response(401, None, login);
        assert_eq!(e.kind, NsErrorKind::Unauthorized);
        assert!(e.message.contains("INVALID_LOGIN") && e.message.contains("token"));

        let limit = r#"{"title":"Too Many Requests","status":429,"o:errorDetails":[{"detail":"Concurrent request limit exceeded.","o:errorCode":"CONCURRENCY_LIMIT_EXCEEDED"}]}"#;
        let e = NsError::from_response(429, Some(Duration::from_secs(2)), limit);
        assert_eq!(e.kind, NsErrorKind::Retryable(Some(Duration::from_secs(2))));
        assert!(e.message.contains("CONCURRENCY_LIMIT_EXCEEDED"));

        // RESTlets answer the limit as a 400.
        let restlet =
            r#"{"o:errorDetails":[{"detail":"limit","o:errorCode":"SSS_REQUEST_LIMIT_EXCEEDED"}]}"#;
        assert_eq!(
            NsError::from_response(400, None, restlet).kind,
            NsErrorKind::Retryable(None)
        );

        let e = NsError::from_response(503, None, "<html>Service Unavailable</html>");
        assert_eq!(e.kind, NsErrorKind::Retryable(None));
        assert!(e.message.contains("503"), "{}", e.message);

        let gone = r#"{"title":"Not Found","status":404,"o:errorDetails":[{"detail":"The record instance does not exist.","o:errorCode":"NONEXISTENT_ID"}]}"#;
        assert_eq!(
            NsError::from_response(404, None, gone).kind,
            NsErrorKind::NotFound
        );
        assert_eq!(
            NsError::from_response(403, None, "{}").kind,
            NsErrorKind::Permanent
        );
    }

    #[test]
    fn ids_come_from_the_location_header() {
        assert_eq!(
            id_from_location(
                "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/invoice/4711"
            ),
            Some("4711".into())
        );
        assert_eq!(
            id_from_location("/services/rest/record/v1/customer/58/"),
            Some("58".into())
        );
        assert_eq!(id_from_location("/record/v1/invoice/eid:X"), None);
        assert_eq!(id_from_location(""), None);
    }
}
