//! The console's only way to the data: the public `/v1` API, called in-process.
//!
//! The console holds a clone of the API's [`Router`] and sends it ordinary HTTP
//! requests with `Authorization: Bearer <the operator's key>` (tower's `oneshot`, no
//! socket). So every page goes through the same handlers, authentication, validation and
//! error messages as any API client; the console cannot do anything the API refuses.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

/// Largest API answer the console reads (sync-log pages, dry-run outputs).
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// Why an API call did not give the console what it asked for.
#[derive(Debug, thiserror::Error)]
pub enum ApiFailure {
    /// The API answered with an error: its own status and words.
    #[error("{message}")]
    Refused {
        status: StatusCode,
        code: String,
        message: String,
        details: Vec<Value>,
    },
    /// The answer could not be read (should not happen with the in-process API).
    #[error("the API answer could not be read: {0}")]
    Unreadable(String),
}

impl ApiFailure {
    /// The HTTP status to show the operator.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiFailure::Refused { status, .. } => *status,
            ApiFailure::Unreadable(_) => StatusCode::BAD_GATEWAY,
        }
    }

    /// The error's details, one line each (e.g. every offending field).
    pub fn detail_lines(&self) -> Vec<String> {
        match self {
            ApiFailure::Refused { details, .. } => details
                .iter()
                .map(|d| match (d["field"].as_str(), d["message"].as_str()) {
                    (Some(f), Some(m)) => format!("{f}: {m}"),
                    _ => d.to_string(),
                })
                .collect(),
            ApiFailure::Unreadable(_) => Vec::new(),
        }
    }
}

/// A request body for the API.
pub enum Payload {
    None,
    Json(Value),
    Bytes(&'static str, Vec<u8>),
}

/// The in-process API.
#[derive(Clone)]
pub struct ApiClient {
    router: Router,
}

impl ApiClient {
    /// A client of `router`, the whole `/v1` API with its state.
    pub fn new(router: Router) -> Self {
        ApiClient { router }
    }

    /// Sends one request as the tenant of `key`; a 2xx answers its JSON body
    /// (`Value::Null` when empty), anything else the API's error.
    pub async fn send(
        &self,
        key: &str,
        method: Method,
        uri: &str,
        payload: Payload,
    ) -> Result<Value, ApiFailure> {
        let builder = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {key}"));
        let request = match payload {
            Payload::None => builder.body(Body::empty()),
            Payload::Json(v) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(v.to_string())),
            Payload::Bytes(content_type, bytes) => builder
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(bytes)),
        }
        .map_err(|e| ApiFailure::Unreadable(e.to_string()))?;
        let response = match self.router.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|e| ApiFailure::Unreadable(e.to_string()))?;
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| ApiFailure::Unreadable(e.to_string()))?
        };
        if status.is_success() {
            return Ok(body);
        }
        let error = &body["error"];
        Err(ApiFailure::Refused {
            status,
            code: error["code"].as_str().unwrap_or("error").to_string(),
            message: error["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("the API answered {status}")),
            details: error["details"].as_array().cloned().unwrap_or_default(),
        })
    }

    /// `GET uri`.
    pub async fn get(&self, key: &str, uri: &str) -> Result<Value, ApiFailure> {
        self.send(key, Method::GET, uri, Payload::None).await
    }
}

/// An API path built from segments, each percent-encoded (ids come from outside).
pub fn path(segments: &[&str]) -> String {
    let mut url = match url::Url::parse("http://api.invalid/") {
        Ok(u) => u,
        Err(_) => return "/".into(),
    };
    if let Ok(mut s) = url.path_segments_mut() {
        s.clear().extend(segments);
    }
    url.path().to_string()
}

/// A query string from pairs, skipping blank values; starts with `?` when not empty.
pub fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (name, value) in pairs {
        if !value.trim().is_empty() {
            serializer.append_pair(name, value);
            any = true;
        }
    }
    if any {
        format!("?{}", serializer.finish())
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn segments_are_encoded() {
        assert_eq!(
            super::path(&["v1", "invoices", "a/b c?"]),
            "/v1/invoices/a%2Fb%20c%3F"
        );
        assert_eq!(
            super::query([("a", "1"), ("b", ""), ("c", "x&y")]),
            "?a=1&c=x%26y"
        );
    }
}
