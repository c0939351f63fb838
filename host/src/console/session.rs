//! Who is signed in, and whether a form really came from this console.
//!
//! The session *is* the tenant's API key, held in a cookie the browser's scripts cannot
//! read (`HttpOnly`) and never sends along with another site's requests
//! (`SameSite=Strict`). Nothing is stored server-side: each request hands the key to
//! the API, which decides, exactly as for any API client, whether it is still valid.
//!
//! Every state-changing form carries a CSRF token: an HMAC-SHA256 of the key under a
//! secret drawn at process start. Another site cannot compute it without the key, and
//! it is compared in constant time. A restart draws a new secret, so a form rendered
//! before it is refused with a page asking to reload — a small price for no storage.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{ConsoleState, layout, multipart};

/// The cookie that holds the API key.
pub const COOKIE: &str = "erp_sync_session";

/// The per-process secret CSRF tokens are derived with.
#[derive(Clone)]
pub struct CsrfKey(Arc<[u8; 32]>);

impl CsrfKey {
    /// A fresh random secret.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        CsrfKey(Arc::new(bytes))
    }

    /// The token forms of the session with this key must carry.
    pub fn token(&self, api_key: &str) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.0.as_slice()) else {
            return String::new();
        };
        mac.update(b"erp-sync console csrf\0");
        mac.update(api_key.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `given` is the token of `api_key`, compared in constant time.
    pub fn verify(&self, api_key: &str, given: &str) -> bool {
        let expected = self.token(api_key);
        !expected.is_empty() && expected.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

/// Whether a string can be an API key at all: what `erp-sync` issues is `esk_` and
/// URL-safe base64, which is also safe in a cookie and a header.
pub fn plausible_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 200
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A signed-in operator: the tenant's API key, and the CSRF token of their forms.
#[derive(Clone)]
pub struct Session {
    pub key: String,
    pub csrf: String,
}

/// The API key in the request's cookie, if any.
fn cookie_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|key| plausible_key(key))
}

impl FromRequestParts<ConsoleState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        match cookie_key(&parts.headers) {
            Some(key) => Ok(Session {
                csrf: state.csrf.token(&key),
                key,
            }),
            None => Err(Redirect::to("/login").into_response()),
        }
    }
}

/// The `Set-Cookie` value that signs in with `key`.
pub fn sign_in_cookie(key: &str, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={key}; HttpOnly; SameSite=Strict; Path=/{secure}"
    ))
    .ok()
}

/// The `Set-Cookie` value that signs out.
pub fn sign_out_cookie(secure: bool) -> HeaderValue {
    let value = if secure {
        "erp_sync_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure"
    } else {
        "erp_sync_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    };
    HeaderValue::from_static(value)
}

/// Whether the request's `Origin` (or, without one, `Referer`) is this very server. A
/// request naming neither passes this check (the token is still required).
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .map(|v| v.to_str().ok().and_then(|s| url::Url::parse(s).ok()));
    match source {
        None => true,
        Some(None) => false,
        Some(Some(url)) => {
            let Some(source_host) = url.host_str() else {
                return false;
            };
            let source = match url.port() {
                Some(port) => format!("{source_host}:{port}"),
                None => source_host.to_string(),
            };
            source.eq_ignore_ascii_case(host)
        }
    }
}

/// An uploaded file of a multipart form.
pub struct Upload {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// A state-changing form that passed the checks: signed in, same origin, right token.
/// Works for URL-encoded and multipart bodies.
pub struct CheckedForm {
    pub session: Session,
    pub fields: HashMap<String, String>,
    pub files: HashMap<String, Upload>,
}

impl CheckedForm {
    /// A field's value, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }
}

/// The 403 page of a refused form.
pub fn forbidden() -> Response {
    let page = layout::bare(
        "Form refused",
        maud::html! {
            h1 { "This form was refused" }
            p { "It did not come from this console page, or the page is older than the server's last restart. "
                "Nothing was changed. Go back, reload the page, and try again." }
            p { a href="/connections" { "Back to the console" } }
        },
    );
    (StatusCode::FORBIDDEN, page).into_response()
}

impl FromRequest<ConsoleState> for CheckedForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &ConsoleState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        if !same_origin(&parts.headers) {
            return Err(forbidden());
        }
        let bytes = axum::body::to_bytes(body, state.max_form_bytes)
            .await
            .map_err(|_| {
                layout::error_page(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Too large",
                    "The form is larger than this server accepts; nothing was changed.",
                )
            })?;
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let (fields, files) = if content_type.starts_with("multipart/form-data") {
            multipart::parse(content_type, &bytes).map_err(|e| {
                layout::error_page(StatusCode::BAD_REQUEST, "Unreadable form", &e.to_string())
            })?
        } else {
            let fields = url::form_urlencoded::parse(&bytes).into_owned().collect();
            (fields, HashMap::new())
        };
        let token = fields.get("csrf").map(String::as_str).unwrap_or_default();
        if !state.csrf.verify(&session.key, token) {
            return Err(forbidden());
        }
        Ok(CheckedForm {
            session,
            fields,
            files,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_belong_to_one_key_and_one_process() {
        let csrf = CsrfKey::generate();
        let token = csrf.token("esk_a");
        assert!(csrf.verify("esk_a", &token));
        assert!(!csrf.verify("esk_b", &token));
        assert!(!csrf.verify("esk_a", ""));
        assert!(!CsrfKey::generate().verify("esk_a", &token));
    }

    #[test]
    fn origin_must_be_this_host() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.test"),
        );
        assert!(!same_origin(&headers));
        headers.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&headers));
    }

    #[test]
    fn odd_cookie_values_are_no_session() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; erp_sync_session=esk_x\"y"),
        );
        assert_eq!(cookie_key(&headers), None);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; erp_sync_session=esk_xy-Z"),
        );
        assert_eq!(cookie_key(&headers).as_deref(), Some("esk_xy-Z"));
    }
}
