//! Tenant API keys and webhook signing secrets.
//!
//! API keys are 256-bit random strings, so a plain SHA-256 of the key is a safe thing to
//! store and index: nobody can brute-force a 256-bit preimage, and looking a key up by its
//! hash never compares the secret itself, so there is no timing side channel to exploit.
//! Webhook secrets have the Standard Webhooks form, `whsec_` + standard padded base64 of
//! 32 random bytes, so receivers can hand them to the standardwebhooks libraries as is.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of every tenant API key, so a leaked key is recognisable by secret scanners.
pub const API_KEY_PREFIX: &str = "esk_";
/// Prefix of generated webhook signing secrets.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";

fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes())
}

/// A fresh tenant API key, shown once to the operator and never stored in clear.
pub fn generate_api_key() -> String {
    format!("{API_KEY_PREFIX}{}", random_token())
}

/// The lowercase hex SHA-256 of an API key: what the database stores and looks up.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A fresh webhook signing secret, used when the operator does not bring one: `whsec_`
/// and the standard padded base64 of 32 random bytes (the Standard Webhooks secret form,
/// whose decoded bytes key the `webhook-signature` header).
pub fn generate_webhook_secret() -> String {
    format!("{WEBHOOK_SECRET_PREFIX}{}", STANDARD.encode(random_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_prefixed() {
        let a = generate_api_key();
        let b = generate_api_key();
        assert!(a.starts_with(API_KEY_PREFIX));
        assert_ne!(a, b);
        assert_eq!(hash_api_key(&a), hash_api_key(&a));
        assert_ne!(hash_api_key(&a), hash_api_key(&b));
        assert_eq!(hash_api_key(&a).len(), 64);
    }

    #[test]
    fn webhook_secrets_are_whsec_and_padded_base64_of_32_bytes() {
        let secret = generate_webhook_secret();
        let encoded = secret.strip_prefix(WEBHOOK_SECRET_PREFIX).expect("whsec_");
        assert_eq!(encoded.len(), 44);
        assert!(encoded.ends_with('='));
        assert_eq!(STANDARD.decode(encoded).expect("base64").len(), 32);
        assert_ne!(secret, generate_webhook_secret());
    }
}
