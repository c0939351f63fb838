//! A fake NetSuite: the part of SuiteTalk REST web services (record service v1) that
//! erp-sync uses — customers, invoices, credit memos (by transform, or written with their
//! `apply` sublist), customer payments and refunds, deletes, currencies, accounts and
//! subsidiaries — and SuiteQL through the query service (reference lists: items,
//! accounts, currencies, subsidiaries, tax codes), behind Token-Based Authentication.
//!
//! It checks what NetSuite checks and answers in NetSuite's wire shapes
//! (`docs/erp-apis.md` §3 and §6):
//! - every request's OAuth 1.0a signature is recomputed (RFC 5849, HMAC-SHA256) with the
//!   known consumer and token secrets, independently of erp-sync's signer: wrong keys or
//!   secrets, a `realm` not spelled like the account id (`1234567_SB1`), HMAC-SHA1, a
//!   timestamp more than 5 minutes off, a reused nonce, an unsigned query parameter or a
//!   header value that is not fully percent-encoded all answer `401 INVALID_LOGIN`, with
//!   the reason only in [`FakeNetSuite::login_audit`] (NetSuite's Login Audit Trail);
//! - upsert by external id (`PUT …/eid:<id>`): a create answers 204 with the id only in
//!   `Location`; an update answers 204 without it [I];
//! - the sublist rule that traps naive connectors: on an update, `item` lines without a
//!   matching `line` key are APPENDED, unless `?replace=item`, where the sent lines
//!   replace the old ones — so re-sending an invoice without it doubles its total;
//! - required fields, references (customer, item, currency, subsidiary), the external id
//!   alphabet, unique external ids, field names matched case-insensitively and unknown
//!   ones refused [I]; totals recomputed from the lines;
//! - an account-wide concurrency limit (default 5): requests beyond it answer 429;
//! - SuiteQL (`POST /services/rest/query/v1/suiteql?limit=&offset=`, body `{"q": …}`):
//!   signed like every call (`limit` and `offset` are query parameters, so they are in
//!   the signature), `Prefer: transient` required [I], pages of at most 1000 rows with
//!   `offset` a multiple of `limit`, rows with lower-case column names, every value a
//!   string and NULL columns left out; a small subset of the language is understood (see
//!   [`suiteql_parser::parse_suiteql`]) and anything else answers NetSuite's `INVALID_PARAMETER`;
//! - errors in the REST envelope `{"type","title","status","o:errorDetails":[{"detail",
//!   "o:errorCode","o:errorPath"?}]}`.
//!
//! Faults are injected with methods on [`FakeNetSuite`]: throttling, outages, answers lost
//! after commit, slow calls, inactive items. Choices where NetSuite's behaviour is not
//! documented are marked "[I]".
//!
//! Layout: [`FakeNetSuite`] and its router are here, its setup and fault injection in
//! `setup`. Every request passes `gate` (the concurrency limit, the `tba` login check,
//! faults), then `routes` sends it to the record service (`records`, with `invoices` for
//! item lines and credit memos by transform, `ledger` for applications, payments, refunds,
//! deletes and balances) or to SuiteQL (`suiteql`, reading queries with
//! `suiteql_parser`); `answers` holds the REST envelopes, `state` the data. Serving and
//! request recording are the shared fake-ERP harness (`super::harness`).

mod answers;
mod gate;
mod invoices;
mod ledger;
mod records;
mod routes;
mod setup;
mod state;
mod suiteql;
mod suiteql_parser;
mod tba;

use axum::Router;
use axum::routing::any;
use serde_json::Value;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::harness::{Fake, Listener, lock};

use gate::api;
use routes::RecordType;
use state::FakeState;
use tba::pct;

/// The account id, as `realm` must spell it.
pub const ACCOUNT_ID: &str = "1234567_SB1";
/// The integration record's consumer key and secret, and the access token's id and
/// secret: the synthetic credentials of the notes' test vectors.
pub const CONSUMER_KEY: &str = "ef40afdd8abaac111b13825dd5e5e2ddddb44f86d5a0dd6dcf38c20aae6b67e4";
pub const CONSUMER_SECRET: &str =
    "d26ad321a4b2f23b0741c8d38392ce01c3e23e109df6c96eac6d099e9ab9a8b5";
pub const TOKEN_ID: &str = "2b0ce516420110bcbd36b69e99196d1b7f6de3c6234c5afb799b73d87569f5cc";
pub const TOKEN_SECRET: &str = "c29a677df7d5439a458c063654187e3d678d73aca8e3c9d8fea1478a83bc6ab6";

/// The subsidiary that exists ("Parent Company").
pub const SUBSIDIARY_ID: &str = "1";
/// Items: a service, a usage service, a discount item and a tax (other charge) item.
pub const ITEM_SERVICES: &str = "86";
pub const ITEM_USAGE: &str = "87";
pub const ITEM_DISCOUNT: &str = "90";
pub const ITEM_TAX: &str = "95";

/// The chart of accounts the fake starts with (internal ids).
pub const ACCOUNT_BANK: &str = "1";
pub const ACCOUNT_RECEIVABLE: &str = "6";
pub const ACCOUNT_REVENUE: &str = "54";
pub const ACCOUNT_DISCOUNTS: &str = "55";
pub const ACCOUNT_DEFERRED_REVENUE: &str = "58";
pub const ACCOUNT_TAX_PAYABLE: &str = "67";
/// The legacy tax codes (`salestaxitem`) the fake starts with: 7.25 % and 0 %.
pub const TAX_CA: &str = "101";
pub const TAX_EXEMPT: &str = "102";

/// NetSuite's base concurrency limit (no SuiteCloud Plus licence).
pub const DEFAULT_CONCURRENCY_LIMIT: usize = 5;

/// The signature of RFC 5849 §3.4 for a base URI and decoded parameters.
pub fn signature(
    method: &str,
    base_uri: &str,
    params: &[(String, String)],
    consumer_secret: &str,
    token_secret: &str,
) -> String {
    let mut pairs: Vec<(String, String)> = params.iter().map(|(k, v)| (pct(k), pct(v))).collect();
    pairs.sort();
    let normalized: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let base = format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        pct(base_uri),
        pct(&normalized.join("&"))
    );
    let key = format!("{}&{}", pct(consumer_secret), pct(token_secret));
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(base.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The running fake (its URL, state, requests and faults are the harness's [`Fake`]; the
/// record service is below `{url}/services/rest/record/v1/`). Dropping it stops the server.
pub type FakeNetSuite = Fake<FakeState, ()>;

impl FakeNetSuite {
    /// Starts the fake on an ephemeral loopback port: account [`ACCOUNT_ID`], subsidiary
    /// [`SUBSIDIARY_ID`], the four items, the currencies USD (1, the base currency), GBP
    /// (2), CAD (3) and EUR (4), a small chart of accounts ([`ACCOUNT_BANK`] "1000
    /// Checking", [`ACCOUNT_RECEIVABLE`] "1200 Accounts Receivable", [`ACCOUNT_TAX_PAYABLE`]
    /// "2200 Sales Tax Payable", [`ACCOUNT_DEFERRED_REVENUE`] "2400 Deferred Revenue",
    /// [`ACCOUNT_REVENUE`] "4000 Sales", [`ACCOUNT_DISCOUNTS`] "4900 Sales Discounts") and
    /// the tax codes [`TAX_CA`] "CA Sales Tax" (7.25 %) and [`TAX_EXEMPT`] "Exempt" (0 %).
    pub async fn start() -> Self {
        let listener = Listener::bind().await;
        let state = FakeState::new(&listener.url);
        let app = Router::new().fallback(any(api));
        Fake::serve("the fake NetSuite", listener, state, app)
    }

    // --- inspection ---

    /// The records of one type as `GET` returns them, in creation order.
    fn views(&self, record_type: RecordType) -> Vec<Value> {
        let s = lock(&self.state);
        let records = s.records(record_type).iter();
        records.map(|r| s.view(record_type.name(), r)).collect()
    }

    /// Invoices as `GET /invoice/{id}` returns them, in creation order.
    pub fn invoices(&self) -> Vec<Value> {
        self.views(RecordType::Invoice)
    }

    /// Customers, in creation order.
    pub fn customers(&self) -> Vec<Value> {
        self.views(RecordType::Customer)
    }

    /// Credit memos, in creation order.
    pub fn credit_memos(&self) -> Vec<Value> {
        self.views(RecordType::CreditMemo)
    }

    /// Customer payments, in creation order (deleted ones are gone).
    pub fn payments(&self) -> Vec<Value> {
        self.views(RecordType::CustomerPayment)
    }

    /// Customer refunds, in creation order (deleted ones are gone).
    pub fn refunds(&self) -> Vec<Value> {
        self.views(RecordType::CustomerRefund)
    }

    /// The most requests in flight at once (including any refused for exceeding the limit).
    pub fn max_concurrent_seen(&self) -> usize {
        lock(&self.state).calls.max_seen()
    }

    /// Why logins were refused, oldest first (NetSuite shows this only in its Login
    /// Audit Trail), e.g. `InvalidSignature`.
    pub fn login_audit(&self) -> Vec<String> {
        lock(&self.state).login_audit.clone()
    }

    /// The `q` of every SuiteQL request that got as far as its query (signed, with
    /// `Prefer: transient` and a JSON body), in arrival order, refused ones included.
    pub fn suiteql_queries(&self) -> Vec<String> {
        lock(&self.state).suiteql.clone()
    }
}

#[cfg(test)]
mod self_tests;
