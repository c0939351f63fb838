//! The OAuth 2.0 authorization-code flow shared by the QuickBooks and Xero connectors,
//! on the `oauth2` crate: authorize URLs with a CSRF `state` (and PKCE when the
//! provider wants it), code exchange, and refresh.

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};

use crate::config::OAuthApp;

/// The tokens of one connection, kept sealed in its secrets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OAuthTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// When the access token expires (unix ms).
    pub expires_at_ms: i64,
}

/// Why a token request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The grant (code or refresh token) was refused: only a new authorization helps.
    #[error("the provider refused the grant ({0}); the connection must be re-authorized")]
    InvalidGrant(String),
    #[error("the token request failed: {0}")]
    Other(String),
}

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// One provider's authorization-code flow.
pub struct OAuthFlow {
    client: Client,
    scopes: Vec<String>,
    pkce: bool,
    http: reqwest::Client,
}

/// An authorization to send the operator to.
pub struct Authorization {
    pub url: String,
    pub state: String,
    /// The PKCE verifier to keep (sealed) until the callback.
    pub verifier: Option<String>,
}

impl OAuthFlow {
    /// A flow for `app`, redirecting to `redirect_url`.
    pub fn new(
        app: &OAuthApp,
        redirect_url: &str,
        scopes: &[&str],
        pkce: bool,
    ) -> Result<Self, String> {
        let client = BasicClient::new(ClientId::new(app.client_id.clone()))
            .set_client_secret(ClientSecret::new(app.client_secret.clone()))
            .set_auth_uri(AuthUrl::new(app.auth_url.clone()).map_err(|e| format!("auth URL: {e}"))?)
            .set_token_uri(
                TokenUrl::new(app.token_url.clone()).map_err(|e| format!("token URL: {e}"))?,
            )
            .set_redirect_uri(
                RedirectUrl::new(redirect_url.to_string())
                    .map_err(|e| format!("redirect URL: {e}"))?,
            );
        let http = reqwest::Client::builder()
            // The token endpoint must never redirect us elsewhere (RFC 6749 §10.4 hygiene).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(OAuthFlow {
            client,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            pkce,
            http,
        })
    }

    /// A fresh authorization URL with a random `state` (and PKCE challenge).
    pub fn authorize(&self) -> Authorization {
        let mut request = self.client.authorize_url(CsrfToken::new_random);
        for scope in &self.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let mut verifier = None;
        if self.pkce {
            let (challenge, v) = PkceCodeChallenge::new_random_sha256();
            request = request.set_pkce_challenge(challenge);
            verifier = Some(v.secret().clone());
        }
        let (url, state) = request.url();
        Authorization {
            url: url.to_string(),
            state: state.secret().clone(),
            verifier,
        }
    }

    fn tokens(
        response: &oauth2::basic::BasicTokenResponse,
        previous_refresh: Option<&str>,
    ) -> OAuthTokens {
        let lifetime = response
            .expires_in()
            .map(|d| d.as_millis() as i64)
            .unwrap_or(3_600_000);
        OAuthTokens {
            access_token: response.access_token().secret().clone(),
            refresh_token: response
                .refresh_token()
                .map(|t| t.secret().clone())
                .or_else(|| previous_refresh.map(str::to_string)),
            expires_at_ms: crate::store::now_ms() + lifetime,
        }
    }

    fn classify<E: std::error::Error>(
        e: RequestTokenError<E, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
    ) -> TokenError {
        match e {
            RequestTokenError::ServerResponse(r)
                if *r.error() == BasicErrorResponseType::InvalidGrant =>
            {
                TokenError::InvalidGrant(
                    r.error_description()
                        .cloned()
                        .unwrap_or_else(|| "invalid_grant".into()),
                )
            }
            RequestTokenError::ServerResponse(r) => TokenError::Other(format!(
                "{}{}",
                r.error(),
                r.error_description()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            )),
            other => TokenError::Other(other.to_string()),
        }
    }

    /// Exchanges an authorization code for tokens.
    pub async fn exchange(
        &self,
        code: &str,
        verifier: Option<String>,
    ) -> Result<OAuthTokens, TokenError> {
        let mut request = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()));
        if let Some(v) = verifier {
            request = request.set_pkce_verifier(PkceCodeVerifier::new(v));
        }
        let response = request
            .request_async(&self.http)
            .await
            .map_err(Self::classify)?;
        Ok(Self::tokens(&response, None))
    }

    /// Trades a refresh token for new tokens (the refresh token may rotate).
    pub async fn refresh(&self, refresh_token: &str) -> Result<OAuthTokens, TokenError> {
        let token = RefreshToken::new(refresh_token.to_string());
        let response = self
            .client
            .exchange_refresh_token(&token)
            .request_async(&self.http)
            .await
            .map_err(Self::classify)?;
        Ok(Self::tokens(&response, Some(refresh_token)))
    }
}
