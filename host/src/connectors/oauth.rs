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

/// An OAuth app registered with a provider, and the provider's endpoints (real by
/// default; tests point them at fakes).
#[derive(Debug, Clone, Default)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: String,
    pub auth_url: String,
    pub token_url: String,
    pub api_base: String,
}

impl OAuthApp {
    /// Reads `ERP_SYNC_<PROVIDER>_{CLIENT_ID,CLIENT_SECRET,AUTH_URL,TOKEN_URL,API_BASE}`.
    pub fn from_env(
        provider: &str,
        default_auth: &str,
        default_token: &str,
        default_api: &str,
    ) -> Self {
        let var = |name: &str, default: &str| {
            std::env::var(format!("ERP_SYNC_{provider}_{name}"))
                .unwrap_or_else(|_| default.to_string())
        };
        OAuthApp {
            client_id: var("CLIENT_ID", ""),
            client_secret: var("CLIENT_SECRET", ""),
            auth_url: var("AUTH_URL", default_auth),
            token_url: var("TOKEN_URL", default_token),
            api_base: var("API_BASE", default_api),
        }
    }

    /// The real Xero endpoints, overridable from the environment.
    pub fn xero_from_env() -> Self {
        Self::from_env(
            "XERO",
            "https://login.xero.com/identity/connect/authorize",
            "https://identity.xero.com/connect/token",
            "https://api.xero.com",
        )
    }

    /// The real QuickBooks Online endpoints, overridable from the environment.
    pub fn quickbooks_from_env() -> Self {
        Self::from_env(
            "QUICKBOOKS",
            "https://appcenter.intuit.com/connect/oauth2",
            "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
            "https://quickbooks.api.intuit.com",
        )
    }
}

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

/// Keeps one provider's OAuth connections supplied with valid access tokens: loads them
/// from the connection's sealed secrets, refreshes them a minute before expiry (or after
/// a 401), one refresh per connection at a time, saves a rotated refresh token in the
/// same transaction as the access token, and turns a connection `needs_reauth` when the
/// provider refuses the refresh token.
pub struct TokenKeeper {
    provider: &'static str,
    flow: Option<OAuthFlow>,
    store: crate::store::Store,
    sealer: crate::crypto::seal::Sealer,
    locks: super::locks::KeyedLocks,
}

/// Refresh this long before the access token expires.
const REFRESH_MARGIN_MS: i64 = 60_000;

impl TokenKeeper {
    /// A keeper for `provider` (its name in messages); `flow` is `None` when the server
    /// has no app credentials for it.
    pub fn new(
        provider: &'static str,
        flow: Option<OAuthFlow>,
        store: crate::store::Store,
        sealer: crate::crypto::seal::Sealer,
    ) -> Self {
        TokenKeeper {
            provider,
            flow,
            store,
            sealer,
            locks: Default::default(),
        }
    }

    /// The flow, or why this server cannot connect the provider.
    pub fn flow(&self) -> Result<&OAuthFlow, String> {
        self.flow.as_ref().ok_or_else(|| {
            let env = self.provider.to_ascii_uppercase();
            format!(
                "{} is not configured on this server: set ERP_SYNC_{env}_CLIENT_ID and ERP_SYNC_{env}_CLIENT_SECRET",
                self.provider
            )
        })
    }

    /// Seals and saves tokens, with the connection's config when given (the callback
    /// learns the realm or organisation); a refresh saves the tokens alone.
    pub async fn save(
        &self,
        connection_id: &str,
        config: Option<&serde_json::Value>,
        tokens: &OAuthTokens,
    ) -> Result<(), String> {
        let secrets = serde_json::to_vec(tokens).expect("tokens always serialize");
        let sealed = self.sealer.seal(&secrets, connection_id.as_bytes());
        self.store
            .save_connection_credentials(connection_id, config, &sealed)
            .await
            .map_err(|e| e.to_string())
    }

    /// The connection and its stored tokens, as they are now.
    pub async fn load(
        &self,
        connection_id: &str,
    ) -> Result<(crate::store::ConnectionRow, OAuthTokens), super::Outcome> {
        use super::Outcome;
        let connection = self
            .store
            .connection_by_id(connection_id)
            .await
            .map_err(|e| Outcome::retryable(None, e.to_string(), None))?;
        let sealed = connection.secrets.as_ref().ok_or_else(|| {
            Outcome::held(format!(
                "the {} connection has not been authorized yet",
                self.provider
            ))
        })?;
        let opened = self
            .sealer
            .open(sealed, connection.id.as_bytes())
            .map_err(|e| Outcome::permanent(None, e.to_string()))?;
        let tokens: OAuthTokens = serde_json::from_slice(&opened).map_err(|e| {
            Outcome::held(format!(
                "the stored {} tokens are unreadable ({e}); re-authorize",
                self.provider
            ))
        })?;
        Ok((connection, tokens))
    }

    /// Tokens valid for at least a minute.
    pub async fn fresh(
        &self,
        connection_id: &str,
    ) -> Result<(crate::store::ConnectionRow, OAuthTokens), super::Outcome> {
        let (connection, tokens) = self.load(connection_id).await?;
        if tokens.expires_at_ms - crate::store::now_ms() > REFRESH_MARGIN_MS {
            return Ok((connection, tokens));
        }
        self.refresh(connection_id, None).await
    }

    /// Refreshes, one refresh per connection at a time: within this process by a lock
    /// per connection, and across hosts sharing a PostgreSQL store by a database lock
    /// (a rotated refresh token used twice would break the connection). `failed` is an
    /// access token the provider just refused: if another task or host replaced it
    /// meanwhile, no refresh is needed.
    pub async fn refresh(
        &self,
        connection_id: &str,
        failed: Option<&str>,
    ) -> Result<(crate::store::ConnectionRow, OAuthTokens), super::Outcome> {
        use super::Outcome;
        let _guard = self.locks.lock(connection_id).await;
        let shared = match self.store.shared_limits() {
            Some(pg) => Some(pg.lock_refresh(connection_id).await.map_err(|e| {
                Outcome::retryable(
                    None,
                    format!(
                        "taking the {} token refresh lock failed: {e}",
                        self.provider
                    ),
                    None,
                )
            })?),
            None => None,
        };
        let result = self.refresh_locked(connection_id, failed).await;
        if let Some(shared) = shared
            && let Err(e) = shared.release().await
        {
            tracing::warn!(error = %e, connection = connection_id, "releasing the token refresh lock failed; it is released with its connection");
        }
        result
    }

    /// [`TokenKeeper::refresh`] once the locks are held.
    async fn refresh_locked(
        &self,
        connection_id: &str,
        failed: Option<&str>,
    ) -> Result<(crate::store::ConnectionRow, OAuthTokens), super::Outcome> {
        use super::Outcome;
        let (connection, tokens) = self.load(connection_id).await?;
        let fresh = tokens.expires_at_ms - crate::store::now_ms() > REFRESH_MARGIN_MS;
        match failed {
            Some(token) if token != tokens.access_token => return Ok((connection, tokens)),
            None if fresh => return Ok((connection, tokens)),
            _ => {}
        }
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            return Err(self
                .needs_reauth(connection_id, "no refresh token is stored")
                .await);
        };
        let flow = self.flow().map_err(|e| Outcome::permanent(None, e))?;
        match flow.refresh(&refresh_token).await {
            Ok(tokens) => {
                self.save(connection_id, None, &tokens)
                    .await
                    .map_err(|e| Outcome::retryable(None, e, None))?;
                Ok((connection, tokens))
            }
            Err(TokenError::InvalidGrant(why)) => Err(self.needs_reauth(connection_id, &why).await),
            Err(TokenError::Other(why)) => Err(Outcome::retryable(
                None,
                format!(
                    "refreshing the {} access token failed: {why}",
                    self.provider
                ),
                None,
            )),
        }
    }

    async fn needs_reauth(&self, connection_id: &str, why: &str) -> super::Outcome {
        use super::Outcome;
        if let Err(e) = self
            .store
            .set_connection_status(connection_id, super::ConnectionStatus::NeedsReauth)
            .await
        {
            return Outcome::retryable(None, e.to_string(), None);
        }
        Outcome::held(format!(
            "{} refused the refresh token ({why}): the connection needs re-authorization \
             (POST /v1/connections/{connection_id}/reauthorize); its deliveries wait until then",
            self.provider
        ))
    }
}
