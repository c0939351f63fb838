//! Intuit's OAuth 2.0 endpoints: authorize (the company picked becomes `realmId`), the token
//! endpoint's grants on the harness's OAuth book (codes spent on exchange, the used refresh
//! token working on for 24 hours), and bearer tokens per realm.

use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;

use super::super::harness::lock;
use super::super::harness::oauth::{Book, Client, TokenEndpoint};
use super::super::harness::wire::{Params, header_str, random_string};

use super::answers::{Answer, unauthenticated, unauthorized_realm};
use super::state::{FakeState, Shared};
use super::{CLIENT_ID, CLIENT_SECRET};

/// The app as Intuit knows it (a `client_id` in the form besides Basic auth is ignored).
pub(super) const CLIENT: Client = Client {
    id: CLIENT_ID,
    secret: CLIENT_SECRET,
    form_id_checked: false,
};

const ACCOUNTING_SCOPE: &str = "com.intuit.quickbooks.accounting";

const REFRESH_TOKEN_EXPIRES_IN: i64 = 8_726_400;
/// A superseded refresh token keeps working this long (QBO: "24 hours after you receive a new one").
const SUPERSEDED_REFRESH_TOKEN_GRACE: Duration = Duration::from_secs(24 * 3600);
const CODE_LIFETIME: Duration = Duration::from_secs(600);

fn oauth_error(status: StatusCode, body: &'static str) -> Answer {
    Answer {
        status,
        content_type: "application/json",
        body: body.to_string(),
    }
}

pub(super) const INVALID_GRANT: &str =
    r#"{"error_description":"Token invalid","error":"invalid_grant"}"#;
pub(super) const INVALID_CLIENT: &str = r#"{"error":"invalid_client"}"#;

fn invalid_grant() -> Answer {
    oauth_error(StatusCode::BAD_REQUEST, INVALID_GRANT)
}

/// `GET /connect/oauth2`: checks the request and "consents" at once, redirecting to
/// `redirect_uri` with `code`, `state` and the picked company's `realmId`.
pub(super) async fn authorize(State(state): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or_default());
    let refuse = |why: &str| {
        let page = format!("<html><body><h1>Something went wrong</h1><p>{why}</p></body></html>");
        (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/html")],
            page,
        )
            .into_response()
    };
    if params.get("client_id") != Some(CLIENT_ID) {
        return refuse("invalid client_id");
    }
    if params.get("response_type") != Some("code") {
        return refuse("response_type must be code");
    }
    let scopes = params.get("scope").unwrap_or_default();
    if !scopes.split(' ').any(|s| s == ACCOUNTING_SCOPE) {
        return refuse("scope must include com.intuit.quickbooks.accounting");
    }
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return refuse("redirect_uri is required");
    };
    let Ok(mut target) = url::Url::parse(redirect_uri) else {
        return refuse("redirect_uri must be an absolute URL");
    };
    let code = format!("AB11{}", random_string(40));
    let realm = {
        let mut s = lock(&state);
        let realm = s.authorizing_realm.clone();
        s.oauth.add_code(code.clone(), redirect_uri, realm.clone());
        realm
    };
    {
        let mut pairs = target.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(csrf) = params.get("state") {
            pairs.append_pair("state", csrf);
        }
        pairs.append_pair("realmId", &realm);
    }
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

/// `POST /oauth2/v1/tokens/bearer` (the harness's endpoint): Intuit's answers, 401 for a bad
/// client and its exact `invalid_grant` body.
impl TokenEndpoint for FakeState {
    /// The realm the user picked.
    type Consent = String;
    /// The realm the token is for.
    type Grant = String;
    type Answer = Answer;

    const CLIENT: Client = CLIENT;
    const AUTHORIZE_PATH: &'static str = "/connect/oauth2";
    const TOKEN_PATH: &'static str = "/oauth2/v1/tokens/bearer";

    fn book(&mut self) -> &mut Book<String, String> {
        &mut self.oauth
    }

    fn not_a_form() -> Answer {
        oauth_error(StatusCode::BAD_REQUEST, r#"{"error":"invalid_request"}"#)
    }

    fn unknown_client() -> Answer {
        oauth_error(StatusCode::UNAUTHORIZED, INVALID_CLIENT)
    }

    fn unsupported_grant_type() -> Answer {
        oauth_error(
            StatusCode::BAD_REQUEST,
            r#"{"error":"unsupported_grant_type"}"#,
        )
    }

    /// `grant_type=authorization_code`: the code is single use, lives 10 minutes and must
    /// come with the same `redirect_uri` as the authorize request.
    fn exchange_code(&mut self, form: &Params) -> Answer {
        match self.oauth.redeem_code(form, CODE_LIFETIME) {
            Some(realm) => self.issue_tokens(&realm),
            None => invalid_grant(),
        }
    }

    /// `grant_type=refresh_token`: rotates; the used token stays valid 24 h more.
    fn refresh(&mut self, form: &Params) -> Answer {
        let in_grace = |age: Duration| age <= SUPERSEDED_REFRESH_TOKEN_GRACE;
        let Some(old) = self.oauth.usable_refresh_token(form, in_grace) else {
            return invalid_grant();
        };
        old.superseded_at.get_or_insert_with(Instant::now);
        let realm = old.grant.clone();
        self.issue_tokens(&realm)
    }
}

impl FakeState {
    fn issue_tokens(&mut self, realm: &str) -> Answer {
        // Real access tokens are long JWEs; a column sized for short tokens should fail here too.
        let access_token = format!(
            "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..{}",
            random_string(700)
        );
        let refresh_token = format!(
            "RT1-{}-H0-{}",
            random_string(3),
            random_string(24).to_lowercase()
        );
        let lifetime = self.access_token_lifetime;
        let lifetime_std = Duration::from_secs(lifetime.max(0).unsigned_abs());
        let realm = realm.to_string();
        self.oauth.issue(
            &realm,
            &access_token,
            &refresh_token,
            Utc::now(),
            lifetime_std,
        );
        let body = json!({
            "access_token": access_token, "token_type": "bearer", "expires_in": lifetime,
            "refresh_token": refresh_token, "x_refresh_token_expires_in": REFRESH_TOKEN_EXPIRES_IN,
        });
        Answer::json(StatusCode::OK, &body)
    }
}

impl FakeState {
    /// `Authorization: Bearer <token>`: known, unexpired, and issued for this company.
    pub(super) fn check_bearer(&self, realm: &str, headers: &HeaderMap) -> Result<(), Answer> {
        let authorization = header_str(headers, header::AUTHORIZATION);
        let Some(bearer) = authorization.strip_prefix("Bearer ") else {
            return Err(unauthenticated(
                "Authorization header missing or not a Bearer token",
            ));
        };
        let Some(token) = self.oauth.access(bearer.trim()) else {
            return Err(unauthenticated(
                "Malformed bearer token: too short or too long",
            ));
        };
        if token.expired() {
            return Err(unauthenticated("Token expired"));
        }
        if token.grant != realm {
            return Err(unauthorized_realm());
        }
        Ok(())
    }
}
