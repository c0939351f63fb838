//! A fake Xero: the identity endpoints (OAuth 2.0 authorization code with PKCE, token
//! rotation, connections) and the part of the Accounting API 2.0 that erp-sync uses
//! (organisation, accounts, tax rates, currencies, items, contacts, invoices).
//!
//! It checks what Xero checks and answers in Xero's wire shapes: `xero-tenant-id` against
//! the organisations the grant authorized, scopes, rotating refresh tokens with a 30-minute
//! grace, `Idempotency-Key` replay, `summarizeErrors`, the `ValidationException` envelope,
//! element-level `HasErrors`, `/Date(ms+0000)/` dates, plain-text 404s (also for a query
//! string too long for Xero's web servers), the rate limits (5 concurrent, 60 in any 60
//! seconds, 5000 in any 24 hours per organisation) with their `X-*Limit-Remaining` headers,
//! the organisation's subscribed currencies and items, `summaryOnly`, the high volume
//! threshold (opt-in), and the problem bodies of 401 and 403 (with the casing of different
//! eras), so a connector that is wrong about the protocol fails here. Where Xero's behaviour is not
//! documented, the choice made is marked "[I]". Faults (throttling, outages, lost responses,
//! expired or revoked tokens, payments that lock an invoice) are injected through methods on
//! [`FakeXero`].

use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rand::Rng;
use rand::distributions::Alphanumeric;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The app's OAuth client id.
pub const CLIENT_ID: &str = "xero-test-client";
/// The app's OAuth client secret (a confidential "web app": the secret is always required).
pub const CLIENT_SECRET: &str = "xero-test-secret";
/// The organisation that exists from the start and is authorized by default.
pub const TENANT_ID: &str = "a3b0c7e2-0000-4000-8000-00000000000a";

/// `ProviderName` of every envelope: the app's name as registered with Xero.
const PROVIDER_NAME: &str = "erp-sync test app";
const DEFAULT_ACCESS_TOKEN_LIFETIME: u64 = 1800;
/// A superseded refresh token keeps working this long (Xero: "a grace period of 30 minutes").
const DEFAULT_REFRESH_GRACE: Duration = Duration::from_secs(30 * 60);
/// [I] Xero does not document it; IdentityServer's default is 5 minutes.
const CODE_LIFETIME: Duration = Duration::from_secs(5 * 60);
const MAX_CONCURRENT_PER_TENANT: usize = 5;
const DEFAULT_MINUTE_LIMIT: u32 = 60;
const DEFAULT_DAY_LIMIT: u32 = 5000;
const APP_MINUTE_LIMIT: u32 = 10_000;
const DEFAULT_IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(6 * 60);
const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;
const MAX_INVOICE_NUMBER_LEN: usize = 255;
const MAX_CONTACT_NAME_LEN: usize = 255;
const MAX_CONTACT_NUMBER_LEN: usize = 50;
const MAX_ITEM_CODE_LEN: usize = 30;
const MAX_ITEM_NAME_LEN: usize = 50;
const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// [I] exact figure: the longest (percent-encoded) query string Xero's web servers take,
/// IIS's default `maxQueryString`. Longer ones answer the plain-text 404: GET Contacts with
/// 52 ContactIDs works and 53 fail (xero-node#404), invoices above ~55 IDs fail
/// (Xero-NetStandard#413), "a total URL length of >2091" fails (Xero-NetStandard#471), and
/// an older answer was IIS's "404.15 ... the query string is too long" (Xero-Net#280).
const MAX_QUERY_LEN: usize = 2048;
/// `page` without `pageSize` gives 100 a page; `pageSize` is clamped to 1..=1000.
const PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: usize = 1000;
const ZERO_GUID: &str = "00000000-0000-0000-0000-000000000000";
/// The body of every 404, as Xero sends it: plain text, not JSON.
const NOT_FOUND_TEXT: &str = "The resource you're looking for cannot be found";

/// Scopes the identity server knows, both the broad family and the granular one of 2026.
const KNOWN_SCOPES: &str = "\
    openid profile email offline_access accounting.transactions accounting.transactions.read \
    accounting.invoices accounting.invoices.read accounting.payments accounting.payments.read \
    accounting.banktransactions accounting.banktransactions.read accounting.manualjournals \
    accounting.manualjournals.read accounting.contacts accounting.contacts.read \
    accounting.settings accounting.settings.read accounting.attachments \
    accounting.attachments.read accounting.reports.read accounting.reports.tenninetynine.read \
    accounting.budgets.read accounting.journals.read";
/// Scopes apps created since 2026-03-02 may no longer request.
const RETIRED_SCOPES: &str =
    "accounting.transactions accounting.transactions.read accounting.reports.read";

const INVOICE_WRITE: &[&str] = &["accounting.transactions", "accounting.invoices"];
const INVOICE_READ: &[&str] = &[
    "accounting.transactions",
    "accounting.transactions.read",
    "accounting.invoices",
    "accounting.invoices.read",
];
const CONTACT_WRITE: &[&str] = &["accounting.contacts"];
const CONTACT_READ: &[&str] = &["accounting.contacts", "accounting.contacts.read"];
const SETTINGS_READ: &[&str] = &["accounting.settings", "accounting.settings.read"];

/// The chart of accounts usable on sales lines: (code, name, default tax type, AccountID).
const ACCOUNTS: &[(&str, &str, &str, &str)] = &[
    (
        "200",
        "Sales",
        "OUTPUT2",
        "5040915e-8ce7-4177-8d08-fde416232f18",
    ),
    (
        "260",
        "Other Revenue",
        "OUTPUT2",
        "e0a8b5a5-6ce3-4a66-b4c5-1fd5a6b3d0a1",
    ),
];

/// UK sales tax rates: (tax type, name, rate in percent, [I] ReportTaxType).
const TAX_RATES: &[(&str, &str, &str, &str)] = &[
    ("OUTPUT2", "20% (VAT on Income)", "20", "OUTPUT"),
    ("RROUTPUT", "5% (VAT on Income)", "5", "OUTPUT"),
    (
        "ZERORATEDOUTPUT",
        "Zero Rated Income",
        "0",
        "ZERORATEDOUTPUT",
    ),
    ("EXEMPTOUTPUT", "Exempt Income", "0", "EXEMPTOUTPUT"),
    ("NONE", "No VAT", "0", "NONE"),
];

/// The items every organisation starts with: (Code, Name, Description, sales UnitPrice,
/// sales AccountCode); the sales TaxType is the account's.
const DEFAULT_ITEMS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "PRO-PLAN",
        "Pro plan",
        "Pro plan, one month",
        "20.00",
        "200",
    ),
    (
        "HOURS",
        "Consulting hours",
        "Consulting, per hour",
        "10.25",
        "260",
    ),
];

/// `Description`s of the currencies an organisation may subscribe to (NZD and USD as in
/// Xero's spec examples, [I] the others); an unlisted code describes itself.
const CURRENCY_NAMES: &[(&str, &str)] = &[
    ("GBP", "British Pound"),
    ("USD", "United States Dollar"),
    ("EUR", "Euro"),
    ("NZD", "New Zealand Dollar"),
    ("AUD", "Australian Dollar"),
    ("CAD", "Canadian Dollar"),
    ("CHF", "Swiss Franc"),
    ("JPY", "Japanese Yen"),
    ("SEK", "Swedish Krona"),
];

// ---------------------------------------------------------------------------------------
// Public handle
// ---------------------------------------------------------------------------------------

/// One request the fake received (identity and accounting endpoints alike).
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The raw query string (percent-encoded, as sent), empty when there is none.
    pub query: String,
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// The `xero-tenant-id` header.
    pub tenant: Option<String>,
    /// Whether an `Authorization` header was sent.
    pub authorization: bool,
    /// The request body (lossy UTF-8).
    pub body: String,
    /// The status answered; 0 while the request is still in flight.
    pub status: u16,
}

/// The running fake. Dropping it stops the server.
pub struct FakeXero {
    /// Base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    state: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeXero {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeXero {
    /// Starts the fake on an ephemeral loopback port, with organisation [`TENANT_ID`]
    /// ("Fake Ltd", base currency GBP, accounts 200 and 260, UK tax rates).
    pub async fn start() -> Self {
        let state: Shared = Arc::new(Mutex::new(FakeState::new()));
        let app = Router::new()
            .route("/identity/connect/authorize", get(authorize))
            .route("/identity/connect/token", post(token))
            .route("/identity/connect/revocation", post(revocation))
            .route("/connections", get(list_connections))
            .route("/Connections", get(list_connections))
            .route("/connections/{id}", delete(delete_connection))
            .route("/Connections/{id}", delete(delete_connection))
            .route("/api.xro/2.0/{*rest}", any(api))
            .fallback(unknown_path)
            .layer(middleware::from_fn_with_state(state.clone(), record))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("a local address"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the fake Xero serves");
        });
        FakeXero { url, state, server }
    }

    /// The OAuth app erp-sync connects as, pointed at this fake (its endpoints and the
    /// client credentials it accepts).
    pub fn app(&self) -> erp_sync::config::OAuthApp {
        erp_sync::config::OAuthApp {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            auth_url: self.auth_url(),
            token_url: self.token_url(),
            api_base: self.api_base(),
        }
    }

    /// The identity server's authorize endpoint.
    pub fn auth_url(&self) -> String {
        format!("{}/identity/connect/authorize", self.url)
    }

    /// The identity server's token endpoint (code exchange and refresh).
    pub fn token_url(&self) -> String {
        format!("{}/identity/connect/token", self.url)
    }

    /// The identity server's revocation endpoint (RFC 7009, refresh tokens).
    pub fn revocation_url(&self) -> String {
        format!("{}/identity/connect/revocation", self.url)
    }

    /// The API base: `{api_base}/connections` and `{api_base}/api.xro/2.0/...`.
    pub fn api_base(&self) -> String {
        self.url.clone()
    }

    // --- inspection ---

    /// Stored invoices of an organisation, as Xero returns them one by one, in creation order.
    pub fn invoices(&self, tenant: &str) -> Vec<Value> {
        self.with_org(tenant, |o| o.data.invoices.clone())
    }

    /// How many invoices an organisation holds (cheap: nothing is cloned).
    pub fn invoice_count(&self, tenant: &str) -> usize {
        self.with_org(tenant, |o| o.data.invoices.len())
    }

    /// Stored contacts of an organisation, in creation order.
    pub fn contacts(&self, tenant: &str) -> Vec<Value> {
        self.with_org(tenant, |o| o.data.contacts.clone())
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state).requests.clone()
    }

    /// The most accounting calls for `tenant` that were in flight at once (including any
    /// refused for exceeding the limit of 5).
    pub fn max_concurrent_seen(&self, tenant: &str) -> usize {
        self.with_org(tenant, |o| o.max_in_flight)
    }

    /// How many `grant_type=refresh_token` requests reached the token endpoint with valid
    /// client credentials (successful or not).
    pub fn token_refreshes(&self) -> usize {
        lock(&self.state).token_refreshes
    }

    /// How many accounting calls (all organisations) were answered 429 because they went
    /// over a limit: concurrent, minute, day or app minute. Throttles injected with
    /// [`FakeXero::throttle_next`] are not counted.
    pub fn rate_limited_count(&self) -> usize {
        lock(&self.state).rate_limited
    }

    /// How many accounting calls arrived while a 429's `Retry-After` still asked their
    /// organisation's callers to wait (a client that honours it sends none).
    pub fn calls_during_retry_after(&self) -> usize {
        lock(&self.state).calls_during_retry_after
    }

    /// How many accounting calls for `tenant` were admitted (counted against its limits and
    /// answered by the API, whatever the status); refused ones and the calls recorded by
    /// [`FakeXero::spend_minute_budget`] are not included.
    pub fn calls_for(&self, tenant: &str) -> usize {
        self.with_org(tenant, |o| o.admitted)
    }

    /// Stored items of an organisation (the defaults first), with 4-decimal prices.
    pub fn items(&self, tenant: &str) -> Vec<Value> {
        self.with_org(tenant, |o| o.data.items.clone())
    }

    // --- setup and faults ---

    /// Adds an organisation (base currency GBP); renames it if it exists. It is reachable
    /// only through grants that authorize it (see [`FakeXero::authorize_tenants`]).
    pub fn add_tenant(&self, tenant_id: &str, name: &str) {
        let mut s = lock(&self.state);
        match s.orgs.get_mut(tenant_id) {
            Some(o) => o.name = name.to_string(),
            None => {
                s.orgs.insert(tenant_id.to_string(), Org::new(name));
            }
        }
    }

    /// The organisations authorizations grant from now on, in this order (default
    /// `[TENANT_ID]`): what the user ticks on Xero's consent screen.
    pub fn authorize_tenants(&self, tenants: &[&str]) {
        let mut s = lock(&self.state);
        for t in tenants {
            assert!(s.orgs.contains_key(*t), "unknown tenant {t}");
        }
        s.authorizing = tenants.iter().map(|t| t.to_string()).collect();
    }

    /// With `true`, the app behaves like one created after 2026-03-02: authorize requests
    /// naming `accounting.transactions(.read)` or `accounting.reports.read` get `invalid_scope`.
    pub fn refuse_retired_scopes(&self, refuse: bool) {
        lock(&self.state).refuse_retired_scopes = refuse;
    }

    /// Creates a contact directly (as if made in Xero's UI) and returns its ContactID.
    pub fn add_contact(&self, tenant: &str, name: &str) -> String {
        self.with_org(tenant, |o| {
            let raw = json!({ "Name": name });
            let input = ContactInput::parse(raw.as_object().expect("an object"), "Contacts[0]")
                .expect("a well-formed contact");
            let contact = o
                .data
                .create_contact(&input, Utc::now())
                .unwrap_or_else(|e| panic!("contact {name:?} could not be added: {e:?}"));
            contact["ContactID"]
                .as_str()
                .expect("a ContactID")
                .to_string()
        })
    }

    /// Creates an item directly (as if made in Xero's UI) and returns its ItemID: sold (on
    /// account 200, `OUTPUT2`, [I] no unit price), not purchased, not tracked. Panics if
    /// the code is taken, longer than 30 characters, or the name longer than 50.
    pub fn add_item(&self, tenant: &str, code: &str, name: &str) -> String {
        assert!(
            (1..=MAX_ITEM_CODE_LEN).contains(&code.chars().count()),
            "an item code has 1 to {MAX_ITEM_CODE_LEN} characters"
        );
        assert!(
            name.chars().count() <= MAX_ITEM_NAME_LEN,
            "an item name has at most {MAX_ITEM_NAME_LEN} characters"
        );
        self.with_org(tenant, |o| {
            assert!(
                o.data.item_by_code(code).is_none(),
                "item code {code:?} is taken"
            );
            let sales = json!({ "AccountCode": "200", "TaxType": "OUTPUT2" });
            let item = item_json(code, name, None, sales, Utc::now());
            let id = item["ItemID"].as_str().expect("an ItemID").to_string();
            o.data.items.push(item);
            id
        })
    }

    /// Subscribes the organisation to a currency (Settings > Currencies in Xero), so that
    /// invoices may be raised in it and `GET Currencies` lists it. `code` is a 3-letter
    /// ISO 4217 code; adding one twice is harmless.
    pub fn add_currency(&self, tenant: &str, code: &str) {
        let code = code.trim().to_ascii_uppercase();
        assert!(
            code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()),
            "a currency code is three letters: {code:?}"
        );
        self.with_org(tenant, |o| {
            if !o.data.currencies.contains(&code) {
                o.data.currencies.push(code);
            }
        })
    }

    /// Creates an AUTHORISED purchase bill (ACCPAY) directly, as if entered in Xero, and
    /// returns its InvoiceID: `total` (decimal text) with no tax, due in 30 days. A bill's
    /// InvoiceNumber need not be unique, so it may repeat a sales invoice's number: lookups
    /// by `InvoiceNumbers` then return both.
    pub fn add_bill(&self, tenant: &str, contact_id: &str, number: &str, total: &str) -> String {
        let total = Decimal::from_str(total).expect("a decimal total");
        self.with_org(tenant, |o| {
            let index = o
                .data
                .contact_index(contact_id)
                .unwrap_or_else(|| panic!("no contact {contact_id}"));
            let contact = &o.data.contacts[index];
            let now = Utc::now();
            let (date, due) = (now.date_naive(), now.date_naive() + chrono::Days::new(30));
            let id = Uuid::new_v4().to_string();
            let mut bill = json!({
                "Type": "ACCPAY", "InvoiceID": id, "InvoiceNumber": number, "Reference": "",
                "Payments": [], "CreditNotes": [], "Prepayments": [], "Overpayments": [],
                "AmountDue": money(total), "AmountPaid": money(Decimal::ZERO),
                "AmountCredited": money(Decimal::ZERO), "CurrencyRate": 1.0,
                "IsDiscounted": false, "HasAttachments": false, "HasErrors": false,
                "Contact": {
                    "ContactID": contact["ContactID"], "ContactStatus": contact["ContactStatus"],
                    "Name": contact["Name"], "Addresses": [], "Phones": [], "ContactGroups": [],
                    "ContactPersons": [], "HasValidationErrors": false,
                },
                "DateString": date_string(date), "Date": xero_date(date),
                "DueDateString": date_string(due), "DueDate": xero_date(due),
                "Status": "AUTHORISED", "LineAmountTypes": "NoTax",
                "LineItems": [{
                    "LineItemID": Uuid::new_v4().to_string(), "Description": "Bill",
                    "Quantity": 1.0, "UnitAmount": money(total), "AccountCode": "429",
                    "TaxType": "NONE", "TaxAmount": 0.0, "LineAmount": money(total),
                    "Tracking": [],
                }],
                "SubTotal": money(total), "TotalTax": 0.0, "Total": money(total),
                "CurrencyCode": o.data.currencies[0],
            });
            set_updated(&mut bill, now);
            o.data.invoices.push(bill);
            id
        })
    }

    /// Records a payment of `amount` (decimal text) against an AUTHORISED invoice, as if
    /// made in Xero: `AmountPaid`/`AmountDue` change, a full payment makes it PAID, and
    /// from then on the invoice can no longer be edited or voided through the API.
    pub fn add_payment(&self, tenant: &str, invoice_id: &str, amount: &str) {
        let amount = Decimal::from_str(amount).expect("a decimal amount");
        self.with_org(tenant, |o| {
            let invoice = o
                .data
                .invoices
                .iter_mut()
                .find(|i| i["InvoiceID"] == invoice_id)
                .unwrap_or_else(|| panic!("no invoice {invoice_id}"));
            assert_eq!(
                invoice["Status"], "AUTHORISED",
                "only AUTHORISED invoices take payments"
            );
            let now = Utc::now();
            let paid = decimal(&invoice["AmountPaid"]).unwrap_or_default() + amount;
            let due = decimal(&invoice["Total"]).unwrap_or_default() - paid;
            invoice["AmountPaid"] = money(paid);
            invoice["AmountDue"] = money(due);
            let payment = json!({
                "PaymentID": Uuid::new_v4().to_string(), "Date": xero_date(now.date_naive()),
                "Amount": money(amount), "CurrencyRate": 1.0, "HasAccount": false,
                "HasValidationErrors": false,
            });
            if let Some(payments) = invoice["Payments"].as_array_mut() {
                payments.push(payment);
            }
            if due <= Decimal::ZERO {
                invoice["Status"] = json!("PAID");
                invoice["FullyPaidOnDate"] = json!(xero_date(now.date_naive()));
            }
            set_updated(invoice, now);
        })
    }

    /// The next `n` invoice writes that commit anything are answered 500 after committing
    /// (a lost response); the real answer is kept for `Idempotency-Key` replay.
    pub fn fail_after_commit(&self, n: usize) {
        lock(&self.state).faults.fail_after_commit = n;
    }

    /// The next `n` accounting calls (past authentication) answer 429 with `Retry-After: 1`
    /// and `X-Rate-Limit-Problem: <problem>` (`minute`, `day`, `concurrent`, `appminute`).
    pub fn throttle_next(&self, n: usize, problem: &str) {
        let mut s = lock(&self.state);
        s.faults.throttle = n;
        s.faults.throttle_problem = problem.to_string();
    }

    /// The next `n` accounting calls (past authentication) answer 503. [I] body.
    pub fn outage_next(&self, n: usize) {
        lock(&self.state).faults.outage = n;
    }

    /// Every access token issued so far is expired from now on.
    pub fn expire_access_tokens(&self) {
        let (now, wall) = (Instant::now(), Utc::now());
        for t in lock(&self.state).access_tokens.values_mut() {
            t.expires_at = now;
            t.expires_wall = wall;
        }
    }

    /// Every refresh token issued so far answers `invalid_grant` from now on.
    pub fn revoke_refresh_tokens(&self) {
        for t in lock(&self.state).refresh_tokens.values_mut() {
            t.revoked = true;
        }
    }

    /// Calls per minute each organisation may make (default 60).
    pub fn set_minute_limit(&self, n: u32) {
        lock(&self.state).minute_limit = n;
    }

    /// Calls per day each organisation may make (default 5000; 1000 on the Starter tier).
    pub fn set_day_limit(&self, n: u32) {
        lock(&self.state).day_limit = n;
    }

    /// With `true`, the organisation is over Xero's high volume threshold (more than 100k
    /// contacts or invoices): `GET Contacts` and `GET Invoices` then refuse, with 400
    /// HighVolumeException, a `where` that is not optimised (contacts: `==` on Name,
    /// EmailAddress or AccountNumber, joined by AND, without ToLower/ToUpper; invoices: `==`
    /// on Status, Type, InvoiceID, InvoiceNumber, Reference, Contact.ContactID, Contact.Name
    /// or Contact.ContactNumber joined by AND, or InvoiceID equalities joined by OR), and a
    /// request that neither pages nor narrows by a list parameter, `where` or `searchTerm`.
    pub fn set_high_volume(&self, tenant: &str, on: bool) {
        self.with_org(tenant, |o| o.high_volume = on)
    }

    /// Records `n` calls in `tenant`'s minute and day windows now, as if another process
    /// of the same app (a second worker or deployment with the same client id) had just
    /// made them: `X-MinLimit-Remaining` and `X-DayLimit-Remaining` drop by `n`, and they
    /// leave the windows 60 seconds (24 hours) from now like any call. The app-wide minute
    /// count and [`FakeXero::calls_for`] are unchanged. (Xero counts per app and
    /// organisation: another app connected to the same organisation has its own budget.)
    pub fn spend_minute_budget(&self, tenant: &str, n: u32) {
        let now = Instant::now();
        self.with_org(tenant, |o| {
            for _ in 0..n {
                o.minute.push_back(now);
                o.day.push_back(now);
            }
        })
    }

    /// `expires_in` of access tokens issued from now on (default 1800 s).
    pub fn set_access_token_lifetime(&self, secs: u64) {
        lock(&self.state).access_token_lifetime = secs;
    }

    /// How long a superseded refresh token keeps working (default 30 minutes).
    pub fn set_refresh_grace(&self, d: Duration) {
        lock(&self.state).refresh_grace = d;
    }

    /// How long an `Idempotency-Key` answer is replayed (default 6 minutes).
    pub fn set_idempotency_window(&self, d: Duration) {
        lock(&self.state).idempotency_window = d;
    }

    /// Every admitted accounting call sleeps this long while counted as in flight.
    pub fn set_delay(&self, d: Duration) {
        lock(&self.state).delay = d;
    }

    fn with_org<T>(&self, tenant: &str, f: impl FnOnce(&mut Org) -> T) -> T {
        let mut s = lock(&self.state);
        let org = s
            .orgs
            .get_mut(tenant)
            .unwrap_or_else(|| panic!("unknown tenant {tenant}"));
        f(org)
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

struct FakeState {
    orgs: HashMap<String, Org>,
    /// The organisations the next authorization grants.
    authorizing: Vec<String>,
    refuse_retired_scopes: bool,
    codes: HashMap<String, AuthCode>,
    /// Authorizations by `authEventId`.
    grants: HashMap<String, Grant>,
    /// The user's connections to this app, by tenant id.
    connections: HashMap<String, Connection>,
    access_tokens: HashMap<String, AccessToken>,
    refresh_tokens: HashMap<String, RefreshToken>,
    access_token_lifetime: u64,
    refresh_grace: Duration,
    token_refreshes: usize,
    requests: Vec<Recorded>,
    faults: Faults,
    delay: Duration,
    minute_limit: u32,
    day_limit: u32,
    /// Admitted calls of the whole app in the last minute.
    app_recent: VecDeque<Instant>,
    /// Calls answered 429 for going over a limit (injected throttles excluded).
    rate_limited: usize,
    calls_during_retry_after: usize,
    idempotency_window: Duration,
    /// Answers by `Idempotency-Key` (keys are per app).
    idempotency: HashMap<String, Cached>,
}

#[derive(Default)]
struct Faults {
    fail_after_commit: usize,
    throttle: usize,
    throttle_problem: String,
    outage: usize,
}

struct AuthCode {
    redirect_uri: String,
    challenge: String,
    scopes: Vec<String>,
    tenants: Vec<String>,
    issued: Instant,
}

/// One authorization (an "auth event"): the organisations and scopes it granted.
struct Grant {
    tenants: Vec<String>,
    scopes: Vec<String>,
    /// The newest refresh token of this grant; all others are superseded.
    current_refresh: String,
}

struct Connection {
    id: String,
    created: String,
    updated: String,
}

struct AccessToken {
    grant: String,
    expires_at: Instant,
    /// The same instant on the wall clock, for the `TokenExpired` detail.
    expires_wall: DateTime<Utc>,
}

struct RefreshToken {
    grant: String,
    revoked: bool,
    /// When a newer refresh token of the same grant was issued.
    superseded_at: Option<Instant>,
}

/// A replayable answer under an `Idempotency-Key`.
struct Cached {
    /// Method, path and query, tenant and body hash of the first request.
    fingerprint: String,
    answer: Answer,
    at: Instant,
}

/// One organisation and its per-tenant limits bookkeeping.
struct Org {
    name: String,
    created: DateTime<Utc>,
    short_code: String,
    data: OrgData,
    in_flight: usize,
    max_in_flight: usize,
    /// Arrival times of counted calls in the last minute and the last day (rolling
    /// windows), including those recorded by [`FakeXero::spend_minute_budget`].
    minute: VecDeque<Instant>,
    day: VecDeque<Instant>,
    /// Accounting calls admitted so far.
    admitted: usize,
    /// Over Xero's high volume threshold (more than 100k contacts or invoices).
    high_volume: bool,
    /// Until when the last 429's `Retry-After` asked this organisation's callers to wait.
    retry_after_until: Option<Instant>,
}

/// What a write changes; cloned so that a rejected element (or request) leaves no trace.
#[derive(Clone)]
struct OrgData {
    contacts: Vec<Value>,
    invoices: Vec<Value>,
    next_invoice_number: u64,
    /// Items, with prices at 4 decimal places.
    items: Vec<Value>,
    /// Subscribed currency codes, the base currency first.
    currencies: Vec<String>,
}

impl FakeState {
    fn new() -> Self {
        let mut orgs = HashMap::new();
        orgs.insert(TENANT_ID.to_string(), Org::new("Fake Ltd"));
        FakeState {
            orgs,
            authorizing: vec![TENANT_ID.to_string()],
            refuse_retired_scopes: false,
            codes: HashMap::new(),
            grants: HashMap::new(),
            connections: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_token_lifetime: DEFAULT_ACCESS_TOKEN_LIFETIME,
            refresh_grace: DEFAULT_REFRESH_GRACE,
            token_refreshes: 0,
            requests: Vec::new(),
            faults: Faults::default(),
            delay: Duration::ZERO,
            minute_limit: DEFAULT_MINUTE_LIMIT,
            day_limit: DEFAULT_DAY_LIMIT,
            app_recent: VecDeque::new(),
            rate_limited: 0,
            calls_during_retry_after: 0,
            idempotency_window: DEFAULT_IDEMPOTENCY_WINDOW,
            idempotency: HashMap::new(),
        }
    }
}

impl Org {
    fn new(name: &str) -> Self {
        Org {
            name: name.to_string(),
            created: Utc::now(),
            short_code: format!("!{}", random_string(5)),
            data: OrgData {
                contacts: Vec::new(),
                invoices: Vec::new(),
                next_invoice_number: 1,
                items: default_items(),
                currencies: vec![BASE_CURRENCY.to_string()],
            },
            in_flight: 0,
            max_in_flight: 0,
            minute: VecDeque::new(),
            day: VecDeque::new(),
            admitted: 0,
            high_volume: false,
            retry_after_until: None,
        }
    }
}

/// Decrements an organisation's in-flight count when the call is done (or dropped).
struct InFlight {
    state: Shared,
    tenant: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(o) = lock(&self.state).orgs.get_mut(&self.tenant) {
            o.in_flight -= 1;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Answers and Xero error shapes
// ---------------------------------------------------------------------------------------

/// A complete answer; kept verbatim for `Idempotency-Key` replay.
#[derive(Clone, Debug)]
struct Answer {
    status: StatusCode,
    /// Empty for no `Content-Type` (204).
    content_type: &'static str,
    body: String,
    /// Extra headers (lowercase names).
    headers: Vec<(&'static str, String)>,
}

impl Answer {
    fn json(status: StatusCode, body: &Value) -> Self {
        Answer {
            status,
            content_type: "application/json; charset=utf-8",
            body: body.to_string(),
            headers: Vec::new(),
        }
    }

    fn empty(status: StatusCode) -> Self {
        Answer {
            status,
            content_type: "",
            body: String::new(),
            headers: Vec::new(),
        }
    }

    fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        let headers = response.headers_mut();
        headers.remove(header::CONTENT_TYPE);
        if !self.content_type.is_empty() {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.content_type),
            );
        }
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        response
    }
}

/// `{"Id","Status":"OK","ProviderName","DateTimeUTC","<kind>":[...]}`, every 200 of the
/// Accounting API.
fn envelope(kind: &str, items: Vec<Value>) -> Answer {
    envelope_with(kind, items, None)
}

fn envelope_with(kind: &str, items: Vec<Value>, pagination: Option<Value>) -> Answer {
    let mut body = json!({
        "Id": Uuid::new_v4().to_string(), "Status": "OK", "ProviderName": PROVIDER_NAME,
        "DateTimeUTC": format!("/Date({})/", Utc::now().timestamp_millis()),
    });
    if let Some(pagination) = pagination {
        body["pagination"] = pagination;
    }
    body[kind] = Value::Array(items);
    Answer::json(StatusCode::OK, &body)
}

/// The `{"ErrorNumber","Type","Message"}` envelope of API exceptions.
fn api_exception(status: StatusCode, number: u32, kind: &str, message: &str) -> Answer {
    let body = json!({ "ErrorNumber": number, "Type": kind, "Message": message });
    Answer::json(status, &body)
}

/// 400 ValidationException: the whole request rejected, failing elements listed.
fn validation_exception(elements: Vec<Value>) -> Answer {
    let body = json!({
        "ErrorNumber": 10, "Type": "ValidationException",
        "Message": "A validation exception occurred", "Elements": elements,
    });
    Answer::json(StatusCode::BAD_REQUEST, &body)
}

/// 400 PostDataInvalidException (ErrorNumber 14): the body could not be deserialized.
fn post_data_invalid(detail: &str) -> Answer {
    let message = format!("JSON for post data was invalid,{detail}");
    api_exception(
        StatusCode::BAD_REQUEST,
        14,
        "PostDataInvalidException",
        &message,
    )
}

/// [I] number: the body held no element of the kind the endpoint expects.
fn no_data(kind: &str) -> Answer {
    let message = format!(
        "No data has been processed for this endpoint. This endpoint is expecting {kind} data to be specifed in the request body."
    );
    api_exception(
        StatusCode::BAD_REQUEST,
        20,
        "NoDataProcessedException",
        &message,
    )
}

/// 400 QueryParseException (ErrorNumber 16) for a bad `where`.
fn query_parse(message: &str) -> Answer {
    api_exception(StatusCode::BAD_REQUEST, 16, "QueryParseException", message)
}

/// 400 HighVolumeException: an inefficient query of a high-volume organisation. Message as
/// quoted in xero-python#148 (Contacts) and pyxero#373 (Invoices); ErrorNumber 51 as
/// reported in Xero-NetStandard#604.
fn high_volume(plural: &str, singular: &str) -> Answer {
    let message = format!(
        "Your request is not filtering {plural} efficiently, given the extremely high volume for this organisation. Please check https://developer.xero.com/documentation/api/efficient-data-retrieval for tips on making {singular} retrieval more efficient."
    );
    api_exception(StatusCode::BAD_REQUEST, 51, "HighVolumeException", &message)
}

/// [I] shape: the same key with another request (Xero: "... is used with a different request").
fn idempotency_conflict(key: &str) -> Answer {
    let message = format!("Idempotency Key: {key} is used with a different request.");
    api_exception(StatusCode::BAD_REQUEST, 10, "ValidationException", &message)
}

/// [I] shape: an over-long `Idempotency-Key`.
fn idempotency_key_too_long() -> Answer {
    let message = format!("Idempotency-Key must be {MAX_IDEMPOTENCY_KEY_LEN} characters or less.");
    api_exception(StatusCode::BAD_REQUEST, 10, "ValidationException", &message)
}

/// 404: plain text, as Xero answers unknown resources and ids.
fn not_found() -> Answer {
    Answer {
        status: StatusCode::NOT_FOUND,
        content_type: "text/plain; charset=utf-8",
        body: NOT_FOUND_TEXT.to_string(),
        headers: Vec::new(),
    }
}

/// An RFC 7807-style problem in the capitalised form (with `Type: null`, `Extensions`).
fn problem(status: StatusCode, title: &str, detail: &str) -> Answer {
    let body = json!({
        "Type": null, "Title": title, "Status": status.as_u16(), "Detail": detail,
        "Instance": Uuid::new_v4().to_string(), "Extensions": {},
    });
    Answer::json(status, &body)
}

/// 401 for a missing, malformed or unknown token: the older lowercase problem form. [I]
/// which era answers which case; a connector must read both case-insensitively.
fn unauthenticated() -> Answer {
    let body = json!({
        "title": "Unauthorized", "status": 401, "detail": "AuthenticationUnsuccessful",
        "instance": Uuid::new_v4().to_string(),
    });
    Answer::json(StatusCode::UNAUTHORIZED, &body)
        .with_header("www-authenticate", "Bearer error=invalid_token")
}

/// 401 for an expired token: `Detail: "TokenExpired: token expired at MM/dd/yyyy HH:mm:ss"`.
fn token_expired(at: DateTime<Utc>) -> Answer {
    let detail = format!(
        "TokenExpired: token expired at {}",
        at.format("%m/%d/%Y %H:%M:%S")
    );
    problem(StatusCode::UNAUTHORIZED, "Unauthorized", &detail)
        .with_header("www-authenticate", "Bearer error=invalid_token")
}

/// 403: missing or foreign `xero-tenant-id`, disconnected organisation, or missing scope.
fn forbidden() -> Answer {
    problem(
        StatusCode::FORBIDDEN,
        "Forbidden",
        "AuthenticationUnsuccessful",
    )
}

/// 500 as Xero's API gateway answers it.
fn internal_error() -> Answer {
    let body = json!({
        "Title": "An error occurred",
        "Detail": "An error occurred in Xero. Check the API Status page http://status.developer.xero.com for current service status.",
        "Status": 500, "Instance": Uuid::new_v4().to_string(),
    });
    Answer::json(StatusCode::INTERNAL_SERVER_ERROR, &body)
}

/// [I] body of a 503 (organisation offline / maintenance).
fn unavailable() -> Answer {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable",
        "The Xero API is temporarily unavailable. Please try again later.",
    )
}

/// 429 with the headers that matter; [I] body (Xero's is "not meaningful").
fn rate_limited(problem_name: &str, retry_after: u64) -> Answer {
    problem(
        StatusCode::TOO_MANY_REQUESTS,
        "Too Many Requests",
        "Rate limit exceeded",
    )
    .with_header("retry-after", retry_after.to_string())
    .with_header("x-rate-limit-problem", problem_name.to_string())
}

/// [I] Without `Accept: application/json` Xero answers XML. The fake refuses instead, in
/// XML, so a connector relying on the default format fails loudly.
fn xml_only() -> Answer {
    Answer {
        status: StatusCode::NOT_ACCEPTABLE,
        content_type: "text/xml; charset=utf-8",
        body: "<ApiException><Type>NotAcceptable</Type><Message>Accept: application/json is required by this fake; without it Xero answers in XML.</Message></ApiException>".to_string(),
        headers: Vec::new(),
    }
}

fn oauth_error(status: StatusCode, error: &str) -> Answer {
    Answer::json(status, &json!({ "error": error }))
}

fn invalid_grant() -> Answer {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant")
}

// ---------------------------------------------------------------------------------------
// Time, money and text helpers
// ---------------------------------------------------------------------------------------

/// A date as Xero writes it: `/Date(<ms of midnight UTC>+0000)/`.
fn xero_date(d: NaiveDate) -> String {
    let ms = d
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_millis();
    format!("/Date({ms}+0000)/")
}

/// A date's `...String` twin: `2019-03-11T00:00:00`.
fn date_string(d: NaiveDate) -> String {
    format!("{}T00:00:00", d.format("%Y-%m-%d"))
}

/// Sets `UpdatedDateUTC` (and its ISO twin) to `now`.
fn set_updated(entity: &mut Value, now: DateTime<Utc>) {
    entity["UpdatedDateUTC"] = json!(format!("/Date({}+0000)/", now.timestamp_millis()));
    entity["UpdatedDateUTCString"] = json!(now.format("%Y-%m-%dT%H:%M:%SZ").to_string());
}

/// A JSON number as a decimal, read from its text (never through float arithmetic).
fn decimal(value: &Value) -> Option<Decimal> {
    let Value::Number(n) = value else {
        return None;
    };
    let text = n.to_string();
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

/// Rounds to `dp` places, half away from zero.
fn round(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

/// A decimal rounded to `dp` places as a JSON number (`40.0`, `0.3333`).
fn number(d: Decimal, dp: u32) -> Value {
    let d = round(d, dp).normalize();
    let text = if d.scale() == 0 {
        format!("{d}.0")
    } else {
        d.to_string()
    };
    serde_json::from_str(&text).expect("a decimal is a JSON number")
}

/// A money amount: 2 decimal places.
fn money(d: Decimal) -> Value {
    number(d, 2)
}

fn random_string(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// `BASE64URL(SHA256(verifier))`, the S256 PKCE transform.
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A JWT-shaped token (RS256 header, JSON payload, random signature), like Xero's.
fn jwt(payload: &Value) -> String {
    let header = json!({
        "alg": "RS256", "kid": "1CAF8E66772D6DC028D6726FD0261581570EFC19", "typ": "JWT",
        "x5t": "HK-OZncvbcAo1nJv0CYVgVcO_Bk",
    });
    let signature: Vec<u8> = (0..256).map(|_| rand::random::<u8>()).collect();
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

fn is_uuid(s: &str) -> bool {
    Uuid::parse_str(s).is_ok()
}

// ---------------------------------------------------------------------------------------
// Recording middleware (every endpoint): request log and `Xero-Correlation-Id`
// ---------------------------------------------------------------------------------------

async fn record(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        idempotency_key: header("idempotency-key"),
        tenant: header("xero-tenant-id"),
        authorization: parts.headers.contains_key(header::AUTHORIZATION),
        body: String::from_utf8_lossy(&bytes).into_owned(),
        status: 0,
    };
    let index = {
        let mut s = lock(&state);
        s.requests.push(recorded);
        s.requests.len() - 1
    };
    let mut response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    lock(&state).requests[index].status = response.status().as_u16();
    let id = HeaderValue::from_str(&Uuid::new_v4().to_string()).expect("an ASCII header value");
    response.headers_mut().insert("xero-correlation-id", id);
    response
}

/// Decoded query or form parameters, in order.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: &str) -> Self {
        Params(
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// Exact name (OAuth parameters).
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Case-insensitive name (Accounting API query parameters).
    fn get_ci(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Whether the media type of `Content-Type` is `expected` (parameters ignored).
fn content_type_is(headers: &HeaderMap, expected: &str) -> bool {
    let value = header_str(headers, "content-type");
    let media = value.split(';').next().unwrap_or_default().trim();
    media.eq_ignore_ascii_case(expected)
}

/// Any other path: 404 in plain text.
async fn unknown_path() -> Answer {
    not_found()
}

// ---------------------------------------------------------------------------------------
// OAuth 2.0: authorize, token and revocation endpoints
// ---------------------------------------------------------------------------------------

/// `GET /identity/connect/authorize`: checks the request and "consents" at once (granting
/// the organisations set by [`FakeXero::authorize_tenants`]), redirecting to `redirect_uri`
/// with `code`, `scope`, `state` and `session_state` — no tenant id: the app must ask
/// `/connections`. Errors after a usable `redirect_uri` are redirected (RFC 6749 §4.1.2.1).
async fn authorize(State(state): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or_default());
    let error_page = |error: &str, why: &str| {
        let page = format!(
            "<html><body><h1>Sorry, something went wrong</h1><p>Error: {error}</p><p>{why}</p></body></html>"
        );
        let content_type = [(header::CONTENT_TYPE, "text/html; charset=utf-8")];
        (StatusCode::BAD_REQUEST, content_type, page).into_response()
    };
    if params.get("client_id") != Some(CLIENT_ID) {
        return error_page("unauthorized_client", "Invalid client_id");
    }
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return error_page("invalid_request", "redirect_uri is required");
    };
    let target = match url::Url::parse(redirect_uri) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u,
        _ => return error_page("invalid_request", "Invalid redirect_uri"),
    };
    let csrf = params.get("state").unwrap_or_default();
    let redirect = |pairs: &[(&str, &str)]| {
        let mut target = target.clone();
        target.query_pairs_mut().extend_pairs(pairs);
        (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
    };
    let fail = |error: &str, description: &str| {
        redirect(&[
            ("error", error),
            ("error_description", description),
            ("state", csrf),
        ])
    };
    if params.get("response_type") != Some("code") {
        return fail("unsupported_response_type", "response_type must be code");
    }
    if csrf.is_empty() {
        return fail("invalid_request", "state is required by this fake");
    }
    if params.get("code_challenge_method") != Some("S256") {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    let challenge = params.get("code_challenge").unwrap_or_default();
    let challenge_ok = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !challenge_ok {
        return fail(
            "invalid_request",
            "code_challenge must be BASE64URL(SHA256(code_verifier))",
        );
    }
    let scopes: Vec<String> = params
        .get("scope")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let refuse_retired = lock(&state).refuse_retired_scopes;
    if let Some(unknown) = scopes.iter().find(|s| !listed(KNOWN_SCOPES, s)) {
        return fail("invalid_scope", &format!("Unknown scope {unknown}"));
    }
    if let Some(retired) = scopes
        .iter()
        .find(|s| refuse_retired && listed(RETIRED_SCOPES, s))
    {
        return fail(
            "invalid_scope",
            &format!("The scope {retired} is not available to this app"),
        );
    }
    let has = |wanted: &[&str]| scopes.iter().any(|s| wanted.contains(&s.as_str()));
    if !has(&["offline_access"]) || !has(INVOICE_WRITE) || !has(CONTACT_WRITE) {
        return fail(
            "invalid_scope",
            "this fake requires offline_access, accounting.contacts and accounting.transactions or accounting.invoices",
        );
    }
    let code = random_string(64);
    {
        let mut s = lock(&state);
        let entry = AuthCode {
            redirect_uri: redirect_uri.to_string(),
            challenge: challenge.to_string(),
            scopes: scopes.clone(),
            tenants: s.authorizing.clone(),
            issued: Instant::now(),
        };
        s.codes.insert(code.clone(), entry);
    }
    let scope = scopes.join(" ");
    let session_state = random_string(43);
    redirect(&[
        ("code", code.as_str()),
        ("scope", scope.as_str()),
        ("state", csrf),
        ("session_state", session_state.as_str()),
    ])
}

/// `POST /identity/connect/token`: code exchange (PKCE checked) and refresh (rotating).
async fn token(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Answer {
    if !content_type_is(&headers, "application/x-www-form-urlencoded") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let form = Params::parse(&String::from_utf8_lossy(&body));
    if !client_authenticated(&headers, &form) {
        // [I] IdentityServer answers 400 (not 401) for a bad client.
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_client");
    }
    let mut s = lock(&state);
    match form.get("grant_type") {
        Some("authorization_code") => s.exchange_code(&form),
        Some("refresh_token") => {
            s.token_refreshes += 1;
            s.refresh(&form)
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}

/// `POST /identity/connect/revocation` (`token=<refresh token>`): revokes every refresh
/// token of that grant and removes its connections. 200 even for unknown tokens (RFC 7009).
async fn revocation(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Answer {
    let form = Params::parse(&String::from_utf8_lossy(&body));
    if !client_authenticated(&headers, &form) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_client");
    }
    let mut s = lock(&state);
    let grant = form
        .get("token")
        .and_then(|t| s.refresh_tokens.get(t))
        .map(|t| t.grant.clone());
    if let Some(grant) = grant {
        for t in s.refresh_tokens.values_mut().filter(|t| t.grant == grant) {
            t.revoked = true;
        }
        let tenants = s.grants[&grant].tenants.clone();
        for tenant in tenants {
            s.connections.remove(&tenant);
        }
    }
    Answer::empty(StatusCode::OK)
}

/// `client_secret_basic` or, without an `Authorization` header, `client_secret_post`.
fn client_authenticated(headers: &HeaderMap, form: &Params) -> bool {
    let authorization = header_str(headers, "authorization");
    if authorization.is_empty() {
        return form.get("client_id") == Some(CLIENT_ID)
            && form.get("client_secret") == Some(CLIENT_SECRET);
    }
    let Some(encoded) = authorization.strip_prefix("Basic ") else {
        return false;
    };
    let decoded = STANDARD.decode(encoded.trim());
    let decoded = decoded.ok().and_then(|d| String::from_utf8(d).ok());
    let body_id_ok = form.get("client_id").is_none_or(|id| id == CLIENT_ID);
    body_id_ok && decoded.as_deref() == Some(format!("{CLIENT_ID}:{CLIENT_SECRET}").as_str())
}

impl FakeState {
    /// `grant_type=authorization_code`: the code is single use, lives 5 minutes, must come
    /// with the same `redirect_uri` and a `code_verifier` whose S256 is the challenge.
    fn exchange_code(&mut self, form: &Params) -> Answer {
        let Some(code) = form.get("code").and_then(|c| self.codes.remove(c)) else {
            return invalid_grant();
        };
        if code.issued.elapsed() > CODE_LIFETIME
            || form.get("redirect_uri") != Some(code.redirect_uri.as_str())
        {
            return invalid_grant();
        }
        let verifier = form.get("code_verifier").unwrap_or_default();
        let verifier_ok = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        if !verifier_ok || s256(verifier) != code.challenge {
            return invalid_grant();
        }
        let grant_id = Uuid::new_v4().to_string();
        // Seven fractional digits, like `2019-12-07T18:46:19.5165400`.
        let now = format!("{}0", Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f"));
        for tenant in &code.tenants {
            let connection = self
                .connections
                .entry(tenant.clone())
                .or_insert_with(|| Connection {
                    id: Uuid::new_v4().to_string(),
                    created: now.clone(),
                    updated: now.clone(),
                });
            connection.updated = now.clone();
        }
        let grant = Grant {
            tenants: code.tenants,
            scopes: code.scopes,
            current_refresh: String::new(),
        };
        self.grants.insert(grant_id.clone(), grant);
        self.issue_tokens(&grant_id)
    }

    /// `grant_type=refresh_token`: always rotates. The used token and the grant's previous
    /// newest token stay usable for the grace period, then answer `invalid_grant`.
    fn refresh(&mut self, form: &Params) -> Answer {
        let grace = self.refresh_grace;
        let Some(old) = form
            .get("refresh_token")
            .and_then(|t| self.refresh_tokens.get(t))
        else {
            return invalid_grant();
        };
        let grace_over = old.superseded_at.is_some_and(|at| at.elapsed() >= grace);
        if old.revoked || grace_over {
            return invalid_grant();
        }
        let grant_id = old.grant.clone();
        let previous = self.grants[&grant_id].current_refresh.clone();
        if let Some(previous) = self.refresh_tokens.get_mut(&previous) {
            previous.superseded_at.get_or_insert_with(Instant::now);
        }
        self.issue_tokens(&grant_id)
    }

    /// A new access token (JWT, `expires_in` 1800) and refresh token for `grant_id`.
    fn issue_tokens(&mut self, grant_id: &str) -> Answer {
        let now = Utc::now();
        let lifetime = self.access_token_lifetime;
        let grant = self.grants.get_mut(grant_id).expect("a known grant");
        let exp = now.timestamp() + i64::try_from(lifetime).unwrap_or(i64::MAX / 2);
        let user = "4f6b5e0c-1b2d-4c8e-9a7f-3e2d1c0b9a8f";
        let access_token = jwt(&json!({
            "nbf": now.timestamp(), "exp": exp, "iss": "https://identity.xero.com",
            "aud": "https://identity.xero.com/resources", "client_id": CLIENT_ID,
            "sub": "a1b2c3d4e5f60718293a4b5c6d7e8f90", "auth_time": now.timestamp(),
            "xero_userid": user, "global_session_id": random_string(32),
            "jti": random_string(32), "authentication_event_id": grant_id,
            "scope": grant.scopes,
        }));
        let refresh_token = random_string(64);
        let access = AccessToken {
            grant: grant_id.to_string(),
            expires_at: Instant::now() + Duration::from_secs(lifetime),
            expires_wall: now + chrono::Duration::seconds(exp - now.timestamp()),
        };
        self.access_tokens.insert(access_token.clone(), access);
        grant.current_refresh = refresh_token.clone();
        let refresh = RefreshToken {
            grant: grant_id.to_string(),
            revoked: false,
            superseded_at: None,
        };
        self.refresh_tokens.insert(refresh_token.clone(), refresh);
        let mut body = json!({
            "access_token": access_token, "expires_in": lifetime, "token_type": "Bearer",
            "refresh_token": refresh_token, "scope": grant.scopes.join(" "),
        });
        if grant.scopes.iter().any(|s| s == "openid") {
            body["id_token"] = json!(jwt(&json!({
                "nbf": now.timestamp(), "exp": now.timestamp() + 300,
                "iss": "https://identity.xero.com", "aud": CLIENT_ID, "iat": now.timestamp(),
                "sub": "a1b2c3d4e5f60718293a4b5c6d7e8f90", "auth_time": now.timestamp(),
                "xero_userid": user, "preferred_username": "owner@fake-ltd.example",
                "email": "owner@fake-ltd.example", "given_name": "Fay", "family_name": "Kerr",
            })));
        }
        Answer::json(StatusCode::OK, &body)
    }

    /// `Authorization: Bearer <token>`: known and unexpired; the token's grant id.
    fn bearer(&self, headers: &HeaderMap) -> Result<String, Answer> {
        let authorization = header_str(headers, "authorization");
        let token = match authorization.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(unauthenticated()),
        };
        let Some(token) = self.access_tokens.get(token) else {
            return Err(unauthenticated());
        };
        if Instant::now() >= token.expires_at {
            return Err(token_expired(token.expires_wall));
        }
        Ok(token.grant.clone())
    }

    /// Whether `grant_id` may reach `tenant` (authorized by the grant and still connected).
    fn grant_reaches(&self, grant_id: &str, tenant: &str) -> bool {
        self.grants[grant_id].tenants.iter().any(|t| t == tenant)
            && self.connections.contains_key(tenant)
            && self.orgs.contains_key(tenant)
    }
}

/// Whether `name` is in a whitespace-separated list.
fn listed(list: &str, name: &str) -> bool {
    list.split_whitespace().any(|n| n == name)
}

// ---------------------------------------------------------------------------------------
// Identity API: connections
// ---------------------------------------------------------------------------------------

/// `GET /connections[?authEventId=]`: the organisations this token's grant authorized.
async fn list_connections(
    State(state): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Answer {
    let s = lock(&state);
    let grant_id = match s.bearer(&headers) {
        Ok(g) => g,
        Err(refusal) => return refusal,
    };
    let params = Params::parse(query.as_deref().unwrap_or_default());
    if params
        .get_ci("authEventId")
        .is_some_and(|id| !id.eq_ignore_ascii_case(&grant_id))
    {
        return Answer::json(StatusCode::OK, &json!([]));
    }
    let list: Vec<Value> = s.grants[&grant_id]
        .tenants
        .iter()
        .filter(|t| s.grant_reaches(&grant_id, t))
        .map(|t| {
            let c = &s.connections[t];
            json!({
                "id": c.id, "authEventId": grant_id, "tenantId": t, "tenantType": "ORGANISATION",
                "tenantName": s.orgs[t].name, "createdDateUtc": c.created, "updatedDateUtc": c.updated,
            })
        })
        .collect();
    Answer::json(StatusCode::OK, &Value::Array(list))
}

/// `DELETE /connections/{id}`: disconnects that organisation (204), 404 if not this grant's.
async fn delete_connection(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let mut s = lock(&state);
    let grant_id = match s.bearer(&headers) {
        Ok(g) => g,
        Err(refusal) => return refusal,
    };
    let tenant = s.grants[&grant_id]
        .tenants
        .iter()
        .find(|t| s.connections.get(*t).is_some_and(|c| c.id == id))
        .cloned();
    match tenant {
        Some(tenant) => {
            s.connections.remove(&tenant);
            Answer::empty(StatusCode::NO_CONTENT)
        }
        None => Answer::empty(StatusCode::NOT_FOUND),
    }
}

// ---------------------------------------------------------------------------------------
// The accounting gate: every `/api.xro/2.0/...` call
// ---------------------------------------------------------------------------------------

/// What an accounting call addresses.
#[derive(Debug, Clone, PartialEq)]
enum Route {
    Organisation,
    Accounts,
    TaxRates,
    Currencies,
    ListItems,
    /// `GET Items/{ItemID or Code}`.
    GetItem(String),
    ListContacts,
    GetContact(String),
    /// `PUT /Contacts` (create only) or `POST /Contacts` (create or update).
    WriteContacts(Mode),
    ListInvoices,
    GetInvoice(String),
    /// `PUT /Invoices`, `POST /Invoices` or `POST /Invoices/{id}`.
    WriteInvoices(Mode),
    NotFound,
}

/// How a write treats its elements.
#[derive(Debug, Clone, PartialEq)]
enum Mode {
    /// PUT: every element is new.
    Create,
    /// POST: update when the element names an existing record, else create.
    Upsert,
    /// POST to a record's own path (id or number as given).
    Update(String),
}

impl Route {
    /// Resource names are case-insensitive, as in Xero.
    fn parse(method: &Method, rest: &str) -> Route {
        let segments: Vec<&str> = rest.trim_matches('/').split('/').collect();
        let resource = segments[0].to_ascii_lowercase();
        let id = segments.get(1).map(|s| s.to_string());
        match (method.as_str(), resource.as_str(), id, segments.len()) {
            ("GET", "organisation", None, 1) => Route::Organisation,
            ("GET", "accounts", None, 1) => Route::Accounts,
            ("GET", "taxrates", None, 1) => Route::TaxRates,
            ("GET", "currencies", None, 1) => Route::Currencies,
            ("GET", "items", None, 1) => Route::ListItems,
            ("GET", "items", Some(id), 2) => Route::GetItem(id),
            ("GET", "contacts", None, 1) => Route::ListContacts,
            ("GET", "contacts", Some(id), 2) => Route::GetContact(id),
            ("PUT", "contacts", None, 1) => Route::WriteContacts(Mode::Create),
            ("POST", "contacts", None, 1) => Route::WriteContacts(Mode::Upsert),
            ("POST", "contacts", Some(id), 2) => Route::WriteContacts(Mode::Update(id)),
            ("GET", "invoices", None, 1) => Route::ListInvoices,
            ("GET", "invoices", Some(id), 2) => Route::GetInvoice(id),
            ("PUT", "invoices", None, 1) => Route::WriteInvoices(Mode::Create),
            ("POST", "invoices", None, 1) => Route::WriteInvoices(Mode::Upsert),
            ("POST", "invoices", Some(id), 2) => Route::WriteInvoices(Mode::Update(id)),
            _ => Route::NotFound,
        }
    }

    /// The scopes of which the grant needs one (403 otherwise).
    fn scopes(&self) -> &'static [&'static str] {
        match self {
            Route::Organisation
            | Route::Accounts
            | Route::TaxRates
            | Route::Currencies
            | Route::ListItems
            | Route::GetItem(_) => SETTINGS_READ,
            Route::ListContacts | Route::GetContact(_) => CONTACT_READ,
            Route::WriteContacts(_) => CONTACT_WRITE,
            Route::ListInvoices | Route::GetInvoice(_) => INVOICE_READ,
            Route::WriteInvoices(_) => INVOICE_WRITE,
            Route::NotFound => &[],
        }
    }
}

/// An admitted call: counted in flight until dropped.
struct Admitted {
    _in_flight: InFlight,
    tenant: String,
    delay: Duration,
    limit_headers: Vec<(&'static str, String)>,
}

/// Admits the call (token, tenant, scope, `Accept`, faults, limits), waits the configured
/// delay, then answers it under one lock, so `Idempotency-Key` replay is atomic. Every
/// answer past the token and tenant checks carries the `X-*Limit-Remaining` headers. An
/// admitted call whose query string is longer than Xero's web servers take is answered
/// the plain-text 404 ([I] it counts against the limits: the gateway admitted it).
async fn api(
    State(state): State<Shared>,
    method: Method,
    Path(rest): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let route = Route::parse(&method, &rest);
    let admitted = match admit(&state, &headers, &route) {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal,
    };
    if !admitted.delay.is_zero() {
        tokio::time::sleep(admitted.delay).await;
    }
    let query = query.unwrap_or_default();
    if query.len() > MAX_QUERY_LEN {
        let mut answer = not_found();
        answer
            .headers
            .extend(admitted.limit_headers.iter().cloned());
        return answer;
    }
    let request = ApiRequest {
        tenant: &admitted.tenant,
        method: &method,
        target: format!("/api.xro/2.0/{rest}?{query}"),
        route: &route,
        params: Params::parse(&query),
        headers: &headers,
        body: &body,
    };
    let mut answer = lock(&state).answer(&request);
    answer
        .headers
        .extend(admitted.limit_headers.iter().cloned());
    answer
}

/// The checks every accounting call goes through, in the order Xero's layers apply them.
/// The per-organisation minute and day limits are rolling windows ("60 calls in a rolling
/// 60 second window", "5000 calls in a rolling 24 hour window"); [I] refused calls are not
/// counted in them. `Retry-After` is the whole seconds until the oldest counted call leaves
/// the window that is full (at least 1; [I] 1 for the concurrent limit).
fn admit(state: &Shared, headers: &HeaderMap, route: &Route) -> Result<Admitted, Answer> {
    let mut guard = lock(state);
    let s = &mut *guard;
    let grant_id = s.bearer(headers)?;
    let tenant = header_str(headers, "xero-tenant-id").trim().to_string();
    if tenant.is_empty() || !s.grant_reaches(&grant_id, &tenant) {
        return Err(forbidden());
    }
    let scopes = route.scopes();
    let granted = &s.grants[&grant_id].scopes;
    let scope_missing =
        !scopes.is_empty() && !scopes.iter().any(|n| granted.iter().any(|g| g == n));

    let now = Instant::now();
    let minute = Duration::from_secs(60);
    let day = Duration::from_secs(24 * 3600);
    prune(&mut s.app_recent, now, minute);
    let (minute_limit, day_limit) = (s.minute_limit as usize, s.day_limit as usize);
    let app_recent = &mut s.app_recent;
    let org = s.orgs.get_mut(&tenant).expect("a reachable tenant exists");
    prune(&mut org.minute, now, minute);
    prune(&mut org.day, now, day);
    let headers_now = |org: &Org, app: usize| {
        vec![
            (
                "x-minlimit-remaining",
                minute_limit.saturating_sub(org.minute.len()).to_string(),
            ),
            (
                "x-daylimit-remaining",
                day_limit.saturating_sub(org.day.len()).to_string(),
            ),
            (
                "x-appminlimit-remaining",
                (APP_MINUTE_LIMIT as usize).saturating_sub(app).to_string(),
            ),
        ]
    };
    let refuse = |answer: Answer, org: &Org, app: usize| {
        let mut answer = answer;
        answer.headers.extend(headers_now(org, app));
        Err(answer)
    };
    if scope_missing {
        return refuse(forbidden(), org, app_recent.len());
    }
    if !header_str(headers, "accept").contains("application/json") {
        return refuse(xml_only(), org, app_recent.len());
    }
    if org.retry_after_until.is_some_and(|until| now < until) {
        s.calls_during_retry_after += 1;
    }
    if s.faults.outage > 0 {
        s.faults.outage -= 1;
        return refuse(unavailable(), org, app_recent.len());
    }
    if s.faults.throttle > 0 {
        s.faults.throttle -= 1;
        org.retry_after_until = Some(now + Duration::from_secs(1));
        let answer = rate_limited(&s.faults.throttle_problem, 1);
        return refuse(answer, org, app_recent.len());
    }
    org.in_flight += 1;
    org.max_in_flight = org.max_in_flight.max(org.in_flight);
    if org.in_flight > MAX_CONCURRENT_PER_TENANT {
        org.in_flight -= 1;
        s.rate_limited += 1;
        org.retry_after_until = Some(now + Duration::from_secs(1));
        return refuse(rate_limited("concurrent", 1), org, app_recent.len());
    }
    let over = if org.minute.len() >= minute_limit {
        Some(("minute", retry_after(&org.minute, now, minute)))
    } else if org.day.len() >= day_limit {
        Some(("day", retry_after(&org.day, now, day)))
    } else if app_recent.len() >= APP_MINUTE_LIMIT as usize {
        Some(("appminute", retry_after(app_recent, now, minute)))
    } else {
        None
    };
    if let Some((problem_name, wait)) = over {
        org.in_flight -= 1;
        s.rate_limited += 1;
        org.retry_after_until = Some(now + Duration::from_secs(wait));
        return refuse(rate_limited(problem_name, wait), org, app_recent.len());
    }
    org.minute.push_back(now);
    org.day.push_back(now);
    org.admitted += 1;
    app_recent.push_back(now);
    let limit_headers = headers_now(org, app_recent.len());
    Ok(Admitted {
        _in_flight: InFlight {
            state: state.clone(),
            tenant: tenant.clone(),
        },
        tenant,
        delay: s.delay,
        limit_headers,
    })
}

/// Drops arrival times older than `window`.
fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        times.pop_front();
    }
}

/// Whole seconds (at least 1) until the oldest arrival leaves the window.
fn retry_after(times: &VecDeque<Instant>, now: Instant, window: Duration) -> u64 {
    let oldest = times.front().copied().unwrap_or(now);
    let left = window.saturating_sub(now.duration_since(oldest));
    (left.as_millis().div_ceil(1000) as u64).max(1)
}

/// An admitted accounting call.
struct ApiRequest<'a> {
    tenant: &'a str,
    method: &'a Method,
    /// Path and query, part of the idempotency fingerprint.
    target: String,
    route: &'a Route,
    params: Params,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

impl FakeState {
    /// Answers an admitted call: replays a known `Idempotency-Key` (writes), else handles
    /// it and remembers the answer under its key; then applies `fail_after_commit`.
    fn answer(&mut self, request: &ApiRequest) -> Answer {
        let is_write = *request.method == Method::PUT || *request.method == Method::POST;
        let key = header_str(request.headers, "idempotency-key");
        let key = (is_write && !key.is_empty()).then_some(key);
        let mut fingerprint = String::new();
        if let Some(key) = key {
            if key.len() > MAX_IDEMPOTENCY_KEY_LEN {
                return idempotency_key_too_long();
            }
            let window = self.idempotency_window;
            self.idempotency.retain(|_, c| c.at.elapsed() < window);
            let body_hash = URL_SAFE_NO_PAD.encode(Sha256::digest(request.body));
            fingerprint = format!(
                "{} {} {} {body_hash}",
                request.method, request.target, request.tenant
            );
            if let Some(cached) = self.idempotency.get(key) {
                if cached.fingerprint != fingerprint {
                    return idempotency_conflict(key);
                }
                return cached.answer.clone();
            }
        }
        let org = self
            .orgs
            .get_mut(request.tenant)
            .expect("admitted calls name a known organisation");
        let (answer, committed_invoices) = dispatch(org, request);
        if let Some(key) = key {
            let cached = Cached {
                fingerprint,
                answer: answer.clone(),
                at: Instant::now(),
            };
            self.idempotency.insert(key.to_string(), cached);
        }
        if committed_invoices && self.faults.fail_after_commit > 0 {
            self.faults.fail_after_commit -= 1;
            return internal_error();
        }
        answer
    }
}

/// Routes an admitted call; the flag tells whether an invoice write committed anything.
fn dispatch(org: &mut Org, request: &ApiRequest) -> (Answer, bool) {
    let params = &request.params;
    let summarize = !params
        .get_ci("summarizeErrors")
        .is_some_and(|v| v.eq_ignore_ascii_case("false"));
    let unitdp = if params.get_ci("unitdp") == Some("4") {
        4
    } else {
        2
    };
    match request.route {
        Route::Organisation => (organisation(org, request.tenant), false),
        Route::Accounts => (accounts(params), false),
        Route::TaxRates => (tax_rates(params), false),
        Route::Currencies => (currencies(&org.data, params), false),
        Route::ListItems => (list_items(&org.data, params, unitdp), false),
        Route::GetItem(key) => (get_item(&org.data, key, unitdp), false),
        Route::ListContacts => (list_contacts(org, params), false),
        Route::GetContact(id) => (get_contact(org, id), false),
        Route::WriteContacts(mode) => {
            let answer = match elements(request, "Contacts", "Contact") {
                Ok(elements) => write_contacts(org, &elements, mode, summarize),
                Err(refusal) => refusal,
            };
            (answer, false)
        }
        Route::ListInvoices => (list_invoices(org, params), false),
        Route::GetInvoice(id) => (get_invoice(org, id), false),
        Route::WriteInvoices(mode) => match elements(request, "Invoices", "Invoice") {
            Ok(elements) => write_invoices(org, &elements, mode, summarize, unitdp),
            Err(refusal) => (refusal, false),
        },
        Route::NotFound => (not_found(), false),
    }
}

/// The `{"<Kind>":[{...}, ...]}` body of a write, as objects.
fn elements(
    request: &ApiRequest,
    kind: &str,
    singular: &str,
) -> Result<Vec<Map<String, Value>>, Answer> {
    if !content_type_is(request.headers, "application/json") {
        // [I] Xero would try to read XML; the fake insists on JSON.
        return Err(post_data_invalid(
            "Content-Type must be application/json for this fake",
        ));
    }
    let body: Value = serde_json::from_slice(request.body).map_err(|e| {
        post_data_invalid(&format!(
            "Unexpected character encountered while parsing value: {e}"
        ))
    })?;
    let Some(list) = body.get(kind) else {
        return Err(no_data(singular));
    };
    let Value::Array(list) = list else {
        return Err(post_data_invalid(&format!(
            "Cannot deserialize the current JSON object into type 'List<{singular}>'. Path '{kind}'"
        )));
    };
    if list.is_empty() {
        return Err(no_data(singular));
    }
    list.iter()
        .enumerate()
        .map(|(i, e)| match e {
            Value::Object(map) => Ok(map.clone()),
            other => Err(post_data_invalid(&format!(
                "Error converting value {other} to type '{singular}'. Path '{kind}[{i}]'"
            ))),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Accounting handlers: organisation, accounts, tax rates, currencies, items
// ---------------------------------------------------------------------------------------

/// Every organisation's base currency.
const BASE_CURRENCY: &str = "GBP";

/// Fields an account `where` may name.
const ACCOUNT_WHERE_FIELDS: &[&str] = &[
    "AccountID",
    "Code",
    "Name",
    "Type",
    "Status",
    "TaxType",
    "Class",
    "Description",
    "EnablePaymentsToAccount",
    "ShowInExpenseClaims",
];
/// Fields a tax rate `where` may name.
const TAX_RATE_WHERE_FIELDS: &[&str] = &[
    "Name",
    "TaxType",
    "Status",
    "ReportTaxType",
    "CanApplyToAssets",
    "CanApplyToEquity",
    "CanApplyToExpenses",
    "CanApplyToLiabilities",
    "CanApplyToRevenue",
];
/// Fields a currency `where` may name.
const CURRENCY_WHERE_FIELDS: &[&str] = &["Code", "Description"];
/// Fields an item `where` may name.
const ITEM_WHERE_FIELDS: &[&str] = &[
    "ItemID",
    "Code",
    "Name",
    "Description",
    "IsSold",
    "IsPurchased",
    "IsTrackedAsInventory",
    "SalesDetails.AccountCode",
    "SalesDetails.TaxType",
];

/// `GET Organisation`: `{"Organisations":[{...,"BaseCurrency":"GBP"}]}`.
fn organisation(org: &Org, tenant: &str) -> Answer {
    let created = format!("/Date({})/", org.created.timestamp_millis());
    let organisation = json!({
        "OrganisationID": tenant, "APIKey": random_string(30).to_uppercase(), "Name": org.name,
        "LegalName": org.name, "PaysTax": true, "Version": "UK", "OrganisationType": "COMPANY",
        "BaseCurrency": BASE_CURRENCY, "CountryCode": "GB", "IsDemoCompany": false,
        "OrganisationStatus": "ACTIVE", "FinancialYearEndDay": 31, "FinancialYearEndMonth": 3,
        "SalesTaxBasis": "ACCRUALS", "SalesTaxPeriod": "QUARTERLY1",
        "DefaultSalesTax": "Tax Exclusive", "DefaultPurchasesTax": "Tax Exclusive",
        "CreatedDateUTC": created, "OrganisationEntityType": "COMPANY",
        "Timezone": "GMTSTANDARDTIME", "ShortCode": org.short_code, "Edition": "BUSINESS",
        "Class": "STANDARD", "Addresses": [], "Phones": [], "ExternalLinks": [], "PaymentTerms": {},
    });
    envelope("Organisations", vec![organisation])
}

/// Keeps the entities a `where` parameter (if any) matches; a bad one is a 400
/// QueryParseException.
fn filtered(
    params: &Params,
    kind: &str,
    fields: &[&str],
    list: Vec<Value>,
) -> Result<Vec<Value>, Answer> {
    let Some(text) = params.get_ci("where") else {
        return Ok(list);
    };
    let filter = Filter::parse(text, kind, fields).map_err(|m| query_parse(&m))?;
    Ok(list.into_iter().filter(|e| filter.matches(e)).collect())
}

/// `GET Accounts[?where=]`: the two revenue accounts, with the fields of Xero's Account
/// (`Description`, which every account but bank accounts returns, [I] its text; [I]
/// `BankAccountType` empty and the reporting code).
fn accounts(params: &Params) -> Answer {
    let list = ACCOUNTS
        .iter()
        .map(|(code, name, tax_type, id)| {
            json!({
                "AccountID": id, "Code": code, "Name": name, "Status": "ACTIVE", "Type": "REVENUE",
                "TaxType": tax_type, "Description": format!("Income from {}", name.to_lowercase()),
                "Class": "REVENUE", "EnablePaymentsToAccount": false, "ShowInExpenseClaims": false,
                "BankAccountType": "", "ReportingCode": "REV", "ReportingCodeName": "Revenue",
                "HasAttachments": false, "AddToWatchlist": false,
                "UpdatedDateUTC": "/Date(1704067200000+0000)/",
            })
        })
        .collect();
    match filtered(params, "Account", ACCOUNT_WHERE_FIELDS, list) {
        Ok(list) => envelope("Accounts", list),
        Err(refusal) => refusal,
    }
}

/// `GET TaxRates[?where=]`: UK sales rates, in the shape of Xero's TaxRate (rates to 4
/// decimal places).
fn tax_rates(params: &Params) -> Answer {
    let list = TAX_RATES
        .iter()
        .map(|(tax_type, name, rate, report_type)| {
            let rate = number(Decimal::from_str(rate).expect("a rate"), 4);
            json!({
                "Name": name, "TaxType": tax_type, "ReportTaxType": report_type,
                "CanApplyToAssets": true, "CanApplyToEquity": true,
                "CanApplyToExpenses": *tax_type == "NONE", "CanApplyToLiabilities": true,
                "CanApplyToRevenue": true, "DisplayTaxRate": rate, "EffectiveRate": rate,
                "Status": "ACTIVE",
                "TaxComponents": [{ "Name": "VAT", "Rate": rate, "IsCompound": false, "IsNonRecoverable": false }],
            })
        })
        .collect();
    match filtered(params, "TaxRate", TAX_RATE_WHERE_FIELDS, list) {
        Ok(list) => envelope("TaxRates", list),
        Err(refusal) => refusal,
    }
}

/// `GET Currencies[?where=]`: the organisation's subscribed currencies, the base currency
/// first: `{"Currencies":[{"Code":"GBP","Description":"British Pound"}]}`.
fn currencies(data: &OrgData, params: &Params) -> Answer {
    let list = data
        .currencies
        .iter()
        .map(|code| {
            let description = CURRENCY_NAMES
                .iter()
                .find(|(c, _)| c == code)
                .map_or(code.as_str(), |(_, d)| d);
            json!({ "Code": code, "Description": description })
        })
        .collect();
    match filtered(params, "Currency", CURRENCY_WHERE_FIELDS, list) {
        Ok(list) => envelope("Currencies", list),
        Err(refusal) => refusal,
    }
}

/// The default items, new for each organisation.
fn default_items() -> Vec<Value> {
    let updated = DateTime::from_timestamp_millis(1_704_067_200_000).expect("a date");
    DEFAULT_ITEMS
        .iter()
        .map(|(code, name, description, price, account)| {
            let tax_type = ACCOUNTS
                .iter()
                .find(|a| a.0 == *account)
                .map_or("NONE", |a| a.2);
            let price = number(Decimal::from_str(price).expect("a price"), 4);
            let sales = json!({ "UnitPrice": price, "AccountCode": account, "TaxType": tax_type });
            item_json(code, name, Some(description), sales, updated)
        })
        .collect()
}

/// An item as Xero returns it (the shape of its spec's GET Items example): sold, not
/// purchased, not tracked as inventory.
fn item_json(
    code: &str,
    name: &str,
    description: Option<&str>,
    sales: Value,
    updated: DateTime<Utc>,
) -> Value {
    let mut item = json!({
        "ItemID": Uuid::new_v4().to_string(), "Code": code, "Name": name,
        "PurchaseDetails": {}, "SalesDetails": sales, "IsTrackedAsInventory": false,
        "IsSold": true, "IsPurchased": false,
    });
    if let Some(description) = description {
        item["Description"] = json!(description);
    }
    item["UpdatedDateUTC"] = json!(format!("/Date({}+0000)/", updated.timestamp_millis()));
    item
}

/// An item as answered: unit prices at 2 decimal places, or 4 with `unitdp=4`.
fn item_view(item: &Value, unitdp: u32) -> Value {
    let mut item = item.clone();
    for details in ["SalesDetails", "PurchaseDetails"] {
        if let Some(price) = decimal(&item[details]["UnitPrice"]) {
            item[details]["UnitPrice"] = number(price, unitdp);
        }
    }
    item
}

/// `GET Items[?where=&unitdp=]`: every item (Items has no paging).
fn list_items(data: &OrgData, params: &Params, unitdp: u32) -> Answer {
    let list = data.items.iter().map(|i| item_view(i, unitdp)).collect();
    match filtered(params, "Item", ITEM_WHERE_FIELDS, list) {
        Ok(list) => envelope("Items", list),
        Err(refusal) => refusal,
    }
}

/// `GET Items/{ItemID or Code}`; 404 in plain text when unknown.
fn get_item(data: &OrgData, key: &str, unitdp: u32) -> Answer {
    let found = data
        .items
        .iter()
        .find(|i| {
            i["ItemID"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(key))
        })
        .or_else(|| data.item_by_code(key));
    match found {
        Some(item) => envelope("Items", vec![item_view(item, unitdp)]),
        None => not_found(),
    }
}

fn tax_rate(tax_type: &str) -> Option<Decimal> {
    TAX_RATES
        .iter()
        .find(|(t, ..)| *t == tax_type)
        .map(|(_, _, rate, _)| Decimal::from_str(rate).expect("a rate"))
}

// ---------------------------------------------------------------------------------------
// Typed reading of request elements (type errors fail the whole request, as Xero's
// deserializer does; everything else is an element-level validation error)
// ---------------------------------------------------------------------------------------

/// A string property; numbers and booleans are converted, as Xero's deserializer does.
fn text_field(map: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
        Some(_) => Err(format!(
            "Error reading string. Unexpected token. Path '{path}.{key}'"
        )),
    }
}

/// [I] An amount must be a JSON number (Xero's deserializer would also take numeric text;
/// the fake refuses it so the connector sends numbers).
fn amount_field(
    map: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<Decimal>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => decimal(v).map(Some).ok_or_else(|| {
            format!("Could not convert {v} to decimal (a JSON number is required by this fake). Path '{path}.{key}'")
        }),
    }
}

/// A date: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[.fff]`, RFC 3339 or `/Date(ms[+zzzz])/`.
fn date_field(
    map: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<NaiveDate>, String> {
    let text = match map.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim(),
        Some(v) => {
            return Err(format!(
                "Could not convert {v} to DateTime. Path '{path}.{key}'"
            ));
        }
    };
    let parsed = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.date())
        })
        .or_else(|| {
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.date_naive())
        })
        .or_else(|| {
            let inner = text.strip_prefix("/Date(")?.strip_suffix(")/")?;
            let ms: String = inner
                .chars()
                .enumerate()
                .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && *c == '-'))
                .map(|(_, c)| c)
                .collect();
            DateTime::from_timestamp_millis(ms.parse().ok()?).map(|t| t.date_naive())
        });
    parsed
        .map(Some)
        .ok_or_else(|| format!("Could not convert string to DateTime: {text}. Path '{path}.{key}'"))
}

/// An enum property, case-insensitive, returned in its canonical spelling.
fn enum_field(
    map: &Map<String, Value>,
    key: &str,
    path: &str,
    allowed: &[&str],
) -> Result<Option<String>, String> {
    let Some(text) = text_field(map, key, path)? else {
        return Ok(None);
    };
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(text.trim()))
        .map(|a| Some(a.to_string()))
        .ok_or_else(|| {
            format!("Error converting value \"{text}\" to type '{key}'. Path '{path}.{key}'")
        })
}

/// Validation messages of one element (its echo carries them).
type Messages = Vec<String>;

// ---------------------------------------------------------------------------------------
// Contacts
// ---------------------------------------------------------------------------------------

/// Contact properties the fake maintains itself (ignored on input).
const CONTACT_COMPUTED: &str = "\
    ContactID UpdatedDateUTC UpdatedDateUTCString HasValidationErrors ValidationErrors \
    StatusAttributeString IsSupplier IsCustomer Balances HasAttachments ContactGroups Warnings";

/// Fields a contact `where` may name.
const CONTACT_WHERE_FIELDS: &[&str] = &[
    "ContactID",
    "ContactNumber",
    "AccountNumber",
    "ContactStatus",
    "Name",
    "FirstName",
    "LastName",
    "EmailAddress",
    "CompanyNumber",
    "TaxNumber",
    "IsCustomer",
    "IsSupplier",
];

/// A contact element as sent.
struct ContactInput {
    raw: Map<String, Value>,
    contact_id: Option<String>,
}

impl ContactInput {
    fn parse(raw: &Map<String, Value>, path: &str) -> Result<Self, String> {
        for key in [
            "Name",
            "ContactNumber",
            "EmailAddress",
            "FirstName",
            "LastName",
        ] {
            text_field(raw, key, path)?;
        }
        enum_field(
            raw,
            "ContactStatus",
            path,
            &["ACTIVE", "ARCHIVED", "GDPRREQUEST"],
        )?;
        Ok(ContactInput {
            raw: raw.clone(),
            contact_id: text_field(raw, "ContactID", path)?,
        })
    }
}

impl OrgData {
    fn contact_index(&self, id: &str) -> Option<usize> {
        self.contacts.iter().position(|c| {
            c["ContactID"]
                .as_str()
                .is_some_and(|i| i.eq_ignore_ascii_case(id))
        })
    }

    /// By ContactID, or else by ContactNumber (as `GET Contacts/{ContactNumber}` does).
    fn find_contact(&self, key: &str) -> Option<usize> {
        self.contact_index(key)
            .or_else(|| self.contacts.iter().position(|c| c["ContactNumber"] == key))
    }

    fn create_contact(
        &mut self,
        input: &ContactInput,
        now: DateTime<Utc>,
    ) -> Result<Value, Messages> {
        let mut contact = json!({
            "ContactID": Uuid::new_v4().to_string(), "ContactStatus": "ACTIVE", "Addresses": [],
            "Phones": [], "ContactGroups": [], "IsSupplier": false, "IsCustomer": false,
            "ContactPersons": [], "HasAttachments": false, "HasValidationErrors": false,
        });
        self.merge_contact(&mut contact, input, None)?;
        set_updated(&mut contact, now);
        self.contacts.push(contact.clone());
        Ok(contact)
    }

    /// A partial update: given properties replace stored ones.
    fn update_contact(
        &mut self,
        index: usize,
        input: &ContactInput,
        now: DateTime<Utc>,
    ) -> Result<Value, Messages> {
        let mut contact = self.contacts[index].clone();
        self.merge_contact(&mut contact, input, Some(index))?;
        set_updated(&mut contact, now);
        self.contacts[index] = contact.clone();
        Ok(contact)
    }

    /// Lays the input over `contact` and validates the result: a Name (max 255) unique
    /// among active contacts ([I] compared trimmed and case-insensitively), ContactNumber
    /// max 50 and unique ("if an existing contact matches your ContactName or ContactNumber
    /// then you will receive an error"; [I] among all contacts, archived ones included,
    /// compared like names), a plausible EmailAddress.
    fn merge_contact(
        &self,
        contact: &mut Value,
        input: &ContactInput,
        own: Option<usize>,
    ) -> Result<(), Messages> {
        for (k, v) in &input.raw {
            if !listed(CONTACT_COMPUTED, k) {
                contact[k.as_str()] = v.clone();
            }
        }
        if let Some(status) = contact["ContactStatus"].as_str() {
            contact["ContactStatus"] = json!(status.to_ascii_uppercase());
        }
        let mut errors = Vec::new();
        let name = contact["Name"]
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_string();
        if name.is_empty() {
            // [I] wording.
            errors.push("The contact name must be specified.".to_string());
        } else if name.chars().count() > MAX_CONTACT_NAME_LEN {
            errors.push(format!(
                "The contact name must be {MAX_CONTACT_NAME_LEN} characters or less."
            ));
        } else if contact["ContactStatus"] == "ACTIVE" {
            let taken = self.contacts.iter().enumerate().any(|(i, c)| {
                Some(i) != own
                    && c["ContactStatus"] == "ACTIVE"
                    && c["Name"]
                        .as_str()
                        .is_some_and(|n| n.trim().to_lowercase() == name.to_lowercase())
            });
            if taken {
                errors.push(format!(
                    "The contact name {name} is already assigned to another contact. The contact name must be unique across all active contacts."
                ));
            }
        }
        let number = contact["ContactNumber"]
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_string();
        if number.chars().count() > MAX_CONTACT_NUMBER_LEN {
            errors.push(format!(
                "The Contact Number must be {MAX_CONTACT_NUMBER_LEN} characters or less."
            ));
        } else if !number.is_empty() {
            let taken = self.contacts.iter().enumerate().any(|(i, c)| {
                Some(i) != own
                    && c["ContactNumber"]
                        .as_str()
                        .is_some_and(|n| n.trim().to_lowercase() == number.to_lowercase())
            });
            if taken {
                // [I] wording.
                errors.push(format!(
                    "The contact number {number} is already assigned to another contact."
                ));
            }
        }
        if let Some(email) = contact["EmailAddress"].as_str().filter(|e| !e.is_empty()) {
            let valid = email.split_once('@').is_some_and(|(user, domain)| {
                !user.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace)
            });
            if !valid {
                errors.push("Email address must be valid.".to_string());
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// A failed contact element: the input with its id (the zero GUID for a new one),
/// `HasValidationErrors`, `StatusAttributeString: "ERROR"` and its messages, as in the
/// spec's createContacts 400 example.
fn contact_echo(input: &ContactInput, id: Option<String>, messages: Messages) -> Value {
    let mut echo = input.raw.clone();
    echo.insert(
        "ContactID".into(),
        json!(id.unwrap_or_else(|| ZERO_GUID.to_string())),
    );
    echo.insert("HasValidationErrors".into(), json!(true));
    echo.insert("StatusAttributeString".into(), json!("ERROR"));
    echo.insert("ValidationErrors".into(), validation_errors(messages));
    Value::Object(echo)
}

fn validation_errors(messages: Messages) -> Value {
    messages
        .into_iter()
        .map(|m| json!({ "Message": m }))
        .collect()
}

/// Runs a batch of element writes against a copy of the organisation's data: each
/// element either applies completely or not at all. With `summarize` (the default) one
/// failure rejects the request (400 ValidationException, nothing stored); without it the
/// request answers 200 with every element, failed ones carrying their errors. The flag
/// tells whether anything was stored.
fn write_batch<I>(
    org: &mut Org,
    inputs: &[I],
    summarize: bool,
    kind: &str,
    mut apply: impl FnMut(&mut OrgData, &I) -> Result<Value, Value>,
) -> (Answer, bool) {
    // One copy per request, for summarizeErrors=true's all-or-nothing; each element's
    // `apply` changes nothing when it fails (a copy per element made a 50-invoice batch
    // copy the whole organisation 50 times).
    let before = summarize.then(|| org.data.clone());
    let mut results = Vec::new();
    let mut failed = Vec::new();
    let mut stored = false;
    for input in inputs {
        let number = org.data.next_invoice_number;
        match apply(&mut org.data, input) {
            Ok(result) => {
                stored = true;
                results.push(result);
            }
            Err(echo) => {
                org.data.next_invoice_number = number;
                failed.push(echo.clone());
                results.push(echo);
            }
        }
    }
    if let Some(before) = before
        && !failed.is_empty()
    {
        org.data = before;
        return (validation_exception(failed), false);
    }
    (envelope(kind, results), stored)
}

/// `PUT Contacts`, `POST Contacts` (update by `ContactID`, else create) and
/// `POST Contacts/{ContactID}`.
fn write_contacts(
    org: &mut Org,
    elements: &[Map<String, Value>],
    mode: &Mode,
    summarize: bool,
) -> Answer {
    let inputs: Result<Vec<ContactInput>, String> = elements
        .iter()
        .enumerate()
        .map(|(i, e)| ContactInput::parse(e, &format!("Contacts[{i}]")))
        .collect();
    let inputs = match inputs {
        Ok(inputs) => inputs,
        Err(e) => return post_data_invalid(&e),
    };
    if let Mode::Update(key) = mode
        && org.data.find_contact(key).is_none()
    {
        return not_found();
    }
    let now = Utc::now();
    let (answer, _) = write_batch(org, &inputs, summarize, "Contacts", |data, input| {
        let target = match (mode, &input.contact_id) {
            // [I] wording: PUT only creates.
            (Mode::Create, Some(id)) => Err((
                Some(id.clone()),
                vec![
                    "A ContactID cannot be given when creating contacts; use POST to update."
                        .to_string(),
                ],
            )),
            (Mode::Create, None) | (Mode::Upsert, None) => Ok(None),
            (Mode::Upsert, Some(id)) => match data.contact_index(id) {
                Some(index) => Ok(Some(index)),
                // [I] wording.
                None => Err((
                    Some(id.clone()),
                    vec![format!(
                        "The contact with ContactID {id} could not be found."
                    )],
                )),
            },
            (Mode::Update(key), _) => Ok(data.find_contact(key)),
        };
        let result = target.and_then(|target| {
            let id = target.and_then(|i| data.contacts[i]["ContactID"].as_str().map(String::from));
            match target {
                None => data.create_contact(input, now),
                Some(index) => data.update_contact(index, input, now),
            }
            .map_err(|messages| (id, messages))
        });
        match result {
            Ok(mut contact) => {
                contact["StatusAttributeString"] = json!("OK");
                Ok(contact)
            }
            Err((id, messages)) => Err(contact_echo(input, id, messages)),
        }
    });
    answer
}

/// Contact `where` fields Xero optimises ("When using individually or combined with the
/// AND operator"); they "should not be appended with ToLower() or ToUpper()".
const CONTACT_OPTIMISED: &[&str] = &["Name", "EmailAddress", "AccountNumber"];
/// What `summaryOnly=true` leaves out of contacts (Xero's list).
const CONTACT_SUMMARY_EXCLUDED: &[&str] = &[
    "Addresses",
    "Balances",
    "ContactGroups",
    "ContactPersons",
    "IsCustomer",
    "IsSupplier",
    "PurchasesDefaultAccountCode",
    "PurchasesTrackingCategories",
    "SalesDefaultAccountCode",
    "SalesTrackingCategories",
];

/// Whether `summaryOnly=true` was asked for (it also enforces paging).
fn summary_only(params: &Params) -> bool {
    params
        .get_ci("summaryOnly")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// For a high-volume organisation: whether a list request is refused (see
/// [`FakeXero::set_high_volume`]). `narrowing` are the list parameters that count as
/// optimised filters.
fn too_broad(
    params: &Params,
    narrowing: &[&str],
    kind: &str,
    fields: &[&str],
    optimised: impl Fn(&Filter) -> bool,
) -> bool {
    let paged = params.get_ci("page").is_some() || summary_only(params);
    let listed = narrowing.iter().any(|p| params.get_ci(p).is_some());
    let Some(text) = params.get_ci("where") else {
        return !paged && !listed;
    };
    let lower = text.to_ascii_lowercase();
    if lower.contains("tolower") || lower.contains("toupper") {
        return true;
    }
    // A bad filter is refused as such later.
    Filter::parse(text, kind, fields).is_ok_and(|f| !optimised(&f))
}

/// `GET Contacts[?where=&IDs=&searchTerm=&includeArchived=&summaryOnly=&page=&pageSize=]`.
fn list_contacts(org: &Org, params: &Params) -> Answer {
    if org.high_volume
        && too_broad(
            params,
            &["IDs", "searchTerm"],
            "Contact",
            CONTACT_WHERE_FIELDS,
            |f| f.optimised(CONTACT_OPTIMISED, &[]),
        )
    {
        return high_volume("Contacts", "Contact");
    }
    let mut found: Vec<&Value> = org.data.contacts.iter().collect();
    let include_archived = params
        .get_ci("includeArchived")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !include_archived {
        found.retain(|c| c["ContactStatus"] != "ARCHIVED");
    }
    if let Some(ids) = params.get_ci("IDs") {
        let ids = split_list(ids);
        found.retain(|c| {
            ids.iter().any(|id| {
                c["ContactID"]
                    .as_str()
                    .is_some_and(|c| c.eq_ignore_ascii_case(id))
            })
        });
    }
    if let Some(term) = params.get_ci("searchTerm").map(str::to_lowercase) {
        found.retain(|c| {
            [
                "Name",
                "FirstName",
                "LastName",
                "ContactNumber",
                "CompanyNumber",
                "EmailAddress",
            ]
            .iter()
            .any(|f| {
                c[*f]
                    .as_str()
                    .is_some_and(|v| v.to_lowercase().contains(&term))
            })
        });
    }
    if let Some(text) = params.get_ci("where") {
        let filter = match Filter::parse(text, "Contact", CONTACT_WHERE_FIELDS) {
            Ok(filter) => filter,
            Err(message) => return query_parse(&message),
        };
        found.retain(|c| filter.matches(c));
    }
    let summary = summary_only(params);
    let found: Vec<Value> = found
        .into_iter()
        .map(|c| {
            let mut c = c.clone();
            if summary && let Some(map) = c.as_object_mut() {
                for field in CONTACT_SUMMARY_EXCLUDED {
                    map.remove(*field);
                }
            }
            c
        })
        .collect();
    match page(params, found, summary) {
        Ok((list, pagination)) => envelope_with("Contacts", list, pagination),
        Err(refusal) => refusal,
    }
}

/// `GET Contacts/{ContactID or ContactNumber}`; 404 in plain text when unknown.
fn get_contact(org: &Org, key: &str) -> Answer {
    match org.data.find_contact(key) {
        Some(i) => envelope("Contacts", vec![org.data.contacts[i].clone()]),
        None => not_found(),
    }
}

/// A comma-separated list parameter; items may be quoted.
fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `page=n[&pageSize=m]` (100 a page unless `pageSize` says otherwise, clamped to
/// 1..=1000 as Xero does, with `pagination`); without `page`, everything and no
/// pagination (`pageSize` alone is ignored) unless paging is `enforced` (then page 1).
fn page(
    params: &Params,
    list: Vec<Value>,
    enforced: bool,
) -> Result<(Vec<Value>, Option<Value>), Answer> {
    let page = match params.get_ci("page") {
        Some(page) => page,
        None if enforced => "1",
        None => return Ok((list, None)),
    };
    let Some(page) = page.trim().parse::<usize>().ok().filter(|p| *p >= 1) else {
        // [I] wording.
        return Err(query_parse("The page parameter must be a positive integer"));
    };
    let size = match params.get_ci("pageSize").map(|s| s.trim().parse::<i64>()) {
        None => PAGE_SIZE,
        Some(Ok(size)) => size.clamp(1, MAX_PAGE_SIZE as i64) as usize,
        // [I] wording.
        Some(Err(_)) => {
            return Err(query_parse("The pageSize parameter must be an integer"));
        }
    };
    let count = list.len();
    let items: Vec<Value> = list
        .into_iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .collect();
    let pagination = json!({
        "page": page, "pageSize": size, "pageCount": count.div_ceil(size), "itemCount": count,
    });
    Ok((items, Some(pagination)))
}

// ---------------------------------------------------------------------------------------
// Invoices
// ---------------------------------------------------------------------------------------

const INVOICE_TYPES: &[&str] = &[
    "ACCREC",
    "ACCPAY",
    "ACCRECCREDIT",
    "ACCPAYCREDIT",
    "AROVERPAYMENT",
    "ARPREPAYMENT",
    "APOVERPAYMENT",
    "APPREPAYMENT",
];
const INVOICE_STATUSES: &[&str] = &[
    "DRAFT",
    "SUBMITTED",
    "DELETED",
    "AUTHORISED",
    "PAID",
    "VOIDED",
];
const LINE_AMOUNT_TYPES: &[&str] = &["Exclusive", "Inclusive", "NoTax"];

/// Fields an invoice `where` may name.
const INVOICE_WHERE_FIELDS: &[&str] = &[
    "InvoiceID",
    "InvoiceNumber",
    "Reference",
    "Type",
    "Status",
    "CurrencyCode",
    "Contact.ContactID",
    "Contact.Name",
    "Contact.ContactNumber",
];

const PAYMENT_ALLOCATED: &str =
    "This document cannot be edited as it has a payment or credit note allocated to it.";
const NOT_MODIFIABLE: &str = "Invoice not of valid status for modification";

/// An invoice element as sent (or as stored, for an update's base): `None` where absent.
#[derive(Clone, Default)]
struct InvoiceInput {
    raw: Map<String, Value>,
    kind: Option<String>,
    invoice_id: Option<String>,
    number: Option<String>,
    reference: Option<String>,
    url: Option<String>,
    contact: Option<Map<String, Value>>,
    date: Option<NaiveDate>,
    due_date: Option<NaiveDate>,
    status: Option<String>,
    amount_types: Option<String>,
    currency: Option<String>,
    currency_rate: Option<Decimal>,
    lines: Option<Vec<LineInput>>,
}

/// A line item as sent (or as stored).
#[derive(Clone, Default)]
struct LineInput {
    id: Option<String>,
    description: Option<String>,
    quantity: Option<Decimal>,
    unit_amount: Option<Decimal>,
    line_amount: Option<Decimal>,
    tax_amount: Option<Decimal>,
    discount_rate: Option<Decimal>,
    discount_amount: Option<Decimal>,
    account_code: Option<String>,
    tax_type: Option<String>,
    item_code: Option<String>,
}

impl InvoiceInput {
    fn parse(raw: &Map<String, Value>, path: &str) -> Result<Self, String> {
        let contact = match raw.get("Contact") {
            None | Some(Value::Null) => None,
            Some(Value::Object(c)) => Some(c.clone()),
            Some(_) => {
                return Err(format!(
                    "Error converting value to type 'Contact'. Path '{path}.Contact'"
                ));
            }
        };
        let lines = match raw.get("LineItems") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let path = format!("{path}.LineItems[{i}]");
                        match item {
                            Value::Object(line) => LineInput::parse(line, &path),
                            _ => Err(format!(
                                "Error converting value to type 'LineItem'. Path '{path}'"
                            )),
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => {
                return Err(format!(
                    "Error converting value to type 'List<LineItem>'. Path '{path}.LineItems'"
                ));
            }
        };
        Ok(InvoiceInput {
            raw: raw.clone(),
            kind: enum_field(raw, "Type", path, INVOICE_TYPES)?,
            invoice_id: text_field(raw, "InvoiceID", path)?,
            number: text_field(raw, "InvoiceNumber", path)?.filter(|n| !n.trim().is_empty()),
            reference: text_field(raw, "Reference", path)?,
            url: text_field(raw, "Url", path)?,
            contact,
            date: date_field(raw, "Date", path)?,
            due_date: date_field(raw, "DueDate", path)?,
            status: enum_field(raw, "Status", path, INVOICE_STATUSES)?,
            amount_types: enum_field(raw, "LineAmountTypes", path, LINE_AMOUNT_TYPES)?,
            currency: text_field(raw, "CurrencyCode", path)?,
            currency_rate: amount_field(raw, "CurrencyRate", path)?,
            lines,
        })
    }

    /// A stored invoice as the base of an update.
    fn from_stored(stored: &Value) -> Self {
        let text = |key: &str| stored[key].as_str().map(str::to_string);
        let date = |key: &str| {
            stored[key]
                .as_str()
                .and_then(|s| NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok())
        };
        let contact = json!({ "ContactID": stored["Contact"]["ContactID"] });
        InvoiceInput {
            raw: Map::new(),
            kind: text("Type"),
            invoice_id: text("InvoiceID"),
            number: text("InvoiceNumber"),
            reference: text("Reference"),
            url: text("Url"),
            contact: contact.as_object().cloned(),
            date: date("DateString"),
            due_date: date("DueDateString"),
            status: text("Status"),
            amount_types: text("LineAmountTypes"),
            currency: text("CurrencyCode"),
            currency_rate: decimal(&stored["CurrencyRate"]),
            lines: Some(
                stored["LineItems"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(LineInput::from_stored)
                    .collect(),
            ),
        }
    }

    /// The given element's properties laid over this base (line items excluded).
    fn overlay(mut self, given: &InvoiceInput) -> Self {
        fn over<T: Clone>(base: &mut Option<T>, given: &Option<T>) {
            if given.is_some() {
                base.clone_from(given);
            }
        }
        over(&mut self.kind, &given.kind);
        over(&mut self.number, &given.number);
        over(&mut self.reference, &given.reference);
        over(&mut self.url, &given.url);
        over(&mut self.contact, &given.contact);
        over(&mut self.date, &given.date);
        over(&mut self.due_date, &given.due_date);
        over(&mut self.status, &given.status);
        over(&mut self.amount_types, &given.amount_types);
        over(&mut self.currency, &given.currency);
        over(&mut self.currency_rate, &given.currency_rate);
        self
    }
}

impl LineInput {
    fn parse(raw: &Map<String, Value>, path: &str) -> Result<Self, String> {
        Ok(LineInput {
            id: text_field(raw, "LineItemID", path)?,
            description: text_field(raw, "Description", path)?,
            quantity: amount_field(raw, "Quantity", path)?,
            unit_amount: amount_field(raw, "UnitAmount", path)?,
            line_amount: amount_field(raw, "LineAmount", path)?,
            tax_amount: amount_field(raw, "TaxAmount", path)?,
            discount_rate: amount_field(raw, "DiscountRate", path)?,
            discount_amount: amount_field(raw, "DiscountAmount", path)?,
            account_code: text_field(raw, "AccountCode", path)?,
            tax_type: text_field(raw, "TaxType", path)?,
            item_code: text_field(raw, "ItemCode", path)?,
        })
    }

    /// A stored line as the base of an update. Derived amounts (LineAmount, TaxAmount) are
    /// left out so that they are computed again from the new values.
    fn from_stored(stored: &Value) -> Self {
        let text = |key: &str| stored[key].as_str().map(str::to_string);
        LineInput {
            id: text("LineItemID"),
            description: text("Description"),
            quantity: decimal(&stored["Quantity"]),
            unit_amount: decimal(&stored["UnitAmount"]),
            line_amount: None,
            tax_amount: None,
            discount_rate: decimal(&stored["DiscountRate"]),
            discount_amount: decimal(&stored["DiscountAmount"]),
            account_code: text("AccountCode"),
            tax_type: text("TaxType"),
            item_code: text("ItemCode"),
        }
    }

    fn overlay(mut self, given: &LineInput) -> Self {
        let fields = [
            (&mut self.quantity, given.quantity),
            (&mut self.unit_amount, given.unit_amount),
            (&mut self.line_amount, given.line_amount),
            (&mut self.tax_amount, given.tax_amount),
            (&mut self.discount_rate, given.discount_rate),
            (&mut self.discount_amount, given.discount_amount),
        ];
        for (base, given) in fields {
            if given.is_some() {
                *base = given;
            }
        }
        for (base, given) in [
            (&mut self.description, &given.description),
            (&mut self.account_code, &given.account_code),
            (&mut self.tax_type, &given.tax_type),
            (&mut self.item_code, &given.item_code),
        ] {
            if given.is_some() {
                base.clone_from(given);
            }
        }
        self
    }
}

/// Xero's line rule on update: a given line with a known `LineItemID` updates that line,
/// one without (or with an unknown id) is new, and stored lines not named are deleted.
fn merge_lines(stored: &Value, given: &[LineInput]) -> Vec<LineInput> {
    let stored: Vec<&Value> = stored["LineItems"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    given
        .iter()
        .map(|line| {
            let known = line.id.as_deref().and_then(|id| {
                stored.iter().find(|s| {
                    s["LineItemID"]
                        .as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(id))
                })
            });
            match known {
                Some(base) => LineInput::from_stored(base).overlay(line),
                None => LineInput {
                    id: None,
                    ..line.clone()
                },
            }
        })
        .collect()
}

/// Per-request settings of a write.
struct Ctx {
    /// Decimal places of `UnitAmount` (2, or 4 with `unitdp=4`).
    unitdp: u32,
    today: NaiveDate,
    now: DateTime<Utc>,
}

/// A refused invoice element: its id (if it named an existing invoice) and messages.
struct Rejected {
    id: Option<String>,
    messages: Messages,
}

fn rejected(id: Option<&str>, message: impl Into<String>) -> Rejected {
    Rejected {
        id: id.map(str::to_string),
        messages: vec![message.into()],
    }
}

/// Amounts of one computed line.
struct LineAmounts {
    line_amount: Decimal,
    tax: Decimal,
    discount: Decimal,
}

/// Validates one line and computes it: UnitAmount rounded to `unitdp`, Quantity to 4 dp,
/// LineAmount = Quantity x UnitAmount less any discount (a given LineAmount must agree to
/// the cent), TaxAmount per line rounded to 2 dp (a given one overrides).
fn build_line(
    line: &LineInput,
    amount_types: &str,
    unitdp: u32,
) -> Result<(Value, LineAmounts), Messages> {
    let mut errors = Vec::new();
    let description = line.description.as_deref().filter(|d| !d.trim().is_empty());
    if description.is_none() {
        errors.push("Description needs to be at least 1 char long".to_string());
    }
    // [I] wording of the three "required" messages (the fake requires all three always).
    if line.quantity.is_none() {
        errors.push("Quantity must be specified on every line item".to_string());
    }
    if line.unit_amount.is_none() {
        errors.push("UnitAmount must be specified on every line item".to_string());
    }
    let account = match line.account_code.as_deref() {
        None => {
            errors.push("Account code must be specified on every line item".to_string());
            None
        }
        Some(code) => {
            let account = ACCOUNTS.iter().find(|a| a.0 == code.trim());
            if account.is_none() {
                errors.push(format!(
                    "Account code '{code}' is not a valid code for this document."
                ));
            }
            account
        }
    };
    let tax_type = match (amount_types, line.tax_type.as_deref()) {
        ("NoTax", _) => "NONE".to_string(),
        (_, Some(t)) => {
            if tax_rate(t).is_none() {
                errors.push(format!(
                    "The TaxType code {t} does not exist or cannot be used for this type of transaction."
                ));
            }
            t.to_string()
        }
        (_, None) => account.map_or("NONE", |a| a.2).to_string(),
    };
    let (Some(quantity), Some(unit_amount), Some(account)) =
        (line.quantity, line.unit_amount, account)
    else {
        return Err(errors);
    };
    let quantity = round(quantity, 4);
    let unit_amount = round(unit_amount, unitdp);
    let gross = quantity * unit_amount;
    let expected = match (line.discount_rate, line.discount_amount) {
        (Some(_), Some(_)) => {
            errors.push("Only one of DiscountRate and DiscountAmount may be given".to_string());
            round(gross, 2)
        }
        (Some(rate), None) => {
            if rate < Decimal::ZERO || rate > Decimal::ONE_HUNDRED {
                errors.push(format!("The discount rate '{}' is invalid.", fixed2(rate)));
            }
            round(
                gross * (Decimal::ONE_HUNDRED - rate) / Decimal::ONE_HUNDRED,
                2,
            )
        }
        (None, Some(amount)) => round(gross - amount, 2),
        (None, None) => round(gross, 2),
    };
    if let Some(given) = line.line_amount
        && round(given, 2) != expected
    {
        errors.push(format!(
            "The line total {} does not match the expected line total {}",
            fixed2(given),
            fixed2(expected)
        ));
    }
    let rate = tax_rate(&tax_type).unwrap_or_default();
    let tax = match (amount_types, line.tax_amount) {
        ("NoTax", _) => Decimal::ZERO,
        (_, Some(given)) => round(given, 2),
        ("Inclusive", None) => round(expected * rate / (Decimal::ONE_HUNDRED + rate), 2),
        _ => round(expected * rate / Decimal::ONE_HUNDRED, 2),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut stored = json!({
        "LineItemID": line.id.clone().unwrap_or_else(|| Uuid::new_v4().to_string()),
        "Description": description, "Quantity": number(quantity, 4),
        "UnitAmount": number(unit_amount, unitdp), "AccountCode": account.0,
        "AccountID": account.3, "TaxType": tax_type, "TaxAmount": money(tax),
        "LineAmount": money(expected), "Tracking": [],
    });
    if let Some(rate) = line.discount_rate {
        stored["DiscountRate"] = money(rate);
    }
    if let Some(amount) = line.discount_amount {
        stored["DiscountAmount"] = money(amount);
    }
    if let Some(code) = &line.item_code {
        stored["ItemCode"] = json!(code);
    }
    let amounts = LineAmounts {
        line_amount: expected,
        tax,
        discount: round(gross, 2) - expected,
    };
    Ok((stored, amounts))
}

/// `2` decimal places of text (`40.00`), for messages.
fn fixed2(d: Decimal) -> String {
    let mut d = round(d, 2);
    d.rescale(2);
    d.to_string()
}

/// The documented status table: which status an invoice may move to from which.
fn transition_allowed(from: &str, to: &str) -> bool {
    match from {
        "DRAFT" => matches!(to, "DRAFT" | "SUBMITTED" | "AUTHORISED" | "DELETED"),
        "SUBMITTED" => matches!(to, "SUBMITTED" | "AUTHORISED" | "DRAFT" | "DELETED"),
        "AUTHORISED" => matches!(to, "AUTHORISED" | "VOIDED"),
        _ => false,
    }
}

impl OrgData {
    /// The item with this Code ([I] compared case-insensitively).
    fn item_by_code(&self, code: &str) -> Option<&Value> {
        self.items.iter().find(|i| {
            i["Code"]
                .as_str()
                .is_some_and(|c| c.eq_ignore_ascii_case(code.trim()))
        })
    }

    /// A line naming an `ItemCode`: [I] what it leaves out (Description, UnitAmount,
    /// AccountCode, TaxType) comes from the item's sales details, and the stored line
    /// carries the item's own code. An unknown code is an error.
    fn with_item(&self, line: &LineInput) -> Result<LineInput, String> {
        let Some(code) = &line.item_code else {
            return Ok(line.clone());
        };
        let Some(item) = self.item_by_code(code) else {
            // [I] wording.
            return Err(format!("Item code '{code}' is not valid."));
        };
        let sales = &item["SalesDetails"];
        let text = |v: &Value| v.as_str().map(str::to_string);
        let mut line = line.clone();
        line.item_code = text(&item["Code"]);
        if line.description.is_none() {
            line.description = text(&item["Description"]);
        }
        if line.unit_amount.is_none() {
            line.unit_amount = decimal(&sales["UnitPrice"]);
        }
        if line.account_code.is_none() {
            line.account_code = text(&sales["AccountCode"]);
        }
        if line.tax_type.is_none() {
            line.tax_type = text(&sales["TaxType"]);
        }
        Ok(line)
    }

    fn invoice_index(&self, id: &str) -> Option<usize> {
        self.invoices.iter().position(|i| {
            i["InvoiceID"]
                .as_str()
                .is_some_and(|i| i.eq_ignore_ascii_case(id))
        })
    }

    /// The live (not DELETED) sales invoice with this number ([I] case-insensitive).
    fn accrec_by_number(&self, number: &str) -> Option<usize> {
        self.invoices.iter().position(|i| {
            i["Type"] == "ACCREC"
                && i["Status"] != "DELETED"
                && i["InvoiceNumber"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(number.trim()))
        })
    }

    /// By InvoiceID, or else by InvoiceNumber (as `GET Invoices/{InvoiceNumber}` does).
    fn find_invoice(&self, key: &str) -> Option<usize> {
        self.invoice_index(key)
            .or_else(|| self.accrec_by_number(key))
            .or_else(|| self.invoices.iter().position(|i| i["InvoiceNumber"] == key))
    }

    /// The next free `INV-0001`-style number.
    fn next_number(&mut self) -> String {
        loop {
            let number = format!("INV-{:04}", self.next_invoice_number);
            self.next_invoice_number += 1;
            if self.accrec_by_number(&number).is_none() {
                return number;
            }
        }
    }

    /// Applies one element of `PUT`/`POST Invoices`.
    fn apply_invoice(
        &mut self,
        given: &InvoiceInput,
        mode: &Mode,
        ctx: &Ctx,
    ) -> Result<Value, Rejected> {
        let target = match mode {
            Mode::Create => {
                if let Some(id) = &given.invoice_id {
                    // [I] wording: PUT only creates.
                    let message =
                        "An InvoiceID cannot be given when creating invoices; use POST to update.";
                    return Err(rejected(Some(id), message));
                }
                None
            }
            Mode::Upsert => match (&given.invoice_id, &given.number) {
                (Some(id), _) => match self.invoice_index(id) {
                    Some(index) => Some(index),
                    // [I] wording.
                    None => {
                        let message = format!("Invoice {id} could not be found.");
                        return Err(rejected(Some(id), message));
                    }
                },
                (None, Some(number)) if given.kind.as_deref().is_none_or(|k| k == "ACCREC") => {
                    self.accrec_by_number(number)
                }
                _ => None,
            },
            Mode::Update(key) => self.find_invoice(key),
        };
        let Some(index) = target else {
            let undo = self
                .apply_contact_fields(given, ctx.now)
                .map_err(|messages| Rejected { id: None, messages })?;
            let stored = self.build_invoice(given, None, ctx).map_err(|messages| {
                self.undo_contact(undo);
                Rejected { id: None, messages }
            })?;
            self.invoices.push(stored.clone());
            return Ok(stored);
        };
        self.update_invoice(index, given, ctx)
    }

    /// Updates a stored invoice: status table, payment lock, VOIDED/DELETED as pure status
    /// changes, else a partial update (given properties over stored ones, the LineItemID
    /// rule for lines) validated like a new invoice.
    fn update_invoice(
        &mut self,
        index: usize,
        given: &InvoiceInput,
        ctx: &Ctx,
    ) -> Result<Value, Rejected> {
        let current = self.invoices[index].clone();
        let id = current["InvoiceID"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let refuse = |message: &str| rejected(Some(&id), message);
        let status_now = current["Status"].as_str().unwrap_or("DRAFT").to_string();
        let status_now = status_now.as_str();
        if matches!(status_now, "VOIDED" | "DELETED") {
            return Err(refuse(NOT_MODIFIABLE));
        }
        let paid = decimal(&current["AmountPaid"]).unwrap_or_default();
        if status_now == "PAID" || paid > Decimal::ZERO {
            return Err(refuse(PAYMENT_ALLOCATED));
        }
        if let Some(kind) = &given.kind
            && current["Type"] != kind.as_str()
        {
            return Err(refuse("The Type of an existing invoice cannot be changed."));
        }
        let target = given.status.as_deref().unwrap_or(status_now);
        if !transition_allowed(status_now, target) {
            // [I] wording.
            let message = format!("An invoice cannot be changed from {status_now} to {target}.");
            return Err(refuse(&message));
        }
        if matches!(target, "VOIDED" | "DELETED") {
            let mut stored = current;
            stored["Status"] = json!(target);
            stored["AmountDue"] = money(Decimal::ZERO);
            set_updated(&mut stored, ctx.now);
            self.invoices[index] = stored.clone();
            return Ok(stored);
        }
        let mut merged = InvoiceInput::from_stored(&current).overlay(given);
        if let Some(lines) = &given.lines {
            merged.lines = Some(merge_lines(&current, lines));
        }
        let with_id = |messages| Rejected {
            id: Some(id.clone()),
            messages,
        };
        let undo = self.apply_contact_fields(given, ctx.now).map_err(with_id)?;
        let stored = self
            .build_invoice(&merged, Some(&current), ctx)
            .map_err(|messages| {
                self.undo_contact(undo);
                with_id(messages)
            })?;
        self.invoices[index] = stored.clone();
        Ok(stored)
    }

    /// Contact properties sent besides `ContactID` update that contact (as Xero does).
    /// Returns the contact as it was, to put back if the invoice is refused.
    fn apply_contact_fields(
        &mut self,
        given: &InvoiceInput,
        now: DateTime<Utc>,
    ) -> Result<Option<(usize, Value)>, Messages> {
        let Some(contact) = &given.contact else {
            return Ok(None);
        };
        let Some(index) = contact
            .get("ContactID")
            .and_then(Value::as_str)
            .and_then(|id| self.contact_index(id))
        else {
            return Ok(None);
        };
        let extra: Map<String, Value> = contact
            .iter()
            .filter(|(k, _)| k.as_str() != "ContactID")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if extra.is_empty() {
            return Ok(None);
        }
        let input = ContactInput::parse(&extra, "Contact").map_err(|e| vec![e])?;
        let before = self.contacts[index].clone();
        self.update_contact(index, &input, now)?;
        Ok(Some((index, before)))
    }

    /// Puts back a contact [`OrgData::apply_contact_fields`] changed.
    fn undo_contact(&mut self, undo: Option<(usize, Value)>) {
        if let Some((index, before)) = undo {
            self.contacts[index] = before;
        }
    }

    /// Validates a complete invoice (new, or merged for an update) and computes what Xero
    /// computes: totals, AmountDue, numbers, dates and ids. Only ACCREC is supported.
    fn build_invoice(
        &mut self,
        input: &InvoiceInput,
        existing: Option<&Value>,
        ctx: &Ctx,
    ) -> Result<Value, Messages> {
        let mut errors = Vec::new();
        match input.kind.as_deref() {
            Some("ACCREC") => {}
            // [I] wording.
            None => errors.push("The invoice Type must be specified.".to_string()),
            Some(other) => errors.push(format!(
                "Invoice type {other} is not supported by this fake (ACCREC only)."
            )),
        }
        let contact_id = input
            .contact
            .as_ref()
            .and_then(|c| c.get("ContactID"))
            .and_then(Value::as_str);
        let contact = match contact_id {
            // [I] wording (the fake requires a ContactID; Xero also matches by Name).
            None => {
                errors.push("A Contact must be specified for this type of transaction".to_string());
                None
            }
            Some(id) => match self.contact_index(id) {
                Some(i) if self.contacts[i]["ContactStatus"] == "ARCHIVED" => {
                    let name = self.contacts[i]["Name"].as_str().unwrap_or_default();
                    errors.push(format!("The contact {name} is archived."));
                    None
                }
                Some(i) => Some(self.contacts[i].clone()),
                None => {
                    errors.push(format!(
                        "The contact with ContactID {id} could not be found."
                    ));
                    None
                }
            },
        };
        let status = input.status.clone().unwrap_or_else(|| "DRAFT".to_string());
        if existing.is_none() && !matches!(status.as_str(), "DRAFT" | "SUBMITTED" | "AUTHORISED") {
            errors.push(format!("A new invoice cannot have the status {status}."));
        }
        let date = input.date.unwrap_or(ctx.today);
        if input.due_date.is_none() && matches!(status.as_str(), "SUBMITTED" | "AUTHORISED") {
            errors.push("Due Date must be specified.".to_string());
        }
        let base = self.currencies[0].clone();
        let currency = match &input.currency {
            None => base.clone(),
            Some(given) => match self
                .currencies
                .iter()
                .find(|c| c.eq_ignore_ascii_case(given.trim()))
            {
                Some(code) => code.clone(),
                None => {
                    errors.push(format!(
                        "Organisation is not subscribed to currency {given}"
                    ));
                    given.clone()
                }
            },
        };
        // [I] Without a CurrencyRate Xero takes the day's XE.com rate; the fake takes 1.
        let rate = match input.currency_rate {
            _ if currency == base => Decimal::ONE,
            Some(rate) if rate > Decimal::ZERO => rate,
            _ => Decimal::ONE,
        };
        let currency_rate = number(rate, 6);
        let amount_types = input
            .amount_types
            .clone()
            .unwrap_or_else(|| "Exclusive".to_string());
        let own_id = existing.and_then(|e| e["InvoiceID"].as_str());
        let number = match &input.number {
            Some(n) if n.chars().count() > MAX_INVOICE_NUMBER_LEN => {
                errors.push(format!(
                    "Invoice Number must be no more than {MAX_INVOICE_NUMBER_LEN} characters."
                ));
                n.clone()
            }
            Some(n) => {
                let taken = self
                    .accrec_by_number(n)
                    .is_some_and(|i| self.invoices[i]["InvoiceID"].as_str() != own_id);
                if taken {
                    errors.push("Invoice # must be unique.".to_string());
                }
                n.trim().to_string()
            }
            None => self.next_number(),
        };
        let lines = input.lines.as_deref().unwrap_or_default();
        if lines.is_empty() {
            // [I] wording.
            errors.push("An invoice must have at least one line item.".to_string());
        }
        let mut stored_lines = Vec::new();
        let (mut line_total, mut tax_total, mut discount_total) =
            (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        for line in lines {
            let line = match self.with_item(line) {
                Ok(line) => line,
                Err(message) => {
                    errors.push(message);
                    line.clone()
                }
            };
            match build_line(&line, &amount_types, ctx.unitdp) {
                Ok((stored, amounts)) => {
                    line_total += amounts.line_amount;
                    tax_total += amounts.tax;
                    discount_total += amounts.discount;
                    stored_lines.push(stored);
                }
                Err(mut messages) => errors.append(&mut messages),
            }
        }
        let (sub_total, total) = match amount_types.as_str() {
            "Inclusive" => (line_total - tax_total, line_total),
            _ => (line_total, line_total + tax_total),
        };
        if errors.is_empty() && total < Decimal::ZERO {
            errors.push("The invoice total must be zero or more.".to_string());
        }
        if !errors.is_empty() {
            errors.dedup();
            return Err(errors);
        }
        let contact = contact.expect("validated above");
        let paid = existing
            .and_then(|e| decimal(&e["AmountPaid"]))
            .unwrap_or_default();
        let mut invoice = json!({
            "Type": "ACCREC",
            "InvoiceID": own_id.map_or_else(|| Uuid::new_v4().to_string(), str::to_string),
            "InvoiceNumber": number, "Reference": input.reference.clone().unwrap_or_default(),
            "Payments": existing.map_or_else(|| json!([]), |e| e["Payments"].clone()),
            "CreditNotes": [], "Prepayments": [], "Overpayments": [],
            "AmountDue": money(total - paid), "AmountPaid": money(paid),
            "AmountCredited": money(Decimal::ZERO), "SentToContact": false,
            "CurrencyRate": currency_rate,
            "IsDiscounted": discount_total != Decimal::ZERO, "HasAttachments": false,
            "HasErrors": false,
            "Contact": {
                "ContactID": contact["ContactID"], "ContactStatus": contact["ContactStatus"],
                "Name": contact["Name"], "Addresses": [], "Phones": [], "ContactGroups": [],
                "ContactPersons": [], "HasValidationErrors": false,
            },
            "DateString": date_string(date), "Date": xero_date(date), "Status": status,
            "LineAmountTypes": amount_types, "LineItems": stored_lines,
            "SubTotal": money(sub_total), "TotalTax": money(tax_total), "Total": money(total),
            "CurrencyCode": currency,
        });
        if let Some(number) = contact.get("ContactNumber").filter(|n| !n.is_null()) {
            invoice["Contact"]["ContactNumber"] = number.clone();
        }
        if let Some(due) = input.due_date {
            invoice["DueDateString"] = json!(date_string(due));
            invoice["DueDate"] = json!(xero_date(due));
        }
        if discount_total != Decimal::ZERO {
            invoice["TotalDiscount"] = money(discount_total);
        }
        if let Some(url) = &input.url {
            invoice["Url"] = json!(url);
        }
        set_updated(&mut invoice, ctx.now);
        Ok(invoice)
    }
}

/// A failed invoice element: the input with its id, `HasErrors`, `StatusAttributeString:
/// "ERROR"` and `ValidationErrors`.
fn invoice_echo(input: &InvoiceInput, rejected: Rejected) -> Value {
    let mut echo = input.raw.clone();
    let id = rejected.id.unwrap_or_else(|| ZERO_GUID.to_string());
    echo.insert("InvoiceID".into(), json!(id));
    echo.insert("HasErrors".into(), json!(true));
    echo.insert("StatusAttributeString".into(), json!("ERROR"));
    echo.insert(
        "ValidationErrors".into(),
        validation_errors(rejected.messages),
    );
    Value::Object(echo)
}

/// `PUT Invoices` (create only), `POST Invoices` (update when an element names an
/// existing invoice by InvoiceID, or an ACCREC one by InvoiceNumber; else create) and
/// `POST Invoices/{InvoiceID}`. The flag tells whether anything was stored.
fn write_invoices(
    org: &mut Org,
    elements: &[Map<String, Value>],
    mode: &Mode,
    summarize: bool,
    unitdp: u32,
) -> (Answer, bool) {
    let inputs: Result<Vec<InvoiceInput>, String> = elements
        .iter()
        .enumerate()
        .map(|(i, e)| InvoiceInput::parse(e, &format!("Invoices[{i}]")))
        .collect();
    let inputs = match inputs {
        Ok(inputs) => inputs,
        Err(e) => return (post_data_invalid(&e), false),
    };
    if let Mode::Update(key) = mode
        && org.data.find_invoice(key).is_none()
    {
        return (not_found(), false);
    }
    let now = Utc::now();
    let ctx = Ctx {
        unitdp,
        today: now.date_naive(),
        now,
    };
    write_batch(
        org,
        &inputs,
        summarize,
        "Invoices",
        |data, input| match data.apply_invoice(input, mode, &ctx) {
            Ok(mut stored) => {
                stored["StatusAttributeString"] = json!("OK");
                Ok(stored)
            }
            Err(rejected) => Err(invoice_echo(input, rejected)),
        },
    )
}

/// Invoice `where` fields Xero optimises when joined by AND, and the one it optimises
/// when joined by OR ("the optimisation of the or operator is restricted to InvoiceId").
const INVOICE_OPTIMISED: &[&str] = &[
    "Status",
    "Type",
    "InvoiceID",
    "InvoiceNumber",
    "Reference",
    "Contact.ContactID",
    "Contact.Name",
    "Contact.ContactNumber",
];
const INVOICE_OPTIMISED_OR: &[&str] = &["InvoiceID"];
/// What `summaryOnly=true` leaves out of invoices (Xero's list).
const INVOICE_SUMMARY_EXCLUDED: &[&str] =
    &["Payments", "HasAttachments", "LineItems", "CISDeduction"];

/// `GET Invoices[?InvoiceNumbers=&IDs=&ContactIDs=&Statuses=&where=&summaryOnly=&page=
/// &pageSize=]`: every type (sales invoices and bills) matching all the filters given; the
/// list parameters match any of their comma-separated values exactly ([I] ignoring case).
/// Without `page` the invoices come without their line items (`"LineItems": []`), as
/// Xero's list does; with it, 100 a page with lines and `pagination`; `summaryOnly=true`
/// pages and leaves out lines, payments and attachments.
fn list_invoices(org: &Org, params: &Params) -> Answer {
    if org.high_volume
        && too_broad(
            params,
            &[
                "IDs",
                "InvoiceNumbers",
                "ContactIDs",
                "Statuses",
                "searchTerm",
            ],
            "Invoice",
            INVOICE_WHERE_FIELDS,
            |f| f.optimised(INVOICE_OPTIMISED, INVOICE_OPTIMISED_OR),
        )
    {
        return high_volume("Invoices", "Invoice");
    }
    let mut found: Vec<&Value> = org.data.invoices.iter().collect();
    let matches_any = |list: &[String], value: &Value| {
        value
            .as_str()
            .is_some_and(|v| list.iter().any(|l| l.eq_ignore_ascii_case(v)))
    };
    if let Some(ids) = params.get_ci("IDs") {
        let ids = split_list(ids);
        found.retain(|i| matches_any(&ids, &i["InvoiceID"]));
    }
    if let Some(numbers) = params.get_ci("InvoiceNumbers") {
        let numbers = split_list(numbers);
        found.retain(|i| matches_any(&numbers, &i["InvoiceNumber"]));
    }
    if let Some(ids) = params.get_ci("ContactIDs") {
        let ids = split_list(ids);
        found.retain(|i| matches_any(&ids, &i["Contact"]["ContactID"]));
    }
    if let Some(statuses) = params.get_ci("Statuses") {
        let statuses = split_list(statuses);
        found.retain(|i| matches_any(&statuses, &i["Status"]));
    }
    if let Some(text) = params.get_ci("where") {
        let filter = match Filter::parse(text, "Invoice", INVOICE_WHERE_FIELDS) {
            Ok(filter) => filter,
            Err(message) => return query_parse(&message),
        };
        found.retain(|i| filter.matches(i));
    }
    let summary = summary_only(params);
    let paged = params.get_ci("page").is_some();
    let found: Vec<Value> = found
        .into_iter()
        .map(|i| {
            let mut i = i.clone();
            if summary && let Some(map) = i.as_object_mut() {
                for field in INVOICE_SUMMARY_EXCLUDED {
                    map.remove(*field);
                }
            } else if !paged {
                i["LineItems"] = json!([]);
            }
            i
        })
        .collect();
    match page(params, found, summary) {
        Ok((list, pagination)) => envelope_with("Invoices", list, pagination),
        Err(refusal) => refusal,
    }
}

/// `GET Invoices/{InvoiceID or InvoiceNumber}`: the full invoice; 404 in plain text.
fn get_invoice(org: &Org, key: &str) -> Answer {
    match org.data.find_invoice(key) {
        Some(i) => envelope("Invoices", vec![org.data.invoices[i].clone()]),
        None => not_found(),
    }
}

// ---------------------------------------------------------------------------------------
// `where` filters: the subset of Xero's .NET dynamic-LINQ syntax that lookups use
// ---------------------------------------------------------------------------------------

/// A parsed `where`: comparisons `==`, `=`, `!=`, `<>` of a property with a string
/// (`""` inside one is a quote, a backslash is just a backslash), `null`, `true`/`false` or
/// `Guid("...")`; `.Contains("..")`, `.StartsWith("..")`, `.EndsWith("..")`; `.ToLower()`,
/// `.ToUpper()` (no-ops); `AND`/`&&`, `OR`/`||`, `NOT`/`!` and parentheses. Property
/// names are case-insensitive; [I] string comparisons are too (Xero compares in its
/// database's case-insensitive collation).
struct Filter(Expr);

enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare {
        field: String,
        equal: bool,
        value: Literal,
    },
    Call {
        field: String,
        method: TextMethod,
        arg: String,
    },
}

enum Literal {
    Text(String),
    Null,
    Bool(bool),
}

#[derive(Clone, Copy)]
enum TextMethod {
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Text(String),
    Dot,
    Open,
    Close,
    Eq,
    Ne,
    And,
    Or,
    Not,
}

const SYNTAX_ERROR: &str = "Syntax error";

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (c, next) = (chars[i], chars.get(i + 1).copied());
        let (tok, len) = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("Unterminated string literal".to_string()),
                        Some('"') if chars.get(i + 1) == Some(&'"') => {
                            s.push('"');
                            i += 2;
                        }
                        Some('"') => break,
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                (Tok::Text(s), 1)
            }
            '.' => (Tok::Dot, 1),
            '(' => (Tok::Open, 1),
            ')' => (Tok::Close, 1),
            '=' if next == Some('=') => (Tok::Eq, 2),
            '=' => (Tok::Eq, 1),
            '!' if next == Some('=') => (Tok::Ne, 2),
            '!' => (Tok::Not, 1),
            '<' if next == Some('>') => (Tok::Ne, 2),
            '&' if next == Some('&') => (Tok::And, 2),
            '|' if next == Some('|') => (Tok::Or, 2),
            c if c.is_alphanumeric() || c == '_' => {
                let word: String = chars[i..]
                    .iter()
                    .take_while(|c| c.is_alphanumeric() || **c == '_')
                    .collect();
                let len = word.chars().count();
                let tok = match word.to_ascii_lowercase().as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    _ => Tok::Ident(word),
                };
                (tok, len)
            }
            _ => return Err(SYNTAX_ERROR.to_string()),
        };
        toks.push(tok);
        i += len;
    }
    Ok(toks)
}

struct FilterParser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    kind: &'a str,
    fields: &'a [&'a str],
}

impl FilterParser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let tok = self.toks.get(self.pos).cloned();
        self.pos += 1;
        tok
    }

    fn expect(&mut self, tok: Tok) -> Result<(), String> {
        if self.next() == Some(tok) {
            Ok(())
        } else {
            Err(SYNTAX_ERROR.to_string())
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.next();
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Tok::And) {
            self.next();
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Not) => Ok(Expr::Not(Box::new(self.unary()?))),
            Some(Tok::Open) => {
                let inner = self.or()?;
                self.expect(Tok::Close)?;
                Ok(inner)
            }
            Some(Tok::Ident(first)) => self.comparison(first),
            _ => Err(SYNTAX_ERROR.to_string()),
        }
    }

    /// `Path[.Method(...)] (==|!=) literal` or `Path.Contains("...")`.
    fn comparison(&mut self, first: String) -> Result<Expr, String> {
        let mut segments = vec![first];
        let mut call = None;
        while self.peek() == Some(&Tok::Dot) {
            self.next();
            let Some(Tok::Ident(name)) = self.next() else {
                return Err(SYNTAX_ERROR.to_string());
            };
            let method = match name.to_ascii_lowercase().as_str() {
                "contains" => Some(TextMethod::Contains),
                "startswith" => Some(TextMethod::StartsWith),
                "endswith" => Some(TextMethod::EndsWith),
                "tolower" | "toupper" => {
                    self.expect(Tok::Open)?;
                    self.expect(Tok::Close)?;
                    continue;
                }
                _ => {
                    segments.push(name);
                    continue;
                }
            };
            self.expect(Tok::Open)?;
            let Some(Tok::Text(arg)) = self.next() else {
                return Err(SYNTAX_ERROR.to_string());
            };
            self.expect(Tok::Close)?;
            call = method.map(|m| (m, arg));
            break;
        }
        let field = self.resolve(&segments)?;
        if let Some((method, arg)) = call {
            return Ok(Expr::Call { field, method, arg });
        }
        let equal = match self.next() {
            Some(Tok::Eq) => true,
            Some(Tok::Ne) => false,
            _ => return Err(SYNTAX_ERROR.to_string()),
        };
        let value = match self.next() {
            Some(Tok::Text(s)) => Literal::Text(s),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("null") => Literal::Null,
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("guid") => {
                self.expect(Tok::Open)?;
                let Some(Tok::Text(s)) = self.next() else {
                    return Err(SYNTAX_ERROR.to_string());
                };
                self.expect(Tok::Close)?;
                Literal::Text(s)
            }
            // An unquoted word is read as a property, as dynamic LINQ does.
            Some(Tok::Ident(w)) => {
                self.resolve(&[w])?;
                return Err(SYNTAX_ERROR.to_string());
            }
            _ => return Err(SYNTAX_ERROR.to_string()),
        };
        Ok(Expr::Compare {
            field,
            equal,
            value,
        })
    }

    /// The canonical name of a (possibly nested) property.
    fn resolve(&self, segments: &[String]) -> Result<String, String> {
        let joined = segments.join(".");
        if let Some(field) = self.fields.iter().find(|f| f.eq_ignore_ascii_case(&joined)) {
            return Ok(field.to_string());
        }
        let known_prefix = |n: usize| {
            self.fields.iter().any(|f| {
                let parts: Vec<&str> = f.split('.').collect();
                parts.len() >= n
                    && parts[..n]
                        .iter()
                        .zip(&segments[..n])
                        .all(|(a, b)| a.eq_ignore_ascii_case(b))
            })
        };
        let bad = (1..=segments.len())
            .find(|n| !known_prefix(*n))
            .map_or(&segments[segments.len() - 1], |n| &segments[n - 1]);
        Err(format!(
            "No property or field '{bad}' exists in type '{}'",
            self.kind
        ))
    }
}

impl Filter {
    fn parse(text: &str, kind: &str, fields: &[&str]) -> Result<Filter, String> {
        let toks = lex(text)?;
        let mut parser = FilterParser {
            toks,
            pos: 0,
            kind,
            fields,
        };
        let expr = parser.or()?;
        if parser.pos != parser.toks.len() {
            return Err(SYNTAX_ERROR.to_string());
        }
        Ok(Filter(expr))
    }

    fn matches(&self, entity: &Value) -> bool {
        eval(&self.0, entity)
    }

    /// Whether Xero runs this filter on an index: equalities on `and_fields` joined by
    /// AND, or equalities on `or_fields` joined by OR.
    fn optimised(&self, and_fields: &[&str], or_fields: &[&str]) -> bool {
        fn equality(expr: &Expr, fields: &[&str]) -> bool {
            matches!(expr, Expr::Compare { field, equal: true, value: Literal::Text(_) }
                if fields.contains(&field.as_str()))
        }
        fn all_and(expr: &Expr, fields: &[&str]) -> bool {
            match expr {
                Expr::And(a, b) => all_and(a, fields) && all_and(b, fields),
                other => equality(other, fields),
            }
        }
        fn all_or(expr: &Expr, fields: &[&str]) -> bool {
            match expr {
                Expr::Or(a, b) => all_or(a, fields) && all_or(b, fields),
                other => equality(other, fields),
            }
        }
        all_and(&self.0, and_fields) || all_or(&self.0, or_fields)
    }
}

fn eval(expr: &Expr, entity: &Value) -> bool {
    let field_value = |field: &str| field.split('.').fold(entity, |v, k| &v[k]);
    match expr {
        Expr::Or(a, b) => eval(a, entity) || eval(b, entity),
        Expr::And(a, b) => eval(a, entity) && eval(b, entity),
        Expr::Not(e) => !eval(e, entity),
        Expr::Compare {
            field,
            equal,
            value,
        } => {
            let v = field_value(field);
            let same = match value {
                Literal::Text(t) => v
                    .as_str()
                    .is_some_and(|s| s.to_lowercase() == t.to_lowercase()),
                Literal::Null => v.is_null(),
                Literal::Bool(b) => v.as_bool() == Some(*b),
            };
            same == *equal
        }
        Expr::Call { field, method, arg } => {
            let v = field_value(field)
                .as_str()
                .unwrap_or_default()
                .to_lowercase();
            let arg = arg.to_lowercase();
            match method {
                TextMethod::Contains => v.contains(&arg),
                TextMethod::StartsWith => v.starts_with(&arg),
                TextMethod::EndsWith => v.ends_with(&arg),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Self-tests: the fake driven with plain HTTP
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod self_tests {
    use super::*;

    const REDIRECT: &str = "https://app.example/cb";
    /// RFC 7636 appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const SCOPES: &str = "openid profile email offline_access accounting.transactions accounting.contacts accounting.settings.read";
    const OTHER: &str = "5d1c8a3e-7b2f-4e6a-9c0d-2f4b6a8c0e1f";

    fn http() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client")
    }

    /// JSON, or the text as a JSON string (404s are plain text).
    fn parse_lenient(text: String) -> Value {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }

    async fn status_json(response: reqwest::Response) -> (u16, Value) {
        let status = response.status().as_u16();
        (status, parse_lenient(response.text().await.unwrap()))
    }

    fn authorize_params(scope: &str) -> Vec<(&'static str, String)> {
        [
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("state", "csrf-1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect()
    }

    /// The query of the redirect to `REDIRECT`.
    fn callback(response: &reqwest::Response) -> HashMap<String, String> {
        assert_eq!(response.status(), 302);
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        assert!(location.starts_with(REDIRECT), "{location}");
        let location = url::Url::parse(location).unwrap();
        location.query_pairs().into_owned().collect()
    }

    async fn authorize_raw(fake: &FakeXero, params: &[(&str, String)]) -> reqwest::Response {
        http()
            .get(fake.auth_url())
            .query(params)
            .send()
            .await
            .unwrap()
    }

    /// Runs the authorize redirect; the code and the whole callback query.
    async fn authorize_code(fake: &FakeXero, scope: &str) -> (String, HashMap<String, String>) {
        let response = authorize_raw(fake, &authorize_params(scope)).await;
        let params = callback(&response);
        assert!(!params.contains_key("error"), "{params:?}");
        (params["code"].clone(), params)
    }

    async fn token_request(fake: &FakeXero, form: &[(&str, &str)], basic: bool) -> (u16, Value) {
        let mut request = http().post(fake.token_url()).form(form);
        if basic {
            request = request.basic_auth(CLIENT_ID, Some(CLIENT_SECRET));
        }
        status_json(request.send().await.unwrap()).await
    }

    async fn exchange(fake: &FakeXero, code: &str, verifier: &str) -> (u16, Value) {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ];
        token_request(fake, &form, true).await
    }

    async fn refresh(fake: &FakeXero, refresh_token: &str) -> (u16, Value) {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        token_request(fake, &form, true).await
    }

    /// Authorizes with `scope` and exchanges the code: a client for [`TENANT_ID`].
    async fn connect_with<'a>(fake: &'a FakeXero, scope: &str) -> Api<'a> {
        let (code, _) = authorize_code(fake, scope).await;
        let (status, body) = exchange(fake, &code, VERIFIER).await;
        assert_eq!(status, 200, "{body}");
        Api {
            fake,
            token: body["access_token"].as_str().unwrap().to_string(),
            tenant: TENANT_ID.to_string(),
        }
    }

    async fn connect(fake: &FakeXero) -> Api<'_> {
        connect_with(fake, SCOPES).await
    }

    /// A well-behaved accounting client.
    struct Api<'a> {
        fake: &'a FakeXero,
        token: String,
        tenant: String,
    }

    impl Api<'_> {
        fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
            let url = format!("{}/api.xro/2.0/{path}", self.fake.api_base());
            http()
                .request(method, url)
                .bearer_auth(&self.token)
                .header("xero-tenant-id", &self.tenant)
                .header(header::ACCEPT, "application/json")
        }

        async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
            let response = self
                .request(reqwest::Method::GET, path)
                .query(query)
                .send()
                .await
                .unwrap();
            status_json(response).await
        }

        async fn write_raw(
            &self,
            method: reqwest::Method,
            path: &str,
            query: &[(&str, &str)],
            key: Option<&str>,
            body: &Value,
        ) -> (u16, String) {
            let mut request = self.request(method, path).query(query).json(body);
            if let Some(key) = key {
                request = request.header("idempotency-key", key);
            }
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }

        async fn put(&self, path: &str, query: &[(&str, &str)], body: &Value) -> (u16, Value) {
            let (status, text) = self
                .write_raw(reqwest::Method::PUT, path, query, None, body)
                .await;
            (status, parse_lenient(text))
        }

        async fn post(&self, path: &str, query: &[(&str, &str)], body: &Value) -> (u16, Value) {
            let (status, text) = self
                .write_raw(reqwest::Method::POST, path, query, None, body)
                .await;
            (status, parse_lenient(text))
        }
    }

    async fn connections(fake: &FakeXero, token: &str) -> (u16, Value) {
        let response = http()
            .get(format!("{}/connections", fake.api_base()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        status_json(response).await
    }

    /// PUTs one invoice changed by `mutate` and expects its first validation message.
    async fn rejects(api: &Api<'_>, contact: &str, mutate: fn(&mut Value), expected: &str) {
        let mut one = invoice(contact, "C-1", json!([line("A", 2.0, 10.0, "200")]));
        mutate(&mut one);
        let (status, body) = api
            .put("Invoices", &[], &json!({ "Invoices": [one] }))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(first_error(&body), expected);
    }

    fn first_error(body: &Value) -> &str {
        body["Elements"][0]["ValidationErrors"][0]["Message"]
            .as_str()
            .unwrap_or_default()
    }

    fn line(description: &str, quantity: f64, unit: f64, account: &str) -> Value {
        json!({ "Description": description, "Quantity": quantity, "UnitAmount": unit, "AccountCode": account })
    }

    fn invoice(contact: &str, number: &str, lines: Value) -> Value {
        json!({
            "Type": "ACCREC", "Contact": { "ContactID": contact }, "InvoiceNumber": number,
            "Date": "2024-05-01", "DueDate": "2024-05-31", "Status": "AUTHORISED",
            "LineAmountTypes": "Exclusive", "LineItems": lines,
        })
    }

    #[test]
    fn s256_matches_the_rfc_7636_vector() {
        assert_eq!(s256(VERIFIER), CHALLENGE);
    }

    #[tokio::test]
    async fn pkce_code_flow_rotates_refresh_tokens_with_a_grace_period() {
        let fake = FakeXero::start().await;
        let (code, params) = authorize_code(&fake, SCOPES).await;
        assert_eq!(params["state"], "csrf-1");
        assert_eq!(params["scope"], SCOPES);
        let mut keys: Vec<&str> = params.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["code", "scope", "session_state", "state"]);

        // A wrong verifier spends the code.
        let (status, body) = exchange(&fake, &code, &"x".repeat(43)).await;
        assert_eq!((status, &body), (400, &json!({ "error": "invalid_grant" })));
        let (status, _) = exchange(&fake, &code, VERIFIER).await;
        assert_eq!(status, 400);

        // Another redirect_uri.
        let (code, _) = authorize_code(&fake, SCOPES).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://elsewhere.example/cb"),
            ("code_verifier", VERIFIER),
        ];
        let (status, body) = token_request(&fake, &form, true).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );

        // client_secret_post works; the answer has Xero's fields.
        let (code, _) = authorize_code(&fake, SCOPES).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ];
        let (status, tokens) = token_request(&fake, &form, false).await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(tokens["expires_in"], 1800);
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["scope"], SCOPES);
        assert_eq!(tokens["id_token"].as_str().unwrap().split('.').count(), 3);
        let access = tokens["access_token"].as_str().unwrap();
        let payload = access.split('.').nth(1).unwrap();
        let payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(payload["client_id"], CLIENT_ID);
        // Codes are single use.
        let (status, _) = token_request(&fake, &form, false).await;
        assert_eq!(status, 400);

        // Every refresh rotates; superseded tokens work during the grace period.
        let rt1 = tokens["refresh_token"].as_str().unwrap().to_string();
        let (status, body) = refresh(&fake, &rt1).await;
        assert_eq!(status, 200);
        let rt2 = body["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(rt2, rt1);
        let (status, body) = refresh(&fake, &rt1).await;
        assert_eq!(status, 200, "the previous token is reusable for 30 minutes");
        let rt3 = body["refresh_token"].as_str().unwrap().to_string();
        let (status, body) = refresh(&fake, &rt2).await;
        assert_eq!(status, 200);
        let rt4 = body["refresh_token"].as_str().unwrap().to_string();
        assert!(rt3 != rt4 && rt2 != rt3);

        // After the grace period only the newest token works.
        fake.set_refresh_grace(Duration::ZERO);
        for old in [&rt1, &rt2, &rt3] {
            let (status, body) = refresh(&fake, old).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_grant"))
            );
        }
        let (status, body) = refresh(&fake, &rt4).await;
        assert_eq!(status, 200);
        let rt5 = body["refresh_token"].as_str().unwrap().to_string();

        fake.revoke_refresh_tokens();
        let (status, body) = refresh(&fake, &rt5).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        assert_eq!(fake.token_refreshes(), 8);

        // Bad client or JSON instead of a form.
        let response = http()
            .post(fake.token_url())
            .basic_auth(CLIENT_ID, Some("wrong"))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", &rt5)])
            .send()
            .await
            .unwrap();
        let (status, body) = status_json(response).await;
        assert_eq!((status, body), (400, json!({ "error": "invalid_client" })));
        let response = http()
            .post(fake.token_url())
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .json(&json!({ "grant_type": "refresh_token", "refresh_token": rt5 }))
            .send()
            .await
            .unwrap();
        let (status, body) = status_json(response).await;
        assert_eq!(
            (status, body),
            (400, json!({ "error": "unsupported_grant_type" }))
        );
        assert_eq!(fake.token_refreshes(), 8);
    }

    #[tokio::test]
    async fn authorize_refuses_bad_requests() {
        let fake = FakeXero::start().await;
        let mut params = authorize_params(SCOPES);
        params[1].1 = "someone-else".into();
        let response = authorize_raw(&fake, &params).await;
        assert_eq!(response.status(), 400);

        let cases: [(&str, Option<&str>, &str); 5] = [
            ("code_challenge", None, "invalid_request"),
            ("code_challenge_method", Some("plain"), "invalid_request"),
            ("state", None, "invalid_request"),
            (
                "scope",
                Some("openid accounting.transactions accounting.contacts"),
                "invalid_scope",
            ),
            (
                "scope",
                Some(
                    "offline_access accounting.transactions accounting.contacts accounting.everything",
                ),
                "invalid_scope",
            ),
        ];
        for (name, value, error) in cases {
            let mut params = authorize_params(SCOPES);
            params.retain(|(k, _)| *k != name);
            if let Some(value) = value {
                params.push((name, value.to_string()));
            }
            let query = callback(&authorize_raw(&fake, &params).await);
            assert_eq!(query["error"], error, "{name}={value:?}");
            assert!(!query.contains_key("code"));
        }

        // An app created after 2026-03-02: broad scopes are refused, granular ones work.
        fake.refuse_retired_scopes(true);
        let query = callback(&authorize_raw(&fake, &authorize_params(SCOPES)).await);
        assert_eq!(query["error"], "invalid_scope");
        let granular =
            "offline_access accounting.invoices accounting.contacts accounting.settings.read";
        let api = connect_with(&fake, granular).await;
        let (status, _) = api.get("Invoices", &[]).await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn connections_list_the_authorized_organisations_and_the_tenant_is_checked() {
        let fake = FakeXero::start().await;
        fake.add_tenant(OTHER, "Other Ltd");
        let api = connect(&fake).await;
        let (status, list) = connections(&fake, &api.token).await;
        assert_eq!(status, 200);
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["tenantId"], TENANT_ID);
        assert_eq!(list[0]["tenantType"], "ORGANISATION");
        assert_eq!(list[0]["tenantName"], "Fake Ltd");
        assert!(is_uuid(list[0]["id"].as_str().unwrap()));
        assert!(is_uuid(list[0]["authEventId"].as_str().unwrap()));

        // An organisation this grant did not authorize.
        let other = Api {
            fake: &fake,
            token: api.token.clone(),
            tenant: OTHER.to_string(),
        };
        let (status, body) = other.get("Organisation", &[]).await;
        assert_eq!(status, 403);
        assert_eq!(body["Title"], "Forbidden");
        assert_eq!(body["Detail"], "AuthenticationUnsuccessful");

        // Two organisations: "take the first" would pick the wrong one.
        fake.authorize_tenants(&[OTHER, TENANT_ID]);
        let both = connect(&fake).await;
        let (_, list) = connections(&fake, &both.token).await;
        let tenants: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["tenantId"].as_str().unwrap())
            .collect();
        assert_eq!(tenants, [OTHER, TENANT_ID]);
        let other = Api {
            fake: &fake,
            token: both.token.clone(),
            tenant: OTHER.to_string(),
        };
        let (status, body) = other.get("Organisation", &[]).await;
        assert_eq!(status, 200);
        assert_eq!(body["Organisations"][0]["Name"], "Other Ltd");
        assert_eq!(body["Organisations"][0]["OrganisationID"], OTHER);

        // Disconnecting one.
        let id = list[0]["id"].as_str().unwrap();
        let response = http()
            .delete(format!("{}/connections/{id}", fake.api_base()))
            .bearer_auth(&both.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        let (status, _) = other.get("Organisation", &[]).await;
        assert_eq!(status, 403);
        let (_, list) = connections(&fake, &both.token).await;
        assert_eq!(list.as_array().unwrap().len(), 1);

        // Revoking the refresh token removes the grant's connections.
        let (code, _) = authorize_code(&fake, SCOPES).await;
        let (_, tokens) = exchange(&fake, &code, VERIFIER).await;
        let refresh_token = tokens["refresh_token"].as_str().unwrap();
        let response = http()
            .post(fake.revocation_url())
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[
                ("token", refresh_token),
                ("token_type_hint", "refresh_token"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(refresh(&fake, refresh_token).await.0, 400);
        assert_eq!(api.get("Organisation", &[]).await.0, 403);

        // No tenant header at all.
        let response = http()
            .get(format!("{}/api.xro/2.0/Organisation", fake.api_base()))
            .bearer_auth(&both.token)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
    }

    #[tokio::test]
    async fn accounting_calls_need_a_token_a_scope_and_json() {
        let fake = FakeXero::start().await;
        let api = connect(&fake).await;
        let (status, body) = api.get("Organisation", &[]).await;
        assert_eq!(status, 200);
        assert_eq!(body["Status"], "OK");
        assert!(body["DateTimeUTC"].as_str().unwrap().starts_with("/Date("));
        let organisation = &body["Organisations"][0];
        assert_eq!(organisation["Name"], "Fake Ltd");
        assert_eq!(organisation["BaseCurrency"], "GBP");

        // No token, a bad token: the older lowercase problem.
        let url = format!("{}/api.xro/2.0/Invoices", fake.api_base());
        let response = http()
            .get(&url)
            .header("xero-tenant-id", TENANT_ID)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        let (_, body) = status_json(response).await;
        assert_eq!(body["detail"], "AuthenticationUnsuccessful");
        let bad = Api {
            fake: &fake,
            token: "nonsense".into(),
            tenant: TENANT_ID.into(),
        };
        assert_eq!(bad.get("Invoices", &[]).await.0, 401);

        // Unknown paths and ids: plain-text 404.
        let response = api
            .request(reqwest::Method::GET, "Nothing")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        assert!(response.headers().contains_key("x-minlimit-remaining"));
        assert_eq!(response.text().await.unwrap(), NOT_FOUND_TEXT);
        let (status, body) = api.get(&format!("Invoices/{}", Uuid::new_v4()), &[]).await;
        assert_eq!((status, body), (404, json!(NOT_FOUND_TEXT)));

        // Without Accept: application/json, XML.
        let response = http()
            .get(&url)
            .bearer_auth(&api.token)
            .header("xero-tenant-id", TENANT_ID)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 406);
        assert!(response.text().await.unwrap().starts_with("<ApiException>"));

        // A grant without a settings scope cannot read the organisation.
        let narrow = connect_with(
            &fake,
            "offline_access accounting.transactions accounting.contacts",
        )
        .await;
        assert_eq!(narrow.get("Organisation", &[]).await.0, 403);
        assert_eq!(narrow.get("Invoices", &[]).await.0, 200);

        // Short-lived tokens expire by the clock.
        fake.set_access_token_lifetime(0);
        let short = connect(&fake).await;
        assert_eq!(short.get("Organisation", &[]).await.0, 401);

        // Expired: the capitalised problem with TokenExpired.
        fake.expire_access_tokens();
        let response = api
            .request(reqwest::Method::GET, "Invoices")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers().contains_key("xero-correlation-id"));
        let (_, body) = status_json(response).await;
        assert_eq!(body["Title"], "Unauthorized");
        assert!(
            body["Detail"]
                .as_str()
                .unwrap()
                .starts_with("TokenExpired: token expired at ")
        );
    }

    #[tokio::test]
    async fn contacts_are_unique_and_found_with_where() {
        let fake = FakeXero::start().await;
        let api = connect(&fake).await;
        let body = json!({ "Contacts": [
            { "Name": "O'Brien & Sons", "ContactNumber": "C-1" },
            { "Name": "Müller GmbH", "EmailAddress": "info@mueller.example" },
            { "Name": "The \"Best\" Ltd" },
        ] });
        let (status, created) = api.put("Contacts", &[], &body).await;
        assert_eq!(status, 200, "{created}");
        assert_eq!(created["Contacts"][0]["HasValidationErrors"], false);
        let obrien = created["Contacts"][0]["ContactID"]
            .as_str()
            .unwrap()
            .to_string();
        let muller = created["Contacts"][1]["ContactID"]
            .as_str()
            .unwrap()
            .to_string();
        let best = created["Contacts"][2]["ContactID"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(is_uuid(&obrien));

        let (status, body) = api
            .get("Contacts", &[("where", r#"Name=="O'Brien & Sons""#)])
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["Contacts"].as_array().unwrap().len(), 1);
        assert_eq!(body["Contacts"][0]["ContactID"], obrien.as_str());
        let (_, body) = api
            .get("Contacts", &[("where", r#"name == "müller gmbh""#)])
            .await;
        assert_eq!(body["Contacts"][0]["ContactID"], muller.as_str());
        let (_, body) = api
            .get("Contacts", &[("where", r#"ContactNumber=="C-1""#)])
            .await;
        assert_eq!(body["Contacts"][0]["ContactID"], obrien.as_str());
        let (_, body) = api
            .get("Contacts", &[("where", r#"Name=="The ""Best"" Ltd""#)])
            .await;
        assert_eq!(body["Contacts"][0]["ContactID"], best.as_str());
        let (_, body) = api.get("Contacts", &[("where", r#"Name=="Nobody""#)]).await;
        assert_eq!(body["Contacts"], json!([]));

        let (status, body) = api
            .get("Contacts", &[("where", r#"Name=="The \"Best\" Ltd""#)])
            .await;
        assert_eq!((status, body["ErrorNumber"].as_i64()), (400, Some(16)));
        assert_eq!(body["Type"], "QueryParseException");
        let (_, body) = api.get("Contacts", &[("where", r#"Name=="O'Brien"#)]).await;
        assert_eq!(body["Message"], "Unterminated string literal");
        let (_, body) = api.get("Contacts", &[("where", r#"Nmae=="x""#)]).await;
        assert_eq!(
            body["Message"],
            "No property or field 'Nmae' exists in type 'Contact'"
        );

        // A duplicate name rejects the request (summarizeErrors defaults to true) ...
        let dup = json!({ "Contacts": [{ "Name": "o'brien & sons" }, { "Name": "New Co" }] });
        let (status, body) = api.put("Contacts", &[], &dup).await;
        assert_eq!(status, 400);
        assert_eq!(body["Type"], "ValidationException");
        assert_eq!(body["Elements"].as_array().unwrap().len(), 1);
        assert!(first_error(&body).contains("is already assigned to another contact"));
        assert_eq!(fake.contacts(TENANT_ID).len(), 3);
        // ... or only the element, with summarizeErrors=false.
        let (status, body) = api
            .put("Contacts", &[("summarizeErrors", "false")], &dup)
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["Contacts"][0]["HasValidationErrors"], true);
        assert_eq!(body["Contacts"][1]["HasValidationErrors"], false);
        assert_eq!(fake.contacts(TENANT_ID).len(), 4);

        let (status, body) = api
            .put(
                "Contacts",
                &[],
                &json!({ "Contacts": [{ "EmailAddress": "a@b.c" }] }),
            )
            .await;
        assert_eq!(status, 400);
        assert_eq!(first_error(&body), "The contact name must be specified.");

        // POST with a ContactID updates; GET by id or number.
        let rename = json!({ "Contacts": [{ "ContactID": muller, "Name": "Müller AG" }] });
        let (status, body) = api.post("Contacts", &[], &rename).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(fake.contacts(TENANT_ID).len(), 4);
        let (_, body) = api.get(&format!("Contacts/{muller}"), &[]).await;
        assert_eq!(body["Contacts"][0]["Name"], "Müller AG");
        assert_eq!(body["Contacts"][0]["EmailAddress"], "info@mueller.example");
        let (_, body) = api.get("Contacts/C-1", &[]).await;
        assert_eq!(body["Contacts"][0]["ContactID"], obrien.as_str());
        assert_eq!(api.get("Contacts/C-404", &[]).await.0, 404);
    }

    #[tokio::test]
    async fn invoices_are_created_replayed_updated_and_voided() {
        let fake = FakeXero::start().await;
        let api = connect(&fake).await;
        let contact = fake.add_contact(TENANT_ID, "Acme Ltd");
        let mut two_lines = json!([
            line("Pro plan", 2.0, 20.0, "200"),
            line("Hours", 1.5, 10.25, "260")
        ]);
        two_lines[0]["TaxType"] = json!("OUTPUT2");
        two_lines[1]["TaxType"] = json!("NONE");
        let body = json!({ "Invoices": [invoice(&contact, "INV-100", two_lines)] });

        let (status, first) = api
            .write_raw(reqwest::Method::PUT, "Invoices", &[], Some("k-1"), &body)
            .await;
        assert_eq!(status, 200, "{first}");
        let created: Value = serde_json::from_str(&first).unwrap();
        let inv = &created["Invoices"][0];
        assert_eq!(inv["StatusAttributeString"], "OK");
        assert_eq!(inv["HasErrors"], false);
        assert_eq!(inv["Status"], "AUTHORISED");
        assert_eq!(inv["DateString"], "2024-05-01T00:00:00");
        assert_eq!(inv["Date"], "/Date(1714521600000+0000)/");
        assert_eq!(inv["Contact"]["Name"], "Acme Ltd");
        assert_eq!(inv["LineItems"][1]["LineAmount"], json!(15.38));
        assert_eq!(inv["LineItems"][0]["TaxAmount"], json!(8.0));
        assert_eq!(
            (
                &inv["SubTotal"],
                &inv["TotalTax"],
                &inv["Total"],
                &inv["AmountDue"]
            ),
            (&json!(55.38), &json!(8.0), &json!(63.38), &json!(63.38))
        );
        let id = inv["InvoiceID"].as_str().unwrap().to_string();
        let first_line = inv["LineItems"][0]["LineItemID"]
            .as_str()
            .unwrap()
            .to_string();

        // Same key: the same bytes, nothing new. Same key, other body: 400.
        let (_, again) = api
            .write_raw(reqwest::Method::PUT, "Invoices", &[], Some("k-1"), &body)
            .await;
        assert_eq!(again, first);
        assert_eq!(fake.invoices(TENANT_ID).len(), 1);
        let mut other = body.clone();
        other["Invoices"][0]["Reference"] = json!("changed");
        let (status, text) = api
            .write_raw(reqwest::Method::PUT, "Invoices", &[], Some("k-1"), &other)
            .await;
        assert_eq!(status, 400);
        assert!(text.contains("is used with a different request"), "{text}");
        let put = fake
            .requests()
            .into_iter()
            .find(|r| r.method == "PUT" && r.path == "/api.xro/2.0/Invoices")
            .unwrap();
        assert_eq!(put.idempotency_key.as_deref(), Some("k-1"));
        assert_eq!(put.tenant.as_deref(), Some(TENANT_ID));
        assert!(put.body.contains("INV-100") && put.authorization && put.query.is_empty());

        // PUT never updates: the number is taken.
        let (status, body) = api.put("Invoices", &[], &body).await;
        assert_eq!((status, body["ErrorNumber"].as_i64()), (400, Some(10)));
        assert_eq!(first_error(&body), "Invoice # must be unique.");
        assert_eq!(body["Elements"][0]["HasErrors"], true);

        // POST Invoices/{id}: the line with its LineItemID is updated, the one left out is
        // deleted, the one without an id is new.
        let update = json!({ "Invoices": [{
            "Status": "AUTHORISED",
            "LineItems": [{ "LineItemID": first_line, "Quantity": 3 }, line("Setup", 1.0, 5.0, "200")],
        }] });
        let (status, body) = api.post(&format!("Invoices/{id}"), &[], &update).await;
        assert_eq!(status, 200, "{body}");
        let inv = &body["Invoices"][0];
        assert_eq!(inv["LineItems"].as_array().unwrap().len(), 2);
        assert_eq!(inv["LineItems"][0]["LineItemID"], first_line.as_str());
        assert_eq!(inv["LineItems"][0]["Description"], "Pro plan");
        assert_eq!(
            (&inv["SubTotal"], &inv["TotalTax"], &inv["Total"]),
            (&json!(65.0), &json!(13.0), &json!(78.0))
        );

        // POST Invoices with the InvoiceNumber updates too; lines are left alone.
        let by_number = json!({ "Invoices": [{ "Type": "ACCREC", "InvoiceNumber": "INV-100", "Reference": "R2" }] });
        let (status, body) = api.post("Invoices", &[], &by_number).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["Invoices"][0]["InvoiceID"], id.as_str());
        assert_eq!(body["Invoices"][0]["Total"], json!(78.0));
        assert_eq!(fake.invoices(TENANT_ID).len(), 1);

        // Lookups: the list has no lines unless paged.
        let (_, body) = api
            .get("Invoices", &[("InvoiceNumbers", "INV-100,INV-999")])
            .await;
        assert_eq!(body["Invoices"].as_array().unwrap().len(), 1);
        let get = fake
            .requests()
            .into_iter()
            .rfind(|r| r.method == "GET")
            .unwrap();
        assert_eq!(get.query, "InvoiceNumbers=INV-100%2CINV-999");
        assert_eq!(body["Invoices"][0]["Reference"], "R2");
        assert_eq!(body["Invoices"][0]["LineItems"], json!([]));
        let (_, body) = api
            .get("Invoices", &[("InvoiceNumbers", "INV-100"), ("page", "1")])
            .await;
        assert_eq!(
            body["Invoices"][0]["LineItems"].as_array().unwrap().len(),
            2
        );
        assert_eq!(body["pagination"]["itemCount"], 1);
        let (_, body) = api.get("Invoices/INV-100", &[]).await;
        assert_eq!(body["Invoices"][0]["InvoiceID"], id.as_str());
        let (_, body) = api
            .get(
                "Invoices",
                &[(
                    "where",
                    r#"Contact.ContactID==Guid("CONTACT") AND Status=="AUTHORISED""#
                        .replace("CONTACT", &contact)
                        .as_str(),
                )],
            )
            .await;
        assert_eq!(body["Invoices"].as_array().unwrap().len(), 1, "{body}");

        // Void; a voided invoice can no longer be changed.
        let void = json!({ "Invoices": [{ "Status": "VOIDED" }] });
        let (status, body) = api.post(&format!("Invoices/{id}"), &[], &void).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["Invoices"][0]["Status"], "VOIDED");
        assert_eq!(body["Invoices"][0]["AmountDue"], json!(0.0));
        let (status, body) = api.post(&format!("Invoices/{id}"), &[], &by_number).await;
        assert_eq!(status, 400);
        assert_eq!(
            first_error(&body),
            "Invoice not of valid status for modification"
        );

        // A DRAFT is deleted, not voided; numbers are generated when missing.
        let mut draft = invoice(&contact, "", json!([line("Draft", 1.0, 1.0, "200")]));
        draft["Status"] = json!("DRAFT");
        draft.as_object_mut().unwrap().remove("InvoiceNumber");
        let (status, body) = api
            .put("Invoices", &[], &json!({ "Invoices": [draft] }))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["Invoices"][0]["InvoiceNumber"], "INV-0001");
        let draft_id = body["Invoices"][0]["InvoiceID"]
            .as_str()
            .unwrap()
            .to_string();
        let (status, body) = api.post(&format!("Invoices/{draft_id}"), &[], &void).await;
        assert_eq!(status, 400, "{body}");
        let delete = json!({ "Invoices": [{ "Status": "DELETED" }] });
        let (status, body) = api
            .post(&format!("Invoices/{draft_id}"), &[], &delete)
            .await;
        assert_eq!(
            (status, &body["Invoices"][0]["Status"]),
            (200, &json!("DELETED"))
        );

        // A payment locks an invoice.
        let body = json!({ "Invoices": [invoice(&contact, "INV-200", json!([line("A", 1.0, 100.0, "200")]))] });
        let (_, body) = api.put("Invoices", &[], &body).await;
        let paid_id = body["Invoices"][0]["InvoiceID"]
            .as_str()
            .unwrap()
            .to_string();
        fake.add_payment(TENANT_ID, &paid_id, "50.00");
        let change = json!({ "Invoices": [{ "Reference": "late change" }] });
        let (status, body) = api.post(&format!("Invoices/{paid_id}"), &[], &change).await;
        assert_eq!(status, 400);
        assert_eq!(first_error(&body), PAYMENT_ALLOCATED);
        let stored = &fake.invoices(TENANT_ID)[2];
        assert_eq!(
            (&stored["AmountPaid"], &stored["AmountDue"]),
            (&json!(50.0), &json!(70.0))
        );
        assert_eq!(
            api.post(&format!("Invoices/{}", Uuid::new_v4()), &[], &change)
                .await
                .0,
            404
        );
    }

    #[tokio::test]
    async fn multi_invoice_writes_and_summarize_errors() {
        let fake = FakeXero::start().await;
        let api = connect(&fake).await;
        let contact = fake.add_contact(TENANT_ID, "Acme Ltd");
        let mut bad_line = line("x", 1.0, 1.0, "999");
        bad_line["Description"] = json!("");
        let batch = |prefix: &str| {
            json!({ "Invoices": [
                invoice(&contact, &format!("{prefix}-1"), json!([line("A", 1.0, 10.0, "200")])),
                invoice(&contact, &format!("{prefix}-2"), json!([bad_line.clone()])),
                invoice(&contact, &format!("{prefix}-3"), json!([line("C", 3.0, 0.5, "260")])),
            ] })
        };

        // summarizeErrors=false: 200, the good ones stored, the bad one carries its errors.
        let (status, body) = api
            .post("Invoices", &[("summarizeErrors", "false")], &batch("A"))
            .await;
        assert_eq!(status, 200, "{body}");
        let results = body["Invoices"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        assert_eq!(results[0]["HasErrors"], false);
        assert_eq!(results[1]["HasErrors"], true);
        assert_eq!(results[1]["StatusAttributeString"], "ERROR");
        assert_eq!(results[1]["InvoiceID"], ZERO_GUID);
        let messages: Vec<&str> = results[1]["ValidationErrors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Message"].as_str().unwrap())
            .collect();
        assert_eq!(
            messages,
            [
                "Description needs to be at least 1 char long",
                "Account code '999' is not a valid code for this document."
            ]
        );
        assert_eq!(results[2]["Total"], json!(1.8));
        assert_eq!(fake.invoices(TENANT_ID).len(), 2);

        // The default: one bad element rejects the request.
        let (status, body) = api.post("Invoices", &[], &batch("B")).await;
        assert_eq!(status, 400);
        assert_eq!(body["Message"], "A validation exception occurred");
        assert_eq!(body["Elements"].as_array().unwrap().len(), 1);
        assert_eq!(fake.invoices(TENANT_ID).len(), 2);

        // Element rules.
        rejects(
            &api,
            &contact,
            |i| i["LineItems"][0]["LineAmount"] = json!(25),
            "The line total 25.00 does not match the expected line total 20.00",
        )
        .await;
        rejects(
            &api,
            &contact,
            |i| {
                i.as_object_mut().unwrap().remove("DueDate");
            },
            "Due Date must be specified.",
        )
        .await;
        rejects(
            &api,
            &contact,
            |i| i["Contact"]["ContactID"] = json!(ZERO_GUID),
            "The contact with ContactID 00000000-0000-0000-0000-000000000000 could not be found.",
        )
        .await;
        rejects(
            &api,
            &contact,
            |i| i["LineItems"][0]["TaxType"] = json!("OUTPUT9"),
            "The TaxType code OUTPUT9 does not exist or cannot be used for this type of transaction.",
        )
        .await;
        rejects(
            &api,
            &contact,
            |i| i["CurrencyCode"] = json!("USD"),
            "Organisation is not subscribed to currency USD",
        )
        .await;

        // Type errors reject the whole request; so does a body without Invoices.
        let mut typed = invoice(&contact, "D-1", json!([line("A", 1.0, 1.0, "200")]));
        typed["LineItems"][0]["Quantity"] = json!("1");
        let (status, body) = api
            .put("Invoices", &[], &json!({ "Invoices": [typed] }))
            .await;
        assert_eq!((status, body["ErrorNumber"].as_i64()), (400, Some(14)));
        assert_eq!(body["Type"], "PostDataInvalidException");
        let (status, body) = api.put("Invoices", &[], &json!({})).await;
        assert_eq!(
            (status, &body["Type"]),
            (400, &json!("NoDataProcessedException"))
        );

        // Inclusive amounts and discounts; unitdp=4 keeps four places.
        let mut inclusive = invoice(
            &contact,
            "E-1",
            json!([
                line("Gross", 1.0, 120.0, "200"),
                line("Tiny", 1000.0, 0.0125, "200")
            ]),
        );
        inclusive["LineAmountTypes"] = json!("Inclusive");
        inclusive["LineItems"][0]["DiscountRate"] = json!(10);
        let (status, body) = api
            .put(
                "Invoices",
                &[("unitdp", "4")],
                &json!({ "Invoices": [inclusive] }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let inv = &body["Invoices"][0];
        assert_eq!(inv["LineItems"][0]["LineAmount"], json!(108.0));
        assert_eq!(inv["LineItems"][1]["UnitAmount"], json!(0.0125));
        assert_eq!(inv["LineItems"][1]["LineAmount"], json!(12.5));
        // Tax per line: 108 / 6 = 18.00, 12.5 / 6 = 2.0833 -> 2.08.
        assert_eq!(
            (&inv["Total"], &inv["TotalTax"], &inv["SubTotal"]),
            (&json!(120.5), &json!(20.08), &json!(100.42))
        );
        assert_eq!(inv["TotalDiscount"], json!(12.0));
    }

    #[tokio::test]
    async fn a_lost_response_is_committed_and_replayed_by_idempotency_key() {
        let fake = FakeXero::start().await;
        let api = connect(&fake).await;
        let contact = fake.add_contact(TENANT_ID, "Acme Ltd");
        let body = json!({ "Invoices": [invoice(&contact, "INV-1", json!([line("A", 1.0, 10.0, "200")]))] });
        fake.fail_after_commit(1);
        let (status, text) = api
            .write_raw(reqwest::Method::POST, "Invoices", &[], Some("run-1"), &body)
            .await;
        assert_eq!(status, 500);
        assert!(text.contains("An error occurred in Xero"), "{text}");
        assert_eq!(fake.invoices(TENANT_ID).len(), 1);
        let (status, text) = api
            .write_raw(reqwest::Method::POST, "Invoices", &[], Some("run-1"), &body)
            .await;
        assert_eq!(status, 200);
        let replay: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            replay["Invoices"][0]["InvoiceID"],
            fake.invoices(TENANT_ID)[0]["InvoiceID"]
        );
        assert_eq!(fake.invoices(TENANT_ID).len(), 1);

        // Outside the window the key is forgotten: a POST by number updates, not duplicates.
        fake.set_idempotency_window(Duration::ZERO);
        let (status, _) = api
            .write_raw(reqwest::Method::POST, "Invoices", &[], Some("run-1"), &body)
            .await;
        assert_eq!(status, 200);
        assert_eq!(fake.invoices(TENANT_ID).len(), 1);
        let (status, _) = api
            .write_raw(
                reqwest::Method::PUT,
                "Invoices",
                &[],
                Some(&"k".repeat(129)),
                &body,
            )
            .await;
        assert_eq!(status, 400);
    }

    #[tokio::test]
    async fn rate_limits_answer_429_with_xero_headers() {
        let fake = FakeXero::start().await;
        fake.set_minute_limit(3);
        let api = connect(&fake).await;
        let send = || api.request(reqwest::Method::GET, "Organisation").send();
        for remaining in ["2", "1", "0"] {
            let response = send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["x-minlimit-remaining"], remaining);
            assert!(response.headers().contains_key("x-daylimit-remaining"));
            assert!(response.headers().contains_key("x-appminlimit-remaining"));
        }
        let response = send().await.unwrap();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["x-rate-limit-problem"], "minute");
        let wait: u64 = response.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "{wait}");

        let fake = FakeXero::start().await;
        let api = connect(&fake).await;
        let send = || api.request(reqwest::Method::GET, "Organisation").send();
        fake.throttle_next(1, "day");
        let response = send().await.unwrap();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()["x-rate-limit-problem"], "day");
        assert_eq!(response.headers()["x-minlimit-remaining"], "60");
        fake.outage_next(1);
        assert_eq!(send().await.unwrap().status(), 503);
        fake.set_day_limit(1);
        assert_eq!(send().await.unwrap().status(), 200);
        let response = send().await.unwrap();
        assert_eq!(response.headers()["x-rate-limit-problem"], "day");
        fake.set_day_limit(5000);

        // Six at once: five are served, the sixth is refused as concurrent.
        fake.set_delay(Duration::from_millis(300));
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..6 {
            calls.spawn(api.request(reqwest::Method::GET, "Organisation").send());
        }
        let mut statuses = Vec::new();
        let mut problems = Vec::new();
        for response in calls.join_all().await {
            let response = response.unwrap();
            statuses.push(response.status().as_u16());
            if let Some(p) = response.headers().get("x-rate-limit-problem") {
                problems.push(p.to_str().unwrap().to_string());
            }
        }
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
        assert_eq!(problems, ["concurrent"]);
        assert_eq!(fake.max_concurrent_seen(TENANT_ID), 6);
        assert!(fake.requests().iter().all(|r| r.status != 0));
    }

    #[tokio::test]
    async fn items_currencies_accounts_and_tax_rates_are_settings() {
        let fake = FakeXero::start().await;
        let api = connect(&fake).await;

        // Items: the defaults, in the spec's shape, 2 dp unless unitdp=4.
        let (status, body) = api.get("Items", &[]).await;
        assert_eq!(status, 200, "{body}");
        let items = body["Items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        let pro = &items[0];
        assert!(is_uuid(pro["ItemID"].as_str().unwrap()));
        assert_eq!(
            (&pro["Code"], &pro["Name"], &pro["Description"]),
            (
                &json!("PRO-PLAN"),
                &json!("Pro plan"),
                &json!("Pro plan, one month")
            )
        );
        assert_eq!(
            pro["SalesDetails"],
            json!({ "UnitPrice": 20.0, "AccountCode": "200", "TaxType": "OUTPUT2" })
        );
        assert_eq!(pro["PurchaseDetails"], json!({}));
        assert_eq!(
            (
                &pro["IsSold"],
                &pro["IsPurchased"],
                &pro["IsTrackedAsInventory"]
            ),
            (&json!(true), &json!(false), &json!(false))
        );
        assert!(
            pro["UpdatedDateUTC"]
                .as_str()
                .unwrap()
                .starts_with("/Date(")
        );
        let (_, body) = api.get("Items", &[("unitdp", "4")]).await;
        assert_eq!(body["Items"][1]["SalesDetails"]["UnitPrice"], json!(10.25));
        let id = fake.add_item(TENANT_ID, "SUPPORT", "Support");
        assert_eq!(fake.items(TENANT_ID).len(), 3);
        let (_, body) = api.get("Items", &[("where", r#"Code=="support""#)]).await;
        assert_eq!(body["Items"].as_array().unwrap().len(), 1);
        assert_eq!(body["Items"][0]["ItemID"], id.as_str());
        assert_eq!(
            body["Items"][0]["SalesDetails"],
            json!({ "AccountCode": "200", "TaxType": "OUTPUT2" })
        );
        let (_, body) = api.get("Items", &[("where", "IsSold==true")]).await;
        assert_eq!(body["Items"].as_array().unwrap().len(), 3);
        let (status, body) = api.get("Items", &[("where", r#"Nope=="x""#)]).await;
        assert_eq!(
            (status, &body["Type"]),
            (400, &json!("QueryParseException"))
        );
        let (status, body) = api.get(&format!("Items/{id}"), &[]).await;
        assert_eq!(
            (status, &body["Items"][0]["Code"]),
            (200, &json!("SUPPORT"))
        );
        let (_, body) = api.get("Items/HOURS", &[]).await;
        assert_eq!(body["Items"][0]["Name"], "Consulting hours");
        assert_eq!(api.get("Items/NOPE", &[]).await.0, 404);

        // Currencies: the base currency, then the ones added.
        let (status, body) = api.get("Currencies", &[]).await;
        assert_eq!(status, 200);
        assert_eq!(
            body["Currencies"],
            json!([{ "Code": "GBP", "Description": "British Pound" }])
        );
        fake.add_currency(TENANT_ID, "usd");
        fake.add_currency(TENANT_ID, "USD");
        let (_, body) = api.get("Currencies", &[]).await;
        assert_eq!(
            body["Currencies"],
            json!([
                { "Code": "GBP", "Description": "British Pound" },
                { "Code": "USD", "Description": "United States Dollar" },
            ])
        );
        let (_, body) = api.get("Currencies", &[("where", r#"Code=="USD""#)]).await;
        assert_eq!(body["Currencies"].as_array().unwrap().len(), 1);

        // Accounts and tax rates in Xero's shapes, filtered by `where`.
        let (_, body) = api.get("Accounts", &[]).await;
        let sales = &body["Accounts"][0];
        for field in [
            "AccountID",
            "Code",
            "Name",
            "Type",
            "Status",
            "TaxType",
            "Description",
            "Class",
            "EnablePaymentsToAccount",
            "UpdatedDateUTC",
        ] {
            assert!(!sales[field].is_null(), "{field} in {sales}");
        }
        assert_eq!(
            (&sales["Code"], &sales["Type"], &sales["TaxType"]),
            (&json!("200"), &json!("REVENUE"), &json!("OUTPUT2"))
        );
        let (_, body) = api.get("Accounts", &[("where", r#"Code=="260""#)]).await;
        assert_eq!(body["Accounts"].as_array().unwrap().len(), 1);
        let (_, body) = api.get("TaxRates", &[]).await;
        let rate = &body["TaxRates"][0];
        assert_eq!(
            (
                &rate["Name"],
                &rate["TaxType"],
                &rate["EffectiveRate"],
                &rate["DisplayTaxRate"],
                &rate["Status"],
                &rate["CanApplyToRevenue"],
                &rate["ReportTaxType"],
            ),
            (
                &json!("20% (VAT on Income)"),
                &json!("OUTPUT2"),
                &json!(20.0),
                &json!(20.0),
                &json!("ACTIVE"),
                &json!(true),
                &json!("OUTPUT"),
            )
        );
        assert_eq!(rate["TaxComponents"][0]["Rate"], json!(20.0));
        let (_, body) = api
            .get("TaxRates", &[("where", r#"TaxType=="NONE""#)])
            .await;
        assert_eq!(body["TaxRates"][0]["Name"], "No VAT");

        // All of these need a settings scope.
        let narrow = connect_with(
            &fake,
            "offline_access accounting.invoices accounting.contacts",
        )
        .await;
        for path in ["Items", "Currencies", "Accounts", "TaxRates"] {
            let response = narrow
                .request(reqwest::Method::GET, path)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 403, "{path}");
            assert!(response.headers().contains_key("x-minlimit-remaining"));
        }
        let read_only = connect_with(
            &fake,
            "offline_access accounting.invoices accounting.contacts accounting.settings.read",
        )
        .await;
        assert_eq!(read_only.get("Items", &[]).await.0, 200);
    }

    #[tokio::test]
    async fn invoices_take_subscribed_currencies_and_item_codes() {
        let fake = FakeXero::start().await;
        let api = connect(&fake).await;
        let contact = fake.add_contact(TENANT_ID, "Acme Ltd");
        let one = |number: &str| invoice(&contact, number, json!([line("A", 1.0, 10.0, "200")]));

        // Not subscribed: refused, nothing stored; subscribed: stored in that currency.
        let mut usd = one("USD-1");
        usd["CurrencyCode"] = json!("USD");
        let (status, body) = api
            .put("Invoices", &[], &json!({ "Invoices": [usd.clone()] }))
            .await;
        assert_eq!(status, 400);
        assert_eq!(
            first_error(&body),
            "Organisation is not subscribed to currency USD"
        );
        fake.add_currency(TENANT_ID, "USD");
        usd["CurrencyRate"] = json!(1.25);
        let (status, body) = api
            .put("Invoices", &[], &json!({ "Invoices": [usd] }))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["Invoices"][0]["CurrencyCode"], "USD");
        assert_eq!(body["Invoices"][0]["CurrencyRate"], json!(1.25));
        let mut gbp = one("GBP-1");
        gbp["CurrencyCode"] = json!("gbp");
        let (status, body) = api
            .put("Invoices", &[], &json!({ "Invoices": [gbp] }))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (
                &body["Invoices"][0]["CurrencyCode"],
                &body["Invoices"][0]["CurrencyRate"]
            ),
            (&json!("GBP"), &json!(1.0))
        );
        let mut eur = one("EUR-1");
        eur["CurrencyCode"] = json!("EUR");
        let (_, body) = api
            .put(
                "Invoices",
                &[("summarizeErrors", "false")],
                &json!({ "Invoices": [eur] }),
            )
            .await;
        assert_eq!(
            body["Invoices"][0]["ValidationErrors"][0]["Message"],
            "Organisation is not subscribed to currency EUR"
        );
        assert_eq!(fake.invoices(TENANT_ID).len(), 2);

        // A line naming an item takes what it leaves out from the item; an unknown code
        // is an error.
        let by_item = json!({ "ItemCode": "hours", "Quantity": 2 });
        let (status, body) = api
            .put(
                "Invoices",
                &[],
                &json!({ "Invoices": [invoice(&contact, "ITEM-1", json!([by_item]))] }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let stored = &body["Invoices"][0]["LineItems"][0];
        assert_eq!(
            (
                &stored["ItemCode"],
                &stored["Description"],
                &stored["UnitAmount"],
                &stored["AccountCode"],
                &stored["LineAmount"],
            ),
            (
                &json!("HOURS"),
                &json!("Consulting, per hour"),
                &json!(10.25),
                &json!("260"),
                &json!(20.5),
            )
        );
        let mut unknown = line("A", 1.0, 1.0, "200");
        unknown["ItemCode"] = json!("NOPE");
        let (status, body) = api
            .put(
                "Invoices",
                &[],
                &json!({ "Invoices": [invoice(&contact, "ITEM-2", json!([unknown]))] }),
            )
            .await;
        assert_eq!(status, 400);
        assert_eq!(first_error(&body), "Item code 'NOPE' is not valid.");
    }

    #[tokio::test]
    async fn bulk_contacts_fail_per_element_and_are_found_by_contact_number() {
        let fake = FakeXero::start().await;
        let api = connect(&fake).await;
        fake.add_contact(TENANT_ID, "Existing Ltd");
        let archived = json!({ "Contacts": [{ "Name": "Old Ltd", "ContactNumber": "cust-old" }] });
        let (_, body) = api.put("Contacts", &[], &archived).await;
        let old_id = body["Contacts"][0]["ContactID"]
            .as_str()
            .unwrap()
            .to_string();
        let archive = json!({ "Contacts": [{ "ContactID": old_id, "ContactStatus": "ARCHIVED" }] });
        assert_eq!(api.post("Contacts", &[], &archive).await.0, 200);

        // 50 new ones, plus: a name taken by an existing contact, a name repeated within
        // the batch, and a ContactNumber held by an archived contact.
        let mut elements: Vec<Value> = (0..50)
            .map(|i| json!({ "Name": format!("Customer {i}"), "ContactNumber": format!("cust-{i}") }))
            .collect();
        elements.push(json!({ "Name": "existing ltd", "ContactNumber": "cust-x1" }));
        elements.push(json!({ "Name": "Customer 7", "ContactNumber": "cust-x2" }));
        elements.push(json!({ "Name": "Someone New", "ContactNumber": "CUST-OLD" }));
        let body = json!({ "Contacts": elements });
        let (status, body) = api
            .put("Contacts", &[("summarizeErrors", "false")], &body)
            .await;
        assert_eq!(status, 200, "{body}");
        let results = body["Contacts"].as_array().unwrap();
        assert_eq!(results.len(), 53);
        for ok in &results[..50] {
            assert_eq!(ok["HasValidationErrors"], false, "{ok}");
            assert_eq!(ok["StatusAttributeString"], "OK");
            assert!(is_uuid(ok["ContactID"].as_str().unwrap()));
            assert_ne!(ok["ContactID"], ZERO_GUID);
        }
        let failed: Vec<(&Value, &Value, &Value)> = results[50..]
            .iter()
            .map(|f| {
                (
                    &f["HasValidationErrors"],
                    &f["ContactID"],
                    &f["ValidationErrors"][0]["Message"],
                )
            })
            .collect();
        assert_eq!(
            failed,
            [
                (
                    &json!(true),
                    &json!(ZERO_GUID),
                    &json!(
                        "The contact name existing ltd is already assigned to another contact. The contact name must be unique across all active contacts."
                    )
                ),
                (
                    &json!(true),
                    &json!(ZERO_GUID),
                    &json!(
                        "The contact name Customer 7 is already assigned to another contact. The contact name must be unique across all active contacts."
                    )
                ),
                (
                    &json!(true),
                    &json!(ZERO_GUID),
                    &json!("The contact number CUST-OLD is already assigned to another contact.")
                ),
            ]
        );
        assert_eq!(results[52]["StatusAttributeString"], "ERROR");
        assert_eq!(fake.contacts(TENANT_ID).len(), 52);

        // Many at once by ContactNumber: OR'ed equalities, with paging.
        let wanted = ["cust-3", "CUST-17", "cust-42", "cust-nope"];
        let filter = wanted
            .iter()
            .map(|n| format!("ContactNumber==\"{n}\""))
            .collect::<Vec<_>>()
            .join(" OR ");
        let (status, body) = api
            .get("Contacts", &[("where", &filter), ("page", "1")])
            .await;
        assert_eq!(status, 200, "{body}");
        let mut numbers: Vec<&str> = body["Contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["ContactNumber"].as_str().unwrap())
            .collect();
        numbers.sort_unstable();
        assert_eq!(numbers, ["cust-17", "cust-3", "cust-42"]);
        assert_eq!(
            body["pagination"],
            json!({ "page": 1, "pageSize": 100, "pageCount": 1, "itemCount": 3 })
        );
        // `||` works too; an archived contact needs includeArchived.
        let (_, body) = api
            .get(
                "Contacts",
                &[(
                    "where",
                    r#"ContactNumber=="cust-old" || ContactNumber=="cust-0""#,
                )],
            )
            .await;
        assert_eq!(body["Contacts"].as_array().unwrap().len(), 1);
        let (_, body) = api
            .get(
                "Contacts",
                &[
                    (
                        "where",
                        r#"ContactNumber=="cust-old" || ContactNumber=="cust-0""#,
                    ),
                    ("includeArchived", "true"),
                ],
            )
            .await;
        assert_eq!(body["Contacts"].as_array().unwrap().len(), 2);

        // pageSize is clamped to 1..=1000.
        let (_, body) = api
            .get("Contacts", &[("page", "2"), ("pageSize", "20")])
            .await;
        assert_eq!(body["Contacts"].as_array().unwrap().len(), 20);
        assert_eq!(
            body["pagination"],
            json!({ "page": 2, "pageSize": 20, "pageCount": 3, "itemCount": 51 })
        );
        let (_, body) = api
            .get("Contacts", &[("page", "1"), ("pageSize", "5000")])
            .await;
        assert_eq!(body["pagination"]["pageSize"], 1000);
        let (_, body) = api
            .get("Contacts", &[("page", "1"), ("pageSize", "0")])
            .await;
        assert_eq!(body["Contacts"].as_array().unwrap().len(), 1);

        // A query string longer than 2048 characters: the plain-text 404.
        let many: Vec<String> = (0..60)
            .map(|i| format!("ContactNumber==\"cust-{i}\""))
            .collect();
        let long = many.join(" OR ");
        let response = api
            .request(reqwest::Method::GET, "Contacts")
            .query(&[("where", &long)])
            .send()
            .await
            .unwrap();
        assert!(response.url().query().unwrap().len() > MAX_QUERY_LEN);
        assert_eq!(response.status(), 404);
        assert!(response.headers().contains_key("x-minlimit-remaining"));
        assert_eq!(response.text().await.unwrap(), NOT_FOUND_TEXT);
        let (status, body) = api
            .get("Contacts", &[("where", &many[..20].join(" OR "))])
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["Contacts"].as_array().unwrap().len(), 20);
    }

    #[tokio::test]
    async fn invoice_numbers_find_sales_invoices_and_bills() {
        let fake = FakeXero::start().await;
        let api = connect(&fake).await;
        let contact = fake.add_contact(TENANT_ID, "Acme Ltd");
        let supplier = fake.add_contact(TENANT_ID, "Supplier Ltd");
        let batch: Vec<Value> = ["INV-1", "INV-2", "INV-3", "INV-4"]
            .iter()
            .map(|n| invoice(&contact, n, json!([line("A", 1.0, 10.0, "200")])))
            .collect();
        let (status, _) = api
            .put("Invoices", &[], &json!({ "Invoices": batch }))
            .await;
        assert_eq!(status, 200);
        let bill = fake.add_bill(TENANT_ID, &supplier, "INV-2", "99.50");
        fake.add_bill(TENANT_ID, &supplier, "BILL-9", "5");

        let (status, body) = api
            .get(
                "Invoices",
                &[("InvoiceNumbers", "INV-1,inv-2,INV-4,INV-404")],
            )
            .await;
        assert_eq!(status, 200);
        let mut found: Vec<(&str, &str)> = body["Invoices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["InvoiceNumber"].as_str().unwrap(),
                    i["Type"].as_str().unwrap(),
                )
            })
            .collect();
        found.sort_unstable();
        assert_eq!(
            found,
            [
                ("INV-1", "ACCREC"),
                ("INV-2", "ACCPAY"),
                ("INV-2", "ACCREC"),
                ("INV-4", "ACCREC")
            ]
        );
        let the_bill = body["Invoices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["Type"] == "ACCPAY")
            .unwrap();
        assert_eq!(the_bill["InvoiceID"], bill.as_str());
        assert_eq!(the_bill["Total"], json!(99.5));
        assert_eq!(the_bill["Contact"]["Name"], "Supplier Ltd");
        // Quoted items and spaces; the key is case-insensitive; with paging, lines too.
        let (_, body) = api
            .get(
                "Invoices",
                &[("invoicenumbers", r#""INV-3", "BILL-9""#), ("page", "1")],
            )
            .await;
        assert_eq!(body["Invoices"].as_array().unwrap().len(), 2);
        assert_eq!(
            body["Invoices"][0]["LineItems"].as_array().unwrap().len(),
            1
        );
        // Bills don't make a sales invoice number unique-violating, nor the reverse.
        let (status, body) = api
            .put(
                "Invoices",
                &[],
                &json!({ "Invoices": [invoice(&contact, "BILL-9", json!([line("A", 1.0, 1.0, "200")]))] }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    #[tokio::test]
    async fn minute_limit_is_a_rolling_window_per_organisation() {
        let fake = FakeXero::start().await;
        fake.add_tenant(OTHER, "Other Ltd");
        fake.authorize_tenants(&[TENANT_ID, OTHER]);
        fake.set_minute_limit(3);
        let api = connect(&fake).await;
        let other = Api {
            fake: &fake,
            token: api.token.clone(),
            tenant: OTHER.to_string(),
        };
        let remaining = |r: &reqwest::Response| {
            let h = |n: &str| r.headers()[n].to_str().unwrap().to_string();
            (
                h("x-minlimit-remaining"),
                h("x-daylimit-remaining"),
                h("x-appminlimit-remaining"),
            )
        };
        let send = |api: &Api<'_>| api.request(reqwest::Method::GET, "Organisation").send();

        // Nothing else uses the budget: three calls pass, none refused.
        for left in ["2", "1", "0"] {
            let response = send(&api).await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(remaining(&response).0, left);
        }
        assert_eq!(fake.rate_limited_count(), 0);
        assert_eq!(fake.calls_for(TENANT_ID), 3);
        // The other organisation has its own minute budget, the app minute is shared.
        let response = send(&other).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            remaining(&response),
            ("2".into(), "4999".into(), "9996".into())
        );

        // The fourth in the minute is refused, and counted as rate limited.
        let response = send(&api).await.unwrap();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["x-rate-limit-problem"], "minute");
        assert_eq!(remaining(&response).0, "0");
        assert_eq!(fake.rate_limited_count(), 1);
        assert_eq!(fake.calls_for(TENANT_ID), 3);
        // Injected throttles are not.
        fake.throttle_next(1, "minute");
        assert_eq!(send(&other).await.unwrap().status(), 429);
        assert_eq!(fake.rate_limited_count(), 1);

        // Rolling: a call 61 s ago has left the window, one 55 s ago has not.
        let (Some(old), Some(recent)) = (
            Instant::now().checked_sub(Duration::from_secs(61)),
            Instant::now().checked_sub(Duration::from_secs(55)),
        ) else {
            return;
        };
        fake.with_org(TENANT_ID, |o| {
            o.minute = VecDeque::from([old, old, recent]);
        });
        let response = send(&api).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(remaining(&response).0, "1");
        let response = send(&api).await.unwrap();
        assert_eq!(remaining(&response).0, "0");
        let response = send(&api).await.unwrap();
        assert_eq!(response.status(), 429);
        // Retry-After: until the call of 55 s ago leaves the window.
        let wait: u64 = response.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=5).contains(&wait), "{wait}");
    }

    #[tokio::test]
    async fn another_process_spends_the_organisations_budget() {
        let fake = FakeXero::start().await;
        let api = connect(&fake).await;
        let send = || api.request(reqwest::Method::GET, "Organisation").send();
        let response = send().await.unwrap();
        assert_eq!(response.headers()["x-minlimit-remaining"], "59");
        assert_eq!(response.headers()["x-daylimit-remaining"], "4999");

        fake.spend_minute_budget(TENANT_ID, 50);
        let response = send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-minlimit-remaining"], "8");
        assert_eq!(response.headers()["x-daylimit-remaining"], "4948");
        assert_eq!(response.headers()["x-appminlimit-remaining"], "9998");
        assert_eq!(fake.calls_for(TENANT_ID), 2);

        fake.spend_minute_budget(TENANT_ID, 8);
        let response = send().await.unwrap();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["x-rate-limit-problem"], "minute");
        assert_eq!(response.headers()["x-minlimit-remaining"], "0");
        let wait: u64 = response.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        assert_eq!(fake.rate_limited_count(), 1);
        assert_eq!(fake.calls_for(TENANT_ID), 2);

        // The day budget too.
        let fake = FakeXero::start().await;
        let api = connect(&fake).await;
        fake.set_day_limit(10);
        fake.spend_minute_budget(TENANT_ID, 10);
        let response = api
            .request(reqwest::Method::GET, "Organisation")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["x-rate-limit-problem"], "day");
        assert_eq!(response.headers()["x-daylimit-remaining"], "0");
        assert_eq!(response.headers()["x-minlimit-remaining"], "50");
        assert_eq!(fake.rate_limited_count(), 1);
    }

    #[tokio::test]
    async fn summary_only_and_high_volume_organisations() {
        let fake = FakeXero::start().await;
        let api = connect(&fake).await;
        let contact = fake.add_contact(TENANT_ID, "Acme Ltd");
        let one = invoice(&contact, "INV-1", json!([line("A", 1.0, 10.0, "200")]));
        let (_, body) = api
            .put("Invoices", &[], &json!({ "Invoices": [one] }))
            .await;
        let invoice_id = body["Invoices"][0]["InvoiceID"]
            .as_str()
            .unwrap()
            .to_string();

        // summaryOnly: lightweight, and paged even without `page`.
        let (status, body) = api.get("Contacts", &[("summaryOnly", "true")]).await;
        assert_eq!(status, 200);
        assert_eq!(
            body["pagination"],
            json!({ "page": 1, "pageSize": 100, "pageCount": 1, "itemCount": 1 })
        );
        let c = &body["Contacts"][0];
        assert_eq!(c["Name"], "Acme Ltd");
        for field in [
            "Addresses",
            "ContactGroups",
            "ContactPersons",
            "IsCustomer",
            "IsSupplier",
        ] {
            assert!(c.get(field).is_none(), "{field} in {c}");
        }
        let (_, body) = api
            .get(
                "Invoices",
                &[("InvoiceNumbers", "INV-1"), ("summaryOnly", "true")],
            )
            .await;
        assert_eq!(body["pagination"]["itemCount"], 1);
        let i = &body["Invoices"][0];
        assert_eq!(i["InvoiceNumber"], "INV-1");
        for field in ["LineItems", "Payments", "HasAttachments"] {
            assert!(i.get(field).is_none(), "{field} in {i}");
        }

        // Over the high volume threshold: unoptimised queries are refused.
        fake.set_high_volume(TENANT_ID, true);
        let by_ids =
            format!(r#"InvoiceID==Guid("{invoice_id}") OR InvoiceID==Guid("{ZERO_GUID}")"#);
        let refused: [(&str, Vec<(&str, &str)>); 7] = [
            ("Contacts", vec![]),
            (
                "Contacts",
                vec![("where", r#"ContactNumber=="a" OR ContactNumber=="b""#)],
            ),
            (
                "Contacts",
                vec![("where", r#"ContactNumber=="a""#), ("page", "1")],
            ),
            ("Contacts", vec![("where", r#"Name.Contains("Acme")"#)]),
            ("Contacts", vec![("where", r#"Name.ToLower()=="acme ltd""#)]),
            ("Invoices", vec![]),
            (
                "Invoices",
                vec![(
                    "where",
                    r#"InvoiceNumber=="INV-1" OR InvoiceNumber=="INV-2""#,
                )],
            ),
        ];
        for (path, query) in &refused {
            let (status, body) = api.get(path, query).await;
            assert_eq!(
                (status, &body["Type"], &body["ErrorNumber"]),
                (400, &json!("HighVolumeException"), &json!(51)),
                "{path} {query:?}"
            );
        }
        let (_, body) = api.get("Contacts", &[]).await;
        assert_eq!(
            body["Message"],
            "Your request is not filtering Contacts efficiently, given the extremely high volume for this organisation. Please check https://developer.xero.com/documentation/api/efficient-data-retrieval for tips on making Contact retrieval more efficient."
        );
        let allowed: [(&str, Vec<(&str, &str)>); 9] = [
            ("Contacts", vec![("page", "1")]),
            ("Contacts", vec![("where", r#"Name=="acme ltd""#)]),
            (
                "Contacts",
                vec![("where", r#"Name=="Acme Ltd" AND EmailAddress=="a@b.c""#)],
            ),
            ("Contacts", vec![("IDs", contact.as_str())]),
            ("Contacts", vec![("searchTerm", "acme")]),
            ("Contacts", vec![("summaryOnly", "true")]),
            ("Invoices", vec![("InvoiceNumbers", "INV-1,INV-2")]),
            (
                "Invoices",
                vec![("where", r#"Type=="ACCREC" AND Status=="AUTHORISED""#)],
            ),
            ("Invoices", vec![("where", by_ids.as_str())]),
        ];
        for (path, query) in &allowed {
            let (status, body) = api.get(path, query).await;
            assert_eq!(status, 200, "{path} {query:?}: {body}");
        }
    }

    #[test]
    fn where_filters_parse_like_dynamic_linq() {
        let contact = json!({ "Name": "Say \"Hi\" Ltd", "ContactNumber": "C-9", "EmailAddress": null, "IsCustomer": true });
        let fields = CONTACT_WHERE_FIELDS;
        let yes = [
            r#"Name=="say ""hi"" ltd""#,
            r#"Name.ToLower()=="say ""hi"" ltd" AND ContactNumber!="C-1""#,
            r#"(Name.Contains("hi") || ContactNumber=="x") && EmailAddress==null"#,
            r#"NOT Name.StartsWith("x") and IsCustomer==true and Name.EndsWith("LTD")"#,
        ];
        for text in yes {
            assert!(
                Filter::parse(text, "Contact", fields)
                    .unwrap()
                    .matches(&contact),
                "{text}"
            );
        }
        assert!(
            !Filter::parse(r#"ContactNumber=="C-1""#, "Contact", fields)
                .unwrap()
                .matches(&contact)
        );
        let errors = [
            (r#"Name=="x"#, "Unterminated string literal"),
            (r#"Name=="a" AND"#, "Syntax error"),
            (
                r#"Name==Bat"#,
                "No property or field 'Bat' exists in type 'Contact'",
            ),
            (r#"Name>"a""#, "Syntax error"),
        ];
        for (text, message) in errors {
            assert_eq!(
                Filter::parse(text, "Contact", fields).err().as_deref(),
                Some(message),
                "{text}"
            );
        }
        let err = Filter::parse(r#"Contact.Nope=="x""#, "Invoice", INVOICE_WHERE_FIELDS).err();
        assert_eq!(
            err.as_deref(),
            Some("No property or field 'Nope' exists in type 'Invoice'")
        );
    }
}
