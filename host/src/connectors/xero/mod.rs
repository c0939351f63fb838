//! The Xero connector: OAuth 2.0 with PKCE, organisations, contacts, idempotent invoices.
//!
//! - Connect: authorization code with PKCE (S256) and `state`; the callback lists the
//!   organisations the operator authorized (`/connections`) and binds the connection to
//!   one (`tenant_id`; when several were authorized, the operator picks one with
//!   `PATCH /v1/connections/{id}`). Tokens live 30 minutes and the refresh token rotates
//!   on every refresh; [`TokenKeeper`] refreshes one at a time and saves atomically.
//! - Calls stay within each organisation's limits as Xero counts them (60 in any minute,
//!   5 in flight, corrected by `X-MinLimit-Remaining`), and a 429 is waited out with the
//!   same request ([`client`]).
//! - Contacts are keyed by our customer id in `ContactNumber`, resolved a batch at a time
//!   ([`contacts`]).
//! - Invoices: every write carries an `Idempotency-Key` derived from the job; creates
//!   arriving together go as multi-invoice requests; a lost answer is settled by a look-up
//!   by number ([`invoices`]).
//! - The rest of the ledger ([`ledger`]): credit notes as `ACCRECCREDIT` credit notes
//!   allocated to their invoice ([`credit_notes`]), payments as one Xero payment per
//!   invoice into `payment_account` ([`payments`]), refunds as payments out of their
//!   credit note ([`refunds`]), customer updates as contact updates
//!   ([`customer_updates`]).

pub mod api;
pub mod client;
pub mod config;
pub mod connect;
pub mod contacts;
pub mod credit_notes;
pub mod customer_updates;
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

use super::coalesce::Coalescer;
use super::limits::Rules;
use super::oauth::OAuthApp;
use super::oauth_client::{OAuthClient, OAuthSetup, OAuthSpec};
use super::{
    Checked, ConfigChange, ConnectionStatus, Connector, Entries, ErpList, LedgerRequest, Outcome,
    Preview, PreviewInput, Provider, SyncRequest, profile,
};
use crate::store::{ConnectionRow, Store};
use client::Call;

/// The scopes erp-sync asks for by default: a refresh token, invoices and credit notes,
/// payments, contacts, and the organisation read the test sync does (Xero's granular
/// scopes; `accounting.payments` covers payments, `accounting.invoices` credit notes).
pub const DEFAULT_SCOPES: &str = "offline_access accounting.invoices accounting.payments accounting.contacts accounting.settings.read";

/// Xero's limits per organisation: 5 calls in flight, 60 in any minute. An attempt waits
/// up to two minutes for them (a minute's 429 included); a longer wait (the daily limit)
/// defers it.
pub const LIMITS: Rules = Rules {
    concurrent: 5,
    per_minute: Some(60),
    patience: Duration::from_secs(120),
};

/// Attempts of one connection in flight at most: enough for several full batches to
/// fill while others are sent, and for contact look-ups to cover a bill run's customers.
pub const IN_FLIGHT: usize = 400;

/// One organisation authorized by the operator.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct XeroTenant {
    pub tenant_id: String,
    pub name: String,
}

/// The connector; one per process.
pub struct XeroConnector {
    app: OAuthApp,
    /// Tokens and per-organisation limits (shared by every host on PostgreSQL).
    client: OAuthClient,
    store: Store,
    contact_batches: contacts::ContactBatches,
    resolving: contacts::Resolving,
    directories: contacts::Directories,
    invoice_creates: Coalescer<invoices::NewInvoice, Value>,
    invoice_checks: Coalescer<String, Option<Value>>,
    payment_creates: Coalescer<payments::NewPayments, Vec<Value>>,
    credit_note_creates: Coalescer<credit_notes::NewCreditNote, credit_notes::Made>,
}

impl XeroConnector {
    /// The connector, for the app in `setup`, asking for `scopes` (space separated).
    pub fn new(setup: OAuthSetup<'_>, scopes: &str) -> Self {
        let spec = OAuthSpec {
            provider: Provider::Xero,
            pkce: true,
            limits: LIMITS,
            account_key: "tenant_id",
            unbound: "no Xero organisation is chosen yet: set tenant_id on the connection",
        };
        let scopes: Vec<&str> = scopes.split_whitespace().collect();
        XeroConnector {
            app: setup.app.clone(),
            store: setup.store.clone(),
            client: OAuthClient::new(spec, &scopes, setup),
            contact_batches: Coalescer::new(contacts::FILL),
            resolving: contacts::Resolving::default(),
            directories: contacts::Directories::default(),
            invoice_creates: Coalescer::new(invoices::CREATE_FILL),
            invoice_checks: Coalescer::new(invoices::CHECK_FILL),
            payment_creates: Coalescer::new(payments::FILL),
            credit_note_creates: Coalescer::new(credit_notes::FILL),
        }
    }

    /// Exchanges the code (with the PKCE verifier), stores the tokens, and answers the
    /// organisations this authorization reaches (also kept in the config).
    async fn authorized_tenants(
        &self,
        connection: &ConnectionRow,
        code: &str,
        verifier: Option<String>,
    ) -> Result<Vec<XeroTenant>, String> {
        let tokens = self
            .client
            .tokens
            .flow()?
            .exchange(code, verifier)
            .await
            .map_err(|e| e.to_string())?;
        let url = format!("{}/connections", self.app.api_base.trim_end_matches('/'));
        let response = self
            .client
            .http
            .get(url)
            .bearer_auth(&tokens.access_token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("listing the authorized Xero organisations failed: {e}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("Xero's /connections answer is unreadable ({status}): {e}"))?;
        let tenants: Vec<XeroTenant> = body
            .as_array()
            .map(|list| {
                list.iter()
                    .filter(|c| c["tenantType"] == "ORGANISATION")
                    .filter_map(|c| {
                        Some(XeroTenant {
                            tenant_id: c["tenantId"].as_str()?.to_string(),
                            name: c["tenantName"].as_str().unwrap_or_default().to_string(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut config = connection.config.clone();
        config["available_tenants"] = serde_json::to_value(&tenants).expect("tenants serialize");
        self.client
            .tokens
            .save(&connection.id, Some(&config), &tokens)
            .await?;
        Ok(tenants)
    }

    /// Whether a write's element was accepted: with `summarizeErrors=false` a refused
    /// element comes back in a 200 with its validation errors (invoices flag it with
    /// `HasErrors`, contacts with `HasValidationErrors`).
    fn element_ok(element: &Value) -> Result<(), Outcome> {
        if element.is_null() {
            return Err(Outcome::retryable(
                Some(200),
                "Xero answered without the element that was sent",
                None,
            ));
        }
        if element["HasErrors"] == true
            || element["HasValidationErrors"] == true
            || element["StatusAttributeString"] == "ERROR"
        {
            let messages = api::validation_messages(&Some(element.clone()), "");
            return Err(Outcome::permanent(
                Some(200),
                format!("Xero validation error: {messages}"),
            ));
        }
        Ok(())
    }
}

impl XeroConnector {
    /// The test sync's check of `payment_account`, when one is set: it must be an
    /// account of the organisation that takes payments (a bank account, or one with
    /// payments enabled).
    async fn check_payment_account(&self, session: &mut client::Session) -> Result<(), Outcome> {
        let Some(code) = session
            .connection
            .config
            .get("payment_account")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return Ok(());
        };
        let filter = format!("Code=={}", mapping::where_literal(&code));
        let found = self.find_where(session, "Accounts", &filter).await?;
        let Some(account) = found.first().filter(|a| !a.is_null()) else {
            return Err(Outcome::permanent(
                Some(200),
                format!("config.payment_account: the organisation has no account with code {code}"),
            ));
        };
        if account["Type"] != "BANK" && account["EnablePaymentsToAccount"] != true {
            return Err(Outcome::permanent(
                Some(200),
                format!(
                    "config.payment_account: account {code} ({}) takes no payments: choose a bank account",
                    account["Name"].as_str().unwrap_or_default()
                ),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Connector for XeroConnector {
    profile!(Xero, OAuth);

    async fn check_change(&self, change: ConfigChange<'_>) -> Checked {
        config::check(change)
    }

    /// Authorized, and now its organisation chosen by `PATCH`.
    fn completes_on_change(&self, connection: &ConnectionRow) -> bool {
        connection.status == ConnectionStatus::PendingAuth && connection.secrets.is_some()
    }

    /// Reads the organisation.
    async fn test(&self, connection: &ConnectionRow, _secrets: &Value) -> Outcome {
        let mut session = match self.client.read_session(&connection.id).await {
            Ok(s) => s,
            Err(o) => return o,
        };
        match self
            .call(&mut session, Call::get("Organisation", &[]))
            .await
        {
            Ok(answer) => {
                let name = answer["Organisations"][0]["Name"]
                    .as_str()
                    .unwrap_or("the organisation")
                    .to_string();
                if let Err(o) = self.check_payment_account(&mut session).await {
                    return o;
                }
                Outcome {
                    detail: Some(format!("connected to {name}")),
                    ..Outcome::success(Some(200), Some(session.account_id.clone()))
                }
            }
            Err(o) => o,
        }
    }

    async fn sync(&self, req: SyncRequest<'_>) -> Outcome {
        self.sync_invoice(&req).await.unwrap_or_else(|o| o)
    }

    /// Credit notes, payments, refunds and customer updates ([`ledger`]).
    async fn sync_document(&self, req: LedgerRequest<'_>) -> Outcome {
        self.sync_ledger(&req).await.unwrap_or_else(|o| o)
    }

    fn in_flight_cap(&self) -> usize {
        IN_FLIGHT
    }

    async fn lookup(&self, connection: &ConnectionRow, _secrets: &Value, list: ErpList) -> Entries {
        self.list(connection, list).await
    }

    async fn preview(&self, input: PreviewInput<'_>) -> Result<Preview, Outcome> {
        self.preview_of(input).await
    }
}

/// An idempotency key naming exactly the members of a batch by their own `keys`, in order:
/// `<prefix>-` and 16 bytes of their SHA-256, so a batch sent again is the same batch.
pub(super) fn batch_key<'a>(prefix: &str, keys: impl IntoIterator<Item = &'a str>) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for key in keys {
        hasher.update(key.as_bytes());
        hasher.update(b"\n");
    }
    format!("{prefix}-{}", hex::encode(&hasher.finalize()[..16]))
}
