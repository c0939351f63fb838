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
//! - The ledger ([`ledger`]: keys, memory, token writes): [`payments`] (a Payment
//!   linked to each invoice), [`credit_notes`] (a CreditMemo applied to its invoice),
//!   [`customer_updates`] (a sparse update of the Customers that stand for it), [`refunds`]
//!   (a cheque out of `payment_account`, settled with the credit memo by a zero Payment).

pub mod api;
pub mod client;
pub mod company;
pub mod config;
pub mod connect;
pub mod credit_notes;
pub mod customer_updates;
pub mod customers;
pub mod invoices;
pub mod ledger;
pub mod lists;
pub mod mapping;
pub mod payments;
pub mod preview;
pub mod refunds;

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use super::limits::Rules;
use super::locks::KeyedLocks;
use super::oauth::OAuthApp;
use super::oauth_client::{OAuthClient, OAuthSetup, OAuthSpec};
use super::{
    Checked, ConfigChange, Connector, Entries, ErpList, Outcome, Preview, PreviewInput, Provider,
    SyncRequest, profile,
};
use crate::documents::AnyDocument;
use crate::store::{ConnectionRow, Store};

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
    store: Store,
    companies: company::Companies,
    /// One customer resolution per (company, customer) at a time.
    customer_locks: KeyedLocks,
}

impl QuickBooksConnector {
    /// The connector, for the app in `setup`.
    pub fn new(setup: OAuthSetup<'_>) -> Self {
        let spec = OAuthSpec {
            provider: Provider::QuickBooks,
            pkce: false,
            limits: LIMITS,
            account_key: "realm_id",
            unbound: "the QuickBooks connection has not been authorized yet",
        };
        QuickBooksConnector {
            app: setup.app.clone(),
            store: setup.store.clone(),
            client: OAuthClient::new(spec, &[SCOPE], setup),
            companies: company::Companies::default(),
            customer_locks: KeyedLocks::default(),
        }
    }
}

#[async_trait]
impl Connector for QuickBooksConnector {
    profile!(QuickBooks, OAuth);

    async fn check_change(&self, change: ConfigChange<'_>) -> Checked {
        config::check(change)
    }

    async fn sync(&self, req: SyncRequest<'_>) -> Outcome {
        match self.sync_invoice(&req).await {
            Ok(o) | Err(o) => o,
        }
    }

    async fn sync_document(&self, req: SyncRequest<'_, AnyDocument>) -> Outcome {
        let done = match req.document {
            AnyDocument::Payment(p) => self.sync_payment(&req, p).await,
            AnyDocument::CreditNote(c) => self.sync_credit(&req, c).await,
            AnyDocument::Customer(u) => self.sync_customer_update(&req, u).await,
            AnyDocument::Refund(r) => self.sync_refund(&req, r).await,
            AnyDocument::Invoice(_) => Err(Outcome::permanent(
                None,
                format!(
                    "QuickBooks connections do not take {}s yet; nothing was sent",
                    req.document.doc_type().noun()
                ),
            )),
        };
        match done {
            Ok(o) | Err(o) => o,
        }
    }

    /// Reads the company's settings, and finds the default Item (`Services`) when the
    /// config names none, so a connection that cannot book lines fails here, not at the
    /// first invoice.
    async fn test(&self, connection: &ConnectionRow, _secrets: &Value) -> Outcome {
        let mut session = match self.client.read_session(&connection.id).await {
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
        let deposit = config::payment_account(&session.connection.config).map(str::to_string);
        let deposits = match deposit {
            None => "payments need config.payment_account (not set)".to_string(),
            Some(id) => {
                let path = format!("account/{id}");
                match self
                    .call(&mut session, reqwest::Method::GET, &path, &[], None)
                    .await
                {
                    Ok(answer) => format!(
                        "payments are deposited to {} ({id})",
                        answer["Account"]["Name"].as_str().unwrap_or("the account")
                    ),
                    Err(o) if ledger::is_error(&o, "610") => {
                        return Outcome::permanent(
                            o.response_code,
                            format!(
                                "payment_account {id} is not an account of this QuickBooks company; set config.payment_account to the id of the account payments are deposited to"
                            ),
                        );
                    }
                    Err(o) => return o,
                }
            }
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
                "connected to {} ({}; {currencies}); unmapped lines book to {default_item}; {deposits}",
                company.name, company.country
            )),
            ..Outcome::success(Some(200), Some(session.account_id.clone()))
        }
    }

    fn in_flight_cap(&self) -> usize {
        LIMITS.concurrent * 2
    }

    async fn lookup(&self, connection: &ConnectionRow, _secrets: &Value, list: ErpList) -> Entries {
        let mut session = self.client.read_session(&connection.id).await?;
        self.list(&mut session, list).await
    }

    async fn preview(&self, input: PreviewInput<'_>) -> Result<Preview, Outcome> {
        self.preview_of(input).await
    }
}
