//! Content negotiation of `GET /v1/sync-log`: the `Accept` header picks the JSON page,
//! a CSV export or an NDJSON export.

use axum::http::header::ACCEPT;
use axum::http::{HeaderMap, StatusCode};
use serde_json::json;

use crate::api::error::ApiError;

/// What the sync log is answered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One page, `{entries, next_cursor}` (the default).
    Json,
    /// Every matching entry, one CSV record each after a header row.
    Csv,
    /// Every matching entry, one JSON object per line, answered as the media type asked
    /// for (`application/x-ndjson` or `application/ndjson`).
    Ndjson(&'static str),
}

/// The media types this endpoint answers, for the 406 message.
pub const SUPPORTED: [&str; 4] = [
    "application/json",
    "text/csv",
    "application/x-ndjson",
    "application/ndjson",
];

/// The format a media range asks for, if this endpoint has one.
fn format_of(range: &str) -> Option<Format> {
    match range {
        "application/json" | "application/*" | "*/*" => Some(Format::Json),
        "text/csv" | "text/*" => Some(Format::Csv),
        "application/x-ndjson" => Some(Format::Ndjson("application/x-ndjson")),
        "application/ndjson" => Some(Format::Ndjson("application/ndjson")),
        _ => None,
    }
}

/// One media range of an `Accept` header and its weight (`q`, 1 when absent or unreadable).
fn weighted(item: &str) -> (String, f32) {
    let mut parts = item.split(';');
    let range = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let q = parts
        .filter_map(|p| p.trim().strip_prefix("q="))
        .find_map(|q| q.trim().parse::<f32>().ok())
        .unwrap_or(1.0);
    (range, q)
}

/// The format the request's `Accept` header prefers: the supported range with the highest
/// weight, the first one on a tie. No header (or an empty one) means JSON. A header that
/// names no supported type (or refuses them all with `q=0`) is a 406 naming the types.
pub fn negotiate(headers: &HeaderMap) -> Result<Format, ApiError> {
    let items: Vec<(String, f32)> = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter(|item| !item.trim().is_empty())
        .map(weighted)
        .collect();
    if items.is_empty() {
        return Ok(Format::Json);
    }
    let mut best: Option<(Format, f32)> = None;
    for (range, q) in items {
        if let Some(format) = format_of(&range)
            && q > 0.0
            && best.is_none_or(|(_, b)| q > b)
        {
            best = Some((format, q));
        }
    }
    best.map(|(f, _)| f).ok_or_else(not_acceptable)
}

/// 406: the client accepts none of the types this endpoint answers.
fn not_acceptable() -> ApiError {
    ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        "not_acceptable",
        format!(
            "the sync log is answered as {}; send an Accept header naming one of them (or none for JSON)",
            SUPPORTED.join(", ")
        ),
    )
    .with_details(vec![json!({"field": "Accept", "supported": SUPPORTED})])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(accept: &str) -> Result<Format, StatusCode> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, accept.parse().unwrap());
        negotiate(&headers).map_err(|e| e.status)
    }

    #[test]
    fn picks_by_weight_then_order() {
        assert_eq!(pick("text/csv"), Ok(Format::Csv));
        assert_eq!(pick("*/*"), Ok(Format::Json));
        assert_eq!(pick(""), Ok(Format::Json));
        assert_eq!(
            pick("application/ndjson"),
            Ok(Format::Ndjson("application/ndjson"))
        );
        assert_eq!(pick("application/json;q=0.5, text/csv"), Ok(Format::Csv));
        assert_eq!(pick("text/csv, application/json"), Ok(Format::Csv));
        assert_eq!(
            pick("image/png, application/x-ndjson;q=0.1"),
            Ok(Format::Ndjson("application/x-ndjson"))
        );
        assert_eq!(pick("TEXT/CSV; charset=utf-8"), Ok(Format::Csv));
    }

    #[test]
    fn refuses_what_it_cannot_answer() {
        assert_eq!(pick("image/png"), Err(StatusCode::NOT_ACCEPTABLE));
        assert_eq!(pick("text/csv;q=0"), Err(StatusCode::NOT_ACCEPTABLE));
        assert_eq!(pick("text/html"), Err(StatusCode::NOT_ACCEPTABLE));
    }
}
