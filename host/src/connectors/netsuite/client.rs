//! One signed request to NetSuite's REST record service.
//!
//! The URL is built once, by hand, with every query parameter encoded the RFC 3986 way,
//! and the very same parsed URL is both signed and sent, so the path (`eid:` colons,
//! `!transform`) and the query NetSuite sees are exactly the ones in the signature.

use std::time::Duration;

use serde_json::Value;

use super::Request;
use super::api::{NsError, NsErrorKind, id_from_location};
use super::tba::{self, Credentials};
use crate::store::now_ms;

/// Where the record service lives below an API base.
pub const RECORD_PATH: &str = "/services/rest/record/v1";
/// Where the query service (SuiteQL) lives below an API base.
pub const QUERY_PATH: &str = "/services/rest/query/v1";

/// One NetSuite account as one connection reaches it.
#[derive(Debug, Clone)]
pub struct Account {
    /// As configured, e.g. `1234567_SB1`.
    pub account_id: String,
    /// `https://<account>.suitetalk.api.netsuite.com`, or an override; no trailing `/`.
    pub base: String,
    pub credentials: Credentials,
}

impl Account {
    /// The account's own REST host (`1234567_SB1` → `https://1234567-sb1.suitetalk.api.netsuite.com`).
    pub fn default_base(account_id: &str) -> String {
        format!(
            "https://{}.suitetalk.api.netsuite.com",
            tba::host_label(account_id)
        )
    }

    /// The key ERP records of this account are stored under.
    pub fn key(&self) -> String {
        format!("netsuite:{}", tba::realm(&self.account_id))
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The internal id from `Location` (creates and upserts answer 204 with it).
    pub location_id: Option<String>,
    /// The JSON body; `Null` for 204.
    pub body: Value,
}

/// The URL of `path` (below the record service) with `query`, encoded for signing.
pub fn request_url(base: &str, path: &str, query: &[(&str, &str)]) -> Result<url::Url, NsError> {
    service_url(base, RECORD_PATH, path, query)
}

/// The URL of `path` below `service` with `query`, encoded for signing.
pub fn service_url(
    base: &str,
    service: &str,
    path: &str,
    query: &[(&str, &str)],
) -> Result<url::Url, NsError> {
    let mut text = format!("{}{service}/{path}", base.trim_end_matches('/'));
    if !query.is_empty() {
        let q: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", tba::encode(k), tba::encode(v)))
            .collect();
        text.push('?');
        text.push_str(&q.join("&"));
    }
    url::Url::parse(&text).map_err(|e| NsError {
        kind: NsErrorKind::Permanent,
        status: None,
        details: Vec::new(),
        message: format!("the NetSuite URL {text:?} is invalid: {e}"),
    })
}

/// Sends one signed request (fresh nonce and timestamp) and reads the answer.
pub(super) async fn send(
    http: &reqwest::Client,
    account: &Account,
    request: &Request<'_>,
) -> Result<Answer, NsError> {
    match request {
        Request::Record {
            method,
            path,
            query,
            body,
        } => {
            let url = request_url(&account.base, path, query)?;
            send_url(http, account, method.clone(), url, *body, &[]).await
        }
        Request::Query { q, limit, offset } => suiteql(http, account, q, *limit, *offset).await,
    }
}

/// Sends one SuiteQL query (`POST …/query/v1/suiteql`, `Prefer: transient`) for one
/// page of `limit` rows from `offset`.
async fn suiteql(
    http: &reqwest::Client,
    account: &Account,
    q: &str,
    limit: usize,
    offset: usize,
) -> Result<Answer, NsError> {
    let (limit, offset) = (limit.to_string(), offset.to_string());
    let url = service_url(
        &account.base,
        QUERY_PATH,
        "suiteql",
        &[("limit", &limit), ("offset", &offset)],
    )?;
    let body = serde_json::json!({ "q": q });
    send_url(
        http,
        account,
        reqwest::Method::POST,
        url,
        Some(&body),
        &[("Prefer", "transient")],
    )
    .await
}

async fn send_url(
    http: &reqwest::Client,
    account: &Account,
    method: reqwest::Method,
    url: url::Url,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Result<Answer, NsError> {
    let authorization = tba::authorization(
        method.as_str(),
        &url,
        &account.account_id,
        &account.credentials,
        &tba::nonce(),
        now_ms() / 1000,
    );
    let mut request = http
        .request(method, url)
        .header(reqwest::header::AUTHORIZATION, authorization)
        .header(reqwest::header::ACCEPT, "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        // `json` sets `Content-Type: application/json`; the body is not signed.
        request = request.json(body);
    }
    let response = request.send().await.map_err(|e| NsError::network(&e))?;
    let status = response.status().as_u16();
    let header = |name: reqwest::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let location_id = header(reqwest::header::LOCATION)
        .as_deref()
        .and_then(id_from_location);
    let retry_after = header(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = response.text().await.map_err(|e| NsError::network(&e))?;
    if !(200..300).contains(&status) {
        return Err(NsError::from_response(status, retry_after, &text));
    }
    let body = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).map_err(|e| NsError {
            kind: NsErrorKind::Retryable(None),
            status: Some(status),
            details: Vec::new(),
            message: format!("NetSuite answered {status} with unreadable JSON: {e}"),
        })?
    };
    Ok(Answer {
        status,
        location_id,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_eid_colons_and_encode_queries_for_signing() {
        let url = request_url(
            "http://127.0.0.1:4000/",
            "invoice/eid:es_inv_abc",
            &[("replace", "item")],
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:4000/services/rest/record/v1/invoice/eid:es_inv_abc?replace=item"
        );
        let url = request_url(
            "https://1234567-sb1.suitetalk.api.netsuite.com",
            "currency",
            &[("q", "symbol IS \"USD\""), ("limit", "1")],
        )
        .unwrap();
        assert_eq!(
            url.query(),
            Some("q=symbol%20IS%20%22USD%22&limit=1"),
            "spaces are %20 and quotes %22, as signed"
        );
        let pairs: Vec<_> = url.query_pairs().collect();
        assert_eq!(pairs[0].1, "symbol IS \"USD\"");
        assert_eq!(
            Account::default_base("1234567_SB1"),
            "https://1234567-sb1.suitetalk.api.netsuite.com"
        );
    }
}
