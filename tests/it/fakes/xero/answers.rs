//! Xero's answers: the Accounting API envelope, the exception envelopes (`ValidationException`
//! and friends), the problem bodies of 401, 403, 429, 500 and 503, plain-text 404s, and the
//! `/Date(ms+0000)/` dates of its JSON.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::idempotency::MAX_IDEMPOTENCY_KEY_LEN;

/// `ProviderName` of every envelope: the app's name as registered with Xero.
const PROVIDER_NAME: &str = "erp-sync test app";

/// The body of every 404, as Xero sends it: plain text, not JSON.
pub(super) const NOT_FOUND_TEXT: &str = "The resource you're looking for cannot be found";

/// A complete answer; kept verbatim for `Idempotency-Key` replay.
#[derive(Clone, Debug)]
pub struct Answer {
    status: StatusCode,
    /// Empty for no `Content-Type` (204).
    content_type: &'static str,
    body: String,
    /// Extra headers (lowercase names).
    pub(super) headers: Vec<(&'static str, String)>,
}

impl Answer {
    pub(super) fn json(status: StatusCode, body: &Value) -> Self {
        Answer {
            status,
            content_type: "application/json; charset=utf-8",
            body: body.to_string(),
            headers: Vec::new(),
        }
    }

    pub(super) fn empty(status: StatusCode) -> Self {
        Answer {
            status,
            content_type: "",
            body: String::new(),
            headers: Vec::new(),
        }
    }

    fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        let headers = response.headers_mut();
        headers.remove(header::CONTENT_TYPE);
        if !self.content_type.is_empty() {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.content_type),
            );
        }
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        response
    }
}

/// `{"Id","Status":"OK","ProviderName","DateTimeUTC","<kind>":[...]}`, every 200 of the
/// Accounting API.
pub(super) fn envelope(kind: &str, items: Vec<Value>) -> Answer {
    envelope_with(kind, items, None)
}

pub(super) fn envelope_with(kind: &str, items: Vec<Value>, pagination: Option<Value>) -> Answer {
    let mut body = json!({
        "Id": Uuid::new_v4().to_string(), "Status": "OK", "ProviderName": PROVIDER_NAME,
        "DateTimeUTC": format!("/Date({})/", Utc::now().timestamp_millis()),
    });
    if let Some(pagination) = pagination {
        body["pagination"] = pagination;
    }
    body[kind] = Value::Array(items);
    Answer::json(StatusCode::OK, &body)
}

/// The `{"ErrorNumber","Type","Message"}` envelope of API exceptions.
fn api_exception(status: StatusCode, number: u32, kind: &str, message: &str) -> Answer {
    let body = json!({ "ErrorNumber": number, "Type": kind, "Message": message });
    Answer::json(status, &body)
}

/// 400 ValidationException: the whole request rejected, failing elements listed.
pub(super) fn validation_exception(elements: Vec<Value>) -> Answer {
    let body = json!({
        "ErrorNumber": 10, "Type": "ValidationException",
        "Message": "A validation exception occurred", "Elements": elements,
    });
    Answer::json(StatusCode::BAD_REQUEST, &body)
}

/// 400 PostDataInvalidException (ErrorNumber 14): the body could not be deserialized.
pub(super) fn post_data_invalid(detail: &str) -> Answer {
    let message = format!("JSON for post data was invalid,{detail}");
    api_exception(
        StatusCode::BAD_REQUEST,
        14,
        "PostDataInvalidException",
        &message,
    )
}

/// [I] number: the body held no element of the kind the endpoint expects.
pub(super) fn no_data(kind: &str) -> Answer {
    let message = format!(
        "No data has been processed for this endpoint. This endpoint is expecting {kind} data to be specifed in the request body."
    );
    api_exception(
        StatusCode::BAD_REQUEST,
        20,
        "NoDataProcessedException",
        &message,
    )
}

/// 400 QueryParseException (ErrorNumber 16) for a bad `where`.
pub(super) fn query_parse(message: &str) -> Answer {
    api_exception(StatusCode::BAD_REQUEST, 16, "QueryParseException", message)
}

/// 400 HighVolumeException: an inefficient query of a high-volume organisation. Message as
/// quoted in xero-python#148 (Contacts) and pyxero#373 (Invoices); ErrorNumber 51 as
/// reported in Xero-NetStandard#604.
pub(super) fn high_volume(plural: &str, singular: &str) -> Answer {
    let message = format!(
        "Your request is not filtering {plural} efficiently, given the extremely high volume for this organisation. Please check https://developer.xero.com/documentation/api/efficient-data-retrieval for tips on making {singular} retrieval more efficient."
    );
    api_exception(StatusCode::BAD_REQUEST, 51, "HighVolumeException", &message)
}

/// [I] shape: the same key with another request (Xero: "... is used with a different request").
pub(super) fn idempotency_conflict(key: &str) -> Answer {
    let message = format!("Idempotency Key: {key} is used with a different request.");
    api_exception(StatusCode::BAD_REQUEST, 10, "ValidationException", &message)
}

/// [I] shape: an over-long `Idempotency-Key`.
pub(super) fn idempotency_key_too_long() -> Answer {
    let message = format!("Idempotency-Key must be {MAX_IDEMPOTENCY_KEY_LEN} characters or less.");
    api_exception(StatusCode::BAD_REQUEST, 10, "ValidationException", &message)
}

/// 404: plain text, as Xero answers unknown resources and ids.
pub(super) fn not_found() -> Answer {
    Answer {
        status: StatusCode::NOT_FOUND,
        content_type: "text/plain; charset=utf-8",
        body: NOT_FOUND_TEXT.to_string(),
        headers: Vec::new(),
    }
}

/// An RFC 7807-style problem in the capitalised form (with `Type: null`, `Extensions`).
pub(super) fn problem(status: StatusCode, title: &str, detail: &str) -> Answer {
    let body = json!({
        "Type": null, "Title": title, "Status": status.as_u16(), "Detail": detail,
        "Instance": Uuid::new_v4().to_string(), "Extensions": {},
    });
    Answer::json(status, &body)
}

/// 401 for a missing, malformed or unknown token: the older lowercase problem form. [I]
/// which era answers which case; a connector must read both case-insensitively.
pub(super) fn unauthenticated() -> Answer {
    let body = json!({
        "title": "Unauthorized", "status": 401, "detail": "AuthenticationUnsuccessful",
        "instance": Uuid::new_v4().to_string(),
    });
    Answer::json(StatusCode::UNAUTHORIZED, &body)
        .with_header("www-authenticate", "Bearer error=invalid_token")
}

/// 401 for an expired token: `Detail: "TokenExpired: token expired at MM/dd/yyyy HH:mm:ss"`.
pub(super) fn token_expired(at: DateTime<Utc>) -> Answer {
    let detail = format!(
        "TokenExpired: token expired at {}",
        at.format("%m/%d/%Y %H:%M:%S")
    );
    problem(StatusCode::UNAUTHORIZED, "Unauthorized", &detail)
        .with_header("www-authenticate", "Bearer error=invalid_token")
}

/// 403: missing or foreign `xero-tenant-id`, disconnected organisation, or missing scope.
pub(super) fn forbidden() -> Answer {
    problem(
        StatusCode::FORBIDDEN,
        "Forbidden",
        "AuthenticationUnsuccessful",
    )
}

/// 500 as Xero's API gateway answers it.
pub(super) fn internal_error() -> Answer {
    let body = json!({
        "Title": "An error occurred",
        "Detail": "An error occurred in Xero. Check the API Status page http://status.developer.xero.com for current service status.",
        "Status": 500, "Instance": Uuid::new_v4().to_string(),
    });
    Answer::json(StatusCode::INTERNAL_SERVER_ERROR, &body)
}

/// [I] body of a 503 (organisation offline / maintenance).
pub(super) fn unavailable() -> Answer {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable",
        "The Xero API is temporarily unavailable. Please try again later.",
    )
}

/// 429 with the headers that matter; [I] body (Xero's is "not meaningful").
pub(super) fn rate_limited(problem_name: &str, retry_after: u64) -> Answer {
    problem(
        StatusCode::TOO_MANY_REQUESTS,
        "Too Many Requests",
        "Rate limit exceeded",
    )
    .with_header("retry-after", retry_after.to_string())
    .with_header("x-rate-limit-problem", problem_name.to_string())
}

/// [I] Without `Accept: application/json` Xero answers XML. The fake refuses instead, in
/// XML, so a connector relying on the default format fails loudly.
pub(super) fn xml_only() -> Answer {
    Answer {
        status: StatusCode::NOT_ACCEPTABLE,
        content_type: "text/xml; charset=utf-8",
        body: "<ApiException><Type>NotAcceptable</Type><Message>Accept: application/json is required by this fake; without it Xero answers in XML.</Message></ApiException>".to_string(),
        headers: Vec::new(),
    }
}

pub(super) fn oauth_error(status: StatusCode, error: &str) -> Answer {
    Answer::json(status, &json!({ "error": error }))
}

pub(super) fn invalid_grant() -> Answer {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant")
}

/// A date as Xero writes it: `/Date(<ms of midnight UTC>+0000)/`.
pub(super) fn xero_date(d: NaiveDate) -> String {
    let ms = d
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_millis();
    format!("/Date({ms}+0000)/")
}

/// A date's `...String` twin: `2019-03-11T00:00:00`.
pub(super) fn date_string(d: NaiveDate) -> String {
    format!("{}T00:00:00", d.format("%Y-%m-%d"))
}

/// Sets `UpdatedDateUTC` (and its ISO twin) to `now`.
pub(super) fn set_updated(entity: &mut Value, now: DateTime<Utc>) {
    entity["UpdatedDateUTC"] = json!(format!("/Date({}+0000)/", now.timestamp_millis()));
    entity["UpdatedDateUTCString"] = json!(now.format("%Y-%m-%dT%H:%M:%SZ").to_string());
}

/// Any other path: 404 in plain text.
pub(super) async fn unknown_path() -> Answer {
    not_found()
}
