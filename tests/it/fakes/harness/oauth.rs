//! The OAuth 2.0 authorization server the QuickBooks and Xero fakes share (RFC 6749's
//! authorization code grant, with refresh tokens): the app's client credentials, the book
//! of authorization codes and tokens with their lifetimes, and the token endpoint.
//!
//! Both vendors keep codes single use, bound to the `redirect_uri` of the authorize
//! request and short-lived; issue access tokens that expire and refresh tokens that rotate,
//! a superseded one working on for a grace period; and take `client_secret_basic` or
//! `client_secret_post`. What differs stays with each fake, through [`TokenEndpoint`]: the
//! code lifetime and grace, PKCE (Xero), which refresh token a rotation supersedes, the
//! tokens' form, and every answer's status and body.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, TimeDelta, Utc};

use super::wire::{Params, content_type_is, header_str};
use super::{Fake, Listener, Record, lock};

/// The app's OAuth client, as the authorization server knows it.
pub struct Client {
    pub id: &'static str,
    pub secret: &'static str,
    /// With `client_secret_basic`, whether a `client_id` also sent in the form must name
    /// the same client (Xero's IdentityServer) rather than being ignored (Intuit).
    pub form_id_checked: bool,
}

impl Client {
    /// `client_secret_basic` or, without an `Authorization` header, `client_secret_post`.
    pub fn authenticated(&self, headers: &HeaderMap, form: &Params) -> bool {
        let authorization = header_str(headers, header::AUTHORIZATION);
        if authorization.is_empty() {
            return form.get("client_id") == Some(self.id)
                && form.get("client_secret") == Some(self.secret);
        }
        let Some(encoded) = authorization.strip_prefix("Basic ") else {
            return false;
        };
        let decoded = STANDARD.decode(encoded.trim());
        let decoded = decoded.ok().and_then(|d| String::from_utf8(d).ok());
        let form_id_ok =
            !self.form_id_checked || form.get("client_id").is_none_or(|id| id == self.id);
        form_id_ok && decoded.as_deref() == Some(format!("{}:{}", self.id, self.secret).as_str())
    }

    /// The OAuth app erp-sync connects as, with this client's credentials and a fake's
    /// endpoints.
    pub fn app(
        &self,
        auth_url: String,
        token_url: String,
        api_base: String,
    ) -> erp_sync::config::OAuthApp {
        erp_sync::config::OAuthApp {
            client_id: self.id.into(),
            client_secret: self.secret.into(),
            auth_url,
            token_url,
            api_base,
        }
    }
}

/// The authorization server's book: codes waiting to be exchanged, and every access and
/// refresh token issued. `C` is what a code was issued for (the consent given at the
/// authorize endpoint), `G` what a token gives access to.
pub struct Book<C, G> {
    codes: HashMap<String, Code<C>>,
    pub access_tokens: HashMap<String, AccessToken<G>>,
    pub refresh_tokens: HashMap<String, RefreshToken<G>>,
    /// `grant_type=refresh_token` requests from the authenticated client, successful or not.
    pub refreshes: usize,
}

struct Code<C> {
    redirect_uri: String,
    issued: Instant,
    consent: C,
}

pub struct AccessToken<G> {
    pub grant: G,
    pub expires_at: Instant,
    /// The same instant on the wall clock, for answers that name it.
    pub expires_wall: DateTime<Utc>,
}

impl<G> AccessToken<G> {
    pub fn expired(&self) -> bool {
        Instant::now() >= self.expires_at
    }
}

pub struct RefreshToken<G> {
    pub grant: G,
    pub revoked: bool,
    /// When a newer refresh token took its place.
    pub superseded_at: Option<Instant>,
}

impl<C, G: Clone> Book<C, G> {
    pub fn new() -> Self {
        Book {
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            refreshes: 0,
        }
    }

    /// Records `code`, issued now for `consent`, to come back with `redirect_uri`.
    pub fn add_code(&mut self, code: String, redirect_uri: &str, consent: C) {
        let entry = Code {
            redirect_uri: redirect_uri.to_string(),
            issued: Instant::now(),
            consent,
        };
        self.codes.insert(code, entry);
    }

    /// The consent of the form's `code`, which is spent whatever the outcome (codes are
    /// single use): `None` when it is unknown, older than `lifetime`, or the form's
    /// `redirect_uri` is not the authorize request's.
    pub fn redeem_code(&mut self, form: &Params, lifetime: Duration) -> Option<C> {
        let code = self.codes.remove(form.get("code")?)?;
        let fresh = code.issued.elapsed() <= lifetime;
        let same_redirect = form.get("redirect_uri") == Some(code.redirect_uri.as_str());
        (fresh && same_redirect).then_some(code.consent)
    }

    /// Records a new access token, expiring `lifetime` after `issued`, and a new refresh
    /// token, both for `grant`.
    pub fn issue(
        &mut self,
        grant: &G,
        access_token: &str,
        refresh_token: &str,
        issued: DateTime<Utc>,
        lifetime: Duration,
    ) {
        let expires_wall = TimeDelta::from_std(lifetime)
            .ok()
            .and_then(|d| issued.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let access = AccessToken {
            grant: grant.clone(),
            expires_at: Instant::now() + lifetime,
            expires_wall,
        };
        self.access_tokens.insert(access_token.to_string(), access);
        let refresh = RefreshToken {
            grant: grant.clone(),
            revoked: false,
            superseded_at: None,
        };
        self.refresh_tokens
            .insert(refresh_token.to_string(), refresh);
    }

    /// The access token `token`, if it was issued (expired or not).
    pub fn access(&self, token: &str) -> Option<&AccessToken<G>> {
        self.access_tokens.get(token)
    }

    /// The form's `refresh_token` if it still works: issued, not revoked, and not
    /// superseded longer ago than the vendor's grace (`in_grace` says of that age).
    pub fn usable_refresh_token(
        &mut self,
        form: &Params,
        in_grace: impl Fn(Duration) -> bool,
    ) -> Option<&mut RefreshToken<G>> {
        let token = self.refresh_tokens.get_mut(form.get("refresh_token")?)?;
        let grace_over = token
            .superseded_at
            .is_some_and(|at| !in_grace(at.elapsed()));
        (!token.revoked && !grace_over).then_some(token)
    }

    /// Every access token issued so far is expired from now on.
    pub fn expire_access_tokens(&mut self) {
        let (now, wall) = (Instant::now(), Utc::now());
        for t in self.access_tokens.values_mut() {
            t.expires_at = now;
            t.expires_wall = wall;
        }
    }

    /// Every refresh token issued so far is refused from now on.
    pub fn revoke_refresh_tokens(&mut self) {
        for t in self.refresh_tokens.values_mut() {
            t.revoked = true;
        }
    }

    /// Every access and refresh token issued so far.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.access_tokens
            .keys()
            .chain(self.refresh_tokens.keys())
            .cloned()
            .collect()
    }
}

/// A fake's token endpoint: its client, its book, and what it answers.
pub trait TokenEndpoint: Send + 'static {
    /// What a code was issued for.
    type Consent;
    /// What a token gives access to.
    type Grant: Clone;
    type Answer: IntoResponse;

    /// The only client the endpoint knows.
    const CLIENT: Client;
    /// Where the authorize endpoint is served.
    const AUTHORIZE_PATH: &'static str;
    /// Where the token endpoint is served.
    const TOKEN_PATH: &'static str;

    fn book(&mut self) -> &mut Book<Self::Consent, Self::Grant>;

    /// The answer to a body that is not `application/x-www-form-urlencoded`.
    fn not_a_form() -> Self::Answer;
    /// The answer to a request without the client's credentials.
    fn unknown_client() -> Self::Answer;
    /// The answer to a `grant_type` other than the two below.
    fn unsupported_grant_type() -> Self::Answer;

    /// `grant_type=authorization_code`.
    fn exchange_code(&mut self, form: &Params) -> Self::Answer;
    /// `grant_type=refresh_token`.
    fn refresh(&mut self, form: &Params) -> Self::Answer;
}

/// `POST` to the token endpoint: a form from the authenticated client, then its grant,
/// answered under the fake's lock. Refresh requests are counted in the book.
pub async fn token<S: TokenEndpoint>(
    State(state): State<Arc<Mutex<S>>>,
    headers: HeaderMap,
    body: Bytes,
) -> S::Answer {
    if !content_type_is(&headers, "application/x-www-form-urlencoded") {
        return S::not_a_form();
    }
    let form = Params::parse(&String::from_utf8_lossy(&body));
    if !S::CLIENT.authenticated(&headers, &form) {
        return S::unknown_client();
    }
    let mut s = lock(&state);
    match form.get("grant_type") {
        Some("authorization_code") => s.exchange_code(&form),
        Some("refresh_token") => {
            s.book().refreshes += 1;
            s.refresh(&form)
        }
        _ => S::unsupported_grant_type(),
    }
}

impl<S: TokenEndpoint, R: Record> Fake<S, R> {
    /// Starts an OAuth fake over `state` on an ephemeral loopback port: `authorize` at
    /// [`TokenEndpoint::AUTHORIZE_PATH`], [`token`] at [`TokenEndpoint::TOKEN_PATH`], and
    /// `routes` (the vendor's API and fallback).
    pub async fn start_oauth(
        what: &'static str,
        state: S,
        authorize: MethodRouter<Arc<Mutex<S>>>,
        routes: Router<Arc<Mutex<S>>>,
    ) -> Self {
        let app = routes
            .route(S::AUTHORIZE_PATH, authorize)
            .route(S::TOKEN_PATH, post(token::<S>));
        Fake::serve(what, Listener::bind().await, state, app)
    }

    /// The OAuth app erp-sync connects as, pointed at this fake (its endpoints and the
    /// client credentials it accepts).
    pub fn app(&self) -> erp_sync::config::OAuthApp {
        S::CLIENT.app(self.auth_url(), self.token_url(), self.api_base())
    }

    /// The authorize endpoint.
    pub fn auth_url(&self) -> String {
        format!("{}{}", self.url, S::AUTHORIZE_PATH)
    }

    /// The token endpoint (code exchange and refresh).
    pub fn token_url(&self) -> String {
        format!("{}{}", self.url, S::TOKEN_PATH)
    }

    /// The API base: the fake's own URL.
    pub fn api_base(&self) -> String {
        self.url.clone()
    }

    /// How many `grant_type=refresh_token` requests reached the token endpoint with valid
    /// client credentials (successful or not).
    pub fn token_refreshes(&self) -> usize {
        lock(&self.state).book().refreshes
    }

    /// Every access token issued so far is expired from now on.
    pub fn expire_access_tokens(&self) {
        lock(&self.state).book().expire_access_tokens();
    }

    /// Every refresh token issued so far answers `invalid_grant` from now on.
    pub fn revoke_refresh_tokens(&self) {
        lock(&self.state).book().revoke_refresh_tokens();
    }

    /// Every access and refresh token issued so far, so a test can look for them where
    /// they must not be.
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.state).book().issued_tokens()
    }
}
