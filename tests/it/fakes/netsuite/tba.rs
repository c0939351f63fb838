//! Token-Based Authentication, checked independently of erp-sync's signer: every request's
//! OAuth 1.0a signature is recomputed (RFC 5849, HMAC-SHA256) with the known secrets.

use axum::http::{HeaderMap, Method, Uri, header};
use chrono::Utc;

use super::state::FakeState;
use super::{ACCOUNT_ID, CONSUMER_KEY, CONSUMER_SECRET, TOKEN_ID, TOKEN_SECRET, signature};

/// How far a timestamp may be from the server's clock.
const TIMESTAMP_WINDOW_SECS: i64 = 300;

/// RFC 3986 percent-encoding (RFC 5849 §3.6).
pub(super) fn pct(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Whether `raw` is a complete RFC 3986 encoding: unreserved characters and `%XX` only
/// (a signature with a bare `/` or `=` — only `+` escaped — is not).
pub(super) fn fully_encoded(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            if !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
        } else if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

pub(super) fn pct_decode(raw: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Checks the `Authorization` header; `Err` is the Login Audit Trail's reason.
pub(super) fn check_login(
    s: &mut FakeState,
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<(), String> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("MissingAuthorizationHeader")?;
    let rest = value
        .strip_prefix("OAuth ")
        .ok_or("NotAnOAuthAuthorizationHeader")?;
    let mut oauth: Vec<(String, String)> = Vec::new();
    let mut realm = None;
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (name, quoted) = part.split_once('=').ok_or("MalformedHeader")?;
        let raw = quoted
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or("MalformedHeader")?;
        if !fully_encoded(raw) {
            return Err(format!("NotPercentEncoded({name})"));
        }
        let decoded = pct_decode(raw);
        if name == "realm" {
            realm = Some(decoded);
        } else {
            oauth.push((name.to_string(), decoded));
        }
    }
    let get = |name: &str| {
        oauth
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if realm.as_deref() != Some(ACCOUNT_ID) {
        return Err(format!("InvalidRealm({realm:?})"));
    }
    if get("oauth_signature_method").as_deref() != Some("HMAC-SHA256") {
        return Err("UnsupportedSignatureMethod".into());
    }
    if get("oauth_version").is_some_and(|v| v != "1.0") {
        return Err("InvalidVersion".into());
    }
    if get("oauth_consumer_key").as_deref() != Some(CONSUMER_KEY) {
        return Err("InvalidConsumerKey".into());
    }
    if get("oauth_token").as_deref() != Some(TOKEN_ID) {
        return Err("InvalidToken".into());
    }
    let timestamp: i64 = get("oauth_timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or("InvalidTimestamp")?;
    if (Utc::now().timestamp() - timestamp).abs() > TIMESTAMP_WINDOW_SECS {
        return Err("InvalidTimestamp".into());
    }
    let nonce = get("oauth_nonce").ok_or("InvalidNonce")?;
    if !(6..=64).contains(&nonce.len()) || !nonce.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err("InvalidNonce".into());
    }
    if s.nonces.contains(&nonce) {
        return Err("InvalidNonce(reused)".into());
    }
    let sent = get("oauth_signature").ok_or("InvalidSignature")?;
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let base_uri = format!("http://{host}{}", uri.path());
    let mut params: Vec<(String, String)> = oauth
        .iter()
        .filter(|(k, _)| k != "oauth_signature")
        .cloned()
        .collect();
    params.extend(
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned(),
    );
    let expected = signature(
        method.as_str(),
        &base_uri,
        &params,
        CONSUMER_SECRET,
        TOKEN_SECRET,
    );
    if sent != expected {
        return Err("InvalidSignature".into());
    }
    s.nonces.insert(nonce);
    Ok(())
}
