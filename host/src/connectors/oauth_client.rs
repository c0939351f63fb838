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
use super::limits::{AccountLimits, Pass};
use super::oauth::{OAuthTokens, TokenKeeper};
use crate::store::{ConnectionRow, Provider};

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

/// How one request ended, as far as the shared call loop is concerned.
pub enum Sent<E> {
    /// The access token was refused (401): refresh and send again, once.
    Unauthorized(E),
    /// A limit was reached (429): pause the account this long and send again.
    Throttled(E, Duration),
    /// Anything else: the call's result.
    Failed(E),
}

/// One OAuth provider's tokens and limits, and where its connections name their
/// account.
pub struct OAuthClient {
    pub provider: Provider,
    pub tokens: TokenKeeper,
    pub limits: AccountLimits,
    /// The config key holding the account id (`realm_id`, `tenant_id`).
    account_key: &'static str,
    /// Why a delivery waits when the account is not known yet.
    unbound: &'static str,
}

impl OAuthClient {
    /// A client whose connections name their account in `config[account_key]`;
    /// `unbound` says why a delivery waits while it is missing.
    pub fn new(
        provider: Provider,
        tokens: TokenKeeper,
        limits: AccountLimits,
        account_key: &'static str,
        unbound: &'static str,
    ) -> Self {
        OAuthClient {
            provider,
            tokens,
            limits,
            account_key,
            unbound,
        }
    }

    /// The session of a connection with these tokens.
    pub fn session(
        &self,
        connection: ConnectionRow,
        tokens: OAuthTokens,
        stop: CancellationToken,
    ) -> Result<Session, Outcome> {
        let account_id = connection
            .config
            .get(self.account_key)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Outcome::held(self.unbound))?;
        Ok(Session {
            account: format!("{}:{account_id}", self.provider),
            connection,
            account_id,
            tokens,
            stop,
        })
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

    /// Waits for leave to send one call to the session's account.
    pub async fn enter(&self, session: &Session) -> Result<Pass, Outcome> {
        self.limits
            .enter(self.provider.label(), session.account(), &session.stop)
            .await
    }

    /// Leave to send: `pass` when the caller holds one already (a batch leader waited
    /// for it while its batch filled), else a wait for one.
    pub async fn pass(&self, session: &Session, pass: Option<Pass>) -> Result<Pass, Outcome> {
        match pass {
            Some(p) => Ok(p),
            None => self.enter(session).await,
        }
    }

    /// What follows one send of a call (see the module docs): its result, or
    /// [`Next::Again`] after a token refresh (the first 401) or a pause (a 429, up to
    /// [`MAX_THROTTLES`]). A provider's call is the loop
    /// `pass` → its own send → `after`, until `after` says it is done.
    pub async fn after<T, E: Into<Outcome>>(
        &self,
        session: &mut Session,
        retries: &mut Retries,
        sent: Result<T, Sent<E>>,
    ) -> Result<Next<T>, Outcome> {
        match sent {
            Ok(v) => Ok(Next::Done(v)),
            Err(Sent::Unauthorized(_)) if !retries.refreshed => {
                retries.refreshed = true;
                let failed = session.tokens.access_token.clone();
                let (connection, tokens) = self
                    .tokens
                    .refresh(&session.connection.id, Some(&failed))
                    .await?;
                *session = self.session(connection, tokens, session.stop.clone())?;
                Ok(Next::Again)
            }
            Err(Sent::Throttled(_, wait)) if retries.throttled < MAX_THROTTLES => {
                retries.throttled += 1;
                self.limits.pause(session.account(), wait);
                Ok(Next::Again)
            }
            Err(Sent::Unauthorized(e) | Sent::Throttled(e, _) | Sent::Failed(e)) => Err(e.into()),
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
