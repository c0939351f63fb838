//! The signed headers of a webhook-style request, from plain inputs.
//!
//! One place builds them for every signed request erp-sync sends: connection deliveries
//! and their previews here, and operational alert events, signed with a tenant's alert
//! secret the same way. Each request carries both signature schemes of the contract:
//! `X-Aforo-Event-Id`, `X-Aforo-Timestamp`, `X-Aforo-Signature: t=..,v1=<hex>[,v1=..]`
//! (keyed with each secret's UTF-8 bytes) and `webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64>[ v1,..]` (Standard Webhooks, keyed as
//! [`standard_webhooks::key_of`] says). Several secrets (a rotation's grace) give one
//! signature each, newest first, in both headers.

use crate::crypto::signature::{self, EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::crypto::standard_webhooks;

/// Whether an extra header would clash with one erp-sync sets (a transform's headers
/// cannot replace the content type or a signature header).
fn reserved(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "content-type"
        || lower.starts_with("x-aforo-")
        || [
            standard_webhooks::ID_HEADER,
            standard_webhooks::TIMESTAMP_HEADER,
            standard_webhooks::SIGNATURE_HEADER,
        ]
        .contains(&lower.as_str())
}

/// Every header of a signed request, in order: `extra_headers` (minus any that would
/// clash with the ones below), `Content-Type`, then the `X-Aforo-*` and `webhook-*`
/// headers signing `body` as event `event_id` now, with `current` and then each of
/// `previous` (newest first).
pub fn signed_headers(
    current: &str,
    previous: &[&str],
    event_id: &str,
    body: &[u8],
    content_type: &str,
    extra_headers: &[(String, String)],
) -> Vec<(String, String)> {
    signed_headers_at(
        chrono::Utc::now().timestamp(),
        current,
        previous,
        event_id,
        body,
        content_type,
        extra_headers,
    )
}

/// [`signed_headers`] with no extra headers: what an alert event (or any other signed
/// request erp-sync makes up itself) carries.
pub fn sign_with(
    secret: &str,
    previous: &[&str],
    event_id: &str,
    body: &[u8],
    content_type: &str,
) -> Vec<(String, String)> {
    signed_headers(secret, previous, event_id, body, content_type, &[])
}

/// [`signed_headers`] at unix time `t`.
fn signed_headers_at(
    t: i64,
    current: &str,
    previous: &[&str],
    event_id: &str,
    body: &[u8],
    content_type: &str,
    extra_headers: &[(String, String)],
) -> Vec<(String, String)> {
    let secrets: Vec<&str> = std::iter::once(current)
        .chain(previous.iter().copied())
        .collect();
    let raw: Vec<&[u8]> = secrets.iter().map(|s| s.as_bytes()).collect();
    let keys: Vec<Vec<u8>> = secrets
        .iter()
        .map(|s| standard_webhooks::key_of(s))
        .collect();
    let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let mut headers: Vec<(String, String)> = extra_headers
        .iter()
        .filter(|(name, _)| !reserved(name))
        .cloned()
        .collect();
    headers.extend([
        ("Content-Type".to_string(), content_type.to_string()),
        (EVENT_ID_HEADER.to_string(), event_id.to_string()),
        (TIMESTAMP_HEADER.to_string(), t.to_string()),
        (SIGNATURE_HEADER.to_string(), signature::sign(t, body, &raw)),
        (
            standard_webhooks::ID_HEADER.to_string(),
            event_id.to_string(),
        ),
        (
            standard_webhooks::TIMESTAMP_HEADER.to_string(),
            t.to_string(),
        ),
        (
            standard_webhooks::SIGNATURE_HEADER.to_string(),
            standard_webhooks::sign(event_id, t, body, &keys),
        ),
    ]);
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn both_schemes_sign_with_every_secret_newest_first() {
        let body = br#"{"test": 2432232314}"#;
        let extra = [
            ("X-Custom".to_string(), "1".to_string()),
            ("Webhook-Signature".to_string(), "v1,forged".to_string()),
            ("x-aforo-event-id".to_string(), "evt_forged".to_string()),
        ];
        let headers = signed_headers_at(
            1614265330,
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            &["my own old secret"],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            body,
            "application/json",
            &extra,
        );
        assert_eq!(header(&headers, "x-custom"), ["1"]);
        assert_eq!(header(&headers, "content-type"), ["application/json"]);
        assert_eq!(
            header(&headers, "webhook-id"),
            ["msg_p5jXN8AQM9LWM0D4loKWxJek"]
        );
        assert_eq!(
            header(&headers, "x-aforo-event-id"),
            ["msg_p5jXN8AQM9LWM0D4loKWxJek"]
        );
        assert_eq!(header(&headers, "webhook-timestamp"), ["1614265330"]);
        let standard = header(&headers, "webhook-signature");
        assert_eq!(standard.len(), 1);
        let (new, old) = standard[0].split_once(' ').expect("two signatures");
        assert_eq!(new, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(old.starts_with("v1,") && old.ends_with('='));
        let aforo = header(&headers, "x-aforo-signature")[0];
        assert!(aforo.starts_with("t=1614265330,v1="));
        assert_eq!(aforo.matches(",v1=").count(), 2);
    }
}
