//! NetSuite Token-Based Authentication: OAuth 1.0a (RFC 5849) signatures with HMAC-SHA256.
//!
//! Built to the letter of RFC 5849 §3.4 and §3.5.1, because NetSuite answers every
//! deviation with the same opaque `401 INVALID_LOGIN`:
//! - the signature base string is `METHOD & enc(base URI) & enc(normalized parameters)`;
//!   the base URI is the lower-cased scheme and host, the port only when it is not the
//!   scheme's default, and the path exactly as sent, without the query;
//! - the parameters are every `oauth_*` parameter except `oauth_signature` and `realm`,
//!   plus every query parameter (decoded, then re-encoded); each name and value is
//!   encoded, the pairs are sorted by name then value, and joined as `name=value` with
//!   `&`; a JSON body is never signed (only form bodies would be);
//! - the key is `enc(consumer secret) & enc(token secret)`; the signature is the base64
//!   of HMAC-SHA256(key, base string), percent-encoded once more in the header;
//! - `realm` is the account id upper-cased with `_` (`1234567_SB1`), while the host
//!   uses it lower-cased with `-` (`1234567-sb1.suitetalk.api.netsuite.com`).
//!
//! The encoding is RFC 3986's (RFC 5849 §3.6): the unreserved characters
//! `A-Z a-z 0-9 - . _ ~` stay, every other byte of the UTF-8 text becomes `%XX` with
//! upper-case hex, and a space is `%20`, never `+`. No crate in the dependency tree does
//! exactly this (`url::form_urlencoded` writes `+` and keeps `*`), so it is written here,
//! small and tested against published vectors.

use base64::Engine;
use hmac::{Hmac, Mac};
use rand::Rng;
use rand::distributions::Alphanumeric;
use sha2::Sha256;

/// The only signature method NetSuite accepts since 2023.1.
pub const SIGNATURE_METHOD: &str = "HMAC-SHA256";

/// The token's four parts, as the NetSuite integration and access token records show them.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub consumer_key: String,
    pub consumer_secret: String,
    pub token_id: String,
    pub token_secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach a log line.
        f.debug_struct("Credentials")
            .field("consumer_key", &self.consumer_key)
            .field("token_id", &self.token_id)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Reads the sealed secrets of a connection (`consumer_key`, `consumer_secret`,
    /// `token_id`, `token_secret`), or names the first one missing.
    pub fn from_secrets(secrets: &serde_json::Value) -> Result<Self, String> {
        let get = |key: &str| {
            secrets
                .get(key)
                .and_then(serde_json::Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .ok_or_else(|| {
                    format!("the connection's NetSuite credentials have no {key}; create the connection again")
                })
        };
        Ok(Credentials {
            consumer_key: get("consumer_key")?,
            consumer_secret: get("consumer_secret")?,
            token_id: get("token_id")?,
            token_secret: get("token_secret")?,
        })
    }
}

/// RFC 3986 percent-encoding as RFC 5849 §3.6 requires (see the module docs).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The account id as `realm`: upper-case, `-` written `_` (`1234567-sb1` → `1234567_SB1`).
pub fn realm(account_id: &str) -> String {
    account_id.trim().to_ascii_uppercase().replace('-', "_")
}

/// The account id as a host label: lower-case, `_` written `-` (`1234567_SB1` → `1234567-sb1`).
pub fn host_label(account_id: &str) -> String {
    account_id.trim().to_ascii_lowercase().replace('_', "-")
}

/// The base string URI of RFC 5849 §3.4.1.2: lower-case scheme and host, the port only
/// when it is not the default, the path as sent, no query or fragment.
pub fn base_uri(url: &url::Url) -> String {
    let scheme = url.scheme().to_ascii_lowercase();
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    // `Url::port` is `None` for the scheme's default port.
    let port = match url.port() {
        Some(80) if scheme == "http" => String::new(),
        Some(443) if scheme == "https" => String::new(),
        Some(p) => format!(":{p}"),
        None => String::new(),
    };
    format!("{scheme}://{host}{port}{}", url.path())
}

/// The signature base string of RFC 5849 §3.4.1 for `url`'s query parameters plus
/// `params` (the `oauth_*` parameters, and form-body parameters if there were any).
pub fn base_string(method: &str, url: &url::Url, params: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (encode(&k), encode(&v)))
        .chain(params.iter().map(|(k, v)| (encode(k), encode(v))))
        .collect();
    pairs.sort();
    let normalized = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(&base_uri(url)),
        encode(&normalized)
    )
}

/// The base64 HMAC-SHA256 of `base` keyed with `enc(consumer_secret)&enc(token_secret)`.
pub fn sign(base: &str, consumer_secret: &str, token_secret: &str) -> String {
    let key = format!("{}&{}", encode(consumer_secret), encode(token_secret));
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(base.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A fresh nonce: 20 random alphanumerics, like Oracle's examples.
pub fn nonce() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}

/// The `Authorization` header value for one request, with the given nonce and timestamp.
pub fn authorization(
    method: &str,
    url: &url::Url,
    account_id: &str,
    credentials: &Credentials,
    nonce: &str,
    timestamp: i64,
) -> String {
    let oauth = [
        ("oauth_consumer_key", credentials.consumer_key.clone()),
        ("oauth_token", credentials.token_id.clone()),
        ("oauth_signature_method", SIGNATURE_METHOD.to_string()),
        ("oauth_timestamp", timestamp.to_string()),
        ("oauth_nonce", nonce.to_string()),
        ("oauth_version", "1.0".to_string()),
    ];
    let params: Vec<(String, String)> = oauth
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let signature = sign(
        &base_string(method, url, &params),
        &credentials.consumer_secret,
        &credentials.token_secret,
    );
    let mut header = format!("OAuth realm=\"{}\"", encode(&realm(account_id)));
    for (k, v) in oauth
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain([("oauth_signature", signature.as_str())])
    {
        header.push_str(&format!(", {k}=\"{}\"", encode(v)));
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    // The synthetic NetSuite credentials of `docs/erp-apis.md` §3.1(b).
    const CONSUMER_KEY: &str = "ef40afdd8abaac111b13825dd5e5e2ddddb44f86d5a0dd6dcf38c20aae6b67e4";
    const CONSUMER_SECRET: &str =
        "d26ad321a4b2f23b0741c8d38392ce01c3e23e109df6c96eac6d099e9ab9a8b5";
    const TOKEN_ID: &str = "2b0ce516420110bcbd36b69e99196d1b7f6de3c6234c5afb799b73d87569f5cc";
    const TOKEN_SECRET: &str = "c29a677df7d5439a458c063654187e3d678d73aca8e3c9d8fea1478a83bc6ab6";
    const NONCE: &str = "fjaLirsIcCGVZWzBX0pg";
    const TIMESTAMP: i64 = 1508242306;
    const BASE: &str = "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1";

    fn credentials() -> Credentials {
        Credentials {
            consumer_key: CONSUMER_KEY.into(),
            consumer_secret: CONSUMER_SECRET.into(),
            token_id: TOKEN_ID.into(),
            token_secret: TOKEN_SECRET.into(),
        }
    }

    fn oauth_params() -> Vec<(String, String)> {
        [
            ("oauth_consumer_key", CONSUMER_KEY),
            ("oauth_token", TOKEN_ID),
            ("oauth_signature_method", SIGNATURE_METHOD),
            ("oauth_timestamp", "1508242306"),
            ("oauth_nonce", NONCE),
            ("oauth_version", "1.0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn signature(method: &str, url: &str) -> String {
        let url = url::Url::parse(url).unwrap();
        let base = base_string(method, &url, &oauth_params());
        sign(&base, CONSUMER_SECRET, TOKEN_SECRET)
    }

    #[test]
    fn encodes_the_rfc_3986_unreserved_set_only() {
        for (raw, encoded) in [
            ("AZaz09-._~", "AZaz09-._~"),
            ("a b+c*d", "a%20b%2Bc%2Ad"),
            ("=/:\"!'()", "%3D%2F%3A%22%21%27%28%29"),
            ("%", "%25"),
            ("é€", "%C3%A9%E2%82%AC"),
            ("", ""),
        ] {
            assert_eq!(encode(raw), encoded, "{raw:?}");
        }
    }

    #[test]
    fn realm_and_host_have_opposite_spellings() {
        assert_eq!(realm("1234567_sb1"), "1234567_SB1");
        assert_eq!(realm("1234567-sb1"), "1234567_SB1");
        assert_eq!(host_label("1234567_SB1"), "1234567-sb1");
        assert_eq!(host_label("TSTDRV123"), "tstdrv123");
    }

    #[test]
    fn base_uri_drops_default_ports_queries_and_case() {
        let uri = |s: &str| base_uri(&url::Url::parse(s).unwrap());
        assert_eq!(
            uri("HTTP://Example.COM:80/r%20v/X?id=123"),
            "http://example.com/r%20v/X"
        );
        assert_eq!(
            uri("https://www.example.net:8080/?q=1"),
            "https://www.example.net:8080/"
        );
        assert_eq!(uri("https://example.com:443/a"), "https://example.com/a");
        assert_eq!(
            uri("http://127.0.0.1:4711/a:b"),
            "http://127.0.0.1:4711/a:b"
        );
    }

    /// `oauthlib`'s vector for RFC 5849 §3.4.1.1's example (notes §3.1(a)): the base
    /// string is built from the example's query, form body and oauth parameters, then
    /// signed with the vector's key.
    #[test]
    fn rfc_5849_example_base_string_and_sdk_vector() {
        let url =
            url::Url::parse("http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b").unwrap();
        let params: Vec<(String, String)> = [
            ("c2", ""),
            ("a3", "2 q"),
            ("oauth_consumer_key", "9djdj82h48djs9d2"),
            ("oauth_token", "kkk9d7dh3k39sjv7"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131201"),
            ("oauth_nonce", "7d8f3e4a"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let base = base_string("post", &url, &params);
        assert_eq!(
            base,
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
        );
        // The vector's key is given already encoded: `<consumer>&<token>`.
        assert_eq!(
            sign(
                &base,
                "ECrDNoq1VYzzzzzzzzzyAK7TwZNtPnkqatqZZZZ",
                "just-a-string    asdasd"
            ),
            "wdfdHUKXHbOnOGZP8WFAWMSAmWzN3EVBWWgXGlC/Eo4="
        );
    }

    /// The NetSuite-shaped vectors of notes §3.1(b), computed there with oauthlib.
    #[test]
    fn netsuite_vectors() {
        let put = format!("{BASE}/invoice/eid:BILL-2024-0001");
        assert_eq!(
            base_string("PUT", &url::Url::parse(&put).unwrap(), &oauth_params()),
            "PUT&https%3A%2F%2F1234567-sb1.suitetalk.api.netsuite.com%2Fservices%2Frest%2Frecord%2Fv1%2Finvoice%2Feid%3ABILL-2024-0001&oauth_consumer_key%3Def40afdd8abaac111b13825dd5e5e2ddddb44f86d5a0dd6dcf38c20aae6b67e4%26oauth_nonce%3DfjaLirsIcCGVZWzBX0pg%26oauth_signature_method%3DHMAC-SHA256%26oauth_timestamp%3D1508242306%26oauth_token%3D2b0ce516420110bcbd36b69e99196d1b7f6de3c6234c5afb799b73d87569f5cc%26oauth_version%3D1.0"
        );
        assert_eq!(
            signature("PUT", &put),
            "CJjNoAMzFA9UN7KpSYMalMZaluM4ZhbO/Q3wAMb+8EM="
        );
        assert_eq!(
            signature("POST", &format!("{BASE}/invoice")),
            "EvzT/lN77q7ruJ6ZurWBKl4mmGMcIRKdOG4H1byyX3w="
        );
        assert_eq!(
            signature("PATCH", &format!("{BASE}/invoice/4711?replace=item")),
            "3Lm8jHnwFdAN/aGwJl96FzBXA9R8zcTqSRfEGdHrziQ="
        );
        assert_eq!(
            signature(
                "GET",
                &format!("{BASE}/invoice?q=externalId%20IS%20%22BILL-2024-0001%22&limit=5")
            ),
            "VKHrY3rCmGy2oRPxzeTXDA/T39ETp5+UCClznDZchnE="
        );
    }

    #[test]
    fn header_carries_realm_and_the_encoded_signature() {
        let url = url::Url::parse(&format!("{BASE}/invoice/eid:BILL-2024-0001")).unwrap();
        let header = authorization("PUT", &url, "1234567-sb1", &credentials(), NONCE, TIMESTAMP);
        assert_eq!(
            header,
            "OAuth realm=\"1234567_SB1\", oauth_consumer_key=\"ef40afdd8abaac111b13825dd5e5e2ddddb44f86d5a0dd6dcf38c20aae6b67e4\", oauth_token=\"2b0ce516420110bcbd36b69e99196d1b7f6de3c6234c5afb799b73d87569f5cc\", oauth_signature_method=\"HMAC-SHA256\", oauth_timestamp=\"1508242306\", oauth_nonce=\"fjaLirsIcCGVZWzBX0pg\", oauth_version=\"1.0\", oauth_signature=\"CJjNoAMzFA9UN7KpSYMalMZaluM4ZhbO%2FQ3wAMb%2B8EM%3D\""
        );
    }

    #[test]
    fn nonces_are_fresh_alphanumerics() {
        let (a, b) = (nonce(), nonce());
        assert_eq!(a.len(), 20);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn credentials_come_from_the_sealed_secrets_and_never_print_secrets() {
        let secrets = serde_json::json!({
            "consumer_key": "ck", "consumer_secret": "hidden-cs", "token_id": "ti",
            "token_secret": "hidden-ts"
        });
        let c = Credentials::from_secrets(&secrets).unwrap();
        assert_eq!(c.token_secret, "hidden-ts");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hidden"), "{shown}");
        let e = Credentials::from_secrets(&serde_json::json!({"consumer_key": "ck"})).unwrap_err();
        assert!(e.contains("consumer_secret"), "{e}");
    }
}
