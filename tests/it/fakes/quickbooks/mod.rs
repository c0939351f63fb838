//! A fake QuickBooks Online: Intuit's OAuth 2.0 endpoints and the part of the Accounting
//! API v3 that erp-sync uses (company info, preferences, query, customer, invoice
//! create/update/void/read, payment create/update/void/delete/read and credit memo
//! create/update/delete/read with the open balances they move (`ledger`), purchase
//! (cheque) create/update/delete/read, which refunds pay a credit out with (`purchases`),
//! and the look-ups
//! of mapping pages: items, accounts, tax codes, tax rates, company currencies).
//!
//! It checks what QBO checks and answers in QBO's wire shapes (bearer tokens per realm,
//! `minorversion`, `requestid` replay, `SyncToken`, reference and length validation, the
//! capital-`Fault` and lowercase gateway error envelopes, throttling), so a connector that
//! is wrong about the protocol fails here. Where QBO's behaviour is undocumented, the choice
//! made is marked "[I]". Faults (throttling, outages, lost responses, expired or revoked
//! tokens, concurrent edits) are injected through methods on [`FakeQuickBooks`].
//!
//! Each company has a country, a home currency and a multicurrency switch
//! ([`FakeQuickBooks::set_company_settings`]); they decide which currencies customers and
//! invoices may use and which tax model applies:
//! - US companies (the default) use the pseudo tax codes `TAX`/`NON` on lines and take the
//!   invoice's tax from `TxnTaxDetail.TotalTax` as sent;
//! - other countries use the global tax model: every sales line names an active `TaxCode`
//!   and QBO computes the tax from the codes' rates per `GlobalTaxCalculation`.
//!
//! Sources for the currency and tax rules, cited where they are applied: Intuit's API
//! reference (Invoice, Customer, CompanyCurrency, TaxCode, TaxRate, Preferences pages), the
//! "Manage multiple currencies" and "Manage sales tax for US / non-US locales" guides,
//! Intuit's error-code table, and `Finance.xsd` of `intuit/QuickBooks-V3-Java-SDK`; field
//! reports are marked "[S]" (seen in the wild, not in Intuit's documentation).
//!
//! Layout: [`FakeQuickBooks`] and its router are here, its setup and fault injection in
//! `setup`; `oauth` plays Intuit's OAuth 2.0 endpoints. Every API call passes `limits`
//! (token, `minorversion`, throttling, the per-realm limits), then `gate` answers it under
//! one lock (`requestid` replay) and routes it: reads of `entities`, `query`, `customers`
//! and `invoices`, whose tax and currency rules are in `tax` and `currencies`, all reading
//! properties through `fields`. `answers` holds QBO's fault envelopes, `state` the
//! companies. Serving, request recording and the OAuth book of codes and tokens are the
//! shared fake-ERP harness (`super::harness`).

mod answers;
mod currencies;
mod customers;
mod entities;
mod fields;
mod gate;
mod invoices;
mod ledger;
mod limits;
mod oauth;
mod purchases;
mod query;
mod setup;
mod state;
mod tax;

use axum::Router;
use axum::http::header;
use axum::http::request::Parts;
use axum::routing::{any, get};
use rust_decimal::Decimal;
use serde_json::Value;

use super::harness::wire::{Params, random_string};
use super::harness::{Fake, Record, lock};

use gate::{api, unknown_path};
use oauth::authorize;
use state::{Company, FakeState, Stored};

/// The app's OAuth client id.
pub const CLIENT_ID: &str = "qbo-test-client";
/// The app's OAuth client secret.
pub const CLIENT_SECRET: &str = "qbo-test-secret";
/// The company (realm) that exists from the start and is picked by default on authorize.
pub const REALM: &str = "9130350000000001";

/// [I] The sales tax codes (country, id, name, rate percent) a new company holds. QBO
/// assigns the ids per company and names codes per edition; these follow the editions'
/// usual names (the UK's "20.0% S" is seen in the wild [S]). Country `*` stands for every
/// country without a set of its own.
const DEFAULT_TAX_CODES: &[(&str, &str, &str, f64)] = &[
    ("GB", "3", "20.0% S", 20.0),
    ("GB", "4", "5.0% R", 5.0),
    ("GB", "5", "0.0% Z", 0.0),
    ("GB", "6", "Exempt", 0.0),
    ("GB", "7", "No VAT", 0.0),
    ("CA", "3", "GST", 5.0),
    ("CA", "4", "HST ON", 13.0),
    ("CA", "5", "Zero-rated", 0.0),
    ("CA", "6", "Exempt", 0.0),
    ("CA", "7", "Out of Scope", 0.0),
    ("AU", "3", "GST", 10.0),
    ("AU", "4", "GST free", 0.0),
    ("AU", "5", "Input taxed", 0.0),
    ("AU", "6", "Out of scope", 0.0),
    ("*", "3", "Zero-rated", 0.0),
    ("*", "4", "Exempt", 0.0),
];

/// The sales tax codes (id, name, rate percent) a new company of `country` holds (see
/// [`DEFAULT_TAX_CODES`]). `US` has none: it uses the pseudo codes `TAX`/`NON`. Add more
/// with [`FakeQuickBooks::add_tax_code`].
pub fn default_tax_codes(country: &str) -> Vec<(&'static str, &'static str, f64)> {
    if country == "US" {
        return Vec::new();
    }
    let own = DEFAULT_TAX_CODES.iter().any(|c| c.0 == country);
    let set = if own { country } else { "*" };
    DEFAULT_TAX_CODES
        .iter()
        .filter(|c| c.0 == set)
        .map(|&(_, id, name, rate)| (id, name, rate))
        .collect()
}

/// What the fake keeps of each request (API, token and authorize endpoints alike) besides
/// the harness's [`Recorded`](super::harness::Recorded) line and status.
#[derive(Clone, Debug)]
pub struct Details {
    /// Whether an `Authorization` header was sent.
    pub authorization: bool,
    /// The `requestid` query parameter, decoded.
    pub requestid: Option<String>,
}

/// The running fake (its URL, state, requests, faults and OAuth endpoints are the
/// harness's [`Fake`]). Dropping it stops the server.
pub type FakeQuickBooks = Fake<FakeState, Details>;

impl FakeQuickBooks {
    /// Starts the fake on an ephemeral loopback port, with company [`REALM`] ("Fake Co")
    /// holding the items 1 "Services", 2 "Hours" and 3 "Setup".
    pub async fn start() -> Self {
        let api = Router::new()
            .route("/v3/company/{realm}/{*rest}", any(api))
            .fallback(unknown_path);
        let state = FakeState::new();
        Fake::start_oauth("the fake QBO", state, get(authorize), api).await
    }

    // --- inspection ---

    /// Stored invoices of a company, as QBO returns them, in creation order.
    pub fn invoices(&self, realm: &str) -> Vec<Value> {
        self.with_company(realm, |c| entities(&c.invoices))
    }

    /// Stored payments of a company (voided ones too, deleted ones not), in creation order.
    pub fn payments(&self, realm: &str) -> Vec<Value> {
        self.with_company(realm, |c| entities(&c.payments))
    }

    /// Stored credit memos of a company (deleted ones not), in creation order.
    pub fn credit_memos(&self, realm: &str) -> Vec<Value> {
        self.with_company(realm, |c| entities(&c.credit_memos))
    }

    /// Stored purchases (cheques, cash expenses) of a company (deleted ones not), in
    /// creation order.
    pub fn purchases(&self, realm: &str) -> Vec<Value> {
        self.with_company(realm, |c| entities(&c.purchases))
    }

    /// The open balance of the invoice numbered `doc_number`, as QBO keeps it.
    pub fn invoice_balance(&self, realm: &str, doc_number: &str) -> Decimal {
        self.with_company(realm, |c| balance(&c.invoices, doc_number))
    }

    /// The remaining credit (`Balance`) of the credit memo numbered `doc_number`.
    pub fn credit_memo_balance(&self, realm: &str, doc_number: &str) -> Decimal {
        self.with_company(realm, |c| balance(&c.credit_memos, doc_number))
    }

    /// An account's balance as the ledger moved it: Payments deposited to it, less
    /// purchases paid from it (its `CurrentBalance`).
    pub fn account_balance(&self, realm: &str, account: &str) -> Decimal {
        self.with_company(realm, |c| c.account_balance(account))
    }

    /// Stored customers of a company, in creation order.
    pub fn customers(&self, realm: &str) -> Vec<Value> {
        self.with_company(realm, |c| c.customers.clone())
    }

    /// The most API requests for `realm` that were in flight at once (including any that
    /// were refused for exceeding the limit).
    pub fn max_concurrent_seen(&self, realm: &str) -> usize {
        self.with_company(realm, |c| c.calls.max_seen())
    }

    fn with_company<T>(&self, realm: &str, f: impl FnOnce(&mut Company) -> T) -> T {
        let mut s = lock(&self.state);
        let company = s
            .companies
            .get_mut(realm)
            .unwrap_or_else(|| panic!("unknown realm {realm}"));
        f(company)
    }
}

/// The entities of a list the fake keeps, in creation order.
fn entities(list: &[Stored]) -> Vec<Value> {
    list.iter().map(|s| s.entity.clone()).collect()
}

/// The `Balance` of the transaction numbered `doc_number`.
fn balance(list: &[Stored], doc_number: &str) -> Decimal {
    let found = list.iter().find(|s| s.entity["DocNumber"] == doc_number);
    let found = found.unwrap_or_else(|| panic!("nothing numbered {doc_number}"));
    super::harness::numbers::decimal(&found.entity["Balance"]).expect("a balance")
}

impl Record for Details {
    fn new(head: &Parts, _body: &[u8]) -> Self {
        let query = head.uri.query().unwrap_or_default();
        Details {
            authorization: head.headers.contains_key(header::AUTHORIZATION),
            requestid: Params::parse(query).get("requestid").map(str::to_string),
        }
    }

    fn trace_header() -> Option<(&'static str, String)> {
        let tid = format!("1-{}-{}", random_string(8), random_string(24)).to_lowercase();
        Some(("intuit_tid", tid))
    }
}

#[cfg(test)]
mod self_tests;
