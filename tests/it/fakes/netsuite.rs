//! A fake NetSuite: the part of SuiteTalk REST web services (record service v1) that
//! erp-sync uses — customers, invoices, credit memos by transform, currencies and
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
//!   [`parse_suiteql`]) and anything else answers NetSuite's `INVALID_PARAMETER`;
//! - errors in the REST envelope `{"type","title","status","o:errorDetails":[{"detail",
//!   "o:errorCode","o:errorPath"?}]}`.
//!
//! Faults are injected with methods on [`FakeNetSuite`]: throttling, outages, answers lost
//! after commit, slow calls, inactive items. Choices where NetSuite's behaviour is not
//! documented are marked "[I]".

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine;
use chrono::{NaiveDate, Utc};
use hmac::{Hmac, Mac};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value, json};
use sha2::Sha256;

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
/// How far a timestamp may be from the server's clock.
const TIMESTAMP_WINDOW_SECS: i64 = 300;
const RECORD_PREFIX: &str = "/services/rest/record/v1/";
const SUITEQL_PATH: &str = "/services/rest/query/v1/suiteql";
/// Rows a SuiteQL page holds at most, and by default (Collection Paging).
const SUITEQL_MAX_LIMIT: usize = 1000;
/// Rows SuiteQL through REST reaches at most ("a maximum of 100,000 results").
const SUITEQL_MAX_RESULTS: usize = 100_000;
/// Account types as SuiteQL spells `account.accttype`.
const ACCOUNT_TYPES: [&str; 19] = [
    "Bank",
    "OthCurrAsset",
    "FixedAsset",
    "OthAsset",
    "AcctRec",
    "Equity",
    "Expense",
    "OthExpense",
    "COGS",
    "AcctPay",
    "CredCard",
    "LongTermLiab",
    "OthCurrLiab",
    "Income",
    "OthIncome",
    "DeferExpense",
    "UnbilledRec",
    "DeferRevenue",
    "NonPosting",
];

// ---------------------------------------------------------------------------------------
// Public handle
// ---------------------------------------------------------------------------------------

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The path as sent (still percent-encoded).
    pub path: String,
    /// The raw query string, empty when there is none.
    pub query: String,
    /// The status answered; 0 while the request is in flight.
    pub status: u16,
}

/// The running fake. Dropping it stops the server.
pub struct FakeNetSuite {
    /// Base URL, `http://127.0.0.1:<port>`; the record service is below
    /// `/services/rest/record/v1/`.
    pub url: String,
    state: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeNetSuite {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeNetSuite {
    /// Starts the fake on an ephemeral loopback port: account [`ACCOUNT_ID`], subsidiary
    /// [`SUBSIDIARY_ID`], the four items, the currencies USD (1, the base currency), GBP
    /// (2), CAD (3) and EUR (4), a small chart of accounts ([`ACCOUNT_BANK`] "1000
    /// Checking", [`ACCOUNT_RECEIVABLE`] "1200 Accounts Receivable", [`ACCOUNT_TAX_PAYABLE`]
    /// "2200 Sales Tax Payable", [`ACCOUNT_DEFERRED_REVENUE`] "2400 Deferred Revenue",
    /// [`ACCOUNT_REVENUE`] "4000 Sales", [`ACCOUNT_DISCOUNTS`] "4900 Sales Discounts") and
    /// the tax codes [`TAX_CA`] "CA Sales Tax" (7.25 %) and [`TAX_EXEMPT`] "Exempt" (0 %).
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("a local address"));
        let state: Shared = Arc::new(Mutex::new(FakeState::new(&url)));
        let app = Router::new().fallback(any(api)).with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the fake NetSuite serves");
        });
        FakeNetSuite { url, state, server }
    }

    // --- inspection ---

    /// Invoices as `GET /invoice/{id}` returns them, in creation order.
    pub fn invoices(&self) -> Vec<Value> {
        let s = lock(&self.state);
        s.invoices.iter().map(|r| s.view("invoice", r)).collect()
    }

    /// Customers, in creation order.
    pub fn customers(&self) -> Vec<Value> {
        let s = lock(&self.state);
        s.customers.iter().map(|r| s.view("customer", r)).collect()
    }

    /// Credit memos, in creation order.
    pub fn credit_memos(&self) -> Vec<Value> {
        let s = lock(&self.state);
        s.credit_memos
            .iter()
            .map(|r| s.view("creditMemo", r))
            .collect()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state).requests.clone()
    }

    /// The most requests in flight at once (including any refused for exceeding the limit).
    pub fn max_concurrent_seen(&self) -> usize {
        lock(&self.state).max_in_flight
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

    // --- setup and faults ---

    /// Requests allowed in flight at once (default [`DEFAULT_CONCURRENCY_LIMIT`]).
    pub fn set_concurrency_limit(&self, n: usize) {
        lock(&self.state).concurrency_limit = n;
    }

    /// The next `n` authenticated calls answer 429 `CONCURRENCY_LIMIT_EXCEEDED`.
    pub fn throttle_next(&self, n: usize) {
        lock(&self.state).faults.throttle = n;
    }

    /// The next `n` authenticated calls answer 503.
    pub fn outage_next(&self, n: usize) {
        lock(&self.state).faults.outage = n;
    }

    /// The next `n` successful writes (upsert, create, update, transform) are committed
    /// but answered 500 `UNEXPECTED_ERROR`: a lost answer.
    pub fn fail_after_commit(&self, n: usize) {
        lock(&self.state).faults.fail_after_commit = n;
    }

    /// Every admitted call sleeps this long while counted as in flight.
    pub fn set_delay(&self, d: Duration) {
        lock(&self.state).delay = d;
    }

    /// Makes an item (or a tax code, which NetSuite keeps among its items) inactive:
    /// references to it answer 400, and SuiteQL shows it with `isinactive` `T`.
    pub fn remove_item(&self, id: &str) {
        let mut s = lock(&self.state);
        if let Some(tax) = s.tax_items.iter_mut().find(|t| t.id == id) {
            tax.active = false;
            return;
        }
        let item = s.items.iter_mut().find(|i| i.id == id);
        item.unwrap_or_else(|| panic!("no item {id}")).active = false;
    }

    /// Adds an active account to the chart of accounts. `kind` is SuiteQL's `accttype`
    /// (`Income`, `AcctRec`, `OthCurrLiab`, `Bank`, `DeferRevenue`, …); an unknown kind or
    /// a taken id panics, as a mistake in the test.
    pub fn add_account(&self, id: &str, number: &str, name: &str, kind: &str) {
        let mut s = lock(&self.state);
        assert!(ACCOUNT_TYPES.contains(&kind), "no account type {kind}");
        assert!(
            !s.accounts.iter().any(|a| a.id == id),
            "account {id} exists"
        );
        s.accounts.push(Account::new(id, number, name, kind));
    }

    /// Makes an account inactive (SuiteQL shows it with `isinactive` `T`).
    pub fn deactivate_account(&self, id: &str) {
        let mut s = lock(&self.state);
        let account = s.accounts.iter_mut().find(|a| a.id == id);
        account.unwrap_or_else(|| panic!("no account {id}")).active = false;
    }

    /// Adds an active legacy tax code (`salestaxitem`, also listed among the items with
    /// `itemtype` `TaxItem`); `rate` is a percentage such as `"7.25"`. A taken id panics.
    pub fn add_tax_item(&self, id: &str, name: &str, rate: &str) {
        let mut s = lock(&self.state);
        assert!(
            !s.items.iter().any(|i| i.id == id) && !s.tax_items.iter().any(|t| t.id == id),
            "item {id} exists"
        );
        s.tax_items.push(TaxItem::new(id, name, rate));
    }
}

// ---------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------

type Shared = Arc<Mutex<FakeState>>;

/// Locks the state, ignoring poisoning (a panicking test must not cascade).
fn lock(state: &Mutex<FakeState>) -> MutexGuard<'_, FakeState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Default)]
struct Faults {
    throttle: usize,
    outage: usize,
    fail_after_commit: usize,
}

struct Item {
    id: String,
    name: String,
    record_type: &'static str,
    active: bool,
}

/// An account of the chart of accounts.
struct Account {
    id: String,
    number: String,
    name: String,
    kind: String,
    active: bool,
}

impl Account {
    fn new(id: &str, number: &str, name: &str, kind: &str) -> Self {
        Account {
            id: id.into(),
            number: number.into(),
            name: name.into(),
            kind: kind.into(),
            active: true,
        }
    }
}

/// A legacy tax code (`salestaxitem`): a percentage.
struct TaxItem {
    id: String,
    name: String,
    rate: Decimal,
    active: bool,
}

impl TaxItem {
    fn new(id: &str, name: &str, rate: &str) -> Self {
        TaxItem {
            id: id.into(),
            name: name.into(),
            rate: Decimal::from_str(rate).unwrap_or_else(|_| panic!("a tax rate: {rate}")),
            active: true,
        }
    }
}

/// A stored record: its internal id, external id and body fields (canonical names).
#[derive(Clone, Debug)]
struct Stored {
    id: String,
    external_id: Option<String>,
    fields: Map<String, Value>,
}

struct FakeState {
    base: String,
    items: Vec<Item>,
    currencies: Vec<(&'static str, &'static str, &'static str)>,
    accounts: Vec<Account>,
    tax_items: Vec<TaxItem>,
    /// The `q` of every SuiteQL request that reached its query.
    suiteql: Vec<String>,
    customers: Vec<Stored>,
    invoices: Vec<Stored>,
    credit_memos: Vec<Stored>,
    next_id: u64,
    nonces: HashSet<String>,
    login_audit: Vec<String>,
    requests: Vec<Recorded>,
    in_flight: usize,
    max_in_flight: usize,
    concurrency_limit: usize,
    faults: Faults,
    delay: Duration,
}

impl FakeState {
    fn new(base: &str) -> Self {
        let item = |id: &str, name: &str, record_type| Item {
            id: id.into(),
            name: name.into(),
            record_type,
            active: true,
        };
        FakeState {
            base: base.to_string(),
            items: vec![
                item(ITEM_SERVICES, "Services", "serviceItem"),
                item(ITEM_USAGE, "API usage", "serviceItem"),
                item(ITEM_DISCOUNT, "Discount", "discountItem"),
                item(ITEM_TAX, "Sales Tax", "otherChargeItem"),
            ],
            currencies: vec![
                ("1", "USD", "US Dollar"),
                ("2", "GBP", "British pound"),
                ("3", "CAD", "Canadian Dollar"),
                ("4", "EUR", "Euro"),
            ],
            accounts: vec![
                Account::new(ACCOUNT_BANK, "1000", "Checking", "Bank"),
                Account::new(ACCOUNT_RECEIVABLE, "1200", "Accounts Receivable", "AcctRec"),
                Account::new(
                    ACCOUNT_TAX_PAYABLE,
                    "2200",
                    "Sales Tax Payable",
                    "OthCurrLiab",
                ),
                Account::new(
                    ACCOUNT_DEFERRED_REVENUE,
                    "2400",
                    "Deferred Revenue",
                    "DeferRevenue",
                ),
                Account::new(ACCOUNT_REVENUE, "4000", "Sales", "Income"),
                Account::new(ACCOUNT_DISCOUNTS, "4900", "Sales Discounts", "Income"),
            ],
            tax_items: vec![
                TaxItem::new(TAX_CA, "CA Sales Tax", "7.25"),
                TaxItem::new(TAX_EXEMPT, "Exempt", "0"),
            ],
            suiteql: Vec::new(),
            customers: Vec::new(),
            invoices: Vec::new(),
            credit_memos: Vec::new(),
            // One sequence of internal ids for every record type, as in NetSuite.
            next_id: 1200,
            nonces: HashSet::new(),
            login_audit: Vec::new(),
            requests: Vec::new(),
            in_flight: 0,
            max_in_flight: 0,
            concurrency_limit: DEFAULT_CONCURRENCY_LIMIT,
            faults: Faults::default(),
            delay: Duration::ZERO,
        }
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    fn record_url(&self, record_type: &str, id: &str) -> String {
        format!("{}{RECORD_PREFIX}{record_type}/{id}", self.base)
    }

    /// A record as `GET` returns it: `links`, `id`, `externalId`, then its fields.
    fn view(&self, record_type: &str, r: &Stored) -> Value {
        let mut out = Map::new();
        out.insert(
            "links".into(),
            json!([{ "rel": "self", "href": self.record_url(record_type, &r.id) }]),
        );
        out.insert("id".into(), json!(r.id));
        if let Some(eid) = &r.external_id {
            out.insert("externalId".into(), json!(eid));
        }
        for (k, v) in &r.fields {
            out.insert(k.clone(), v.clone());
        }
        Value::Object(out)
    }

    fn records(&self, record_type: RecordType) -> &Vec<Stored> {
        match record_type {
            RecordType::Customer => &self.customers,
            RecordType::Invoice => &self.invoices,
            RecordType::CreditMemo => &self.credit_memos,
        }
    }

    fn records_mut(&mut self, record_type: RecordType) -> &mut Vec<Stored> {
        match record_type {
            RecordType::Customer => &mut self.customers,
            RecordType::Invoice => &mut self.invoices,
            RecordType::CreditMemo => &mut self.credit_memos,
        }
    }

    /// The index of the record a URL key (`4711` or `eid:X`) names.
    fn find(&self, record_type: RecordType, key: &Key) -> Option<usize> {
        self.records(record_type).iter().position(|r| match key {
            Key::Internal(id) => &r.id == id,
            Key::External(eid) => r.external_id.as_deref() == Some(eid.as_str()),
        })
    }
}

/// Decrements the in-flight count when the request is done (or dropped).
struct InFlight(Shared);

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.0).in_flight -= 1;
    }
}

// ---------------------------------------------------------------------------------------
// Answers and the REST error envelope
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: Option<Value>,
}

impl Answer {
    fn json(status: StatusCode, body: Value) -> Self {
        Answer {
            status,
            location: None,
            body: Some(body),
        }
    }

    fn no_content(location: Option<String>) -> Self {
        Answer {
            status: StatusCode::NO_CONTENT,
            location,
            body: None,
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = match &self.body {
            None => self.status.into_response(),
            Some(body) => {
                let kind = if self.status.is_success() {
                    if body.get("items").is_some() {
                        "collection"
                    } else {
                        "singular"
                    }
                } else {
                    "error"
                };
                let content_type = format!("application/vnd.oracle.resource+json; type={kind}");
                (
                    self.status,
                    [(header::CONTENT_TYPE, content_type)],
                    body.to_string(),
                )
                    .into_response()
            }
        };
        if let Some(location) = self.location {
            response.headers_mut().insert(
                header::LOCATION,
                location.parse().expect("an ASCII location"),
            );
        }
        response
    }
}

/// The REST error envelope with one detail.
fn error(status: StatusCode, code: &str, detail: &str, path: Option<&str>) -> Answer {
    let section = match status.as_u16() {
        400 => "section-15.5.1",
        401 => "section-15.5.2",
        403 => "section-15.5.4",
        404 => "section-15.5.5",
        405 => "section-15.5.6",
        429 => "section-15.5.29",
        500 => "section-15.6.1",
        _ => "section-15.6.4",
    };
    let mut entry = json!({ "detail": detail, "o:errorCode": code });
    if let Some(path) = path {
        entry["o:errorPath"] = json!(path);
    }
    Answer::json(
        status,
        json!({
            "type": format!("https://www.rfc-editor.org/rfc/rfc9110.html#{section}"),
            "title": status.canonical_reason().unwrap_or_default(),
            "status": status.as_u16(),
            "o:errorDetails": [entry],
        }),
    )
}

/// `answer` with `field` (`o:errorQueryParam`, `o:errorHeader`) set on its error detail.
fn with_detail(mut answer: Answer, field: &str, value: &str) -> Answer {
    if let Some(body) = answer.body.as_mut() {
        body["o:errorDetails"][0][field] = json!(value);
    }
    answer
}

fn user_error(detail: &str, path: Option<&str>) -> Answer {
    let detail = format!("Error while accessing a resource. {detail}");
    error(StatusCode::BAD_REQUEST, "USER_ERROR", &detail, path)
}

fn missing(label: &str, path: &str) -> Answer {
    user_error(&format!("Please enter value(s) for: {label}."), Some(path))
}

fn invalid_reference(field: &str, id: &str, path: &str) -> Answer {
    let detail = format!("Invalid {field} reference key {id}.");
    error(
        StatusCode::BAD_REQUEST,
        "INVALID_KEY_OR_REF",
        &detail,
        Some(path),
    )
}

fn invalid_login() -> Answer {
    error(
        StatusCode::UNAUTHORIZED,
        "INVALID_LOGIN",
        "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.",
        None,
    )
}

fn not_found() -> Answer {
    error(
        StatusCode::NOT_FOUND,
        "NONEXISTENT_ID",
        "The record instance does not exist. Provide a valid record instance ID.",
        None,
    )
}

/// [I] The 429 REST answers beyond the concurrency limit; the detail text is not published.
fn concurrency_exceeded() -> Answer {
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "CONCURRENCY_LIMIT_EXCEEDED",
        "Concurrent request limit exceeded. Request blocked.",
        None,
    )
}

fn outage() -> Answer {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
        "The service is temporarily unavailable. Try again later.",
        None,
    )
}

fn unexpected_error() -> Answer {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "UNEXPECTED_ERROR",
        "An unexpected error occurred. Error ID: kfake0001",
        None,
    )
}

// ---------------------------------------------------------------------------------------
// Token-Based Authentication, checked independently of erp-sync's signer
// ---------------------------------------------------------------------------------------

/// RFC 3986 percent-encoding (RFC 5849 §3.6).
fn pct(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Whether `raw` is a complete RFC 3986 encoding: unreserved characters and `%XX` only
/// (a signature with a bare `/` or `=` — only `+` escaped — is not).
fn fully_encoded(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            if !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
        } else if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

fn pct_decode(raw: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

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

/// Checks the `Authorization` header; `Err` is the Login Audit Trail's reason.
fn check_login(
    s: &mut FakeState,
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<(), String> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("MissingAuthorizationHeader")?;
    let rest = value
        .strip_prefix("OAuth ")
        .ok_or("NotAnOAuthAuthorizationHeader")?;
    let mut oauth: Vec<(String, String)> = Vec::new();
    let mut realm = None;
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (name, quoted) = part.split_once('=').ok_or("MalformedHeader")?;
        let raw = quoted
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or("MalformedHeader")?;
        if !fully_encoded(raw) {
            return Err(format!("NotPercentEncoded({name})"));
        }
        let decoded = pct_decode(raw);
        if name == "realm" {
            realm = Some(decoded);
        } else {
            oauth.push((name.to_string(), decoded));
        }
    }
    let get = |name: &str| {
        oauth
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if realm.as_deref() != Some(ACCOUNT_ID) {
        return Err(format!("InvalidRealm({realm:?})"));
    }
    if get("oauth_signature_method").as_deref() != Some("HMAC-SHA256") {
        return Err("UnsupportedSignatureMethod".into());
    }
    if get("oauth_version").is_some_and(|v| v != "1.0") {
        return Err("InvalidVersion".into());
    }
    if get("oauth_consumer_key").as_deref() != Some(CONSUMER_KEY) {
        return Err("InvalidConsumerKey".into());
    }
    if get("oauth_token").as_deref() != Some(TOKEN_ID) {
        return Err("InvalidToken".into());
    }
    let timestamp: i64 = get("oauth_timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or("InvalidTimestamp")?;
    if (Utc::now().timestamp() - timestamp).abs() > TIMESTAMP_WINDOW_SECS {
        return Err("InvalidTimestamp".into());
    }
    let nonce = get("oauth_nonce").ok_or("InvalidNonce")?;
    if !(6..=64).contains(&nonce.len()) || !nonce.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err("InvalidNonce".into());
    }
    if s.nonces.contains(&nonce) {
        return Err("InvalidNonce(reused)".into());
    }
    let sent = get("oauth_signature").ok_or("InvalidSignature")?;
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let base_uri = format!("http://{host}{}", uri.path());
    let mut params: Vec<(String, String)> = oauth
        .iter()
        .filter(|(k, _)| k != "oauth_signature")
        .cloned()
        .collect();
    params.extend(
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned(),
    );
    let expected = signature(
        method.as_str(),
        &base_uri,
        &params,
        CONSUMER_SECRET,
        TOKEN_SECRET,
    );
    if sent != expected {
        return Err("InvalidSignature".into());
    }
    s.nonces.insert(nonce);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The gate: every request
// ---------------------------------------------------------------------------------------

async fn api(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let index = {
        let mut s = lock(&state);
        s.requests.push(Recorded {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().unwrap_or_default().to_string(),
            status: 0,
        });
        s.requests.len() - 1
    };
    let answer = gate(&state, &method, &uri, &headers, &body).await;
    lock(&state).requests[index].status = answer.status.as_u16();
    answer
}

async fn gate(
    state: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Answer {
    let admitted = {
        let mut s = lock(state);
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        admit(&mut s, method, headers, uri)
    };
    // Created once the lock is released: its drop takes the lock to count down.
    let in_flight = InFlight(state.clone());
    let delay = match admitted {
        Ok(delay) => delay,
        Err(refusal) => return refusal,
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let answer = {
        let mut s = lock(state);
        let answer = route(&mut s, method, uri, headers, body);
        // A SuiteQL query is a POST but writes nothing: it has no commit to lose.
        let write =
            *method != Method::GET && uri.path() != SUITEQL_PATH && answer.status.is_success();
        if write && s.faults.fail_after_commit > 0 {
            s.faults.fail_after_commit -= 1;
            unexpected_error()
        } else {
            answer
        }
    };
    drop(in_flight);
    answer
}

/// The checks before a call is served: the concurrency limit, the login, injected faults.
fn admit(
    s: &mut FakeState,
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Duration, Answer> {
    if s.in_flight > s.concurrency_limit {
        return Err(concurrency_exceeded());
    }
    if let Err(reason) = check_login(s, method, headers, uri) {
        s.login_audit.push(reason);
        return Err(invalid_login());
    }
    if s.faults.throttle > 0 {
        s.faults.throttle -= 1;
        return Err(concurrency_exceeded());
    }
    if s.faults.outage > 0 {
        s.faults.outage -= 1;
        return Err(outage());
    }
    Ok(s.delay)
}

// ---------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RecordType {
    Customer,
    Invoice,
    CreditMemo,
}

impl RecordType {
    fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "customer" => Some(RecordType::Customer),
            "invoice" => Some(RecordType::Invoice),
            "creditmemo" => Some(RecordType::CreditMemo),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            RecordType::Customer => "customer",
            RecordType::Invoice => "invoice",
            RecordType::CreditMemo => "creditMemo",
        }
    }

    /// Body fields a write may set (canonical spelling); matched case-insensitively.
    fn fields(self) -> &'static [&'static str] {
        match self {
            RecordType::Customer => &[
                "companyName",
                "firstName",
                "lastName",
                "isPerson",
                "email",
                "phone",
                "subsidiary",
                "currency",
                "entityId",
                "comments",
                "externalId",
            ],
            RecordType::Invoice => &[
                "entity",
                "tranId",
                "tranDate",
                "dueDate",
                "currency",
                "subsidiary",
                "memo",
                "otherRefNum",
                "item",
                "externalId",
                "terms",
                "location",
                "department",
                "class",
                "postingPeriod",
                "exchangeRate",
            ],
            RecordType::CreditMemo => &["externalId", "memo", "tranDate"],
        }
    }
}

/// A record key in the URL: an internal id or `eid:<external id>`.
#[derive(Clone, Debug)]
enum Key {
    Internal(String),
    External(String),
}

impl Key {
    fn parse(segment: &str) -> Key {
        let decoded = pct_decode(segment);
        match decoded.strip_prefix("eid:") {
            Some(eid) => Key::External(eid.to_string()),
            None => Key::Internal(decoded),
        }
    }
}

/// Decoded query parameters.
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn valid_external_id(eid: &str) -> bool {
    !eid.is_empty()
        && eid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn route(
    s: &mut FakeState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Answer {
    if uri.path() == SUITEQL_PATH {
        return s.suiteql(method, uri, headers, body);
    }
    let Some(rest) = uri.path().strip_prefix(RECORD_PREFIX) else {
        return error(
            StatusCode::NOT_FOUND,
            "INVALID_URL",
            "The requested URL was not found on this server.",
            None,
        );
    };
    let segments: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let params = Params(
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect(),
    );
    let allowed: &[&str] = match (method.as_str(), segments.len()) {
        ("GET", 1) => &["q", "limit", "offset"],
        ("PUT" | "PATCH", 2) => &["replace", "replaceSelectedFields"],
        _ => &[],
    };
    // [I] Unknown query parameters are refused, so a typo is not silently ignored.
    if let Some((name, _)) = params
        .0
        .iter()
        .find(|(k, _)| !allowed.contains(&k.as_str()))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            &format!("Invalid query parameter: {name}."),
            None,
        );
    }
    let body_or = |required: bool| json_body(headers, body, required);
    let name = segments.first().copied().unwrap_or_default();
    let result = match (method.as_str(), segments.as_slice()) {
        ("GET", ["currency"]) => Ok(s.list_currencies(&params)),
        ("GET", ["currency", id]) => Ok(s.get_currency(id)),
        ("GET", ["subsidiary", id]) => Ok(if *id == SUBSIDIARY_ID {
            Answer::json(
                StatusCode::OK,
                json!({"id": SUBSIDIARY_ID, "name": "Parent Company", "isInactive": false}),
            )
        } else {
            not_found()
        }),
        ("POST", [_, key, "!transform", target])
            if RecordType::parse(name) == Some(RecordType::Invoice) =>
        {
            if RecordType::parse(target) != Some(RecordType::CreditMemo) {
                Ok(error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_TRANSFORM",
                    &format!("Transformation from invoice to {target} is not supported."),
                    None,
                ))
            } else {
                body_or(false).map(|b| s.credit_invoice(&Key::parse(key), b))
            }
        }
        (_, [_, ..]) if RecordType::parse(name).is_none() => Ok(error(
            StatusCode::NOT_FOUND,
            "INVALID_RCRD_TYPE",
            &format!("Record type '{name}' does not exist."),
            None,
        )),
        ("GET", [_]) => Ok(s.list(RecordType::parse(name).expect("checked"), &params)),
        ("GET", [_, key]) => Ok(s.get(RecordType::parse(name).expect("checked"), &Key::parse(key))),
        ("POST", [_]) => {
            let record_type = RecordType::parse(name).expect("checked");
            body_or(true).map(|b| s.create(record_type, None, b))
        }
        ("PUT", [_, key]) => {
            let record_type = RecordType::parse(name).expect("checked");
            match Key::parse(key) {
                Key::Internal(_) => Ok(error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST",
                    "You can only use the upsert operation with an external ID in the request URL.",
                    None,
                )),
                Key::External(eid) => {
                    body_or(true).map(|b| s.upsert(record_type, &eid, b, &params))
                }
            }
        }
        ("PATCH", [_, key]) => {
            let record_type = RecordType::parse(name).expect("checked");
            body_or(true).map(|b| s.patch(record_type, &Key::parse(key), b, &params))
        }
        _ => Ok(error(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "The HTTP method is not allowed for this resource.",
            None,
        )),
    };
    result.unwrap_or_else(|e| e)
}

/// A JSON object body (`Content-Type` with `json`); an empty body is an empty object
/// unless `required`.
fn json_body(
    headers: &HeaderMap,
    body: &Bytes,
    required: bool,
) -> Result<Map<String, Value>, Answer> {
    if body.is_empty() {
        if !required {
            return Ok(Map::new());
        }
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_CONTENT",
            "The request body is empty.",
            None,
        ));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.contains("json") {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "INVALID_CONTENT_TYPE",
            "Content-Type must be application/json.",
            None,
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_CONTENT",
            "The request body is not a valid JSON object.",
            None,
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------

/// The canonical spelling of a body field, matched case-insensitively [I].
fn canonical(record_type: RecordType, name: &str) -> Option<&'static str> {
    record_type
        .fields()
        .iter()
        .copied()
        .find(|f| f.eq_ignore_ascii_case(name))
}

/// A reference `{"id": "..."}` (or a bare id).
fn ref_id(v: &Value) -> Option<String> {
    match v {
        Value::Object(o) => o.iter().find_map(|(k, v)| {
            k.eq_ignore_ascii_case("id").then(|| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })?
        }),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => {
            let text = n.to_string();
            Decimal::from_str(&text)
                .or_else(|_| Decimal::from_scientific(&text))
                .ok()
        }
        _ => None,
    }
}

fn number(d: Decimal) -> Value {
    Value::Number(serde_json::Number::from_str(&d.normalize().to_string()).expect("a number"))
}

fn round2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

impl FakeState {
    fn list(&self, record_type: RecordType, params: &Params) -> Answer {
        let filter = match params.get("q").map(parse_query).transpose() {
            Ok(f) => f,
            Err(detail) => {
                return error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", &detail, None);
            }
        };
        let views: Vec<Value> = self
            .records(record_type)
            .iter()
            .map(|r| self.view(record_type.name(), r))
            .filter(|v| {
                filter
                    .as_ref()
                    .is_none_or(|(f, value)| field_is(v, f, value))
            })
            .collect();
        self.collection(record_type.name(), views, params)
    }

    /// A collection page: `items` with `links` and `id` only, as NetSuite lists records.
    fn collection(&self, record_type: &str, views: Vec<Value>, params: &Params) -> Answer {
        let limit: usize = params
            .get("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(1000);
        let offset: usize = params
            .get("offset")
            .and_then(|o| o.parse().ok())
            .unwrap_or(0);
        let total = views.len();
        let items: Vec<Value> = views
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|v| {
                let id = v["id"].as_str().unwrap_or_default().to_string();
                json!({"links": [{"rel": "self", "href": self.record_url(record_type, &id)}], "id": id})
            })
            .collect();
        Answer::json(
            StatusCode::OK,
            json!({
                "links": [{"rel": "self", "href": format!("{}{RECORD_PREFIX}{record_type}", self.base)}],
                "count": items.len(),
                "hasMore": offset + items.len() < total,
                "items": items,
                "offset": offset,
                "totalResults": total,
            }),
        )
    }

    fn currency_view(&self, (id, symbol, name): (&str, &str, &str)) -> Value {
        json!({"links": [{"rel": "self", "href": self.record_url("currency", id)}],
               "id": id, "symbol": symbol, "name": name, "isBaseCurrency": id == "1"})
    }

    fn list_currencies(&self, params: &Params) -> Answer {
        let filter = match params.get("q").map(parse_query).transpose() {
            Ok(f) => f,
            Err(detail) => {
                return error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", &detail, None);
            }
        };
        let views: Vec<Value> = self
            .currencies
            .iter()
            .map(|c| self.currency_view(*c))
            .filter(|v| {
                filter
                    .as_ref()
                    .is_none_or(|(f, value)| field_is(v, f, value))
            })
            .collect();
        self.collection("currency", views, params)
    }

    fn get_currency(&self, id: &str) -> Answer {
        match self.currencies.iter().find(|c| c.0 == id) {
            Some(c) => Answer::json(StatusCode::OK, self.currency_view(*c)),
            None => not_found(),
        }
    }

    fn get(&self, record_type: RecordType, key: &Key) -> Answer {
        match self.find(record_type, key) {
            Some(i) => Answer::json(
                StatusCode::OK,
                self.view(record_type.name(), &self.records(record_type)[i]),
            ),
            None => not_found(),
        }
    }

    /// `POST /<type>`: a new record; a taken external id is refused.
    fn create(
        &mut self,
        record_type: RecordType,
        eid: Option<&str>,
        body: Map<String, Value>,
    ) -> Answer {
        let mut record = Stored {
            id: String::new(),
            external_id: eid.map(str::to_string),
            fields: Map::new(),
        };
        if let Err(e) = self.apply(record_type, &mut record, body, true, true) {
            return e;
        }
        if let Some(eid) = &record.external_id
            && self
                .find(record_type, &Key::External(eid.clone()))
                .is_some()
        {
            return user_error(
                &format!(
                    "A {} record with external ID {eid} already exists.",
                    record_type.name()
                ),
                Some("externalId"),
            );
        }
        record.id = self.new_id();
        let location = self.record_url(record_type.name(), &record.id);
        self.records_mut(record_type).push(record);
        Answer::no_content(Some(location))
    }

    /// `PUT /<type>/eid:<id>`: create (204 with `Location`) or update (204) [I].
    fn upsert(
        &mut self,
        record_type: RecordType,
        eid: &str,
        body: Map<String, Value>,
        params: &Params,
    ) -> Answer {
        if !valid_external_id(eid) {
            return user_error(
                &format!(
                    "Invalid external ID {eid:?}: use letters, numbers, underscore (_) and hyphen (-) only."
                ),
                None,
            );
        }
        match self.find(record_type, &Key::External(eid.to_string())) {
            None => self.create(record_type, Some(eid), body),
            Some(i) => self.update(record_type, i, body, params),
        }
    }

    /// `PATCH /<type>/<key>`: update (204 with `Location`).
    fn patch(
        &mut self,
        record_type: RecordType,
        key: &Key,
        body: Map<String, Value>,
        params: &Params,
    ) -> Answer {
        let Some(i) = self.find(record_type, key) else {
            return not_found();
        };
        let answer = self.update(record_type, i, body, params);
        if answer.status.is_success() {
            let id = self.records(record_type)[i].id.clone();
            return Answer::no_content(Some(self.record_url(record_type.name(), &id)));
        }
        answer
    }

    fn update(
        &mut self,
        record_type: RecordType,
        index: usize,
        body: Map<String, Value>,
        params: &Params,
    ) -> Answer {
        let mut record = self.records(record_type)[index].clone();
        let replace: Vec<String> = params
            .get("replace")
            .map(|r| {
                r.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default();
        if let Err(e) = self.apply(
            record_type,
            &mut record,
            body,
            false,
            replace.iter().any(|r| r == "item"),
        ) {
            return e;
        }
        self.records_mut(record_type)[index] = record;
        Answer::no_content(None)
    }

    /// Applies a write body to a record: field names, references, required fields, the
    /// `item` sublist (replaced or merged), totals.
    fn apply(
        &self,
        record_type: RecordType,
        record: &mut Stored,
        body: Map<String, Value>,
        creating: bool,
        replace_items: bool,
    ) -> Result<(), Answer> {
        let mut fields = Map::new();
        for (name, value) in body {
            let Some(canon) = canonical(record_type, &name) else {
                return Err(user_error(
                    &format!(
                        "Invalid field: {name} is not a field of the {} record.",
                        record_type.name()
                    ),
                    Some(&name),
                ));
            };
            fields.insert(canon.to_string(), value);
        }
        if let Some(eid) = fields.remove("externalId") {
            let eid = eid.as_str().unwrap_or_default().to_string();
            if !valid_external_id(&eid) {
                return Err(user_error(
                    &format!(
                        "Invalid external ID {eid:?}: use letters, numbers, underscore (_) and hyphen (-) only."
                    ),
                    Some("externalId"),
                ));
            }
            match &record.external_id {
                Some(current) if *current != eid => {
                    return Err(user_error(
                        "The external ID in the body differs from the one in the URL.",
                        Some("externalId"),
                    ));
                }
                _ => record.external_id = Some(eid),
            }
        }
        match record_type {
            RecordType::Customer => self.apply_customer(record, fields, creating),
            RecordType::Invoice => self.apply_invoice(record, fields, creating, replace_items),
            RecordType::CreditMemo => {
                for (k, v) in fields {
                    record.fields.insert(k, v);
                }
                Ok(())
            }
        }
    }

    fn apply_customer(
        &self,
        record: &mut Stored,
        fields: Map<String, Value>,
        creating: bool,
    ) -> Result<(), Answer> {
        for (k, v) in &fields {
            match k.as_str() {
                "subsidiary" => {
                    let id = ref_id(v).unwrap_or_default();
                    if id != SUBSIDIARY_ID {
                        return Err(invalid_reference("subsidiary", &id, "subsidiary"));
                    }
                    record
                        .fields
                        .insert(k.clone(), json!({"id": id, "refName": "Parent Company"}));
                }
                "currency" => {
                    let id = ref_id(v).unwrap_or_default();
                    if !self.currencies.iter().any(|c| c.0 == id) {
                        return Err(invalid_reference("currency", &id, "currency"));
                    }
                    record.fields.insert(k.clone(), json!({"id": id}));
                }
                "email" => {
                    let email = v.as_str().unwrap_or_default();
                    if !email.is_empty() && !email.contains('@') {
                        return Err(user_error(
                            "Please enter a valid email address.",
                            Some("email"),
                        ));
                    }
                    record.fields.insert(k.clone(), v.clone());
                }
                _ => {
                    record.fields.insert(k.clone(), v.clone());
                }
            }
        }
        let text = |name: &str| {
            record
                .fields
                .get(name)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.trim().is_empty())
        };
        let person = record.fields.get("isPerson").and_then(Value::as_bool) == Some(true);
        if person && !(text("firstName") && text("lastName")) {
            return Err(missing("First Name, Last Name", "firstName"));
        }
        if !person && !text("companyName") {
            return Err(missing("Company Name", "companyName"));
        }
        if creating && !record.fields.contains_key("subsidiary") {
            return Err(missing("Primary Subsidiary", "subsidiary"));
        }
        record
            .fields
            .entry("currency")
            .or_insert_with(|| json!({"id": "1", "refName": "USD"}));
        Ok(())
    }

    fn apply_invoice(
        &self,
        record: &mut Stored,
        mut fields: Map<String, Value>,
        creating: bool,
        replace_items: bool,
    ) -> Result<(), Answer> {
        let sublist = fields.remove("item");
        for (k, v) in fields {
            match k.as_str() {
                "entity" => {
                    let id = ref_id(&v).unwrap_or_default();
                    let Some(c) = self.customers.iter().find(|c| c.id == id) else {
                        return Err(invalid_reference("entity", &id, "entity"));
                    };
                    let name = c.fields.get("companyName").cloned().unwrap_or(Value::Null);
                    record.fields.insert(k, json!({"id": id, "refName": name}));
                }
                "currency" => {
                    let id = ref_id(&v).unwrap_or_default();
                    let Some(c) = self.currencies.iter().find(|c| c.0 == id) else {
                        return Err(invalid_reference("currency", &id, "currency"));
                    };
                    record.fields.insert(k, json!({"id": id, "refName": c.1}));
                }
                "subsidiary" => {
                    let id = ref_id(&v).unwrap_or_default();
                    if id != SUBSIDIARY_ID {
                        return Err(invalid_reference("subsidiary", &id, "subsidiary"));
                    }
                    record
                        .fields
                        .insert(k, json!({"id": id, "refName": "Parent Company"}));
                }
                "tranDate" | "dueDate" => {
                    let ok = v
                        .as_str()
                        .is_some_and(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok());
                    if !ok {
                        return Err(error(
                            StatusCode::BAD_REQUEST,
                            "INVALID_FLD_VALUE",
                            &format!("Invalid value for the {k} field: use YYYY-MM-DD."),
                            Some(&k),
                        ));
                    }
                    record.fields.insert(k, v);
                }
                _ => {
                    record.fields.insert(k, v);
                }
            }
        }
        if !record.fields.contains_key("entity") {
            return Err(missing("Customer", "entity"));
        }
        if creating {
            record
                .fields
                .entry("tranDate")
                .or_insert_with(|| json!(Utc::now().format("%Y-%m-%d").to_string()));
            let entity = ref_id(&record.fields["entity"]).unwrap_or_default();
            let customer = self.customers.iter().find(|c| c.id == entity);
            let from_customer = |name: &str| customer.and_then(|c| c.fields.get(name)).cloned();
            if !record.fields.contains_key("subsidiary")
                && let Some(s) = from_customer("subsidiary")
            {
                record.fields.insert("subsidiary".into(), s);
            }
            if !record.fields.contains_key("currency")
                && let Some(c) = from_customer("currency")
            {
                record.fields.insert("currency".into(), c);
            }
        }
        let mut lines: Vec<Value> = if creating || replace_items {
            Vec::new()
        } else {
            record
                .fields
                .get("item")
                .and_then(|i| i["items"].as_array())
                .cloned()
                .unwrap_or_default()
        };
        let old_lines: Vec<Value> = record
            .fields
            .get("item")
            .and_then(|i| i["items"].as_array())
            .cloned()
            .unwrap_or_default();
        if let Some(sublist) = sublist {
            let Some(items) = sublist.get("items").and_then(Value::as_array) else {
                return Err(user_error(
                    "The item sublist must be an object with an items array.",
                    Some("item"),
                ));
            };
            let mut next_line = old_lines
                .iter()
                .chain(lines.iter())
                .filter_map(|l| l["line"].as_u64())
                .max()
                .unwrap_or(0);
            for (i, sent) in items.iter().enumerate() {
                let path = format!("item.items[{i}]");
                let Some(sent) = sent.as_object() else {
                    return Err(user_error("A sublist line must be an object.", Some(&path)));
                };
                let key = sent
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("line"))
                    .and_then(|(_, v)| v.as_u64());
                // A line with a matching `line` key updates that line; every other line
                // is added (appended to the old ones unless `replace=item`).
                let base =
                    key.and_then(|n| old_lines.iter().find(|l| l["line"].as_u64() == Some(n)));
                let mut line = self.item_line(base, sent, &path)?;
                match key.filter(|_| base.is_some()) {
                    Some(n) => {
                        line["line"] = json!(n);
                        match lines.iter_mut().find(|l| l["line"].as_u64() == Some(n)) {
                            Some(existing) => *existing = line,
                            None => lines.push(line),
                        }
                    }
                    None => {
                        next_line += 1;
                        line["line"] = json!(next_line);
                        lines.push(line);
                    }
                }
            }
        } else if creating || replace_items {
            lines = old_lines;
        }
        if lines.is_empty() {
            return Err(user_error(
                "You must enter at least one line item for this transaction.",
                Some("item"),
            ));
        }
        let total: Decimal = lines.iter().filter_map(|l| decimal(&l["amount"])).sum();
        let credited: Decimal = self
            .credit_memos
            .iter()
            .filter(|m| {
                ref_id(&m.fields["createdFrom"]).as_deref() == Some(record.id.as_str())
                    && !record.id.is_empty()
            })
            .filter_map(|m| decimal(&m.fields["total"]))
            .sum();
        let remaining = (total - credited).max(Decimal::ZERO);
        record.fields.insert("item".into(), json!({"items": lines}));
        record.fields.insert("total".into(), number(round2(total)));
        record
            .fields
            .insert("amountRemaining".into(), number(round2(remaining)));
        let status = if remaining.is_zero() {
            "Paid In Full"
        } else {
            "Open"
        };
        record
            .fields
            .insert("status".into(), json!({"id": status, "refName": status}));
        Ok(())
    }

    /// One `item` sublist line: a known, active item and an amount (given, or quantity
    /// × rate); when all three are given they must agree to the cent [I].
    fn item_line(
        &self,
        base: Option<&Value>,
        sent: &Map<String, Value>,
        path: &str,
    ) -> Result<Value, Answer> {
        const KNOWN: [&str; 6] = ["item", "quantity", "rate", "amount", "description", "line"];
        let mut line = base.and_then(Value::as_object).cloned().unwrap_or_default();
        for (k, v) in sent {
            let Some(canon) = KNOWN.iter().find(|f| f.eq_ignore_ascii_case(k)) else {
                return Err(user_error(
                    &format!("Invalid field: {k} is not a field of the item sublist."),
                    Some(&format!("{path}.{k}")),
                ));
            };
            if *canon != "line" {
                line.insert(canon.to_string(), v.clone());
            }
        }
        let item_path = format!("{path}.item");
        let Some(item_id) = line.get("item").and_then(ref_id) else {
            return Err(missing("Item", &item_path));
        };
        let Some(item) = self.items.iter().find(|i| i.id == item_id && i.active) else {
            return Err(invalid_reference("item", &item_id, &item_path));
        };
        line.insert(
            "item".into(),
            json!({"id": item.id, "refName": item.name, "type": item.record_type}),
        );
        let field = |name: &str| -> Result<Option<Decimal>, Answer> {
            match line.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => decimal(v).map(Some).ok_or_else(|| {
                    error(
                        StatusCode::BAD_REQUEST,
                        "INVALID_FLD_VALUE",
                        &format!("Invalid number for {name}."),
                        Some(&format!("{path}.{name}")),
                    )
                }),
            }
        };
        let (quantity, rate, amount) = (field("quantity")?, field("rate")?, field("amount")?);
        let amount = match (quantity, rate, amount) {
            (Some(q), Some(r), Some(a)) => {
                if round2(q * r) != round2(a) {
                    return Err(user_error(
                        &format!("The amount {a} does not equal quantity {q} times rate {r}."),
                        Some(&format!("{path}.amount")),
                    ));
                }
                a
            }
            (_, _, Some(a)) => a,
            (Some(q), Some(r), None) => q * r,
            _ => return Err(missing("Amount", &format!("{path}.amount"))),
        };
        line.insert("amount".into(), number(round2(amount)));
        Ok(Value::Object(line))
    }

    /// `POST /invoice/<key>/!transform/creditMemo`: a credit memo for what remains to be
    /// paid, applied to the invoice, which is then paid in full.
    fn credit_invoice(&mut self, key: &Key, body: Map<String, Value>) -> Answer {
        let Some(index) = self.find(RecordType::Invoice, key) else {
            return not_found();
        };
        let invoice = self.invoices[index].clone();
        let remaining = decimal(&invoice.fields["amountRemaining"]).unwrap_or_default();
        if remaining <= Decimal::ZERO {
            // [I] NetSuite's wording for crediting a settled invoice is not published.
            return user_error("The invoice has no amount remaining to credit.", None);
        }
        let mut memo = Stored {
            id: String::new(),
            external_id: None,
            fields: Map::new(),
        };
        if let Err(e) = self.apply(RecordType::CreditMemo, &mut memo, body, true, false) {
            return e;
        }
        if let Some(eid) = &memo.external_id
            && self
                .find(RecordType::CreditMemo, &Key::External(eid.clone()))
                .is_some()
        {
            return user_error(
                &format!("A creditMemo record with external ID {eid} already exists."),
                Some("externalId"),
            );
        }
        for field in ["entity", "currency", "subsidiary", "item"] {
            if let Some(v) = invoice.fields.get(field) {
                memo.fields.insert(field.into(), v.clone());
            }
        }
        memo.fields
            .insert("createdFrom".into(), json!({"id": invoice.id}));
        memo.fields.insert("total".into(), number(remaining));
        memo.fields.insert(
            "apply".into(),
            json!({"items": [{"doc": {"id": invoice.id}, "apply": true, "amount": number(remaining)}]}),
        );
        memo.id = self.new_id();
        let location = self.record_url("creditMemo", &memo.id);
        self.credit_memos.push(memo);
        let fields = &mut self.invoices[index].fields;
        fields.insert("amountRemaining".into(), number(Decimal::ZERO));
        fields.insert(
            "status".into(),
            json!({"id": "Paid In Full", "refName": "Paid In Full"}),
        );
        Answer::no_content(Some(location))
    }
}

/// `q` of record collection filtering, the one form supported here: `<field> IS <value>`
/// (value optionally in double quotes).
fn parse_query(q: &str) -> Result<(String, String), String> {
    let mut parts = q.trim().splitn(3, ' ');
    let (Some(field), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("Invalid search query: {q}"));
    };
    if !op.eq_ignore_ascii_case("IS") {
        return Err(format!("Invalid search query: unsupported operator {op}"));
    }
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    Ok((field.to_string(), value.to_string()))
}

fn field_is(view: &Value, field: &str, value: &str) -> bool {
    view.as_object().is_some_and(|o| {
        o.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case(field)
                && match v {
                    Value::String(s) => s == value,
                    Value::Number(n) => n.to_string() == value,
                    Value::Bool(b) => b.to_string() == value,
                    other => ref_id(other).as_deref() == Some(value),
                }
        })
    })
}

// ---------------------------------------------------------------------------------------
// SuiteQL through the query service
// ---------------------------------------------------------------------------------------

/// The SuiteQL tables the fake answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Table {
    Item,
    Account,
    Currency,
    Subsidiary,
    SalesTaxItem,
}

impl Table {
    fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "item" => Some(Table::Item),
            "account" => Some(Table::Account),
            "currency" => Some(Table::Currency),
            "subsidiary" => Some(Table::Subsidiary),
            "salestaxitem" => Some(Table::SalesTaxItem),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Table::Item => "item",
            Table::Account => "account",
            Table::Currency => "currency",
            Table::Subsidiary => "subsidiary",
            Table::SalesTaxItem => "salestaxitem",
        }
    }

    /// The columns the fake knows, spelt as SuiteQL answers them (lower-case), in the
    /// order `SELECT *` lists them. NetSuite has many more; naming one of those is refused
    /// as an unknown identifier.
    fn columns(self) -> &'static [&'static str] {
        match self {
            Table::Item => &[
                "id",
                "itemid",
                "displayname",
                "fullname",
                "itemtype",
                "isinactive",
            ],
            Table::Account => &[
                "id",
                "acctnumber",
                "acctname",
                "accountsearchdisplayname",
                "displaynamewithhierarchy",
                "fullname",
                "accttype",
                "description",
                "isinactive",
            ],
            Table::Currency => &[
                "id",
                "name",
                "symbol",
                "isbasecurrency",
                "currencyprecision",
                "isinactive",
            ],
            Table::Subsidiary => &[
                "id",
                "name",
                "fullname",
                "currency",
                "iselimination",
                "isinactive",
            ],
            Table::SalesTaxItem => &[
                "id",
                "itemid",
                "fullname",
                "description",
                "rate",
                "isinactive",
            ],
        }
    }
}

/// Columns `ORDER BY` compares as numbers; the others compare as text.
fn numeric_column(column: &str) -> bool {
    matches!(column, "id" | "currency" | "currencyprecision" | "rate")
}

/// One row: each known column and its value, `None` for NULL. SuiteQL through REST answers
/// every value as a string (ids and numbers included) and booleans as `T`/`F`.
type Row = Vec<(&'static str, Option<String>)>;

fn cell<'r>(row: &'r Row, column: &str) -> Option<&'r str> {
    row.iter()
        .find(|(c, _)| *c == column)
        .and_then(|(_, v)| v.as_deref())
}

fn text(value: &str) -> Option<String> {
    Some(value.to_string())
}

fn flag(value: bool) -> Option<String> {
    text(if value { "T" } else { "F" })
}

/// `item.itemtype` for a REST item record type.
fn item_type(record_type: &str) -> &'static str {
    match record_type {
        "serviceItem" => "Service",
        "discountItem" => "Discount",
        "otherChargeItem" => "OthCharge",
        "nonInventorySaleItem" => "NonInvtPart",
        "inventoryItem" => "InvtPart",
        other => panic!("no SuiteQL item type for {other}"),
    }
}

/// Oracle's order: NULL after every value (so first when descending); numeric columns by
/// value (a rate's `%` aside), the others as text.
fn compare_cells(column: &str, a: Option<&str>, b: Option<&str>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => {
            let n = |v: &str| Decimal::from_str(v.trim_end_matches('%')).ok();
            match (numeric_column(column), n(a), n(b)) {
                (true, Some(x), Some(y)) => x.cmp(&y),
                _ => a.cmp(b),
            }
        }
    }
}

/// A token of the little SuiteQL the fake reads.
#[derive(Clone, Debug, PartialEq)]
enum Token {
    /// A keyword or an identifier, possibly qualified (`item.id`).
    Word(String),
    /// A quoted literal, `''` read as `'`.
    Text(String),
    Number(String),
    Comma,
    Equals,
    Star,
}

/// The tokens of `q`, or `None` for a character the fake does not read (`(`, `<`, `;`,
/// `"`, …) or an unterminated literal.
fn tokens(q: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if let Some(t) = match c {
            ',' => Some(Token::Comma),
            '=' => Some(Token::Equals),
            '*' => Some(Token::Star),
            _ => None,
        } {
            out.push(t);
            i += 1;
        } else if c == '\'' {
            let mut literal = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return None,
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        literal.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        literal.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(Token::Text(literal));
        } else if c.is_ascii_digit() {
            let start = i;
            while chars.get(i).is_some_and(char::is_ascii_digit) {
                i += 1;
            }
            out.push(Token::Number(chars[start..i].iter().collect()));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            return None;
        }
    }
    Some(out)
}

/// Words that are never a column: the keywords the fake reads and common ones it refuses.
const RESERVED: [&str; 18] = [
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "ORDER", "BY", "ASC", "DESC", "AS", "JOIN",
    "INNER", "LEFT", "ON", "GROUP", "HAVING", "DISTINCT",
];

struct Parser<'t> {
    tokens: &'t [Token],
    at: usize,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<&Token> {
        let token = self.tokens.get(self.at);
        self.at += 1;
        token
    }

    fn eat(&mut self, token: &Token) -> bool {
        let found = self.tokens.get(self.at) == Some(token);
        if found {
            self.at += 1;
        }
        found
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword));
        if found {
            self.at += 1;
        }
        found
    }

    fn keyword(&mut self, keyword: &str) -> Result<(), QueryError> {
        if self.eat_keyword(keyword) {
            Ok(())
        } else {
            Err(QueryError::Unsupported)
        }
    }

    /// An identifier (not a keyword).
    fn word(&mut self) -> Result<String, QueryError> {
        match self.next() {
            Some(Token::Word(w)) if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(w)) => {
                Ok(w.clone())
            }
            _ => Err(QueryError::Unsupported),
        }
    }
}

/// A query the fake answers.
#[derive(Debug)]
struct Select {
    table: Table,
    /// Each selected column and its name in the answer (its alias, lower-cased).
    columns: Vec<(&'static str, String)>,
    /// `column = literal` conditions, all of which a row must meet.
    filters: Vec<(&'static str, String)>,
    /// `ORDER BY` columns, `true` for descending.
    order: Vec<(&'static str, bool)>,
}

/// Why a query is refused; each answers 400 `INVALID_PARAMETER` naming `q`.
#[derive(Debug, PartialEq)]
enum QueryError {
    /// Anything outside the subset read here (NetSuite's wording for a query it cannot run;
    /// a real account would run many of these).
    Unsupported,
    /// A table NetSuite does not have — or the fake does not serve (`customer`, …).
    UnknownTable(String),
    /// A column NetSuite does not have — or the fake does not know.
    UnknownColumn(String, Table),
}

impl QueryError {
    /// NetSuite's answers: `Invalid search type: x.` for an unknown table, `Unknown
    /// identifier 'x'. Available identifiers are: {t=t}.` for an unknown column, `Invalid
    /// or unsupported search.` otherwise, each after `Invalid search query. Detailed
    /// unprocessed description follows.`, with `o:errorQueryParam` `q`.
    fn answer(&self) -> Answer {
        let detail = match self {
            QueryError::Unsupported => {
                "Search error occurred: Invalid or unsupported search.".to_string()
            }
            QueryError::UnknownTable(t) => format!("Invalid search type: {t}."),
            QueryError::UnknownColumn(c, t) => {
                let t = t.name();
                format!(
                    "Search error occurred: Unknown identifier '{c}'. Available identifiers are: {{{t}={t}}}."
                )
            }
        };
        let detail =
            format!("Invalid search query. Detailed unprocessed description follows. {detail}");
        with_detail(
            error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", &detail, None),
            "o:errorQueryParam",
            "q",
        )
    }
}

/// The SuiteQL the fake reads, keywords and identifiers in any case:
///
/// ```text
/// SELECT * | <column> [AS <alias>] [, …]
/// FROM item | account | currency | subsidiary | salestaxitem
/// [WHERE <column> = '<text>' | <digits> [AND …]]
/// [ORDER BY <column> [ASC | DESC] [, …]]
/// ```
///
/// A column may be qualified by its table (`item.itemid`). Anything else — joins, table
/// aliases, `OR`, other operators, functions, `FETCH FIRST`, `ROWNUM`, a trailing `;` — is
/// refused.
fn parse_suiteql(q: &str) -> Result<Select, QueryError> {
    let tokens = tokens(q).ok_or(QueryError::Unsupported)?;
    let mut p = Parser {
        tokens: &tokens,
        at: 0,
    };
    p.keyword("SELECT")?;
    // `None`: `*`.
    let mut wanted: Option<Vec<(String, Option<String>)>> = None;
    if !p.eat(&Token::Star) {
        let mut list = Vec::new();
        loop {
            let column = p.word()?;
            let alias = if p.eat_keyword("AS") {
                Some(p.word()?)
            } else {
                None
            };
            list.push((column, alias));
            if !p.eat(&Token::Comma) {
                break;
            }
        }
        wanted = Some(list);
    }
    p.keyword("FROM")?;
    let name = p.word()?;
    let table = Table::parse(&name).ok_or(QueryError::UnknownTable(name))?;
    let resolve = |name: &str| -> Result<&'static str, QueryError> {
        let lower = name.to_ascii_lowercase();
        let bare = lower
            .strip_prefix(&format!("{}.", table.name()))
            .unwrap_or(&lower);
        table
            .columns()
            .iter()
            .copied()
            .find(|c| *c == bare)
            .ok_or_else(|| QueryError::UnknownColumn(name.to_string(), table))
    };
    let columns = match wanted {
        None => table
            .columns()
            .iter()
            .map(|c| (*c, c.to_string()))
            .collect(),
        Some(list) => list
            .iter()
            .map(|(column, alias)| {
                let column = resolve(column)?;
                let name = alias
                    .as_deref()
                    .map_or(column.to_string(), str::to_ascii_lowercase);
                Ok((column, name))
            })
            .collect::<Result<Vec<_>, QueryError>>()?,
    };
    let mut filters = Vec::new();
    if p.eat_keyword("WHERE") {
        loop {
            let column = resolve(&p.word()?)?;
            if !p.eat(&Token::Equals) {
                return Err(QueryError::Unsupported);
            }
            let value = match p.next() {
                Some(Token::Text(v) | Token::Number(v)) => v.clone(),
                _ => return Err(QueryError::Unsupported),
            };
            filters.push((column, value));
            if !p.eat_keyword("AND") {
                break;
            }
        }
    }
    let mut order = Vec::new();
    if p.eat_keyword("ORDER") {
        p.keyword("BY")?;
        loop {
            let column = resolve(&p.word()?)?;
            let descending = p.eat_keyword("DESC");
            if !descending {
                p.eat_keyword("ASC");
            }
            order.push((column, descending));
            if !p.eat(&Token::Comma) {
                break;
            }
        }
    }
    if p.at != tokens.len() {
        return Err(QueryError::Unsupported);
    }
    Ok(Select {
        table,
        columns,
        filters,
        order,
    })
}

/// Whether a `Prefer` header asks for `transient` (one preference among others will do).
fn prefers_transient(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("transient"))
}

/// `limit` (1 to 1000, default 1000) and `offset` (default 0): NetSuite's Collection
/// Paging, where the offset must be a multiple of the limit (ehmad11/netsuite-rest#25,
/// for record lists; the same here [I]) and 100,000 results are the most SuiteQL reaches.
/// The wording of these refusals is not published [I].
fn suiteql_page(params: &Params) -> Result<(usize, usize), Answer> {
    let refuse = |name: &str, detail: String| {
        with_detail(
            error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", &detail, None),
            "o:errorQueryParam",
            name,
        )
    };
    let limit = match params.get("limit") {
        None => SUITEQL_MAX_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=SUITEQL_MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(refuse(
                    "limit",
                    format!("Invalid limit {l}: use an integer from 1 to {SUITEQL_MAX_LIMIT}."),
                ));
            }
        },
    };
    let offset = match params.get("offset") {
        None => 0,
        Some(o) => o.parse::<usize>().map_err(|_| {
            refuse(
                "offset",
                format!("Invalid offset {o}: use a non-negative integer."),
            )
        })?,
    };
    if offset % limit != 0 {
        return Err(refuse(
            "offset",
            format!("Invalid offset {offset}: the offset must be a multiple of the limit {limit}."),
        ));
    }
    if offset >= SUITEQL_MAX_RESULTS {
        return Err(refuse(
            "offset",
            format!(
                "Invalid offset {offset}: SuiteQL returns at most {SUITEQL_MAX_RESULTS} results."
            ),
        ));
    }
    Ok((limit, offset))
}

impl FakeState {
    /// The rows of a table, from the fake's items, accounts, currencies, subsidiary and
    /// tax codes.
    fn table_rows(&self, table: Table) -> Vec<Row> {
        match table {
            Table::Item => {
                let items = self.items.iter().map(|i| {
                    vec![
                        ("id", text(&i.id)),
                        ("itemid", text(&i.name)),
                        ("displayname", text(&i.name)),
                        ("fullname", text(&i.name)),
                        ("itemtype", text(item_type(i.record_type))),
                        ("isinactive", flag(!i.active)),
                    ]
                });
                // [I] Tax codes are items in NetSuite (one id sequence, `itemtype`
                // `TaxItem`); they have no display name.
                let taxes = self.tax_items.iter().map(|t| {
                    vec![
                        ("id", text(&t.id)),
                        ("itemid", text(&t.name)),
                        ("displayname", None),
                        ("fullname", text(&t.name)),
                        ("itemtype", text("TaxItem")),
                        ("isinactive", flag(!t.active)),
                    ]
                });
                items.chain(taxes).collect()
            }
            Table::Account => self
                .accounts
                .iter()
                .map(|a| {
                    // `accountsearchdisplayname` is the number and the name (LedgerSync's
                    // recorded answer); the hierarchy names are [I] for accounts without a
                    // parent.
                    let display = format!("{} {}", a.number, a.name);
                    vec![
                        ("id", text(&a.id)),
                        ("acctnumber", text(&a.number)),
                        ("acctname", text(&a.name)),
                        ("accountsearchdisplayname", text(&display)),
                        ("displaynamewithhierarchy", text(&display)),
                        ("fullname", text(&a.name)),
                        ("accttype", text(&a.kind)),
                        ("description", None),
                        ("isinactive", flag(!a.active)),
                    ]
                })
                .collect(),
            Table::Currency => self
                .currencies
                .iter()
                .map(|(id, symbol, name)| {
                    vec![
                        ("id", text(id)),
                        ("name", text(name)),
                        ("symbol", text(symbol)),
                        ("isbasecurrency", flag(*id == "1")),
                        ("currencyprecision", text("2")),
                        ("isinactive", flag(false)),
                    ]
                })
                .collect(),
            Table::Subsidiary => vec![vec![
                ("id", text(SUBSIDIARY_ID)),
                ("name", text("Parent Company")),
                ("fullname", text("Parent Company")),
                ("currency", text("1")),
                ("iselimination", flag(false)),
                ("isinactive", flag(false)),
            ]],
            Table::SalesTaxItem => self
                .tax_items
                .iter()
                .map(|t| {
                    vec![
                        ("id", text(&t.id)),
                        ("itemid", text(&t.name)),
                        ("fullname", text(&t.name)),
                        ("description", None),
                        // [I] A percentage with its sign, as NetSuite shows a tax code's rate.
                        ("rate", Some(format!("{}%", t.rate.normalize()))),
                        ("isinactive", flag(!t.active)),
                    ]
                })
                .collect(),
        }
    }

    fn suiteql_url(&self, limit: usize, offset: usize) -> String {
        format!("{}{SUITEQL_PATH}?limit={limit}&offset={offset}", self.base)
    }

    /// `POST /services/rest/query/v1/suiteql`: one page of a query's rows.
    fn suiteql(&mut self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Answer {
        if *method != Method::POST {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "The HTTP method is not allowed for this resource.",
                None,
            );
        }
        let params = Params(
            url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        );
        // [I] As on the record service, an unknown query parameter is refused.
        if let Some((name, _)) = params.0.iter().find(|(k, _)| k != "limit" && k != "offset") {
            return with_detail(
                error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_PARAMETER",
                    &format!("Invalid query parameter: {name}."),
                    None,
                ),
                "o:errorQueryParam",
                name,
            );
        }
        let (limit, offset) = match suiteql_page(&params) {
            Ok(page) => page,
            Err(refusal) => return refusal,
        };
        // [I] Oracle's request carries `Prefer: transient` and every public client sends
        // it; what NetSuite answers without it is not published, so the fake refuses.
        if !prefers_transient(headers) {
            return with_detail(
                error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_HEADER",
                    "Invalid Prefer header: SuiteQL queries require Prefer: transient.",
                    None,
                ),
                "o:errorHeader",
                "Prefer",
            );
        }
        let body = match json_body(headers, body, true) {
            Ok(body) => body,
            Err(refusal) => return refusal,
        };
        let Some(q) = body.get("q").and_then(Value::as_str) else {
            // [I] The wording is not published.
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_CONTENT",
                "The request body must hold the query as the string q.",
                Some("q"),
            );
        };
        self.suiteql.push(q.to_string());
        let select = match parse_suiteql(q) {
            Ok(select) => select,
            Err(e) => return e.answer(),
        };
        let mut rows: Vec<Row> = self
            .table_rows(select.table)
            .into_iter()
            .filter(|row| {
                select
                    .filters
                    .iter()
                    .all(|(column, value)| cell(row, column) == Some(value.as_str()))
            })
            .collect();
        // [I] Without ORDER BY NetSuite promises no order; the fake uses internal ids.
        let order = if select.order.is_empty() {
            vec![("id", false)]
        } else {
            select.order.clone()
        };
        rows.sort_by(|a, b| {
            order
                .iter()
                .map(|(column, descending)| {
                    let o = compare_cells(column, cell(a, column), cell(b, column));
                    if *descending { o.reverse() } else { o }
                })
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let total = rows.len();
        let items: Vec<Value> = rows
            .iter()
            .skip(offset)
            .take(limit)
            .map(|row| {
                // Every row has empty `links`; NULL columns are left out (LedgerSync's
                // recorded answers).
                let mut item = Map::new();
                item.insert("links".into(), json!([]));
                for (column, name) in &select.columns {
                    if let Some(value) = cell(row, column) {
                        item.insert(name.clone(), json!(value));
                    }
                }
                Value::Object(item)
            })
            .collect();
        let has_more = offset + items.len() < total;
        // [I] The paging links of record collections (`first`, `prev`, `next`, `last`),
        // then `self` as requested.
        let mut links = Vec::new();
        if offset > 0 {
            links.push(json!({"rel": "first", "href": self.suiteql_url(limit, 0)}));
            links.push(json!({"rel": "prev", "href": self.suiteql_url(limit, offset - limit)}));
        }
        if has_more {
            let last = (total - 1) / limit * limit;
            links.push(json!({"rel": "next", "href": self.suiteql_url(limit, offset + limit)}));
            links.push(json!({"rel": "last", "href": self.suiteql_url(limit, last)}));
        }
        let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
        links.push(json!({"rel": "self", "href": format!("{}{SUITEQL_PATH}{query}", self.base)}));
        Answer::json(
            StatusCode::OK,
            json!({
                "links": links,
                "count": items.len(),
                "hasMore": has_more,
                "items": items,
                "offset": offset,
                "totalResults": total,
            }),
        )
    }
}

// ---------------------------------------------------------------------------------------
// The fake's own tests: it must be right before it can judge a connector
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use erp_sync::connectors::netsuite::client::request_url;
    use erp_sync::connectors::netsuite::tba::{self, Credentials};

    fn credentials() -> Credentials {
        Credentials {
            consumer_key: CONSUMER_KEY.into(),
            consumer_secret: CONSUMER_SECRET.into(),
            token_id: TOKEN_ID.into(),
            token_secret: TOKEN_SECRET.into(),
        }
    }

    /// A client signing like erp-sync's connector, with knobs to get it wrong.
    struct Client<'a> {
        fake: &'a FakeNetSuite,
        http: reqwest::Client,
    }

    impl Client<'_> {
        fn new(fake: &FakeNetSuite) -> Client<'_> {
            Client {
                fake,
                http: reqwest::Client::new(),
            }
        }

        async fn send_with(
            &self,
            method: &str,
            path: &str,
            query: &[(&str, &str)],
            body: Option<Value>,
            header: String,
        ) -> (u16, Option<String>, Value) {
            let url = request_url(&self.fake.url, path, query).unwrap();
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut request = self
                .http
                .request(method, url)
                .header("authorization", header);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_string());
            let text = response.text().await.unwrap();
            (
                status,
                location,
                serde_json::from_str(&text).unwrap_or(Value::Null),
            )
        }

        fn header(&self, method: &str, path: &str, query: &[(&str, &str)]) -> String {
            let url = request_url(&self.fake.url, path, query).unwrap();
            tba::authorization(
                method,
                &url,
                ACCOUNT_ID,
                &credentials(),
                &tba::nonce(),
                Utc::now().timestamp(),
            )
        }

        async fn send(
            &self,
            method: &str,
            path: &str,
            query: &[(&str, &str)],
            body: Option<Value>,
        ) -> (u16, Option<String>, Value) {
            let header = self.header(method, path, query);
            self.send_with(method, path, query, body, header).await
        }

        /// The SuiteQL URL with `query` encoded the RFC 3986 way, as erp-sync builds URLs.
        fn suiteql_url(&self, query: &[(&str, &str)]) -> url::Url {
            let mut text = format!("{}{SUITEQL_PATH}", self.fake.url);
            if !query.is_empty() {
                let pairs: Vec<String> = query
                    .iter()
                    .map(|(k, v)| format!("{}={}", tba::encode(k), tba::encode(v)))
                    .collect();
                text.push('?');
                text.push_str(&pairs.join("&"));
            }
            url::Url::parse(&text).unwrap()
        }

        /// A SuiteQL request sent with `query` but signed with `signed`, with `prefer` as
        /// the `Prefer` header.
        async fn suiteql_with(
            &self,
            method: &str,
            query: &[(&str, &str)],
            signed: &[(&str, &str)],
            prefer: Option<&str>,
            body: Option<Value>,
        ) -> (u16, Value) {
            let header = tba::authorization(
                method,
                &self.suiteql_url(signed),
                ACCOUNT_ID,
                &credentials(),
                &tba::nonce(),
                Utc::now().timestamp(),
            );
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut request = self
                .http
                .request(method, self.suiteql_url(query))
                .header("authorization", header);
            if let Some(prefer) = prefer {
                request = request.header("prefer", prefer);
            }
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        }

        /// A SuiteQL query as a connector must send it.
        async fn suiteql(&self, q: &str, query: &[(&str, &str)]) -> (u16, Value) {
            let body = Some(json!({ "q": q }));
            self.suiteql_with("POST", query, query, Some("transient"), body)
                .await
        }
    }

    fn rows(body: &Value) -> &Vec<Value> {
        body["items"].as_array().unwrap()
    }

    fn column(body: &Value, name: &str) -> Vec<String> {
        rows(body)
            .iter()
            .map(|r| r[name].as_str().unwrap_or("<null>").to_string())
            .collect()
    }

    fn detail(body: &Value) -> &str {
        body["o:errorDetails"][0]["detail"]
            .as_str()
            .unwrap_or_default()
    }

    fn code(body: &Value) -> &str {
        body["o:errorDetails"][0]["o:errorCode"]
            .as_str()
            .unwrap_or_default()
    }

    fn id_of(location: &Option<String>) -> String {
        location
            .as_deref()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string()
    }

    fn invoice(customer: &str, lines: Value) -> Value {
        json!({"entity": {"id": customer}, "tranId": "INV-1", "tranDate": "2026-11-01",
               "currency": {"id": "1"}, "item": {"items": lines}})
    }

    #[test]
    fn the_fakes_signer_matches_the_published_vectors() {
        let oauth: Vec<(String, String)> = [
            ("oauth_consumer_key", CONSUMER_KEY),
            ("oauth_token", TOKEN_ID),
            ("oauth_signature_method", "HMAC-SHA256"),
            ("oauth_timestamp", "1508242306"),
            ("oauth_nonce", "fjaLirsIcCGVZWzBX0pg"),
            ("oauth_version", "1.0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let base = "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1";
        let sig = |method: &str, uri: &str, extra: &[(&str, &str)]| {
            let mut params = oauth.clone();
            params.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            signature(method, uri, &params, CONSUMER_SECRET, TOKEN_SECRET)
        };
        assert_eq!(
            sig("PUT", &format!("{base}/invoice/eid:BILL-2024-0001"), &[]),
            "CJjNoAMzFA9UN7KpSYMalMZaluM4ZhbO/Q3wAMb+8EM="
        );
        assert_eq!(
            sig(
                "PATCH",
                &format!("{base}/invoice/4711"),
                &[("replace", "item")]
            ),
            "3Lm8jHnwFdAN/aGwJl96FzBXA9R8zcTqSRfEGdHrziQ="
        );
        assert_eq!(
            sig(
                "GET",
                &format!("{base}/invoice"),
                &[("q", "externalId IS \"BILL-2024-0001\""), ("limit", "5")]
            ),
            "VKHrY3rCmGy2oRPxzeTXDA/T39ETp5+UCClznDZchnE="
        );
        assert!(fully_encoded(
            "CJjNoAMzFA9UN7KpSYMalMZaluM4ZhbO%2FQ3wAMb%2B8EM%3D"
        ));
        assert!(!fully_encoded(
            "CJjNoAMzFA9UN7KpSYMalMZaluM4ZhbO/Q3wAMb%2B8EM="
        ));
        assert!(!fully_encoded("abc%2"));
    }

    #[tokio::test]
    async fn every_login_is_checked_like_netsuite() {
        let fake = FakeNetSuite::start().await;
        let client = Client::new(&fake);
        let (status, _, body) = client
            .send("GET", "customer", &[("limit", "1")], None)
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["count"], 0);

        let url = |path: &str, query: &[(&str, &str)]| request_url(&fake.url, path, query).unwrap();
        let mut refused = Vec::new();
        // A wrong token secret.
        let wrong = Credentials {
            token_secret: "not-the-secret".into(),
            ..credentials()
        };
        let now = Utc::now().timestamp();
        let header = tba::authorization(
            "GET",
            &url("customer", &[]),
            ACCOUNT_ID,
            &wrong,
            &tba::nonce(),
            now,
        );
        refused.push(client.send_with("GET", "customer", &[], None, header).await);
        // A timestamp ten minutes old.
        let header = tba::authorization(
            "GET",
            &url("customer", &[]),
            ACCOUNT_ID,
            &credentials(),
            &tba::nonce(),
            now - 600,
        );
        refused.push(client.send_with("GET", "customer", &[], None, header).await);
        // A nonce used twice: the first use passes, the replay does not.
        let header = client.header("GET", "customer", &[]);
        assert_eq!(
            client
                .send_with("GET", "customer", &[], None, header.clone())
                .await
                .0,
            200
        );
        refused.push(client.send_with("GET", "customer", &[], None, header).await);
        // The realm spelled like the host.
        let header = client
            .header("GET", "customer", &[])
            .replace("realm=\"1234567_SB1\"", "realm=\"1234567-sb1\"");
        refused.push(client.send_with("GET", "customer", &[], None, header).await);
        // HMAC-SHA1.
        let header = client
            .header("GET", "customer", &[])
            .replace("HMAC-SHA256", "HMAC-SHA1");
        refused.push(client.send_with("GET", "customer", &[], None, header).await);
        // A query parameter that was not signed.
        let header = client.header("GET", "customer", &[]);
        refused.push(
            client
                .send_with("GET", "customer", &[("limit", "1")], None, header)
                .await,
        );
        // A signature with only `+` escaped.
        let header = client.header("GET", "customer", &[]);
        let header = header.replace("%2F", "/").replace("%3D", "=");
        refused.push(client.send_with("GET", "customer", &[], None, header).await);
        for (status, _, body) in &refused {
            assert_eq!(*status, 401, "{body}");
            assert_eq!(code(body), "INVALID_LOGIN");
            assert!(body["type"].is_string() && body["title"] == "Unauthorized");
        }
        let audit = fake.login_audit();
        assert_eq!(audit[0], "InvalidSignature");
        assert_eq!(audit[1], "InvalidTimestamp");
        assert_eq!(audit[2], "InvalidNonce(reused)");
        assert!(audit[3].starts_with("InvalidRealm"), "{audit:?}");
        assert_eq!(audit[4], "UnsupportedSignatureMethod");
        assert_eq!(audit[5], "InvalidSignature");
        assert_eq!(audit[6], "NotPercentEncoded(oauth_signature)");
    }

    #[tokio::test]
    async fn upserts_by_external_id_and_the_duplicate_lines_trap() {
        let fake = FakeNetSuite::start().await;
        let client = Client::new(&fake);
        let customer =
            json!({"companyName": "Acme Inc", "email": "ap@acme.test", "subsidiary": {"id": "1"}});
        let (status, location, _) = client
            .send("PUT", "customer/eid:cus-1", &[], Some(customer.clone()))
            .await;
        assert_eq!(status, 204);
        let customer_id = id_of(&location);
        let (status, location, _) = client
            .send("PUT", "customer/eid:cus-1", &[], Some(customer))
            .await;
        assert_eq!(
            (status, location),
            (204, None),
            "an update does not name the record"
        );
        assert_eq!(fake.customers().len(), 1);
        let (_, _, found) = client.send("GET", "customer/eid:cus-1", &[], None).await;
        assert_eq!(found["id"], customer_id.as_str());

        let lines = json!([{"item": {"id": ITEM_SERVICES}, "quantity": 2, "rate": 5.5, "amount": 11.0},
                           {"item": {"id": ITEM_TAX}, "amount": 0.99}]);
        let body = invoice(&customer_id, lines);
        let (status, location, res) = client
            .send(
                "PUT",
                "invoice/eid:inv-1",
                &[("replace", "item")],
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 204, "{res}");
        let invoice_id = id_of(&location);
        assert_eq!(fake.invoices()[0]["total"], json!(11.99));

        // The trap: without `replace=item`, the re-sent lines are appended.
        let (status, _, _) = client
            .send("PUT", "invoice/eid:inv-1", &[], Some(body.clone()))
            .await;
        assert_eq!(status, 204);
        let stored = &fake.invoices()[0];
        assert_eq!(stored["item"]["items"].as_array().unwrap().len(), 4);
        assert_eq!(stored["total"], json!(23.98));

        // With it, the sent lines are the lines.
        let (status, _, _) = client
            .send(
                "PUT",
                "invoice/eid:inv-1",
                &[("replace", "item")],
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 204);
        let stored = &fake.invoices()[0];
        assert_eq!(stored["item"]["items"].as_array().unwrap().len(), 2);
        assert_eq!(stored["total"], json!(11.99));
        assert_eq!(fake.invoices().len(), 1);

        // PATCH by internal id, updating a line by its `line` key.
        let line = stored["item"]["items"][0]["line"].as_u64().unwrap();
        let patch = json!({"item": {"items": [{"line": line, "quantity": 3, "amount": 16.5}]}});
        let (status, location, res) = client
            .send("PATCH", &format!("invoice/{invoice_id}"), &[], Some(patch))
            .await;
        assert_eq!(status, 204, "{res}");
        assert_eq!(id_of(&location), invoice_id);
        assert_eq!(fake.invoices()[0]["total"], json!(17.49));

        // POST with a taken external id; an upsert by internal id; a bad external id.
        let mut dup = body.clone();
        dup["externalId"] = json!("inv-1");
        let (status, _, res) = client.send("POST", "invoice", &[], Some(dup)).await;
        assert_eq!((status, code(&res)), (400, "USER_ERROR"));
        let (status, _, _) = client
            .send(
                "PUT",
                &format!("invoice/{invoice_id}"),
                &[],
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 400);
        let (status, _, res) = client
            .send("PUT", "invoice/eid:INV%2F1", &[], Some(body))
            .await;
        assert_eq!((status, code(&res)), (400, "USER_ERROR"));
        assert_eq!(fake.invoices().len(), 1);

        // Lookups: by external id, by query, and a miss.
        let (status, _, res) = client.send("GET", "invoice/eid:nope", &[], None).await;
        assert_eq!((status, code(&res)), (404, "NONEXISTENT_ID"));
        let (_, _, res) = client
            .send(
                "GET",
                "currency",
                &[("q", "symbol IS \"GBP\""), ("limit", "1")],
                None,
            )
            .await;
        assert_eq!(res["items"][0]["id"], "2");
        assert_eq!(res["count"], 1);
    }

    #[tokio::test]
    async fn validation_errors_name_fields_in_the_envelope() {
        let fake = FakeNetSuite::start().await;
        let client = Client::new(&fake);
        let (status, _, res) = client
            .send(
                "PUT",
                "customer/eid:c",
                &[],
                Some(json!({"email": "a@b.c", "subsidiary": {"id": "1"}})),
            )
            .await;
        assert_eq!((status, code(&res)), (400, "USER_ERROR"));
        assert_eq!(res["o:errorDetails"][0]["o:errorPath"], "companyName");
        assert!(
            res["o:errorDetails"][0]["detail"]
                .as_str()
                .unwrap()
                .contains("Company Name")
        );
        let (status, _, res) = client
            .send(
                "PUT",
                "customer/eid:c",
                &[],
                Some(json!({"companyName": "A"})),
            )
            .await;
        assert_eq!(
            (status, res["o:errorDetails"][0]["o:errorPath"].as_str()),
            (400, Some("subsidiary"))
        );
        let (status, _, res) = client
            .send(
                "PUT",
                "customer/eid:c",
                &[],
                Some(json!({"COMPANYNAME": "A", "Subsidiary": {"id": "1"}})),
            )
            .await;
        assert_eq!(status, 204, "field names are case-insensitive: {res}");
        let customer = fake.customers()[0]["id"].as_str().unwrap().to_string();
        let (status, _, res) = client
            .send(
                "PUT",
                "customer/eid:c",
                &[],
                Some(json!({"companyNmae": "typo"})),
            )
            .await;
        assert_eq!((status, code(&res)), (400, "USER_ERROR"));

        let cases = [
            (json!([]), "item"),
            (
                json!([{"item": {"id": "999"}, "amount": 1}]),
                "item.items[0].item",
            ),
            (
                json!([{"item": {"id": ITEM_SERVICES}}]),
                "item.items[0].amount",
            ),
            (
                json!([{"item": {"id": ITEM_SERVICES}, "quantity": 3, "rate": 3, "amount": 10}]),
                "item.items[0].amount",
            ),
            (
                json!([{"item": {"id": ITEM_SERVICES}, "amount": 1, "price": 2}]),
                "item.items[0].price",
            ),
        ];
        for (lines, path) in cases {
            let (status, _, res) = client
                .send("PUT", "invoice/eid:i", &[], Some(invoice(&customer, lines)))
                .await;
            assert_eq!(status, 400, "{res}");
            assert_eq!(res["o:errorDetails"][0]["o:errorPath"], path, "{res}");
        }
        let mut body = invoice(
            &customer,
            json!([{"item": {"id": ITEM_SERVICES}, "amount": 1}]),
        );
        body["entity"] = json!({"id": "424242"});
        let (_, _, res) = client.send("PUT", "invoice/eid:i", &[], Some(body)).await;
        assert_eq!(
            (code(&res), res["o:errorDetails"][0]["o:errorPath"].as_str()),
            ("INVALID_KEY_OR_REF", Some("entity"))
        );
        fake.remove_item(ITEM_USAGE);
        let body = invoice(
            &customer,
            json!([{"item": {"id": ITEM_USAGE}, "amount": 1}]),
        );
        let (status, _, _) = client.send("PUT", "invoice/eid:i", &[], Some(body)).await;
        assert_eq!(status, 400);
        let (status, _, res) = client.send("GET", "customer", &[("sort", "x")], None).await;
        assert_eq!((status, code(&res)), (400, "INVALID_PARAMETER"));
        assert!(fake.invoices().is_empty());
    }

    #[tokio::test]
    async fn invoices_are_credited_once_by_transform() {
        let fake = FakeNetSuite::start().await;
        let client = Client::new(&fake);
        let (_, location, _) = client
            .send(
                "PUT",
                "customer/eid:c",
                &[],
                Some(json!({"companyName": "A", "subsidiary": {"id": "1"}})),
            )
            .await;
        let customer = id_of(&location);
        let body = invoice(
            &customer,
            json!([{"item": {"id": ITEM_SERVICES}, "amount": 12.5}]),
        );
        let (_, location, _) = client.send("PUT", "invoice/eid:i", &[], Some(body)).await;
        let invoice_id = id_of(&location);
        let path = format!("invoice/{invoice_id}/!transform/creditMemo");
        let (status, location, res) = client
            .send(
                "POST",
                &path,
                &[],
                Some(json!({"externalId": "void-i", "memo": "voided"})),
            )
            .await;
        assert_eq!(status, 204, "{res}");
        let memo = id_of(&location);
        let memos = fake.credit_memos();
        assert_eq!(memos.len(), 1);
        assert_eq!(memos[0]["id"], memo.as_str());
        assert_eq!(memos[0]["total"], json!(12.5));
        assert_eq!(memos[0]["createdFrom"]["id"], invoice_id.as_str());
        assert_eq!(fake.invoices()[0]["amountRemaining"], json!(0));
        let (status, _, res) = client.send("GET", "creditMemo/eid:void-i", &[], None).await;
        assert_eq!((status, res["id"].as_str()), (200, Some(memo.as_str())));
        let (status, _, res) = client
            .send("POST", &path, &[], Some(json!({"externalId": "void-j"})))
            .await;
        assert_eq!((status, code(&res)), (400, "USER_ERROR"));
        assert_eq!(fake.credit_memos().len(), 1);
    }

    #[tokio::test]
    async fn limits_and_faults() {
        let fake = FakeNetSuite::start().await;
        let client = Client::new(&fake);
        fake.throttle_next(1);
        let (status, _, res) = client.send("GET", "customer", &[], None).await;
        assert_eq!((status, code(&res)), (429, "CONCURRENCY_LIMIT_EXCEEDED"));
        fake.outage_next(1);
        assert_eq!(client.send("GET", "customer", &[], None).await.0, 503);

        fake.fail_after_commit(1);
        let (status, _, res) = client
            .send(
                "PUT",
                "customer/eid:c",
                &[],
                Some(json!({"companyName": "A", "subsidiary": {"id": "1"}})),
            )
            .await;
        assert_eq!((status, code(&res)), (500, "UNEXPECTED_ERROR"));
        assert_eq!(
            fake.customers().len(),
            1,
            "committed before the answer was lost"
        );

        fake.set_concurrency_limit(4);
        fake.set_delay(Duration::from_millis(300));
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let header = client.header("GET", "customer", &[]);
            let request = client
                .http
                .get(request_url(&fake.url, "customer", &[]).unwrap())
                .header("authorization", header);
            calls.spawn(request.send());
        }
        let statuses: Vec<u16> = calls
            .join_all()
            .await
            .into_iter()
            .map(|r| r.unwrap().status().as_u16())
            .collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            4,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 429).count(),
            4,
            "{statuses:?}"
        );
        // The refused calls were counted while in flight, beyond the four served.
        assert!(
            (5..=8).contains(&fake.max_concurrent_seen()),
            "{}",
            fake.max_concurrent_seen()
        );
        assert!(fake.requests().iter().all(|r| r.status != 0));
    }
    #[test]
    fn the_suiteql_subset() {
        let s = parse_suiteql(
            "select item.ItemId as Name from Item where itemid = 'O''Brien' and id = 7 order by id desc, itemid",
        )
        .unwrap();
        assert_eq!(s.table, Table::Item);
        assert_eq!(s.columns, [("itemid", "name".to_string())]);
        assert_eq!(
            s.filters,
            [("itemid", "O'Brien".to_string()), ("id", "7".to_string())]
        );
        assert_eq!(s.order, [("id", true), ("itemid", false)]);
        let s = parse_suiteql("SELECT * FROM currency").unwrap();
        assert_eq!(s.columns.len(), Table::Currency.columns().len());
        assert_eq!(
            parse_suiteql("SELECT id FROM item WHERE x = 1").unwrap_err(),
            QueryError::UnknownColumn("x".into(), Table::Item)
        );
        assert_eq!(
            parse_suiteql("SELECT id FROM transaction").unwrap_err(),
            QueryError::UnknownTable("transaction".into())
        );
        for q in [
            "SELECT id FROM item WHERE id = 1 OR id = 2",
            "SELECT id FROM item;",
            "SELECT id, FROM item",
            "SELECT id FROM item ORDER id",
            "SELECT id FROM item WHERE id = itemid",
        ] {
            assert_eq!(
                parse_suiteql(q).unwrap_err(),
                QueryError::Unsupported,
                "{q}"
            );
        }
    }

    #[tokio::test]
    async fn suiteql_lists_reference_data_like_netsuite() {
        let fake = FakeNetSuite::start().await;
        let client = Client::new(&fake);
        let (status, body) = client
            .suiteql(
                "SELECT id, itemid, displayname, itemtype, isinactive FROM item WHERE isinactive = 'F' ORDER BY id",
                &[],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (
                &body["count"],
                &body["totalResults"],
                &body["hasMore"],
                &body["offset"]
            ),
            (&json!(6), &json!(6), &json!(false), &json!(0))
        );
        assert_eq!(
            column(&body, "id"),
            [
                ITEM_SERVICES,
                ITEM_USAGE,
                ITEM_DISCOUNT,
                ITEM_TAX,
                TAX_CA,
                TAX_EXEMPT
            ]
        );
        assert_eq!(
            rows(&body)[0],
            json!({"links": [], "id": "86", "itemid": "Services", "displayname": "Services",
                   "itemtype": "Service", "isinactive": "F"})
        );
        // Tax codes are items too, and their NULL display name is left out.
        let tax = &rows(&body)[4];
        assert_eq!(tax["itemtype"], "TaxItem");
        assert!(tax.get("displayname").is_none(), "{tax}");

        // Keywords and identifiers in any case, answered in lower case; a qualified
        // column, an alias, two conditions.
        fake.deactivate_account(ACCOUNT_DISCOUNTS);
        let (status, body) = client
            .suiteql(
                "select ID, account.AcctNumber, AccountSearchDisplayName as Name, ACCTTYPE from ACCOUNT \
                 where IsInactive = 'F' and AcctType = 'Income' order by acctnumber desc",
                &[],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            rows(&body),
            &vec![
                json!({"links": [], "id": ACCOUNT_REVENUE, "acctnumber": "4000",
                          "name": "4000 Sales", "accttype": "Income"})
            ]
        );
        fake.add_account("300", "4100", "Subscription Revenue", "Income");
        let (_, body) = client
            .suiteql(
                "SELECT id FROM account WHERE accttype = 'Income' ORDER BY acctnumber DESC",
                &[],
            )
            .await;
        assert_eq!(
            column(&body, "id"),
            [ACCOUNT_DISCOUNTS, "300", ACCOUNT_REVENUE]
        );

        let (_, body) = client
            .suiteql("SELECT * FROM currency ORDER BY symbol", &[])
            .await;
        assert_eq!(column(&body, "symbol"), ["CAD", "EUR", "GBP", "USD"]);
        assert_eq!(
            rows(&body)[3],
            json!({"links": [], "id": "1", "name": "US Dollar", "symbol": "USD",
                   "isbasecurrency": "T", "currencyprecision": "2", "isinactive": "F"})
        );

        fake.add_tax_item("103", "NY Sales Tax", "8.875");
        fake.remove_item(TAX_EXEMPT);
        let (_, body) = client
            .suiteql(
                "SELECT id, itemid, rate FROM salestaxitem WHERE isinactive = 'F' ORDER BY rate DESC",
                &[],
            )
            .await;
        assert_eq!(
            rows(&body),
            &vec![
                json!({"links": [], "id": "103", "itemid": "NY Sales Tax", "rate": "8.875%"}),
                json!({"links": [], "id": TAX_CA, "itemid": "CA Sales Tax", "rate": "7.25%"}),
            ]
        );

        let (_, body) = client
            .suiteql(
                "SELECT id, name, currency FROM subsidiary WHERE id = 1",
                &[],
            )
            .await;
        assert_eq!(
            rows(&body),
            &vec![json!({"links": [], "id": "1", "name": "Parent Company", "currency": "1"})]
        );

        fake.remove_item(ITEM_USAGE);
        let (_, body) = client
            .suiteql("SELECT id, isinactive FROM item WHERE id = '87'", &[])
            .await;
        assert_eq!(rows(&body)[0]["isinactive"], "T");
        assert_eq!(fake.suiteql_queries().len(), 7);
        assert!(fake.requests().iter().all(|r| r.path == SUITEQL_PATH));
    }

    #[tokio::test]
    async fn suiteql_pages_are_signed_and_bounded() {
        let fake = FakeNetSuite::start().await;
        let client = Client::new(&fake);
        let q = "SELECT id FROM account ORDER BY id";
        let mut seen = Vec::new();
        let mut offset = 0;
        loop {
            let at = offset.to_string();
            let (status, body) = client.suiteql(q, &[("limit", "4"), ("offset", &at)]).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(
                (&body["totalResults"], &body["offset"]),
                (&json!(6), &json!(offset))
            );
            seen.extend(column(&body, "id"));
            let rels: Vec<&str> = body["links"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["rel"].as_str().unwrap())
                .collect();
            if body["hasMore"] == true {
                assert_eq!(body["count"], 4);
                assert_eq!(rels, ["next", "last", "self"]);
                assert!(
                    body["links"][0]["href"]
                        .as_str()
                        .unwrap()
                        .ends_with("?limit=4&offset=4")
                );
                offset += 4;
            } else {
                assert_eq!(body["count"], 2);
                assert_eq!(rels, ["first", "prev", "self"]);
                break;
            }
        }
        // Ids sort as numbers.
        assert_eq!(seen, ["1", "6", "54", "55", "58", "67"]);

        // `limit` and `offset` are signed like any query parameter.
        let body = Some(json!({ "q": q }));
        let (status, res) = client
            .suiteql_with("POST", &[("limit", "4")], &[], Some("transient"), body)
            .await;
        assert_eq!((status, code(&res)), (401, "INVALID_LOGIN"));
        assert_eq!(fake.login_audit(), ["InvalidSignature"]);

        for (query, param) in [
            (vec![("limit", "1001")], "limit"),
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "many")], "limit"),
            (vec![("limit", "4"), ("offset", "2")], "offset"),
            (vec![("offset", "-1000")], "offset"),
            (vec![("offset", "100000")], "offset"),
        ] {
            let (status, res) = client.suiteql(q, &query).await;
            assert_eq!(
                (status, code(&res)),
                (400, "INVALID_PARAMETER"),
                "{query:?}: {res}"
            );
            assert_eq!(
                res["o:errorDetails"][0]["o:errorQueryParam"], param,
                "{res}"
            );
        }
        // Past the end: an empty page.
        let (status, res) = client.suiteql(q, &[("limit", "4"), ("offset", "8")]).await;
        assert_eq!(status, 200);
        assert_eq!((&res["count"], &res["hasMore"]), (&json!(0), &json!(false)));
    }

    #[tokio::test]
    async fn suiteql_refuses_like_netsuite() {
        let fake = FakeNetSuite::start().await;
        let client = Client::new(&fake);
        let q = json!({"q": "SELECT id FROM currency"});
        let (status, res) = client
            .suiteql_with("POST", &[], &[], None, Some(q.clone()))
            .await;
        assert_eq!((status, code(&res)), (400, "INVALID_HEADER"), "{res}");
        assert_eq!(res["o:errorDetails"][0]["o:errorHeader"], "Prefer");
        let (status, _) = client
            .suiteql_with("POST", &[], &[], Some("respond-async"), Some(q.clone()))
            .await;
        assert_eq!(status, 400);
        let (status, res) = client
            .suiteql_with(
                "POST",
                &[],
                &[],
                Some("respond-async, Transient"),
                Some(q.clone()),
            )
            .await;
        assert_eq!(status, 200, "{res}");
        let (status, res) = client
            .suiteql_with("GET", &[], &[], Some("transient"), None)
            .await;
        assert_eq!((status, code(&res)), (405, "METHOD_NOT_ALLOWED"));
        for body in [
            None,
            Some(json!({"query": "SELECT id FROM item"})),
            Some(json!({"q": 1})),
        ] {
            let (status, res) = client
                .suiteql_with("POST", &[], &[], Some("transient"), body)
                .await;
            assert_eq!((status, code(&res)), (400, "INVALID_CONTENT"), "{res}");
        }
        let (status, res) = client
            .suiteql("SELECT id FROM item", &[("fields", "id")])
            .await;
        assert_eq!((status, code(&res)), (400, "INVALID_PARAMETER"));

        let (status, res) = client.suiteql("SELECT id FROM customer", &[]).await;
        assert_eq!((status, code(&res)), (400, "INVALID_PARAMETER"));
        assert_eq!(
            detail(&res),
            "Invalid search query. Detailed unprocessed description follows. Invalid search type: customer."
        );
        assert_eq!(res["o:errorDetails"][0]["o:errorQueryParam"], "q");
        let (_, res) = client.suiteql("SELECT id, nope FROM item", &[]).await;
        assert_eq!(
            detail(&res),
            "Invalid search query. Detailed unprocessed description follows. Search error occurred: \
             Unknown identifier 'nope'. Available identifiers are: {item=item}."
        );
        let (_, res) = client
            .suiteql("SELECT id FROM item WHERE isinactive = 'F' OR id = 1", &[])
            .await;
        assert!(
            detail(&res).ends_with("Invalid or unsupported search."),
            "{res}"
        );
        for q in [
            "SELECT id FROM item;",
            "SELECT i.id FROM item i",
            "SELECT id FROM item WHERE isinactive <> 'T'",
            "SELECT COUNT(*) FROM item",
            "SELECT id FROM item WHERE itemid LIKE 'S%'",
            "SELECT id FROM item WHERE ROWNUM <= 2",
            "SELECT id FROM item ORDER BY id FETCH FIRST 2 ROWS ONLY",
            "SELECT id FROM item JOIN account ON item.id = account.id",
            "SELECT id FROM item WHERE itemid = 'unterminated",
            "SELECT FROM item",
            "DELETE FROM item",
            "",
        ] {
            let (status, res) = client.suiteql(q, &[]).await;
            assert_eq!(
                (status, code(&res)),
                (400, "INVALID_PARAMETER"),
                "{q}: {res}"
            );
        }

        // A query is not a write: it leaves a lost-answer fault for the next write.
        fake.fail_after_commit(1);
        assert_eq!(client.suiteql("SELECT id FROM currency", &[]).await.0, 200);
        let customer = json!({"companyName": "A", "subsidiary": {"id": "1"}});
        let (status, _, _) = client
            .send("PUT", "customer/eid:c", &[], Some(customer))
            .await;
        assert_eq!(status, 500);
        // Throttled and signed like every call.
        fake.throttle_next(1);
        let (status, res) = client.suiteql("SELECT id FROM currency", &[]).await;
        assert_eq!((status, code(&res)), (429, "CONCURRENCY_LIMIT_EXCEEDED"));
    }
}
