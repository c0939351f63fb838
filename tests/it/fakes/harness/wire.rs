//! Reading requests: query strings and forms, headers, whitespace-separated name lists; and
//! the random text of ids and tokens.

use axum::http::HeaderMap;
use axum::http::header::{self, AsHeaderName};
use rand::Rng;
use rand::distributions::Alphanumeric;

/// Decoded query or form parameters, in order.
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// A query string or an `application/x-www-form-urlencoded` body.
    pub fn parse(query: &str) -> Self {
        Params(
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `name`, spelled exactly (OAuth parameters).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name` in any case (Xero's Accounting API parameters).
    pub fn get_ci(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A header's value as text, empty when absent or not text.
pub fn header_str(headers: &HeaderMap, name: impl AsHeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Whether the media type of `Content-Type` is `expected` (parameters ignored).
pub fn content_type_is(headers: &HeaderMap, expected: &str) -> bool {
    let value = header_str(headers, header::CONTENT_TYPE);
    let media = value.split(';').next().unwrap_or_default().trim();
    media.eq_ignore_ascii_case(expected)
}

/// Whether `name` is in a whitespace-separated list.
pub fn listed(list: &str, name: &str) -> bool {
    list.split_whitespace().any(|n| n == name)
}

/// `len` random ASCII letters and digits.
pub fn random_string(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
