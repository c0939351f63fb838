//! The QuickBooks Online connector: OAuth 2.0, company settings, customers, items,
//! idempotent invoices.
//!
//! - Connect: authorization code and `state`; the callback stores the company (realm).
//!   Access tokens are refreshed a minute before they expire (and once on a 401), one
//!   refresh per connection at a time; a rotated refresh token is saved in the same
//!   transaction as the access token. A refresh refused with `invalid_grant` turns the
//!   connection `needs_reauth` and holds its deliveries until it is re-authorized.
//! - Calls stay within each company's limits (10 in flight, 500 in any minute), and a
//!   429 is waited out with the same request ([`client`]).
//! - What is booked: [`mapping`] (lines, tax, currency), [`company`] (the settings it
//!   depends on), [`customers`] (one Customer per customer and currency), [`invoices`]
//!   (one QuickBooks invoice per invoice).

pub mod api;
pub mod client;
pub mod company;
pub mod config;
pub mod connect;
pub mod customers;
pub mod invoices;
pub mod lists;
pub mod mapping;
pub mod preview;

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use tokio_util::sync::CancellationToken;

use super::limits::{AccountLimits, Rules};
use super::oauth::OAuthApp;
use super::oauth::{OAuthFlow, TokenKeeper};
use super::oauth_client::OAuthClient;
use super::{
    CheckedConfig, ConfigContext, ConfigError, Connector, ErpEntry, ErpList, Onboarding, Outcome,
    Preview, PreviewInput, Provider, SyncRequest,
};
use crate::crypto::seal::Sealer;
use crate::store::{ConnectionRow, Store};
use api::{QboError, QboErrorKind};

pub(crate) fn store_err(e: crate::store::StoreError) -> Outcome {
    Outcome::retryable(None, e.to_string(), None)
}

/// The OAuth scope erp-sync asks for.
pub const SCOPE: &str = "com.intuit.quickbooks.accounting";

/// QuickBooks' limits per company: 10 requests in flight, 500 in any minute. An attempt
/// waits up to 90 s for them, enough for the minute QuickBooks asks after a 429.
pub const LIMITS: Rules = Rules {
    concurrent: 10,
    per_minute: Some(500),
    patience: Duration::from_secs(90),
};

/// The connector; one per process.
pub struct QuickBooksConnector {
    app: OAuthApp,
    /// Tokens and per-company limits, shared by every connection to that company (and,
    /// with a PostgreSQL store, by every host).
    client: OAuthClient,
    http: reqwest::Client,
    store: Store,
    companies: company::Companies,
    customer_locks: customers::CustomerLocks,
}

impl From<QboError> for Outcome {
    fn from(e: QboError) -> Self {
        match e.kind {
            QboErrorKind::Retryable(after) => Outcome::retryable(e.status, e.message, after),
            QboErrorKind::Throttled(wait) => Outcome::retryable(e.status, e.message, Some(wait)),
            QboErrorKind::Uncertain | QboErrorKind::Unauthorized => {
                Outcome::retryable(e.status, e.message, None)
            }
            _ => Outcome::permanent(e.status, e.message),
        }
    }
}

impl QuickBooksConnector {
    /// A connector for `app`; OAuth redirects go to `<public_url>/v1/oauth/callback`.
    pub fn new(
        app: OAuthApp,
        public_url: &str,
        store: Store,
        sealer: Sealer,
        timeout: Duration,
        max_pause: Duration,
    ) -> Self {
        let redirect = format!("{}/v1/oauth/callback", public_url.trim_end_matches('/'));
        let flow = if app.client_id.is_empty() {
            None
        } else {
            OAuthFlow::new(&app, &redirect, &[SCOPE], false)
                .map_err(
                    |e| tracing::error!(error = %e, "the QuickBooks OAuth settings are invalid"),
                )
                .ok()
        };
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .expect("a static HTTP client configuration");
        QuickBooksConnector {
            app,
            client: OAuthClient::new(
                Provider::QuickBooks,
                TokenKeeper::new("QuickBooks", flow, store.clone(), sealer),
                AccountLimits::new(&store, LIMITS, timeout).capping_pauses(max_pause),
                "realm_id",
                "the QuickBooks connection has not been authorized yet",
            ),
            http,
            store,
            companies: company::Companies::default(),
            customer_locks: customers::CustomerLocks::default(),
        }
    }
}

#[async_trait]
impl Connector for QuickBooksConnector {
    fn provider(&self) -> Provider {
        Provider::QuickBooks
    }

    fn onboarding(&self) -> Onboarding {
        Onboarding::OAuth
    }

    async fn check_config(
        &self,
        ctx: &ConfigContext<'_>,
        config: serde_json::Map<String, serde_json::Value>,
        current: Option<&ConnectionRow>,
    ) -> Result<CheckedConfig, ConfigError> {
        let _ = ctx;
        config::check(config, current)
    }

    async fn sync(&self, req: SyncRequest<'_>) -> Outcome {
        match self.sync_invoice(&req).await {
            Ok(o) | Err(o) => o,
        }
    }

    /// Reads the company's settings, and finds the default Item (`Services`) when the
    /// config names none, so a connection that cannot book lines fails here, not at the
    /// first invoice.
    async fn test(&self, connection: &ConnectionRow, _secrets: &Value) -> Outcome {
        let mut session = match self
            .client
            .fresh_session(&connection.id, CancellationToken::new())
            .await
        {
            Ok(s) => s,
            Err(o) => return o,
        };
        self.forget_company(&session);
        let company = match self.company(&mut session).await {
            Ok(c) => c,
            Err(o) => return o,
        };
        let rules = mapping::ItemRules::from_config(&session.connection.config);
        let default_item = match rules.default_item_id {
            Some(id) => format!("Item {id}"),
            None => match self.services_item(&mut session).await {
                Ok(Some(id)) => format!("the company's Services Item ({id})"),
                Ok(None) => {
                    return Outcome::permanent(
                        None,
                        "the company has no Item named Services to book unmapped invoice lines to; set default_item_id in the connection config (item_map alone leaves other lines without an Item)",
                    );
                }
                Err(o) => return o,
            },
        };
        let currencies = if company.multicurrency {
            format!("home currency {}, multicurrency on", company.home_currency)
        } else {
            format!(
                "home currency {}, multicurrency off (documents in other currencies fail)",
                company.home_currency
            )
        };
        Outcome {
            detail: Some(format!(
                "connected to {} ({}; {currencies}); unmapped lines book to {default_item}",
                company.name, company.country
            )),
            ..Outcome::success(Some(200), Some(session.account_id.clone()))
        }
    }

    fn in_flight_cap(&self) -> usize {
        LIMITS.concurrent * 2
    }

    async fn lookup(
        &self,
        connection: &ConnectionRow,
        _secrets: &Value,
        list: ErpList,
    ) -> Result<Vec<ErpEntry>, Outcome> {
        self.list(connection, list).await
    }

    async fn preview(&self, input: PreviewInput<'_>) -> Result<Preview, Outcome> {
        self.preview_invoice(input).await
    }
}
