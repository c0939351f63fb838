//! Xero's identity server: the authorize endpoint (PKCE, scopes, the consent screen), the
//! token endpoint's grants on the harness's OAuth book (codes spent on exchange, refresh
//! tokens rotating with a grace period per grant), revocation, and bearer tokens as JWTs.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::super::harness::lock;
use super::super::harness::oauth::{Book, Client, TokenEndpoint};
use super::super::harness::wire::{Params, header_str, listed, random_string};

use super::answers::{Answer, invalid_grant, oauth_error, token_expired, unauthenticated};
use super::connections::Connection;
use super::state::{FakeState, Shared};
use super::{CLIENT_ID, CLIENT_SECRET};

/// The app as the identity server knows it: with `client_secret_basic`, a `client_id` in
/// the form must name it too.
pub(super) const CLIENT: Client = Client {
    id: CLIENT_ID,
    secret: CLIENT_SECRET,
    form_id_checked: true,
};

/// [I] Xero does not document it; IdentityServer's default is 5 minutes.
const CODE_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// Scopes the identity server knows, both the broad family and the granular one of 2026.
const KNOWN_SCOPES: &str = "\
    openid profile email offline_access accounting.transactions accounting.transactions.read \
    accounting.invoices accounting.invoices.read accounting.payments accounting.payments.read \
    accounting.banktransactions accounting.banktransactions.read accounting.manualjournals \
    accounting.manualjournals.read accounting.contacts accounting.contacts.read \
    accounting.settings accounting.settings.read accounting.attachments \
    accounting.attachments.read accounting.reports.read accounting.reports.tenninetynine.read \
    accounting.budgets.read accounting.journals.read";
/// Scopes apps created since 2026-03-02 may no longer request.
const RETIRED_SCOPES: &str =
    "accounting.transactions accounting.transactions.read accounting.reports.read";

pub(super) const INVOICE_WRITE: &[&str] = &["accounting.transactions", "accounting.invoices"];
pub(super) const INVOICE_READ: &[&str] = &[
    "accounting.transactions",
    "accounting.transactions.read",
    "accounting.invoices",
    "accounting.invoices.read",
];
pub(super) const PAYMENT_READ: &[&str] = &[
    "accounting.transactions",
    "accounting.transactions.read",
    "accounting.payments",
    "accounting.payments.read",
];
pub(super) const PAYMENT_WRITE: &[&str] = &["accounting.transactions", "accounting.payments"];
pub(super) const CONTACT_WRITE: &[&str] = &["accounting.contacts"];
pub(super) const CONTACT_READ: &[&str] = &["accounting.contacts", "accounting.contacts.read"];
pub(super) const SETTINGS_READ: &[&str] = &["accounting.settings", "accounting.settings.read"];

/// What an authorization code was issued for: the PKCE challenge, and the scopes and
/// organisations the user consented to.
pub struct Consent {
    challenge: String,
    scopes: Vec<String>,
    tenants: Vec<String>,
}

/// One authorization (an "auth event"): the organisations and scopes it granted.
pub(super) struct Grant {
    pub(super) tenants: Vec<String>,
    pub(super) scopes: Vec<String>,
    /// The newest refresh token of this grant; all others are superseded.
    current_refresh: String,
}

/// `BASE64URL(SHA256(verifier))`, the S256 PKCE transform.
pub(super) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A JWT-shaped token (RS256 header, JSON payload, random signature), like Xero's.
fn jwt(payload: &Value) -> String {
    let header = json!({
        "alg": "RS256", "kid": "1CAF8E66772D6DC028D6726FD0261581570EFC19", "typ": "JWT",
        "x5t": "HK-OZncvbcAo1nJv0CYVgVcO_Bk",
    });
    let signature: Vec<u8> = (0..256).map(|_| rand::random::<u8>()).collect();
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// `GET /identity/connect/authorize`: checks the request and "consents" at once (granting
/// the organisations set by [`FakeXero::authorize_tenants`]), redirecting to `redirect_uri`
/// with `code`, `scope`, `state` and `session_state` — no tenant id: the app must ask
/// `/connections`. Errors after a usable `redirect_uri` are redirected (RFC 6749 §4.1.2.1).
pub(super) async fn authorize(State(state): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or_default());
    let error_page = |error: &str, why: &str| {
        let page = format!(
            "<html><body><h1>Sorry, something went wrong</h1><p>Error: {error}</p><p>{why}</p></body></html>"
        );
        let content_type = [(header::CONTENT_TYPE, "text/html; charset=utf-8")];
        (StatusCode::BAD_REQUEST, content_type, page).into_response()
    };
    if params.get("client_id") != Some(CLIENT_ID) {
        return error_page("unauthorized_client", "Invalid client_id");
    }
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return error_page("invalid_request", "redirect_uri is required");
    };
    let target = match url::Url::parse(redirect_uri) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u,
        _ => return error_page("invalid_request", "Invalid redirect_uri"),
    };
    let csrf = params.get("state").unwrap_or_default();
    let redirect = |pairs: &[(&str, &str)]| {
        let mut target = target.clone();
        target.query_pairs_mut().extend_pairs(pairs);
        (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
    };
    let fail = |error: &str, description: &str| {
        redirect(&[
            ("error", error),
            ("error_description", description),
            ("state", csrf),
        ])
    };
    if params.get("response_type") != Some("code") {
        return fail("unsupported_response_type", "response_type must be code");
    }
    if csrf.is_empty() {
        return fail("invalid_request", "state is required by this fake");
    }
    if params.get("code_challenge_method") != Some("S256") {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    let challenge = params.get("code_challenge").unwrap_or_default();
    let challenge_ok = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !challenge_ok {
        return fail(
            "invalid_request",
            "code_challenge must be BASE64URL(SHA256(code_verifier))",
        );
    }
    let scopes: Vec<String> = params
        .get("scope")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let refuse_retired = lock(&state).refuse_retired_scopes;
    if let Some(unknown) = scopes.iter().find(|s| !listed(KNOWN_SCOPES, s)) {
        return fail("invalid_scope", &format!("Unknown scope {unknown}"));
    }
    if let Some(retired) = scopes
        .iter()
        .find(|s| refuse_retired && listed(RETIRED_SCOPES, s))
    {
        return fail(
            "invalid_scope",
            &format!("The scope {retired} is not available to this app"),
        );
    }
    let has = |wanted: &[&str]| scopes.iter().any(|s| wanted.contains(&s.as_str()));
    if !has(&["offline_access"]) || !has(INVOICE_WRITE) || !has(CONTACT_WRITE) {
        return fail(
            "invalid_scope",
            "this fake requires offline_access, accounting.contacts and accounting.transactions or accounting.invoices",
        );
    }
    let code = random_string(64);
    {
        let mut s = lock(&state);
        let consent = Consent {
            challenge: challenge.to_string(),
            scopes: scopes.clone(),
            tenants: s.authorizing.clone(),
        };
        s.oauth.add_code(code.clone(), redirect_uri, consent);
    }
    let scope = scopes.join(" ");
    let session_state = random_string(43);
    redirect(&[
        ("code", code.as_str()),
        ("scope", scope.as_str()),
        ("state", csrf),
        ("session_state", session_state.as_str()),
    ])
}

/// `POST /identity/connect/revocation` (`token=<refresh token>`): revokes every refresh
/// token of that grant and removes its connections. 200 even for unknown tokens (RFC 7009).
pub(super) async fn revocation(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let form = Params::parse(&String::from_utf8_lossy(&body));
    if !CLIENT.authenticated(&headers, &form) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_client");
    }
    let mut s = lock(&state);
    let grant = form
        .get("token")
        .and_then(|t| s.oauth.refresh_tokens.get(t))
        .map(|t| t.grant.clone());
    if let Some(grant) = grant {
        for t in s
            .oauth
            .refresh_tokens
            .values_mut()
            .filter(|t| t.grant == grant)
        {
            t.revoked = true;
        }
        let tenants = s.grants[&grant].tenants.clone();
        for tenant in tenants {
            s.connections.remove(&tenant);
        }
    }
    Answer::empty(StatusCode::OK)
}

/// `POST /identity/connect/token` (the harness's endpoint): Xero's IdentityServer answers
/// in `{"error": ...}` bodies, with 400 for every refusal.
impl TokenEndpoint for FakeState {
    const CLIENT: Client = CLIENT;
    const AUTHORIZE_PATH: &'static str = "/identity/connect/authorize";
    const TOKEN_PATH: &'static str = "/identity/connect/token";

    type Consent = Consent;
    /// The `authEventId` of the authorization.
    type Grant = String;
    type Answer = Answer;

    fn book(&mut self) -> &mut Book<Consent, String> {
        &mut self.oauth
    }

    fn not_a_form() -> Answer {
        oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type")
    }

    fn unknown_client() -> Answer {
        // [I] IdentityServer answers 400 (not 401) for a bad client.
        oauth_error(StatusCode::BAD_REQUEST, "invalid_client")
    }

    fn unsupported_grant_type() -> Answer {
        oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type")
    }

    /// `grant_type=authorization_code`: the code is single use, lives 5 minutes, must come
    /// with the same `redirect_uri` and a `code_verifier` whose S256 is the challenge.
    fn exchange_code(&mut self, form: &Params) -> Answer {
        let Some(consent) = self.oauth.redeem_code(form, CODE_LIFETIME) else {
            return invalid_grant();
        };
        let verifier = form.get("code_verifier").unwrap_or_default();
        let verifier_ok = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        if !verifier_ok || s256(verifier) != consent.challenge {
            return invalid_grant();
        }
        let grant_id = Uuid::new_v4().to_string();
        // Seven fractional digits, like `2019-12-07T18:46:19.5165400`.
        let now = format!("{}0", Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f"));
        for tenant in &consent.tenants {
            let connection = self
                .connections
                .entry(tenant.clone())
                .or_insert_with(|| Connection {
                    id: Uuid::new_v4().to_string(),
                    created: now.clone(),
                    updated: now.clone(),
                });
            connection.updated = now.clone();
        }
        let grant = Grant {
            tenants: consent.tenants,
            scopes: consent.scopes,
            current_refresh: String::new(),
        };
        self.grants.insert(grant_id.clone(), grant);
        self.issue_tokens(&grant_id)
    }

    /// `grant_type=refresh_token`: always rotates. The used token and the grant's previous
    /// newest token stay usable for the grace period, then answer `invalid_grant`.
    fn refresh(&mut self, form: &Params) -> Answer {
        let grace = self.refresh_grace;
        let Some(old) = self.oauth.usable_refresh_token(form, |age| age < grace) else {
            return invalid_grant();
        };
        let grant_id = old.grant.clone();
        let previous = &self.grants[&grant_id].current_refresh;
        if let Some(previous) = self.oauth.refresh_tokens.get_mut(previous) {
            previous.superseded_at.get_or_insert_with(Instant::now);
        }
        self.issue_tokens(&grant_id)
    }
}

impl FakeState {
    /// A new access token (JWT, `expires_in` 1800) and refresh token for `grant_id`.
    fn issue_tokens(&mut self, grant_id: &str) -> Answer {
        let now = Utc::now();
        let lifetime = self.access_token_lifetime;
        let grant = self.grants.get_mut(grant_id).expect("a known grant");
        let exp = now.timestamp() + i64::try_from(lifetime).unwrap_or(i64::MAX / 2);
        let user = "4f6b5e0c-1b2d-4c8e-9a7f-3e2d1c0b9a8f";
        let access_token = jwt(&json!({
            "nbf": now.timestamp(), "exp": exp, "iss": "https://identity.xero.com",
            "aud": "https://identity.xero.com/resources", "client_id": CLIENT_ID,
            "sub": "a1b2c3d4e5f60718293a4b5c6d7e8f90", "auth_time": now.timestamp(),
            "xero_userid": user, "global_session_id": random_string(32),
            "jti": random_string(32), "authentication_event_id": grant_id,
            "scope": grant.scopes,
        }));
        let refresh_token = random_string(64);
        let grant_id = grant_id.to_string();
        let lifetime_std = Duration::from_secs(lifetime);
        self.oauth
            .issue(&grant_id, &access_token, &refresh_token, now, lifetime_std);
        grant.current_refresh = refresh_token.clone();
        let mut body = json!({
            "access_token": access_token, "expires_in": lifetime, "token_type": "Bearer",
            "refresh_token": refresh_token, "scope": grant.scopes.join(" "),
        });
        if grant.scopes.iter().any(|s| s == "openid") {
            body["id_token"] = json!(jwt(&json!({
                "nbf": now.timestamp(), "exp": now.timestamp() + 300,
                "iss": "https://identity.xero.com", "aud": CLIENT_ID, "iat": now.timestamp(),
                "sub": "a1b2c3d4e5f60718293a4b5c6d7e8f90", "auth_time": now.timestamp(),
                "xero_userid": user, "preferred_username": "owner@fake-ltd.example",
                "email": "owner@fake-ltd.example", "given_name": "Fay", "family_name": "Kerr",
            })));
        }
        Answer::json(StatusCode::OK, &body)
    }

    /// `Authorization: Bearer <token>`: known and unexpired; the token's grant id.
    pub(super) fn bearer(&self, headers: &HeaderMap) -> Result<String, Answer> {
        let authorization = header_str(headers, "authorization");
        let token = match authorization.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(unauthenticated()),
        };
        let Some(token) = self.oauth.access(token) else {
            return Err(unauthenticated());
        };
        if token.expired() {
            return Err(token_expired(token.expires_wall));
        }
        Ok(token.grant.clone())
    }

    /// Whether `grant_id` may reach `tenant` (authorized by the grant and still connected).
    pub(super) fn grant_reaches(&self, grant_id: &str, tenant: &str) -> bool {
        self.grants[grant_id].tenants.iter().any(|t| t == tenant)
            && self.connections.contains_key(tenant)
            && self.orgs.contains_key(tenant)
    }
}
