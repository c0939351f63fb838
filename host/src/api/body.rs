//! Reading request bodies into typed values with errors that name the problem.
//!
//! Handlers take the raw bytes (`Result<Bytes, BytesRejection>`) rather than axum's
//! `Json`, so an oversized body, malformed JSON and a wrong field type each get the
//! contract's error shape, with the offending field's path.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The body bytes, or 413 when the body is larger than the configured limit.
pub fn bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is larger than this server accepts (--max-body-bytes); nothing was stored",
            )
        } else {
            ApiError::bad_request("unreadable_body", format!("the request body could not be read: {rejection}"))
        }
    })
}

/// Parses JSON into `T`: 400 for malformed JSON, 422 naming the field for wrong content.
pub fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(
                "malformed_json",
                format!("the request body is not valid JSON: {inner}"),
            )
        } else {
            let field = if path == "." {
                "body".to_string()
            } else {
                path
            };
            ApiError::invalid(format!("{field}: {inner}")).with_details(vec![
                serde_json::json!({"field": field, "message": inner.to_string()}),
            ])
        }
    })?;
    de.end().map_err(|e| {
        ApiError::bad_request(
            "malformed_json",
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    Ok(value)
}

/// Like [`json`], but an empty body means `T::default()`.
pub fn json_or_default<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        json(bytes)
    }
}
