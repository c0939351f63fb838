//! The Standard Webhooks headers of the webhook contract (standardwebhooks.com).
//!
//! Beside the `X-Aforo-*` headers every delivery carries `webhook-id` (the event id),
//! `webhook-timestamp` (unix seconds) and `webhook-signature: v1,<base64>[ v1,<base64>]`:
//! the standard padded base64 HMAC-SHA256 of `<id>.<timestamp>.<raw body>`, one `v1` per
//! signing secret, newest first, separated by spaces. Receivers can then verify with the
//! standardwebhooks libraries of any language instead of writing their own check.
//!
//! The HMAC key comes from the secret as the libraries read it: a `whsec_` secret whose
//! rest is standard padded base64 is keyed with the decoded bytes. Any other secret (one
//! an operator brought, or one generated before these headers existed) is keyed with its
//! UTF-8 bytes; a receiver passes `whsec_` + base64 of it to the libraries.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Name of the header carrying the message id (our event id).
pub const ID_HEADER: &str = "webhook-id";
/// Name of the header carrying the attempt's unix timestamp.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Name of the signature header.
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// The prefix marking a secret as `whsec_` + base64 of its key.
pub const SECRET_PREFIX: &str = "whsec_";

/// The HMAC key of `secret`: the decoded base64 after `whsec_` when the secret has that
/// form (and the key is not empty), otherwise the secret's UTF-8 bytes.
pub fn key_of(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|encoded| STANDARD.decode(encoded).ok())
        .filter(|key| !key.is_empty())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// The `whsec_` form of a secret that is keyed with its own UTF-8 bytes: what a receiver
/// passes to a standardwebhooks library for a secret it brought itself.
pub fn library_secret(raw_key: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(raw_key))
}

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], id: &str, t: i64, body: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The `webhook-signature` value signing `body` as message `id` at time `t` with every
/// key given (newest first, see [`key_of`]).
pub fn sign(id: &str, t: i64, body: &[u8], keys: &[&[u8]]) -> String {
    keys.iter()
        .map(|key| format!("v1,{}", STANDARD.encode(mac(key, id, t, body))))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector every reference library tests against (e.g. the Go library's
    /// `TestWebhookSign`: standard-webhooks/libraries/go/webhook_test.go).
    #[test]
    fn matches_the_reference_libraries_vector() {
        let key = key_of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let signature = sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
            &[&key],
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn one_signature_per_key_newest_first() {
        let new = key_of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let old = key_of("an operator's own secret");
        let both = sign("msg_1", 1, b"{}", &[&new, &old]);
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(
            parts,
            [
                sign("msg_1", 1, b"{}", &[&new]),
                sign("msg_1", 1, b"{}", &[&old])
            ]
        );
    }

    #[test]
    fn secrets_not_in_whsec_form_are_their_own_bytes() {
        assert_eq!(
            key_of("an operator's own secret"),
            b"an operator's own secret"
        );
        // Unpadded or URL-safe base64 is not the form: the whole string is the key.
        let old_generated = "whsec_ILV96Ssqpf-_abcdefghijklmnopqrstuvwxyz0123";
        assert_eq!(key_of(old_generated), old_generated.as_bytes());
        assert_eq!(key_of("whsec_"), b"whsec_");
        assert_eq!(key_of("whsec_AAEC"), [0, 1, 2]);
        assert_eq!(library_secret(b"abc"), "whsec_YWJj");
        assert_eq!(key_of(&library_secret(b"abc")), b"abc");
    }
}
