//! The `X-Aforo-Signature` header of the webhook contract.
//!
//! `X-Aforo-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`, where each `<hex>` is the
//! lowercase hex HMAC-SHA256 of `<t>.<raw body bytes>`, keyed with a signing secret's
//! bytes. During a secret rotation one `v1` is sent per secret, newest first, so receivers
//! holding either secret can verify. This is the Stripe layout; receivers that already
//! verify Stripe webhooks can reuse their code.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Name of the signature header.
pub const SIGNATURE_HEADER: &str = "X-Aforo-Signature";
/// Name of the header carrying the event id, stable across retries of one delivery.
pub const EVENT_ID_HEADER: &str = "X-Aforo-Event-Id";
/// Name of the header carrying the attempt's unix timestamp.
pub const TIMESTAMP_HEADER: &str = "X-Aforo-Timestamp";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], t: i64, body: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The header value signing `body` at time `t` with every secret given (newest first).
pub fn sign(t: i64, body: &[u8], secrets: &[&[u8]]) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&hex::encode(mac(secret, t, body)));
    }
    header
}

/// Why a signature header did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header has no valid t=<unix seconds> element")]
    MissingTimestamp,
    #[error("the signature header has no v1=<hex> element")]
    MissingSignature,
    #[error("the signature timestamp is {0} s away from now, beyond the tolerance")]
    OutsideTolerance(i64),
    #[error("no v1 signature matches the body and secret")]
    Mismatch,
}

/// Checks a header against the raw body and one secret, as a receiver would.
///
/// `tolerance_s` bounds how far `t` may be from `now` (in either direction), which is
/// what stops a captured request from being replayed later.
pub fn verify(
    header: &str,
    body: &[u8],
    secret: &[u8],
    now: i64,
    tolerance_s: i64,
) -> Result<(), SignatureError> {
    let mut t = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => {
                if let Ok(bytes) = hex::decode(v) {
                    candidates.push(bytes);
                }
            }
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::MissingTimestamp)?;
    if candidates.is_empty() {
        return Err(SignatureError::MissingSignature);
    }
    if (now - t).abs() > tolerance_s {
        return Err(SignatureError::OutsideTolerance(now - t));
    }
    let expected = mac(secret, t, body);
    let matched = candidates.iter().fold(subtle::Choice::from(0), |acc, c| {
        acc | expected.ct_eq(c.as_slice())
    });
    if bool::from(matched) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_an_independent_hmac() {
        // Computed with: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let header = sign(1_700_000_000, br#"{"a":1}"#, &[b"whsec_test"]);
        assert_eq!(
            header,
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn verifies_and_rejects() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(100, body, &[b"new", b"old"]);
        assert_eq!(verify(&header, body, b"new", 100, 300), Ok(()));
        assert_eq!(verify(&header, body, b"old", 350, 300), Ok(()));
        assert_eq!(
            verify(&header, body, b"other", 100, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&header, b"{}", b"new", 100, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&header, body, b"new", 1000, 300),
            Err(SignatureError::OutsideTolerance(900))
        );
        assert_eq!(
            verify("v1=00", body, b"new", 100, 300),
            Err(SignatureError::MissingTimestamp)
        );
        assert_eq!(
            verify("t=100", body, b"new", 100, 300),
            Err(SignatureError::MissingSignature)
        );
    }
}
