//! NetSuite's REST answers: records and collections as
//! `application/vnd.oracle.resource+json`, and the error envelope `{"type","title","status",
//! "o:errorDetails":[{"detail","o:errorCode","o:errorPath"?}]}`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Debug)]
pub(super) struct Answer {
    pub(super) status: StatusCode,
    location: Option<String>,
    body: Option<Value>,
}

impl Answer {
    pub(super) fn json(status: StatusCode, body: Value) -> Self {
        Answer {
            status,
            location: None,
            body: Some(body),
        }
    }

    pub(super) fn no_content(location: Option<String>) -> Self {
        Answer {
            status: StatusCode::NO_CONTENT,
            location,
            body: None,
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = match &self.body {
            None => self.status.into_response(),
            Some(body) => {
                let kind = if self.status.is_success() {
                    if body.get("items").is_some() {
                        "collection"
                    } else {
                        "singular"
                    }
                } else {
                    "error"
                };
                let content_type = format!("application/vnd.oracle.resource+json; type={kind}");
                (
                    self.status,
                    [(header::CONTENT_TYPE, content_type)],
                    body.to_string(),
                )
                    .into_response()
            }
        };
        if let Some(location) = self.location {
            response.headers_mut().insert(
                header::LOCATION,
                location.parse().expect("an ASCII location"),
            );
        }
        response
    }
}

/// The REST error envelope with one detail.
pub(super) fn error(status: StatusCode, code: &str, detail: &str, path: Option<&str>) -> Answer {
    let section = match status.as_u16() {
        400 => "section-15.5.1",
        401 => "section-15.5.2",
        403 => "section-15.5.4",
        404 => "section-15.5.5",
        405 => "section-15.5.6",
        429 => "section-15.5.29",
        500 => "section-15.6.1",
        _ => "section-15.6.4",
    };
    let mut entry = json!({ "detail": detail, "o:errorCode": code });
    if let Some(path) = path {
        entry["o:errorPath"] = json!(path);
    }
    Answer::json(
        status,
        json!({
            "type": format!("https://www.rfc-editor.org/rfc/rfc9110.html#{section}"),
            "title": status.canonical_reason().unwrap_or_default(),
            "status": status.as_u16(),
            "o:errorDetails": [entry],
        }),
    )
}

/// `answer` with `field` (`o:errorQueryParam`, `o:errorHeader`) set on its error detail.
pub(super) fn with_detail(mut answer: Answer, field: &str, value: &str) -> Answer {
    if let Some(body) = answer.body.as_mut() {
        body["o:errorDetails"][0][field] = json!(value);
    }
    answer
}

pub(super) fn user_error(detail: &str, path: Option<&str>) -> Answer {
    let detail = format!("Error while accessing a resource. {detail}");
    error(StatusCode::BAD_REQUEST, "USER_ERROR", &detail, path)
}

pub(super) fn missing(label: &str, path: &str) -> Answer {
    user_error(&format!("Please enter value(s) for: {label}."), Some(path))
}

pub(super) fn invalid_reference(field: &str, id: &str, path: &str) -> Answer {
    let detail = format!("Invalid {field} reference key {id}.");
    error(
        StatusCode::BAD_REQUEST,
        "INVALID_KEY_OR_REF",
        &detail,
        Some(path),
    )
}

pub(super) fn invalid_login() -> Answer {
    error(
        StatusCode::UNAUTHORIZED,
        "INVALID_LOGIN",
        "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.",
        None,
    )
}

pub(super) fn not_found() -> Answer {
    error(
        StatusCode::NOT_FOUND,
        "NONEXISTENT_ID",
        "The record instance does not exist. Provide a valid record instance ID.",
        None,
    )
}

/// [I] The 429 REST answers beyond the concurrency limit; the detail text is not published.
pub(super) fn concurrency_exceeded() -> Answer {
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "CONCURRENCY_LIMIT_EXCEEDED",
        "Concurrent request limit exceeded. Request blocked.",
        None,
    )
}

pub(super) fn outage() -> Answer {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
        "The service is temporarily unavailable. Try again later.",
        None,
    )
}

pub(super) fn unexpected_error() -> Answer {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "UNEXPECTED_ERROR",
        "An unexpected error occurred. Error ID: kfake0001",
        None,
    )
}
