//! What the OAuth ERP connectors (QuickBooks, Xero) share about calling their APIs: a
//! connection's session (its tokens and the account it books into), and one call within
//! the account's limits, refreshed once on a 401 and waited out on a 429.
//!
//! A call waits for a slot and a unit of the account's budget ([`super::limits`]),
//! checks the connection was not stopped, and sends (the provider's `send`). A 401
//! refreshes the token once ([`TokenKeeper`]) and sends again. A 429 pauses every call
//! to the account for the provider's wait, and the same request (same idempotency key)
//! goes again once the pause is over, without spending a retry; after a few 429s in a
//! row the call gives up as a retryable failure. The provider supplies only what
//! differs: its account key, how it sends, and how it reads its errors.

use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::Outcome;
use super::limits::{AccountLimits, Pass, Rules};
use super::oauth::{Authorization, OAuthApp, OAuthFlow, OAuthTokens, TokenKeeper};
use crate::crypto::seal::Sealer;
use crate::store::{ConnectionRow, Provider, Store};

/// 429s one call waits out before it gives up as a retryable failure.
pub const MAX_THROTTLES: u32 = 8;

/// One connection's live credentials and the account it books into.
pub struct Session {
    pub connection: ConnectionRow,
    /// The provider's id of the account (the QuickBooks realm, the Xero organisation).
    pub account_id: String,
    pub tokens: OAuthTokens,
    /// Cancelled when the connection is disconnected.
    pub stop: CancellationToken,
    /// The account's key for limits and ERP records, e.g. `xero:<organisation id>`.
    account: String,
}

impl Session {
    /// The account's key for limits and ERP records.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// A copy for a task of its own (a batch leader sending for others).
    pub fn fork(&self) -> Session {
        Session {
            connection: self.connection.clone(),
            account_id: self.account_id.clone(),
            tokens: self.tokens.clone(),
            stop: self.stop.clone(),
            account: self.account.clone(),
        }
    }
}

/// What to do about a failed call to an OAuth ERP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallErrorKind {
    /// Try again later (outage, 5xx, network); `Some` is the least wait.
    Retryable(Option<Duration>),
    /// 429: the account's limit was reached; wait this long and send the same request
    /// again.
    Throttled(Duration),
    /// The request was sent but no answer came back: it may or may not have happened.
    Uncertain,
    /// No retry can fix it (validation, bad mapping, forbidden).
    Permanent,
    /// 401: the access token was refused; refresh it and send once more.
    Unauthorized,
    /// The object does not exist (any more).
    NotFound,
    /// QuickBooks 5010: the SyncToken is stale; re-read and re-apply.
    Stale,
    /// QuickBooks 6240: a customer with this DisplayName exists already.
    DuplicateName,
}

/// A failed call to an OAuth ERP; each provider reads its own answers into one
/// (`quickbooks/api.rs`, `xero/api.rs`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CallError {
    pub kind: CallErrorKind,
    pub status: Option<u16>,
    pub message: String,
}

impl CallError {
    /// A failure that happened before or instead of an HTTP answer: a timeout may have
    /// reached the ERP.
    pub fn network(provider: Provider, e: &reqwest::Error) -> Self {
        CallError {
            kind: if e.is_timeout() {
                CallErrorKind::Uncertain
            } else {
                CallErrorKind::Retryable(None)
            },
            status: None,
            message: format!("{} did not answer: {e}", provider.label()),
        }
    }

    /// A 2xx answer whose body is not the JSON it should be.
    pub fn unreadable(provider: Provider, status: u16, e: &serde_json::Error) -> Self {
        CallError {
            kind: CallErrorKind::Retryable(None),
            status: Some(status),
            message: format!(
                "{} answered {status} with unreadable JSON: {e}",
                provider.label()
            ),
        }
    }
}

/// An API answer, read to its end.
pub struct ApiAnswer {
    provider: Provider,
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl ApiAnswer {
    /// A header's text, if it has one.
    pub fn header(&self, name: impl reqwest::header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The JSON of the body.
    pub fn json(&self) -> Result<Value, CallError> {
        serde_json::from_str(&self.text)
            .map_err(|e| CallError::unreadable(self.provider, self.status, &e))
    }
}

impl From<CallError> for Outcome {
    fn from(e: CallError) -> Self {
        match e.kind {
            CallErrorKind::Retryable(after) => Outcome::retryable(e.status, e.message, after),
            CallErrorKind::Throttled(wait) => Outcome::retryable(e.status, e.message, Some(wait)),
            CallErrorKind::Uncertain | CallErrorKind::Unauthorized => {
                Outcome::retryable(e.status, e.message, None)
            }
            _ => Outcome::permanent(e.status, e.message),
        }
    }
}

/// What an OAuth provider tells the shared client about itself.
pub struct OAuthSpec {
    pub provider: Provider,
    /// Whether the authorization code flow uses PKCE (Xero).
    pub pkce: bool,
    /// The provider's limits per account.
    pub limits: Rules,
    /// The config key holding the account id (`realm_id`, `tenant_id`).
    pub account_key: &'static str,
    /// Why a delivery waits while the account is not known yet.
    pub unbound: &'static str,
}

/// Where and how the OAuth connectors run, as the server configures them.
pub struct OAuthSetup<'a> {
    pub app: &'a OAuthApp,
    /// The service's public address; OAuth redirects go to `<public_url>/v1/oauth/callback`.
    pub public_url: &'a str,
    pub store: &'a Store,
    pub sealer: Sealer,
    /// Bounds one request to the ERP.
    pub timeout: Duration,
    /// The longest pause a provider's answer can impose (`--max-retry-after`).
    pub max_pause: Duration,
}

/// One OAuth provider's tokens and limits, and where its connections name their
/// account.
pub struct OAuthClient {
    pub provider: Provider,
    pub tokens: TokenKeeper,
    pub limits: AccountLimits,
    /// The HTTP client for API calls: no redirects, each request bounded.
    pub http: reqwest::Client,
    account_key: &'static str,
    unbound: &'static str,
}

impl OAuthClient {
    /// The client of `spec`'s provider, asking for `scopes`. Without a client id the
    /// provider is not configured: its connections cannot be authorized (the connect
    /// flow says so) but the service runs.
    pub fn new(spec: OAuthSpec, scopes: &[&str], setup: OAuthSetup<'_>) -> Self {
        let label = spec.provider.label();
        let redirect = format!(
            "{}/v1/oauth/callback",
            setup.public_url.trim_end_matches('/')
        );
        let flow = if setup.app.client_id.is_empty() {
            None
        } else {
            OAuthFlow::new(setup.app, &redirect, scopes, spec.pkce)
                .map_err(|e| tracing::error!(error = %e, "the {label} OAuth settings are invalid"))
                .ok()
        };
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(setup.timeout)
            .build()
            .expect("a static HTTP client configuration");
        OAuthClient {
            provider: spec.provider,
            tokens: TokenKeeper::new(label, flow, setup.store.clone(), setup.sealer),
            limits: AccountLimits::new(setup.store, spec.limits, setup.timeout)
                .capping_pauses(setup.max_pause),
            http,
            account_key: spec.account_key,
            unbound: spec.unbound,
        }
    }

    /// The session of a connection with these tokens.
    pub fn session(
        &self,
        connection: ConnectionRow,
        tokens: OAuthTokens,
        stop: CancellationToken,
    ) -> Result<Session, Outcome> {
        let (account_id, account) = self.account_of(&connection)?;
        Ok(Session {
            account,
            connection,
            account_id,
            tokens,
            stop,
        })
    }

    /// The provider's id of the account the connection books into, and the account's
    /// key for limits and ERP records; held while the connection has not chosen one.
    pub fn account_of(&self, connection: &ConnectionRow) -> Result<(String, String), Outcome> {
        let account_id = connection
            .config
            .get(self.account_key)
            .and_then(Value::as_str)
            .ok_or_else(|| Outcome::held(self.unbound))?;
        Ok((
            account_id.to_string(),
            format!("{}:{account_id}", self.provider),
        ))
    }

    /// A session whose access token is valid for at least a minute.
    pub async fn fresh_session(
        &self,
        connection_id: &str,
        stop: CancellationToken,
    ) -> Result<Session, Outcome> {
        let (connection, tokens) = self.tokens.fresh(connection_id).await?;
        self.session(connection, tokens, stop)
    }

    /// A fresh authorization link, or why this server cannot connect the provider.
    pub fn authorize(&self) -> Result<Authorization, String> {
        Ok(self.tokens.flow()?.authorize())
    }

    /// A request to the provider's API with the session's access token, asking for JSON.
    pub fn request(
        &self,
        session: &Session,
        method: reqwest::Method,
        url: String,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(&session.tokens.access_token)
            .header(reqwest::header::ACCEPT, "application/json")
    }

    /// Sends `request` and reads its answer.
    pub async fn answer(&self, request: reqwest::RequestBuilder) -> Result<ApiAnswer, CallError> {
        let network = |e| CallError::network(self.provider, &e);
        let response = request.send().await.map_err(network)?;
        Ok(ApiAnswer {
            provider: self.provider,
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.map_err(network)?,
        })
    }

    /// A fresh session for reads that no disconnect stops (tests, lists, previews).
    pub async fn read_session(&self, connection_id: &str) -> Result<Session, Outcome> {
        self.fresh_session(connection_id, CancellationToken::new())
            .await
    }

    /// Waits for leave to send one call to the session's account.
    pub async fn enter(&self, session: &Session) -> Result<Pass, Outcome> {
        self.limits
            .enter(self.provider.label(), session.account(), &session.stop)
            .await
    }

    /// Leave to send: `pass` when the caller holds one already (a batch leader waited
    /// for it while its batch filled), else a wait for one. A pass taken before the
    /// connection was stopped (a disconnect while the batch filled) sends nothing.
    pub async fn pass(&self, session: &Session, pass: Option<Pass>) -> Result<Pass, Outcome> {
        match pass {
            Some(_) if session.stop.is_cancelled() => {
                let (provider, account) = (self.provider.label(), session.account());
                Err(crate::connectors::limits::Blocked::Stopped.outcome(provider, account))
            }
            Some(p) => Ok(p),
            None => self.enter(session).await,
        }
    }

    /// What follows one send of a call (see the module docs): its result, or
    /// [`Next::Again`] after a token refresh (the first 401) or a pause (a 429, up to
    /// [`MAX_THROTTLES`]). A provider's call is the loop
    /// `pass` → its own send → `after`, until `after` says it is done.
    pub async fn after<T>(
        &self,
        session: &mut Session,
        retries: &mut Retries,
        sent: Result<T, CallError>,
    ) -> Result<Next<T>, Outcome> {
        let e = match sent {
            Ok(v) => return Ok(Next::Done(v)),
            Err(e) => e,
        };
        match e.kind {
            CallErrorKind::Unauthorized if !retries.refreshed => {
                retries.refreshed = true;
                let failed = session.tokens.access_token.clone();
                let (connection, tokens) = self
                    .tokens
                    .refresh(&session.connection.id, Some(&failed))
                    .await?;
                *session = self.session(connection, tokens, session.stop.clone())?;
                Ok(Next::Again)
            }
            CallErrorKind::Throttled(wait) if retries.throttled < MAX_THROTTLES => {
                retries.throttled += 1;
                self.limits.pause(session.account(), wait);
                Ok(Next::Again)
            }
            _ => Err(e.into()),
        }
    }
}

/// What one call has spent of its second chances.
#[derive(Debug, Default)]
pub struct Retries {
    refreshed: bool,
    throttled: u32,
}

/// Whether a call is done.
pub enum Next<T> {
    Done(T),
    /// Send the same request again.
    Again,
}
