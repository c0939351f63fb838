//! A fake QuickBooks Online: Intuit's OAuth 2.0 endpoints and the part of the Accounting
//! API v3 that erp-sync uses (company info, preferences, query, customer, invoice
//! create/update/void/read, and the look-ups of mapping pages: items, accounts, tax codes,
//! tax rates, company currencies).
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

use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine;
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use rand::Rng;
use rand::distributions::Alphanumeric;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value, json};

/// The app's OAuth client id.
pub const CLIENT_ID: &str = "qbo-test-client";
/// The app's OAuth client secret.
pub const CLIENT_SECRET: &str = "qbo-test-secret";
/// The company (realm) that exists from the start and is picked by default on authorize.
pub const REALM: &str = "9130350000000001";

const ACCOUNTING_SCOPE: &str = "com.intuit.quickbooks.accounting";
const MIN_MINOR_VERSION: u32 = 75;
const DEFAULT_ACCESS_TOKEN_LIFETIME: i64 = 3600;
const REFRESH_TOKEN_EXPIRES_IN: i64 = 8_726_400;
/// A superseded refresh token keeps working this long (QBO: "24 hours after you receive a new one").
const SUPERSEDED_REFRESH_TOKEN_GRACE: Duration = Duration::from_secs(24 * 3600);
const CODE_LIFETIME: Duration = Duration::from_secs(600);
const MAX_CONCURRENT_PER_REALM: usize = 10;
const MAX_REQUESTS_PER_MINUTE: usize = 500;
const MAX_REQUESTID_LEN: usize = 50;
const MAX_DOC_NUMBER_LEN: usize = 21;
const MAX_DISPLAY_NAME_LEN: usize = 500;
/// `maxResults` when a query names none (QBO's default page size).
const DEFAULT_MAX_RESULTS: usize = 100;
/// The largest `MAXRESULTS` QBO accepts ("The maximum number of entities that can be
/// returned in a response is 1000").
const MAX_MAX_RESULTS: usize = 1000;
/// The rolling window of the per-realm request limit.
const RATE_WINDOW: Duration = Duration::from_secs(60);
/// `MetaData` times of the entities every company starts with.
const SEEDED_TIME: &str = "2024-01-01T00:00:00-07:00";

// ---------------------------------------------------------------------------------------
// Public handle
// ---------------------------------------------------------------------------------------

/// One request the fake received (API, token and authorize endpoints alike).
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The raw query string (percent-encoded, as sent), empty when there is none.
    pub query: String,
    /// The `requestid` query parameter, decoded.
    pub requestid: Option<String>,
    /// Whether an `Authorization` header was sent.
    pub authorization: bool,
    /// The status answered; 0 while the request is still in flight.
    pub status: u16,
}

/// The running fake. Dropping it stops the server.
pub struct FakeQuickBooks {
    /// Base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    state: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeQuickBooks {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeQuickBooks {
    /// Starts the fake on an ephemeral loopback port, with company [`REALM`] ("Fake Co")
    /// holding the items 1 "Services", 2 "Hours" and 3 "Setup".
    pub async fn start() -> Self {
        let state: Shared = Arc::new(Mutex::new(FakeState::new()));
        let app = Router::new()
            .route("/connect/oauth2", get(authorize))
            .route("/oauth2/v1/tokens/bearer", post(token))
            .route("/v3/company/{realm}/{*rest}", any(api))
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
                .expect("the fake QBO serves");
        });
        FakeQuickBooks { url, state, server }
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

    /// Intuit's authorize endpoint.
    pub fn auth_url(&self) -> String {
        format!("{}/connect/oauth2", self.url)
    }

    /// Intuit's token endpoint (code exchange and refresh).
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/v1/tokens/bearer", self.url)
    }

    /// The API base: paths are `{api_base}/v3/company/{realm}/...`.
    pub fn api_base(&self) -> String {
        self.url.clone()
    }

    // --- inspection ---

    /// Stored invoices of a company, as QBO returns them, in creation order.
    pub fn invoices(&self, realm: &str) -> Vec<Value> {
        self.with_company(realm, |c| {
            c.invoices.iter().map(|i| i.entity.clone()).collect()
        })
    }

    /// Stored customers of a company, in creation order.
    pub fn customers(&self, realm: &str) -> Vec<Value> {
        self.with_company(realm, |c| c.customers.clone())
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state).requests.clone()
    }

    /// The most API requests for `realm` that were in flight at once (including any that
    /// were refused for exceeding the limit).
    pub fn max_concurrent_seen(&self, realm: &str) -> usize {
        self.with_company(realm, |c| c.max_in_flight)
    }

    /// How many `grant_type=refresh_token` requests reached the token endpoint with valid
    /// client credentials (successful or not).
    pub fn token_refreshes(&self) -> usize {
        lock(&self.state).token_refreshes
    }

    // --- setup and faults ---

    /// Adds a company (with the same three items as [`REALM`]); renames it if it exists.
    pub fn add_company(&self, realm: &str, name: &str) {
        let mut s = lock(&self.state);
        match s.companies.get_mut(realm) {
            Some(c) => c.name = name.to_string(),
            None => {
                s.companies.insert(realm.to_string(), Company::new(name));
            }
        }
    }

    /// The company the next authorization "picks" (returned as `realmId` in the callback).
    pub fn set_authorizing_realm(&self, realm: &str) {
        let mut s = lock(&self.state);
        assert!(s.companies.contains_key(realm), "unknown realm {realm}");
        s.authorizing_realm = realm.to_string();
    }

    /// Creates a customer directly (as if made in QBO's UI) and returns its Id.
    pub fn add_customer(&self, realm: &str, display_name: &str) -> String {
        self.with_company(realm, |c| {
            let body = json!({ "DisplayName": display_name });
            let entity = c
                .create_customer(body.as_object().expect("an object"))
                .unwrap_or_else(|_| panic!("customer {display_name:?} could not be added"));
            entity["Id"].as_str().expect("an Id").to_string()
        })
    }

    /// Makes the item named `name` inactive: queries no longer find it and references to
    /// it answer 2500 "Invalid Reference Id".
    pub fn remove_item(&self, realm: &str, name: &str) {
        self.with_company(realm, |c| {
            let item = c.items.iter_mut().find(|i| i.name == name);
            item.unwrap_or_else(|| panic!("no item {name:?}")).active = false;
        })
    }

    /// Sets a company's country (ISO 3166 alpha-2: `US`, `GB`, `CA`, `AU`, ...), home
    /// currency (ISO 4217) and whether multicurrency is on. Every company starts as `US`,
    /// `USD`, multicurrency off.
    ///
    /// The country decides the tax model: `US` uses the pseudo tax codes `TAX`/`NON`, any
    /// other country the global tax model with `TaxCode` entities. Changing the country
    /// replaces the company's tax codes and rates with that country's default set (see
    /// [`default_tax_codes`]). Customers keep the currency they were created with, so set
    /// this up before adding customers. (In QBO the home currency cannot be changed once
    /// set and multicurrency cannot be turned off once on; the fake lets a test do both.)
    pub fn set_company_settings(
        &self,
        realm: &str,
        country: &str,
        home_currency: &str,
        multicurrency: bool,
    ) {
        assert!(
            known_currency(home_currency),
            "{home_currency:?} is not a currency QBO knows"
        );
        assert!(
            country.len() == 2 && country.chars().all(|c| c.is_ascii_uppercase()),
            "country {country:?} must be an upper-case ISO 3166 alpha-2 code"
        );
        self.with_company(realm, |c| {
            c.home_currency = home_currency.to_string();
            c.multicurrency = multicurrency;
            c.currencies.retain(|cur| cur.code != home_currency);
            if c.country != country {
                c.country = country.to_string();
                c.reset_tax_codes();
            }
        })
    }

    /// Adds a foreign currency, active, to the company's currency list (the `CompanyCurrency`
    /// entities), or makes it active again. Multicurrency must be on.
    pub fn add_currency(&self, realm: &str, code: &str) {
        assert!(known_currency(code), "{code:?} is not a currency QBO knows");
        self.with_company(realm, |c| {
            assert!(c.multicurrency, "multicurrency is off for {realm}");
            assert!(code != c.home_currency, "{code} is the home currency");
            c.add_currency(code);
        })
    }

    /// Makes a currency of the company's list inactive: customers and invoices in it are
    /// refused from now on (Intuit: an inactive currency "is not availble for use with
    /// financial transactions").
    pub fn deactivate_currency(&self, realm: &str, code: &str) {
        self.with_company(realm, |c| {
            let currency = c.currencies.iter_mut().find(|cur| cur.code == code);
            currency
                .unwrap_or_else(|| panic!("no currency {code} in {realm}"))
                .active = false;
        })
    }

    /// The exchange rate (home-currency units per unit of `code`, e.g. `"1.0850"`) that
    /// invoices in `code` get when the request carries no `ExchangeRate`. Without one set,
    /// such invoices get 1, as QBO does [S] (WordPress/wordcamp.org#1325: "if you don't
    /// include the ExchangeRate in the API call now, QBO will automatically set the value
    /// to 1").
    pub fn set_exchange_rate(&self, realm: &str, code: &str, rate: &str) {
        let rate = Decimal::from_str(rate).unwrap_or_else(|_| panic!("bad rate {rate:?}"));
        assert!(rate > Decimal::ZERO, "an exchange rate must be positive");
        self.with_company(realm, |c| {
            c.exchange_rates.insert(code.to_string(), rate);
        })
    }

    /// Adds a sales `TaxCode` with one `TaxRate` of `rate_percent` (e.g. 20.0 for 20%), or
    /// replaces the name and rate of the code with that id (and makes it active). A US
    /// company lists the code in queries, but its invoice lines still take only `TAX`/`NON`.
    pub fn add_tax_code(&self, realm: &str, id: &str, name: &str, rate_percent: f64) {
        // The shortest decimal that reads back as the float: 7.1 is 7.1, not 7.0999...
        let rate = Decimal::from_str(&rate_percent.to_string())
            .unwrap_or_else(|_| panic!("bad rate {rate_percent}"));
        self.with_company(realm, |c| c.add_tax_code(id, name, rate))
    }

    /// Makes a `TaxCode` inactive: lines naming it are refused from now on.
    pub fn deactivate_tax_code(&self, realm: &str, id: &str) {
        self.with_company(realm, |c| {
            let code = c.tax_codes.iter_mut().find(|t| t.id == id);
            code.unwrap_or_else(|| panic!("no tax code {id} in {realm}"))
                .active = false;
        })
    }

    /// The next `n` successful invoice writes (create, update, void) are committed and
    /// remembered for `requestid` replay, but answered 500 SystemFault 10000: a lost response.
    pub fn fail_after_commit(&self, n: usize) {
        lock(&self.state).faults.fail_after_commit = n;
    }

    /// The next `n` API calls answer 429 code 3001, without `Retry-After` (as QBO does).
    pub fn throttle_next(&self, n: usize) {
        lock(&self.state).faults.throttle = n;
    }

    /// The next `n` API calls answer 503 with the load balancer's HTML page.
    pub fn outage_next(&self, n: usize) {
        lock(&self.state).faults.outage = n;
    }

    /// Every access token issued so far is expired from now on.
    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for t in lock(&self.state).access_tokens.values_mut() {
            t.expires_at = now;
        }
    }

    /// Every access and refresh token issued so far, so a test can look for them where
    /// they must never appear (the data dir, logs, API answers).
    pub fn issued_tokens(&self) -> Vec<String> {
        let state = lock(&self.state);
        state
            .access_tokens
            .keys()
            .chain(state.refresh_tokens.keys())
            .cloned()
            .collect()
    }

    /// Every refresh token issued so far answers `invalid_grant` from now on.
    pub fn revoke_refresh_tokens(&self) {
        for t in lock(&self.state).refresh_tokens.values_mut() {
            t.revoked = true;
        }
    }

    /// Someone edits the invoice in QBO: its `SyncToken` goes up by one.
    pub fn edit_invoice_elsewhere(&self, realm: &str, id: &str) {
        self.with_company(realm, |c| {
            let invoice = c
                .invoice_mut(id)
                .unwrap_or_else(|| panic!("no invoice {id}"));
            let next = sync_token(&invoice.entity) + 1;
            invoice.entity["SyncToken"] = json!(next.to_string());
            invoice.entity["MetaData"]["LastUpdatedTime"] = json!(meta_time());
        })
    }

    /// `expires_in` of access tokens issued from now on (default 3600 s).
    pub fn set_access_token_lifetime(&self, secs: i64) {
        lock(&self.state).access_token_lifetime = secs;
    }

    /// Every admitted API call sleeps this long while counted as in flight.
    pub fn set_delay(&self, d: Duration) {
        lock(&self.state).delay = d;
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

// ---------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------

type Shared = Arc<Mutex<FakeState>>;

/// Locks the state, ignoring poisoning (a panicking test must not cascade).
fn lock(state: &Mutex<FakeState>) -> MutexGuard<'_, FakeState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

struct FakeState {
    companies: HashMap<String, Company>,
    authorizing_realm: String,
    codes: HashMap<String, AuthCode>,
    access_tokens: HashMap<String, AccessToken>,
    refresh_tokens: HashMap<String, RefreshToken>,
    access_token_lifetime: i64,
    token_refreshes: usize,
    requests: Vec<Recorded>,
    faults: Faults,
    delay: Duration,
}

#[derive(Default)]
struct Faults {
    fail_after_commit: usize,
    throttle: usize,
    outage: usize,
}

struct AuthCode {
    redirect_uri: String,
    realm: String,
    issued: Instant,
}

struct AccessToken {
    realm: String,
    expires_at: Instant,
}

struct RefreshToken {
    realm: String,
    revoked: bool,
    /// When a newer refresh token was issued from this one.
    superseded_at: Option<Instant>,
}

/// One QBO company (realm) and its per-realm limits bookkeeping.
struct Company {
    name: String,
    /// ISO 3166 alpha-2; `US` means the US tax model, anything else the global one.
    country: String,
    home_currency: String,
    multicurrency: bool,
    /// The `CompanyCurrency` list: foreign currencies only (Intuit's samples of a USD
    /// company list JPY, ANG, AUD, EUR, CAD, never USD).
    currencies: Vec<Currency>,
    next_currency_id: u64,
    /// Rates set with [`FakeQuickBooks::set_exchange_rate`], by currency code.
    exchange_rates: HashMap<String, Decimal>,
    tax_codes: Vec<TaxCode>,
    tax_rates: Vec<TaxRate>,
    next_tax_rate_id: u64,
    accounts: Vec<Account>,
    items: Vec<Item>,
    customers: Vec<Value>,
    invoices: Vec<StoredInvoice>,
    next_customer_id: u64,
    next_invoice_id: u64,
    /// Answers by `requestid`, replayed verbatim.
    replays: HashMap<String, Answer>,
    in_flight: usize,
    max_in_flight: usize,
    /// Arrival times of admitted requests in the last minute.
    recent: VecDeque<Instant>,
}

struct Item {
    id: String,
    name: String,
    active: bool,
    /// Id of the income account in the company's chart of accounts.
    income_account: String,
}

/// One entry of a company's currency list (`CompanyCurrency`).
struct Currency {
    id: String,
    code: String,
    active: bool,
    created: String,
}

/// A sales tax code of the global tax model. [I] One rate per code (QBO allows groups of
/// rates; the fake's codes each reference a single `TaxRate`).
struct TaxCode {
    id: String,
    name: String,
    rate_id: String,
    active: bool,
}

struct TaxRate {
    id: String,
    name: String,
    /// Percent, as `RateValue` carries it (20 for 20%).
    rate: Decimal,
    active: bool,
}

/// An account of the chart of accounts. Its currency is the home currency [I] (Intuit:
/// "income and expense accounts always use the company's home currency").
struct Account {
    id: &'static str,
    name: &'static str,
    account_type: &'static str,
    sub_type: &'static str,
    classification: &'static str,
    acct_num: &'static str,
}

struct StoredInvoice {
    entity: Value,
    voided: bool,
}

impl FakeState {
    fn new() -> Self {
        let mut companies = HashMap::new();
        companies.insert(REALM.to_string(), Company::new("Fake Co"));
        FakeState {
            companies,
            authorizing_realm: REALM.to_string(),
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_token_lifetime: DEFAULT_ACCESS_TOKEN_LIFETIME,
            token_refreshes: 0,
            requests: Vec::new(),
            faults: Faults::default(),
            delay: Duration::ZERO,
        }
    }
}

/// [I] The chart of accounts every company starts with: a sandbox-like minimum, with ids
/// apart from the item ids so a connector sending an account id as an `ItemRef` fails.
const DEFAULT_ACCOUNTS: [Account; 5] = [
    Account {
        id: "80",
        name: "Services",
        account_type: "Income",
        sub_type: "ServiceFeeIncome",
        classification: "Revenue",
        acct_num: "4000",
    },
    Account {
        id: "81",
        name: "Sales",
        account_type: "Income",
        sub_type: "SalesOfProductIncome",
        classification: "Revenue",
        acct_num: "4010",
    },
    Account {
        id: "35",
        name: "Checking",
        account_type: "Bank",
        sub_type: "Checking",
        classification: "Asset",
        acct_num: "1000",
    },
    Account {
        id: "4",
        name: "Undeposited Funds",
        account_type: "Other Current Asset",
        sub_type: "UndepositedFunds",
        classification: "Asset",
        acct_num: "1200",
    },
    Account {
        id: "84",
        name: "Accounts Receivable (A/R)",
        account_type: "Accounts Receivable",
        sub_type: "AccountsReceivable",
        classification: "Asset",
        acct_num: "1100",
    },
];

/// [I] The sales tax codes (id, name, rate percent) a new company of `country` holds. QBO
/// assigns the ids per company and names codes per edition; these follow the editions'
/// usual names (the UK's "20.0% S" is seen in the wild [S]). `US` has none: it uses the
/// pseudo codes `TAX`/`NON`. Every other country without a set of its own gets
/// "Zero-rated" and "Exempt"; add more with [`FakeQuickBooks::add_tax_code`].
pub fn default_tax_codes(country: &str) -> &'static [(&'static str, &'static str, f64)] {
    match country {
        "US" => &[],
        "GB" => &[
            ("3", "20.0% S", 20.0),
            ("4", "5.0% R", 5.0),
            ("5", "0.0% Z", 0.0),
            ("6", "Exempt", 0.0),
            ("7", "No VAT", 0.0),
        ],
        "CA" => &[
            ("3", "GST", 5.0),
            ("4", "HST ON", 13.0),
            ("5", "Zero-rated", 0.0),
            ("6", "Exempt", 0.0),
            ("7", "Out of Scope", 0.0),
        ],
        "AU" => &[
            ("3", "GST", 10.0),
            ("4", "GST free", 0.0),
            ("5", "Input taxed", 0.0),
            ("6", "Out of scope", 0.0),
        ],
        _ => &[("3", "Zero-rated", 0.0), ("4", "Exempt", 0.0)],
    }
}

impl Company {
    fn new(name: &str) -> Self {
        let items = [
            ("1", "Services", "80"),
            ("2", "Hours", "80"),
            ("3", "Setup", "81"),
        ]
        .into_iter()
        .map(|(id, name, account)| Item {
            id: id.to_string(),
            name: name.to_string(),
            active: true,
            income_account: account.to_string(),
        })
        .collect();
        Company {
            name: name.to_string(),
            country: "US".to_string(),
            home_currency: "USD".to_string(),
            multicurrency: false,
            currencies: Vec::new(),
            next_currency_id: 1,
            exchange_rates: HashMap::new(),
            tax_codes: Vec::new(),
            tax_rates: Vec::new(),
            // [I] Rate ids apart from code ids, so a connector sending a TaxRate id as a
            // TaxCodeRef fails.
            next_tax_rate_id: 31,
            accounts: DEFAULT_ACCOUNTS.into(),
            items,
            customers: Vec::new(),
            invoices: Vec::new(),
            // Distinct ranges, so a connector mixing up ids does not pass by accident.
            next_customer_id: 58,
            next_invoice_id: 239,
            replays: HashMap::new(),
            in_flight: 0,
            max_in_flight: 0,
            recent: VecDeque::new(),
        }
    }

    fn active_item(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id && i.active)
    }

    fn customer_index(&self, id: &str) -> Option<usize> {
        self.customers.iter().position(|c| c["Id"] == id)
    }

    fn invoice_mut(&mut self, id: &str) -> Option<&mut StoredInvoice> {
        self.invoices.iter_mut().find(|i| i.entity["Id"] == id)
    }

    /// Whether the company uses the US tax model (pseudo codes `TAX`/`NON`).
    fn is_us(&self) -> bool {
        self.country == "US"
    }

    fn currency(&self, code: &str) -> Option<&Currency> {
        self.currencies.iter().find(|c| c.code == code)
    }

    /// Adds `code` to the currency list, or makes it active again.
    fn add_currency(&mut self, code: &str) {
        if let Some(currency) = self.currencies.iter_mut().find(|c| c.code == code) {
            currency.active = true;
            return;
        }
        let id = self.next_currency_id.to_string();
        self.next_currency_id += 1;
        self.currencies.push(Currency {
            id,
            code: code.to_string(),
            active: true,
            created: meta_time(),
        });
    }

    /// Replaces the tax codes and rates with the country's defaults.
    fn reset_tax_codes(&mut self) {
        self.tax_codes.clear();
        self.tax_rates.clear();
        for (id, name, rate) in default_tax_codes(&self.country) {
            let rate = Decimal::from_str(&rate.to_string()).expect("a decimal rate");
            self.add_tax_code(id, name, rate);
        }
    }

    /// Adds a tax code with a new rate, or replaces the name and rate of an existing one.
    fn add_tax_code(&mut self, id: &str, name: &str, rate: Decimal) {
        let rate_id = self.next_tax_rate_id.to_string();
        self.next_tax_rate_id += 1;
        self.tax_rates.push(TaxRate {
            id: rate_id.clone(),
            name: name.to_string(),
            rate,
            active: true,
        });
        let code = TaxCode {
            id: id.to_string(),
            name: name.to_string(),
            rate_id,
            active: true,
        };
        match self.tax_codes.iter_mut().find(|t| t.id == id) {
            Some(existing) => *existing = code,
            None => self.tax_codes.push(code),
        }
    }

    fn active_tax_code(&self, id: &str) -> Option<&TaxCode> {
        self.tax_codes.iter().find(|t| t.id == id && t.active)
    }

    fn tax_rate(&self, id: &str) -> Option<&TaxRate> {
        self.tax_rates.iter().find(|r| r.id == id)
    }

    fn account(&self, id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }
}

/// Decrements a realm's in-flight count when the request is done (or dropped).
struct InFlight {
    state: Shared,
    realm: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(c) = lock(&self.state).companies.get_mut(&self.realm) {
            c.in_flight -= 1;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Answers and QBO error shapes
// ---------------------------------------------------------------------------------------

/// A complete answer; kept verbatim for `requestid` replay.
#[derive(Clone, Debug)]
struct Answer {
    status: StatusCode,
    content_type: &'static str,
    body: String,
}

impl Answer {
    fn json(status: StatusCode, body: &Value) -> Self {
        Answer {
            status,
            content_type: "application/json",
            body: body.to_string(),
        }
    }

    /// A 200 with one entity wrapped in its type name, plus `time`.
    fn entity(kind: &str, entity: &Value) -> Self {
        Answer::json(
            StatusCode::OK,
            &json!({ kind: entity, "time": response_time() }),
        )
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, self.content_type)],
            self.body,
        )
            .into_response()
    }
}

/// The capital-`Fault` envelope of application errors.
fn fault(
    status: StatusCode,
    kind: &str,
    code: &str,
    message: &str,
    detail: &str,
    element: &str,
) -> Answer {
    let error = json!({ "Message": message, "Detail": detail, "code": code, "element": element });
    let body = json!({ "Fault": { "Error": [error], "type": kind }, "time": response_time() });
    Answer::json(status, &body)
}

fn validation(code: &str, message: &str, detail: &str, element: &str) -> Answer {
    fault(
        StatusCode::BAD_REQUEST,
        "ValidationFault",
        code,
        message,
        detail,
        element,
    )
}

fn required(element: &str) -> Answer {
    let message = "Required param missing, need to supply the required value for the API";
    let detail = format!("Required parameter {element} is missing in the request");
    validation("2020", message, &detail, element)
}

/// 2010, what QBO's JSON binder answers for unknown properties and wrongly typed values.
fn unsupported_property(property: &str, why: &str) -> Answer {
    let detail = format!("Property Name:{property} specified is unsupported or invalid ({why})");
    validation(
        "2010",
        "Request has invalid or unsupported property",
        &detail,
        "",
    )
}

fn too_long(element: &str, max: usize, supplied: usize) -> Answer {
    let message = "String length is either shorter or longer than supported by specification";
    let detail = format!(
        "String length specified does not match the supported length. Min:0 Max:{max} supplied length:{supplied}"
    );
    validation("2050", message, &detail, element)
}

fn invalid_reference(element: &str, kind: &str, id: &str) -> Answer {
    let detail =
        format!("Invalid Reference Id : {kind} with Id {id} does not exist or is inactive");
    validation("2500", "Invalid Reference Id", &detail, element)
}

fn object_not_found(kind: &str, id: &str) -> Answer {
    let detail = format!(
        "Object Not Found : Something you're trying to use has been made inactive. Check the fields with accounts, customers, items, vendors or employees. ({kind} {id})"
    );
    validation("610", "Object Not Found", &detail, "")
}

/// 5010, word for word as QBO answers a stale `SyncToken`.
fn stale_object() -> Answer {
    let detail = "Stale Object Error : You and Craig Carlson were working on this at the same time. Craig Carlson finished before you did, so your work was not saved.";
    validation("5010", "Stale Object Error", detail, "")
}

fn business(detail: &str) -> Answer {
    let message = "A business validation error has occurred while processing your request";
    validation(
        "6000",
        message,
        &format!("Business Validation Error: {detail}"),
        "",
    )
}

fn duplicate_name() -> Answer {
    let detail = "The name supplied already exists. : Another customer, vendor or employee is already using this name. Please use a different name.";
    validation("6240", "Duplicate Name Exists Error", detail, "")
}

fn query_parser_error(detail: &str) -> Answer {
    validation(
        "4000",
        "Error parsing query",
        &format!("QueryParserError: {detail}"),
        "",
    )
}

/// 4001, what QBO answers a well-formed query it will not run: an unknown property
/// ("QueryValidationError: Property NoSuchField not found for Entity Purchase", a sandbox
/// answer quoted verbatim in the wild [S]) or a too large `MAXRESULTS` ("value 1500 is too
/// large. Max allowed value is 1000", ruckus/quickbooks-ruby#24 [S]).
fn query_validation_error(detail: &str) -> Answer {
    validation(
        "4001",
        "Invalid query",
        &format!("QueryValidationError: {detail}"),
        "",
    )
}

/// 2170 (Intuit's error table: "Invalid Enumeration", e.g. "Invalid Enumeration:
/// HAS_BEEN_BILLED").
fn invalid_enumeration(element: &str, value: &str) -> Answer {
    let detail = format!("Invalid Enumeration: {value}");
    validation("2170", "Invalid Enumeration", &detail, element)
}

/// 2220, Intuit's code for "Invalid Currency Type" ("The specified currency type isn't
/// valid"). [I] Detail wording.
fn invalid_currency(element: &str, code: &str) -> Answer {
    let detail = format!("Invalid Currency Type : {code} is not a currency QuickBooks supports");
    validation("2220", "Invalid Currency Type", &detail, element)
}

/// [I] A currency other than the home currency while multicurrency is off. Intuit only
/// says multicurrency "must be enabled in order to track transactions with currencies other
/// than the company's home currency" and, of `CurrencyRef` on a Bill, "Do not use this
/// field if multicurrency is not enabled"; the code and wording here are the fake's.
fn multicurrency_off(code: &str, home: &str) -> Answer {
    business(&format!(
        "Multicurrency is not turned on for this company, so {code} cannot be used. The home currency is {home}."
    ))
}

/// [I] A currency of the company's list that was made inactive (Intuit: an inactive
/// currency "is not availble for use with financial transactions"; the wording is the
/// fake's).
fn inactive_currency(code: &str) -> Answer {
    business(&format!(
        "The currency {code} is inactive. Make it active in the Currency Center before you use it."
    ))
}

/// An invoice in a currency other than its customer's. The message is the one QBO gives
/// when a transaction mixes currencies of names and accounts ("You can only use one foreign
/// currency per transaction", passed through by Expensify/App#53932 [S]); that it is the
/// answer to this very case is [I].
fn currency_mismatch() -> Answer {
    business("You can only use one foreign currency per transaction.")
}

/// [I] A customer update naming another currency. Intuit: the customer's currency "Once
/// set, it cannot be changed"; whether QBO refuses or silently keeps it is undocumented.
fn currency_locked() -> Answer {
    business("You can't change the currency of a customer that already has one.")
}

/// 6100, word for word as QBO answers a US line `TaxCodeRef` other than `TAX`/`NON` (a
/// real response quoted on Stack Overflow, "Quickbooks IPP v3 Invalid Line TaxCode in the
/// request"; Intuit's error table: "The TaxCode value isn't valid. For US, specify TAX or
/// NON").
fn invalid_line_tax_code(value: &str) -> Answer {
    let detail =
        format!("Valid line TaxCodes for US should be TAX or NON. Supplied value: {value}");
    validation(
        "6100",
        "Invalid Line TaxCode in the request",
        &detail,
        "Line.SalesItemLineDetail.TaxCodeRef",
    )
}

/// 6000 as QBO answers a non-US sales line without a usable `TaxCodeRef` (none, the
/// pseudo codes, a name instead of an id, an unknown or inactive id). Seen in the wild [S]:
/// "Make sure all your transactions have a VAT rate before you save." (UK, for a
/// `TaxCodeRef` holding a code's name), "... a GST/HST rate ..." (Canada, line without a
/// code), "... a GST rate ..." (Singapore), "... a sales tax rate ..." (South Africa).
/// [I] The word for other countries.
fn missing_tax_rate(country: &str) -> Answer {
    let word = match country {
        "GB" | "IE" => "VAT",
        "CA" => "GST/HST",
        "AU" | "NZ" | "SG" | "IN" => "GST",
        _ => "sales tax",
    };
    business(&format!(
        "Make sure all your transactions have a {word} rate before you save."
    ))
}

/// 6170, from Intuit's error table: "The TxnTaxDetail attribute isn't allowed when
/// GlobalTaxCalculation is set to NotApplicable."
fn tax_detail_not_applicable() -> Answer {
    let detail = "The TxnTaxDetail attribute isn't allowed when GlobalTaxCalculation is set to NotApplicable.";
    validation("6170", "Invalid TxnTaxDetail Error", detail, "TxnTaxDetail")
}

/// 500 SystemFault, as QBO answers an application error.
fn system_fault() -> Answer {
    let detail = "System Failure Error: An unexpected error occurred while accessing or saving your data. Please wait a few minutes and try again. If the problem persists, contact customer support.";
    let message = "An application error has occurred while processing your request";
    let status = StatusCode::INTERNAL_SERVER_ERROR;
    fault(
        status,
        "SystemFault",
        "10000",
        message,
        detail,
        "SystemFailureError",
    )
}

/// 429 code 3001, QBO's throttle answer (no `Retry-After`).
fn throttled() -> Answer {
    let error = json!({
        "Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "Detail": "The request limit was reached.  Try again later",
        "code": "3001",
    });
    let body = json!({ "Fault": { "Error": [error], "type": "SERVICE" }, "time": response_time() });
    Answer::json(StatusCode::TOO_MANY_REQUESTS, &body)
}

/// 503 from the load balancer: an HTML page, not JSON.
fn outage() -> Answer {
    Answer {
        status: StatusCode::SERVICE_UNAVAILABLE,
        content_type: "text/html",
        body: "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>503 Service Temporarily Unavailable</title>\n</head><body>\n<h1>Service Temporarily Unavailable</h1>\n<p>The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later.</p>\n</body></html>\n".to_string(),
    }
}

/// The API gateway's lowercase envelope (401 authentication, 403 authorization).
fn gateway_fault(status: StatusCode, kind: &str, code: &str, name: &str, detail: &str) -> Answer {
    let message = format!(
        "message={name}; errorCode=00{code}; statusCode={}",
        status.as_u16()
    );
    let body = json!({
        "warnings": null, "intuitObject": null,
        "fault": { "error": [{ "message": message, "detail": detail, "code": code, "element": null }],
                   "type": kind },
        "report": null, "queryResponse": null, "batchItemResponse": [], "attachableResponse": [],
        "syncErrorResponse": null, "requestId": null, "time": Utc::now().timestamp_millis(),
        "status": null, "cdcresponse": [],
    });
    Answer::json(status, &body)
}

fn unauthenticated(detail: &str) -> Answer {
    gateway_fault(
        StatusCode::UNAUTHORIZED,
        "AUTHENTICATION",
        "3200",
        "AuthenticationFailed",
        detail,
    )
}

/// [I] A valid token used on another company's path: 403 3100, like an unauthorised realm.
fn unauthorized_realm() -> Answer {
    let detail = "Authorization Failure: the access token was not issued for this company";
    gateway_fault(
        StatusCode::FORBIDDEN,
        "SERVICE",
        "3100",
        "AuthorizationFailed",
        detail,
    )
}

/// [I] Without `Accept: application/json` QBO answers XML. The fake refuses instead, in XML,
/// so a connector relying on the default format fails loudly.
fn xml_only() -> Answer {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<IntuitResponse xmlns=\"http://schema.intuit.com/finance/v3\" time=\"{}\"><Fault type=\"ValidationFault\"><Error code=\"4000\"><Message>Accept: application/json is required by this fake</Message><Detail>Without Accept: application/json QuickBooks Online answers in XML.</Detail></Error></Fault></IntuitResponse>",
        response_time()
    );
    Answer {
        status: StatusCode::BAD_REQUEST,
        content_type: "application/xml",
        body,
    }
}

fn oauth_error(status: StatusCode, body: &'static str) -> Answer {
    Answer {
        status,
        content_type: "application/json",
        body: body.to_string(),
    }
}

const INVALID_GRANT: &str = r#"{"error_description":"Token invalid","error":"invalid_grant"}"#;
const INVALID_CLIENT: &str = r#"{"error":"invalid_client"}"#;

fn invalid_grant() -> Answer {
    oauth_error(StatusCode::BAD_REQUEST, INVALID_GRANT)
}

/// Now, in the Pacific offset Intuit's timestamps carry.
fn pacific_now() -> DateTime<FixedOffset> {
    Utc::now().with_timezone(&FixedOffset::west_opt(7 * 3600).expect("a valid offset"))
}

/// `time` of API answers: RFC 3339 with milliseconds.
fn response_time() -> String {
    pacific_now().format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

/// `MetaData` timestamps: RFC 3339 to the second.
fn meta_time() -> String {
    pacific_now().format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// The default `TxnDate`.
fn today() -> String {
    pacific_now().format("%Y-%m-%d").to_string()
}

fn random_string(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Recording middleware (every endpoint): request log and `intuit_tid`
// ---------------------------------------------------------------------------------------

async fn record(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let query = request.uri().query().unwrap_or_default().to_string();
    let recorded = Recorded {
        method: request.method().to_string(),
        path: request.uri().path().to_string(),
        requestid: Params::parse(&query).get("requestid").map(str::to_string),
        query,
        authorization: request.headers().contains_key(header::AUTHORIZATION),
        status: 0,
    };
    let index = {
        let mut s = lock(&state);
        s.requests.push(recorded);
        s.requests.len() - 1
    };
    let mut response = next.run(request).await;
    lock(&state).requests[index].status = response.status().as_u16();
    let tid = format!("1-{}-{}", random_string(8), random_string(24)).to_lowercase();
    let tid = HeaderValue::from_str(&tid).expect("an ASCII header value");
    response.headers_mut().insert("intuit_tid", tid);
    response
}

/// Decoded query parameters, in order.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: &str) -> Self {
        Params(
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Whether the media type of `Content-Type` is `expected` (parameters ignored).
fn content_type_is(headers: &HeaderMap, expected: &str) -> bool {
    let value = header_str(headers, header::CONTENT_TYPE);
    let media = value.split(';').next().unwrap_or_default().trim();
    media.eq_ignore_ascii_case(expected)
}

// ---------------------------------------------------------------------------------------
// OAuth 2.0: authorize and token endpoints
// ---------------------------------------------------------------------------------------

/// `GET /connect/oauth2`: checks the request and "consents" at once, redirecting to
/// `redirect_uri` with `code`, `state` and the picked company's `realmId`.
async fn authorize(State(state): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or_default());
    let refuse = |why: &str| {
        let page = format!("<html><body><h1>Something went wrong</h1><p>{why}</p></body></html>");
        (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/html")],
            page,
        )
            .into_response()
    };
    if params.get("client_id") != Some(CLIENT_ID) {
        return refuse("invalid client_id");
    }
    if params.get("response_type") != Some("code") {
        return refuse("response_type must be code");
    }
    let scopes = params.get("scope").unwrap_or_default();
    if !scopes.split(' ').any(|s| s == ACCOUNTING_SCOPE) {
        return refuse("scope must include com.intuit.quickbooks.accounting");
    }
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return refuse("redirect_uri is required");
    };
    let Ok(mut target) = url::Url::parse(redirect_uri) else {
        return refuse("redirect_uri must be an absolute URL");
    };
    let code = format!("AB11{}", random_string(40));
    let realm = {
        let mut s = lock(&state);
        let realm = s.authorizing_realm.clone();
        let entry = AuthCode {
            redirect_uri: redirect_uri.to_string(),
            realm: realm.clone(),
            issued: Instant::now(),
        };
        s.codes.insert(code.clone(), entry);
        realm
    };
    {
        let mut pairs = target.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(csrf) = params.get("state") {
            pairs.append_pair("state", csrf);
        }
        pairs.append_pair("realmId", &realm);
    }
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

/// `POST /oauth2/v1/tokens/bearer`: code exchange and refresh (rotating refresh tokens).
async fn token(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Answer {
    if !content_type_is(&headers, "application/x-www-form-urlencoded") {
        return oauth_error(StatusCode::BAD_REQUEST, r#"{"error":"invalid_request"}"#);
    }
    let form = Params::parse(&String::from_utf8_lossy(&body));
    if !client_authenticated(&headers, &form) {
        return oauth_error(StatusCode::UNAUTHORIZED, INVALID_CLIENT);
    }
    let mut s = lock(&state);
    match form.get("grant_type") {
        Some("authorization_code") => s.exchange_code(&form),
        Some("refresh_token") => {
            s.token_refreshes += 1;
            s.refresh(&form)
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            r#"{"error":"unsupported_grant_type"}"#,
        ),
    }
}

/// `client_secret_basic` or, without an `Authorization` header, `client_secret_post`.
fn client_authenticated(headers: &HeaderMap, form: &Params) -> bool {
    let authorization = header_str(headers, header::AUTHORIZATION);
    if authorization.is_empty() {
        return form.get("client_id") == Some(CLIENT_ID)
            && form.get("client_secret") == Some(CLIENT_SECRET);
    }
    let Some(encoded) = authorization.strip_prefix("Basic ") else {
        return false;
    };
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim());
    let decoded = decoded.ok().and_then(|d| String::from_utf8(d).ok());
    decoded.as_deref() == Some(format!("{CLIENT_ID}:{CLIENT_SECRET}").as_str())
}

impl FakeState {
    /// `grant_type=authorization_code`: the code is single use, lives 10 minutes and must
    /// come with the same `redirect_uri` as the authorize request.
    fn exchange_code(&mut self, form: &Params) -> Answer {
        let Some(code) = form.get("code").and_then(|c| self.codes.remove(c)) else {
            return invalid_grant();
        };
        if code.issued.elapsed() > CODE_LIFETIME
            || form.get("redirect_uri") != Some(code.redirect_uri.as_str())
        {
            return invalid_grant();
        }
        self.issue_tokens(&code.realm)
    }

    /// `grant_type=refresh_token`: rotates; the used token stays valid 24 h more.
    fn refresh(&mut self, form: &Params) -> Answer {
        let Some(old) = form
            .get("refresh_token")
            .and_then(|t| self.refresh_tokens.get_mut(t))
        else {
            return invalid_grant();
        };
        let grace_over = old
            .superseded_at
            .is_some_and(|at| at.elapsed() > SUPERSEDED_REFRESH_TOKEN_GRACE);
        if old.revoked || grace_over {
            return invalid_grant();
        }
        old.superseded_at.get_or_insert_with(Instant::now);
        let realm = old.realm.clone();
        self.issue_tokens(&realm)
    }

    fn issue_tokens(&mut self, realm: &str) -> Answer {
        // Real access tokens are long JWEs; a column sized for short tokens should fail here too.
        let access_token = format!(
            "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..{}",
            random_string(700)
        );
        let refresh_token = format!(
            "RT1-{}-H0-{}",
            random_string(3),
            random_string(24).to_lowercase()
        );
        let lifetime = self.access_token_lifetime;
        let expires_at = Instant::now() + Duration::from_secs(lifetime.max(0).unsigned_abs());
        let access = AccessToken {
            realm: realm.to_string(),
            expires_at,
        };
        self.access_tokens.insert(access_token.clone(), access);
        let refresh = RefreshToken {
            realm: realm.to_string(),
            revoked: false,
            superseded_at: None,
        };
        self.refresh_tokens.insert(refresh_token.clone(), refresh);
        let body = json!({
            "access_token": access_token, "token_type": "bearer", "expires_in": lifetime,
            "refresh_token": refresh_token, "x_refresh_token_expires_in": REFRESH_TOKEN_EXPIRES_IN,
        });
        Answer::json(StatusCode::OK, &body)
    }
}

// ---------------------------------------------------------------------------------------
// The API gate: every `/v3/company/{realm}/...` call
// ---------------------------------------------------------------------------------------

/// Admits the call (faults, `Accept`, bearer token, `minorversion`, `requestid`, limits),
/// waits the configured delay, then answers it under one lock, so `requestid` replay is
/// atomic.
async fn api(
    State(state): State<Shared>,
    method: Method,
    Path((realm, rest)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let params = Params::parse(query.as_deref().unwrap_or_default());
    let (in_flight, delay) = match admit(&state, &realm, &headers, &params) {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal,
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let answer = lock(&state).answer(&realm, &method, &rest, &params, &headers, &body);
    drop(in_flight);
    answer
}

/// The checks every API call goes through, in the order the layers of QBO apply them.
fn admit(
    state: &Shared,
    realm: &str,
    headers: &HeaderMap,
    params: &Params,
) -> Result<(InFlight, Duration), Answer> {
    let mut s = lock(state);
    if s.faults.outage > 0 {
        s.faults.outage -= 1;
        return Err(outage());
    }
    if !header_str(headers, header::ACCEPT).contains("application/json") {
        return Err(xml_only());
    }
    if s.faults.throttle > 0 {
        s.faults.throttle -= 1;
        return Err(throttled());
    }
    s.check_bearer(realm, headers)?;
    check_minor_version(params)?;
    if let Some(id) = params.get("requestid") {
        let len = id.chars().count();
        if len > MAX_REQUESTID_LEN {
            return Err(too_long("requestid", MAX_REQUESTID_LEN, len));
        }
    }
    let company = s
        .companies
        .get_mut(realm)
        .expect("a token is only issued for a known company");
    company.in_flight += 1;
    company.max_in_flight = company.max_in_flight.max(company.in_flight);
    if company.in_flight > MAX_CONCURRENT_PER_REALM {
        company.in_flight -= 1;
        return Err(throttled());
    }
    // A rolling window: the limit counts the admitted requests of the last 60 s, whenever
    // they came (Intuit: "500 requests per minute per realm"; whether QBO counts in a
    // rolling or a fixed minute is undocumented [I]; a rolling one is the stricter for a
    // connector that bursts across a minute boundary). Refused requests do not count [I].
    let now = Instant::now();
    while company
        .recent
        .front()
        .is_some_and(|t| now.duration_since(*t) >= RATE_WINDOW)
    {
        company.recent.pop_front();
    }
    if company.recent.len() >= MAX_REQUESTS_PER_MINUTE {
        company.in_flight -= 1;
        return Err(throttled());
    }
    company.recent.push_back(now);
    let in_flight = InFlight {
        state: state.clone(),
        realm: realm.to_string(),
    };
    Ok((in_flight, s.delay))
}

/// [I] QBO serves minor version 75 when none (or an older one) is asked for; the fake
/// insists on an explicit `minorversion` >= 75 so the connector pins the version it parses.
fn check_minor_version(params: &Params) -> Result<(), Answer> {
    let given = params.get("minorversion");
    match given.and_then(|v| v.parse::<u32>().ok()) {
        Some(v) if v >= MIN_MINOR_VERSION => Ok(()),
        _ => {
            let detail = format!(
                "minorversion is required and must be {MIN_MINOR_VERSION} or later (got {given:?}); versions 1-74 are no longer supported"
            );
            Err(validation(
                "2010",
                "Request has invalid or unsupported property",
                &detail,
                "minorversion",
            ))
        }
    }
}

impl FakeState {
    /// `Authorization: Bearer <token>`: known, unexpired, and issued for this company.
    fn check_bearer(&self, realm: &str, headers: &HeaderMap) -> Result<(), Answer> {
        let authorization = header_str(headers, header::AUTHORIZATION);
        let Some(bearer) = authorization.strip_prefix("Bearer ") else {
            return Err(unauthenticated(
                "Authorization header missing or not a Bearer token",
            ));
        };
        let Some(token) = self.access_tokens.get(bearer.trim()) else {
            return Err(unauthenticated(
                "Malformed bearer token: too short or too long",
            ));
        };
        if Instant::now() >= token.expires_at {
            return Err(unauthenticated("Token expired"));
        }
        if token.realm != realm {
            return Err(unauthorized_realm());
        }
        Ok(())
    }

    /// Answers an admitted call: replays a known `requestid` (POST) verbatim, else handles
    /// it and remembers the answer under its `requestid`.
    fn answer(
        &mut self,
        realm: &str,
        method: &Method,
        rest: &str,
        params: &Params,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Answer {
        let FakeState {
            companies, faults, ..
        } = self;
        let company = companies
            .get_mut(realm)
            .expect("admitted calls name a known company");
        let requestid = if method == Method::POST {
            params.get("requestid")
        } else {
            None
        };
        if let Some(replay) = requestid.and_then(|id| company.replays.get(id)) {
            return replay.clone();
        }
        let call = Call {
            realm,
            method,
            rest,
            params,
            headers,
            body,
        };
        let (answer, invoice_write) = call.dispatch(company);
        if let Some(id) = requestid {
            company.replays.insert(id.to_string(), answer.clone());
        }
        if invoice_write && answer.status.is_success() && faults.fail_after_commit > 0 {
            faults.fail_after_commit -= 1;
            return system_fault();
        }
        answer
    }
}

/// Any other path: 404 with a JSON fault. [I] shape.
async fn unknown_path(method: Method, uri: axum::http::Uri) -> Answer {
    not_found(&method, uri.path())
}

fn not_found(method: &Method, path: &str) -> Answer {
    let detail = format!("Unsupported operation or resource: {method} {path}");
    fault(
        StatusCode::NOT_FOUND,
        "ValidationFault",
        "404",
        "Resource not found",
        &detail,
        "",
    )
}

// ---------------------------------------------------------------------------------------
// API handlers
// ---------------------------------------------------------------------------------------

/// An admitted API call.
struct Call<'a> {
    realm: &'a str,
    method: &'a Method,
    /// The path after `/v3/company/{realm}/`.
    rest: &'a str,
    params: &'a Params,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

impl Call<'_> {
    /// Routes the call; the flag tells whether it was an invoice write.
    fn dispatch(&self, company: &mut Company) -> (Answer, bool) {
        // Entity names are case-insensitive; ids are numeric.
        let path = self.rest.trim_matches('/').to_ascii_lowercase();
        let segments: Vec<&str> = path.split('/').collect();
        match (self.method.as_str(), segments.as_slice()) {
            ("GET", ["companyinfo", id]) => (self.company_info(company, id), false),
            ("GET", ["preferences"]) => (
                Answer::entity("Preferences", &preferences_entity(company)),
                false,
            ),
            ("GET", ["query"]) => (
                query(
                    company,
                    self.realm,
                    self.params.get("query").unwrap_or_default(),
                ),
                false,
            ),
            ("GET", ["customer", id]) => (read_customer(company, id), false),
            ("POST", ["customer"]) => (self.with_body(|b| write_customer(company, b)), false),
            ("GET", ["item", id]) => (read_item(company, id), false),
            (
                "GET",
                [
                    kind @ ("account" | "taxcode" | "taxrate" | "companycurrency"),
                    id,
                ],
            ) => (read_list_entity(company, self.realm, kind, id), false),
            ("GET", ["invoice", id]) => (read_invoice(company, id), false),
            ("POST", ["invoice"]) => {
                let answer = match self.params.get("operation") {
                    None => self.with_body(|b| write_invoice(company, b)),
                    Some("void") => self.with_body(|b| void_invoice(company, b)),
                    Some(other) => unsupported_property(
                        "operation",
                        &format!("operation={other} is not supported by the fake"),
                    ),
                };
                (answer, true)
            }
            _ => (
                not_found(
                    self.method,
                    &format!("/v3/company/{}/{}", self.realm, self.rest),
                ),
                false,
            ),
        }
    }

    /// Parses a JSON object body (`Content-Type: application/json` required) for `handler`.
    fn with_body(&self, handler: impl FnOnce(&Map<String, Value>) -> Answer) -> Answer {
        if !content_type_is(self.headers, "application/json") {
            // [I] shape: QBO's exact answer to a non-JSON content type is undocumented.
            let detail = "Content-Type must be application/json";
            return fault(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "ValidationFault",
                "415",
                "Unsupported Media Type",
                detail,
                "",
            );
        }
        match serde_json::from_slice::<Value>(self.body) {
            Ok(Value::Object(map)) => handler(&map),
            Ok(_) => unsupported_property("(body)", "the body must be a JSON object"),
            Err(e) => unsupported_property("(body)", &format!("malformed JSON: {e}")),
        }
    }

    /// `GET companyinfo/{realm}`.
    fn company_info(&self, company: &Company, id: &str) -> Answer {
        if id != self.realm {
            return object_not_found("CompanyInfo", id);
        }
        Answer::entity("CompanyInfo", &company_info_entity(company, self.realm))
    }
}

/// The CompanyInfo entity. `Country` is the company's country code (`US`, `GB`, `CA`,
/// `AU`, ...), also on its addresses [I: the fake's addresses carry nothing else].
fn company_info_entity(company: &Company, realm: &str) -> Value {
    let address = json!({ "Id": "1", "Country": company.country });
    json!({
        "CompanyName": company.name, "LegalName": company.name, "Id": realm,
        "SyncToken": "0", "Country": company.country, "SupportedLanguages": "en",
        "CompanyAddr": address, "LegalAddr": address,
        "domain": "QBO", "sparse": false,
        "MetaData": { "CreateTime": SEEDED_TIME, "LastUpdatedTime": SEEDED_TIME },
    })
}

/// The Preferences entity (`GET preferences`, `select * from Preferences`), in QBO's JSON
/// shape (Intuit's Preferences reference and sample; `CurrencyPrefs.HomeCurrency` is a
/// reference, `{"value": "USD"}`). Only the preferences that matter to erp-sync are set.
///
/// `TaxPrefs`: `UsingSalesTax` is true: sales tax is set up, so `TxnTaxDetail` is stored
/// (Intuit: "If sales tax is disabled (Preferences.TaxPrefs.UsingSalesTax is set to false)
/// then TxnTaxDetail is ignored and not stored"). `PartnerTaxEnabled` (automated sales tax)
/// is true for US companies, as for every US company created after November 10, 2017
/// (Intuit, "Manage sales tax for US locales"; sandboxes do not have it), false elsewhere [I].
/// `SalesFormsPrefs.CustomTxnNumbers` is true: the fake keeps the `DocNumber` it is sent.
fn preferences_entity(company: &Company) -> Value {
    json!({
        "Id": "1", "SyncToken": "0", "domain": "QBO", "sparse": false,
        "AccountingInfoPrefs": {
            "TrackDepartments": false, "ClassTrackingPerTxn": false,
            "ClassTrackingPerTxnLine": false, "CustomerTerminology": "Customers",
            "FirstMonthOfFiscalYear": "January",
        },
        "ProductAndServicesPrefs": {
            "ForSales": true, "ForPurchase": true, "QuantityWithPriceAndRate": true,
            "QuantityOnHand": false,
        },
        "SalesFormsPrefs": {
            "CustomTxnNumbers": true, "AllowDeposit": false, "AllowDiscount": true,
            "AllowEstimates": true, "AllowServiceDate": false, "AllowShipping": false,
            "AutoApplyCredit": true, "AutoApplyPayments": true, "UsingPriceLevels": false,
        },
        "TaxPrefs": { "UsingSalesTax": true, "PartnerTaxEnabled": company.is_us() },
        "CurrencyPrefs": {
            "MultiCurrencyEnabled": company.multicurrency,
            "HomeCurrency": { "value": company.home_currency },
        },
        "OtherPrefs": { "NameValue": [
            { "Name": "SalesFormsPrefs.DefaultItem", "Value": "1" },
        ] },
        "MetaData": { "CreateTime": SEEDED_TIME, "LastUpdatedTime": SEEDED_TIME },
    })
}

fn read_customer(company: &Company, id: &str) -> Answer {
    match company.customer_index(id) {
        Some(i) => Answer::entity("Customer", &company.customers[i]),
        None => object_not_found("Customer", id),
    }
}

fn read_item(company: &Company, id: &str) -> Answer {
    match company.items.iter().find(|i| i.id == id) {
        Some(item) => Answer::entity("Item", &item_entity(company, item)),
        None => object_not_found("Item", id),
    }
}

/// `GET account/{id}`, `taxcode/{id}`, `taxrate/{id}`, `companycurrency/{id}`: the entity
/// whatever its `Active`, else 610.
fn read_list_entity(company: &Company, realm: &str, kind: &str, id: &str) -> Answer {
    let entity = match kind {
        "account" => "Account",
        "taxcode" => "TaxCode",
        "taxrate" => "TaxRate",
        _ => "CompanyCurrency",
    };
    let found = entities(company, realm, entity)
        .into_iter()
        .find(|e| e["Id"].as_str().is_some_and(|v| v.eq_ignore_ascii_case(id)));
    match found {
        Some(found) => Answer::entity(entity, &found),
        None => object_not_found(entity, id),
    }
}

fn read_invoice(company: &Company, id: &str) -> Answer {
    match company.invoices.iter().find(|i| i.entity["Id"] == id) {
        Some(invoice) => Answer::entity("Invoice", &invoice.entity),
        None => object_not_found("Invoice", id),
    }
}

/// An Item: every item of the fake is a `Service` with an income account.
fn item_entity(company: &Company, item: &Item) -> Value {
    let account = company
        .account(&item.income_account)
        .expect("an item's income account exists");
    json!({
        "Id": item.id, "SyncToken": "0", "Name": item.name, "FullyQualifiedName": item.name,
        "Active": item.active, "Type": "Service", "Taxable": false, "UnitPrice": 0,
        "TrackQtyOnHand": false,
        "IncomeAccountRef": { "value": account.id, "name": account.name },
        "domain": "QBO", "sparse": false,
        "MetaData": { "CreateTime": SEEDED_TIME, "LastUpdatedTime": SEEDED_TIME },
    })
}

/// An Account, in the shape of QBO's answers (`Classification`, `CurrentBalance`,
/// `CurrencyRef` in the home currency, `AcctNum` when the account has a number).
fn account_entity(company: &Company, account: &Account) -> Value {
    json!({
        "Id": account.id, "SyncToken": "0", "Name": account.name, "SubAccount": false,
        "FullyQualifiedName": account.name, "Active": true,
        "Classification": account.classification, "AccountType": account.account_type,
        "AccountSubType": account.sub_type, "AcctNum": account.acct_num,
        "CurrentBalance": 0, "CurrentBalanceWithSubAccounts": 0,
        "CurrencyRef": currency_ref(&company.home_currency),
        "domain": "QBO", "sparse": false,
        "MetaData": { "CreateTime": SEEDED_TIME, "LastUpdatedTime": SEEDED_TIME },
    })
}

/// A TaxCode of the global tax model, as in Intuit's TaxCode reference: `TaxGroup` and
/// `Taxable` true ("Always true, except for the pseudo taxcode NON"), the rate in
/// `SalesTaxRateList.TaxRateDetail[].TaxRateRef`, no purchase rates.
fn tax_code_entity(company: &Company, code: &TaxCode) -> Value {
    let rate = company
        .tax_rate(&code.rate_id)
        .expect("a code's rate exists");
    json!({
        "Id": code.id, "SyncToken": "0", "Name": code.name, "Description": code.name,
        "Active": code.active, "Hidden": false, "Taxable": true, "TaxGroup": true,
        "SalesTaxRateList": { "TaxRateDetail": [{
            "TaxRateRef": { "value": rate.id, "name": rate.name },
            "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0,
        }] },
        "PurchaseTaxRateList": { "TaxRateDetail": [] },
        "domain": "QBO", "sparse": false,
        "MetaData": { "CreateTime": SEEDED_TIME, "LastUpdatedTime": SEEDED_TIME },
    })
}

/// The US pseudo tax codes, as Intuit's sample answers `select * From TaxCode` for a US
/// company (no `SyncToken`, `Active` or rate lists).
fn pseudo_tax_codes() -> [Value; 2] {
    let meta = json!({ "CreateTime": SEEDED_TIME, "LastUpdatedTime": SEEDED_TIME });
    [
        json!({ "Id": "TAX", "Name": "TAX", "Description": "TAX", "Taxable": true,
                "TaxGroup": false, "MetaData": meta }),
        json!({ "Id": "NON", "Name": "NON", "Description": "NON", "Taxable": false,
                "TaxGroup": false, "MetaData": meta }),
    ]
}

/// A TaxRate, as in Intuit's TaxRate reference (`RateValue` in percent).
fn tax_rate_entity(rate: &TaxRate) -> Value {
    json!({
        "Id": rate.id, "SyncToken": "0", "Name": rate.name, "Description": "Sales Tax",
        "Active": rate.active, "RateValue": number(rate.rate), "AgencyRef": { "value": "1" },
        "SpecialTaxType": "NONE", "DisplayType": "ReadOnly",
        "domain": "QBO", "sparse": false,
        "MetaData": { "CreateTime": SEEDED_TIME, "LastUpdatedTime": SEEDED_TIME },
    })
}

/// A CompanyCurrency, as in Intuit's CompanyCurrency reference.
fn company_currency_entity(currency: &Currency) -> Value {
    json!({
        "Id": currency.id, "SyncToken": "0", "Code": currency.code,
        "Name": currency_name(&currency.code), "Active": currency.active,
        "domain": "QBO", "sparse": false,
        "MetaData": { "CreateTime": currency.created, "LastUpdatedTime": currency.created },
    })
}

// --- query ---------------------------------------------------------------------------

/// The entities the query endpoint answers, each with the properties a `WHERE` or
/// `ORDERBY` may name. Intuit's reference marks per entity which properties are
/// "filterable"; [I] the fake allows these (and `Code` of CompanyCurrency, which
/// integrators filter on [S]: routablehq/python-quickbooks#344), and answers 4001
/// "Property X not found for Entity Y" for any other.
const QUERYABLE: [(&str, &str); 9] = [
    (
        "Customer",
        "Id DisplayName CompanyName GivenName FamilyName FullyQualifiedName Active",
    ),
    ("Item", "Id Name FullyQualifiedName Type Active"),
    ("Invoice", "Id DocNumber TxnDate"),
    (
        "Account",
        "Id Name FullyQualifiedName AccountType AccountSubType Classification AcctNum Active",
    ),
    ("TaxCode", "Id Name Description Active"),
    ("TaxRate", "Id Name Description Active"),
    ("CompanyCurrency", "Id Code Name Active"),
    ("Preferences", "Id"),
    ("CompanyInfo", "Id"),
];

/// Name lists: without a condition on `Active` a query finds only active entities.
/// Integrators report it for `select * from Customer/Vendor/Item` ("use WHERE Active IN
/// (true, false)" to get inactive ones too) [S]; [I] for the other lists.
const NAME_LISTS: &str = "Customer Item Account TaxCode TaxRate CompanyCurrency";

/// A parsed `select * from <Entity> [where <cond> [and <cond>]...] [orderby <Field>
/// [asc|desc]] [startposition n] [maxresults n]`. A condition is `<Field> = <literal>`,
/// `<Field> in (<literal>, ...)` or `<Field> like '<pattern with %>'`; a literal is a
/// single-quoted string or `true`/`false`.
#[derive(Debug, PartialEq)]
struct Query {
    entity: &'static str,
    conditions: Vec<Condition>,
    /// The `ORDERBY` property, and whether `DESC`.
    order: Option<(&'static str, bool)>,
    start: usize,
    max: usize,
}

#[derive(Debug, PartialEq)]
struct Condition {
    field: &'static str,
    like: bool,
    /// One value for `=` and `like`, the list for `in`.
    values: Vec<Literal>,
}

#[derive(Debug, PartialEq)]
enum Literal {
    Text(String),
    Bool(bool),
}

/// Why a query is refused: it does not parse (4000), or it parses but names a property
/// the entity lacks or asks for too much (4001).
#[derive(Debug, PartialEq)]
enum QueryError {
    Parse(String),
    Invalid(String),
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Equals,
    Text(String),
    Open,
    Close,
    Comma,
}

/// Splits a query into words, `=`, `(`, `)`, `,` and single-quoted strings (`\'` is a
/// quote, `\\` a backslash).
fn tokenize(query: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&c) = chars.peek() {
        let punctuation = match c {
            '=' => Some(Token::Equals),
            '(' => Some(Token::Open),
            ')' => Some(Token::Close),
            ',' => Some(Token::Comma),
            _ => None,
        };
        if c.is_whitespace() {
            chars.next();
        } else if let Some(token) = punctuation {
            chars.next();
            tokens.push(token);
        } else if c == '\'' {
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next() {
                    None => return Err("Encountered \"<EOF>\" inside a quoted string".to_string()),
                    Some('\'') => break,
                    Some('\\') if matches!(chars.peek(), Some('\'' | '\\')) => {
                        text.push(chars.next().expect("peeked"));
                    }
                    Some(other) => text.push(other),
                }
            }
            tokens.push(Token::Text(text));
        } else if c.is_alphanumeric() || c == '_' || c == '*' || c == '.' {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if !(c.is_alphanumeric() || c == '_' || c == '*' || c == '.') {
                    break;
                }
                word.push(c);
                chars.next();
            }
            tokens.push(Token::Word(word));
        } else {
            return Err(format!("Encountered \" \"{c}\" \"{c} \"\""));
        }
    }
    Ok(tokens)
}

fn is_keyword(token: Option<&Token>, keyword: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
}

/// A literal of a condition: a quoted string, or `true`/`false` unquoted.
fn literal(token: Option<Token>) -> Result<Literal, QueryError> {
    match token {
        Some(Token::Text(text)) => Ok(Literal::Text(text)),
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
        other => Err(QueryError::Parse(format!(
            "Encountered {other:?}, was expecting a quoted string or a boolean"
        ))),
    }
}

fn parse_query(query: &str) -> Result<Query, QueryError> {
    use QueryError::{Invalid, Parse};
    let mut tokens = tokenize(query).map_err(Parse)?.into_iter().peekable();
    for keyword in ["select", "*", "from"] {
        match tokens.next() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword) => {}
            other => {
                return Err(Parse(format!(
                    "Encountered {other:?}, was expecting \"{keyword}\""
                )));
            }
        }
    }
    let (entity, fields) = match tokens.next() {
        Some(Token::Word(w)) => QUERYABLE
            .into_iter()
            .find(|(e, _)| e.eq_ignore_ascii_case(&w))
            .ok_or_else(|| Parse(format!("entity {w} is not supported by the fake")))?,
        other => {
            return Err(Parse(format!(
                "Encountered {other:?}, was expecting an entity"
            )));
        }
    };
    let property = |token: Option<Token>| -> Result<&'static str, QueryError> {
        let name = match token {
            Some(Token::Word(name)) => name,
            other => {
                return Err(Parse(format!(
                    "Encountered {other:?}, was expecting a property"
                )));
            }
        };
        fields
            .split_whitespace()
            .find(|f| f.eq_ignore_ascii_case(&name))
            .ok_or_else(|| Invalid(format!("Property {name} not found for Entity {entity}")))
    };
    let mut conditions = Vec::new();
    if is_keyword(tokens.peek(), "where") {
        tokens.next();
        loop {
            let field = property(tokens.next())?;
            let condition = match tokens.next() {
                Some(Token::Equals) => Condition {
                    field,
                    like: false,
                    values: vec![literal(tokens.next())?],
                },
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("like") => match tokens.next() {
                    Some(Token::Text(pattern)) => Condition {
                        field,
                        like: true,
                        values: vec![Literal::Text(pattern)],
                    },
                    other => {
                        return Err(Parse(format!(
                            "Encountered {other:?}, was expecting a quoted pattern"
                        )));
                    }
                },
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("in") => {
                    if tokens.next() != Some(Token::Open) {
                        return Err(Parse("was expecting \"(\"".to_string()));
                    }
                    let mut values = vec![literal(tokens.next())?];
                    loop {
                        match tokens.next() {
                            Some(Token::Comma) => values.push(literal(tokens.next())?),
                            Some(Token::Close) => break,
                            other => {
                                return Err(Parse(format!(
                                    "Encountered {other:?}, was expecting \",\" or \")\""
                                )));
                            }
                        }
                    }
                    Condition {
                        field,
                        like: false,
                        values,
                    }
                }
                other => {
                    return Err(Parse(format!(
                        "Encountered {other:?}, was expecting \"=\", \"in\" or \"like\""
                    )));
                }
            };
            conditions.push(condition);
            if !is_keyword(tokens.peek(), "and") {
                break;
            }
            tokens.next();
        }
    }
    let mut order = None;
    if is_keyword(tokens.peek(), "orderby") {
        tokens.next();
        let field = property(tokens.next())?;
        let descending = is_keyword(tokens.peek(), "desc");
        if descending || is_keyword(tokens.peek(), "asc") {
            tokens.next();
        }
        order = Some((field, descending));
    }
    let mut start = 1;
    let mut max = DEFAULT_MAX_RESULTS;
    while let Some(token) = tokens.next() {
        let number = match tokens.next() {
            Some(Token::Word(n)) => n.parse::<usize>().ok(),
            _ => None,
        };
        match (token, number) {
            (Token::Word(w), Some(n)) if w.eq_ignore_ascii_case("startposition") && n >= 1 => {
                start = n
            }
            (Token::Word(w), Some(n)) if w.eq_ignore_ascii_case("maxresults") && n >= 1 => {
                if n > MAX_MAX_RESULTS {
                    return Err(Invalid(format!(
                        "value {n} is too large. Max allowed value is {MAX_MAX_RESULTS}"
                    )));
                }
                max = n
            }
            (other, _) => return Err(Parse(format!("Encountered {other:?}"))),
        }
    }
    Ok(Query {
        entity,
        conditions,
        order,
        start,
        max,
    })
}

impl Condition {
    fn matches(&self, entity: &Value) -> bool {
        // The US pseudo tax codes carry no `Active`: they are always usable.
        let active = Value::Bool(true);
        let value = match &entity[self.field] {
            Value::Null if self.field == "Active" => &active,
            value => value,
        };
        self.values.iter().any(|literal| match (value, literal) {
            (Value::Bool(b), Literal::Bool(l)) => b == l,
            (Value::Bool(b), Literal::Text(t)) => t.eq_ignore_ascii_case(&b.to_string()),
            (Value::String(s), Literal::Text(t)) if self.like => like(s, t),
            (Value::String(s), Literal::Text(t)) => s == t,
            (Value::Number(n), Literal::Text(t)) => n.to_string() == *t,
            _ => false,
        })
    }
}

/// `LIKE`: `%` matches any run of characters; [I] case-insensitive.
fn like(text: &str, pattern: &str) -> bool {
    let text = text.to_lowercase();
    let pattern = pattern.to_lowercase();
    let parts: Vec<&str> = pattern.split('%').collect();
    let last = parts.len() - 1;
    let mut rest = text.as_str();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        if i == 0 {
            let Some(after) = rest.strip_prefix(part) else {
                return false;
            };
            rest = after;
        } else if i == last {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    // Here the pattern ended with `%`, or had none and must have matched all of `text`.
    last > 0 || rest.is_empty()
}

/// `ORDERBY`: numerically when both values are numbers (ids), else by text [I].
fn compare_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let (a, b) = (text(a), text(b));
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.to_lowercase().cmp(&b.to_lowercase()),
    }
}

/// Every entity of a kind the company holds, active or not, in QBO's shape.
fn entities(company: &Company, realm: &str, entity: &str) -> Vec<Value> {
    match entity {
        "Customer" => company.customers.clone(),
        "Item" => company
            .items
            .iter()
            .map(|i| item_entity(company, i))
            .collect(),
        "Invoice" => company.invoices.iter().map(|i| i.entity.clone()).collect(),
        "Account" => company
            .accounts
            .iter()
            .map(|a| account_entity(company, a))
            .collect(),
        "TaxCode" => {
            let mut codes = if company.is_us() {
                Vec::from(pseudo_tax_codes())
            } else {
                Vec::new()
            };
            codes.extend(
                company
                    .tax_codes
                    .iter()
                    .map(|c| tax_code_entity(company, c)),
            );
            codes
        }
        "TaxRate" => company.tax_rates.iter().map(tax_rate_entity).collect(),
        // Intuit: a CompanyCurrency is "Applicable only for those companies that enable
        // multicurrency". [I] Without it, the list is empty (no error).
        "CompanyCurrency" if company.multicurrency => company
            .currencies
            .iter()
            .map(company_currency_entity)
            .collect(),
        "CompanyCurrency" => Vec::new(),
        "Preferences" => vec![preferences_entity(company)],
        _ => vec![company_info_entity(company, realm)],
    }
}

/// `GET query?query=...`: `{"QueryResponse":{"<Entity>":[...],"startPosition","maxResults"}}`
/// (`maxResults` being how many came back), or an empty `QueryResponse` when nothing
/// matches. [I] No `totalCount`: QBO sends it on some answers only, so a connector must
/// page by asking until a page comes back short or empty.
fn query(company: &Company, realm: &str, text: &str) -> Answer {
    let q = match parse_query(text) {
        Ok(q) => q,
        Err(QueryError::Parse(detail)) => return query_parser_error(&detail),
        Err(QueryError::Invalid(detail)) => return query_validation_error(&detail),
    };
    let only_active =
        listed(NAME_LISTS, q.entity) && !q.conditions.iter().any(|c| c.field == "Active");
    let mut found: Vec<Value> = entities(company, realm, q.entity)
        .into_iter()
        .filter(|e| !only_active || e["Active"] != false)
        .filter(|e| q.conditions.iter().all(|c| c.matches(e)))
        .collect();
    if let Some((field, descending)) = q.order {
        found.sort_by(|a, b| compare_values(&a[field], &b[field]));
        if descending {
            found.reverse();
        }
    }
    let found: Vec<Value> = found.into_iter().skip(q.start - 1).take(q.max).collect();
    let response = if found.is_empty() {
        json!({})
    } else {
        json!({ q.entity: found, "startPosition": q.start, "maxResults": found.len() })
    };
    Answer::json(
        StatusCode::OK,
        &json!({ "QueryResponse": response, "time": response_time() }),
    )
}

// --- customers -----------------------------------------------------------------------

/// Customer properties QBO accepts; any other is rejected with 2010.
const CUSTOMER_FIELDS: &str = "\
    Id SyncToken sparse domain MetaData DisplayName Title GivenName MiddleName FamilyName \
    Suffix CompanyName FullyQualifiedName PrintOnCheckName PrimaryEmailAddr PrimaryPhone \
    AlternatePhone Mobile Fax WebAddr BillAddr ShipAddr Notes Active Job ParentRef \
    BillWithParent Level Taxable TaxExemptionReasonId DefaultTaxCodeRef PrimaryTaxIdentifier \
    ResaleNum CurrencyRef SalesTermRef PaymentMethodRef PreferredDeliveryMethod Balance \
    BalanceWithJobs OpenBalanceDate GSTIN BusinessNumber GSTRegistrationType \
    SecondaryTaxIdentifier CustomerTypeRef ARAccountRef";

/// Read-only customer properties the fake maintains itself.
const CUSTOMER_COMPUTED: &str = "\
    Id SyncToken sparse domain MetaData FullyQualifiedName Balance BalanceWithJobs";

/// `POST customer`: create, or update when `Id` is given (full, or `sparse: true`).
fn write_customer(company: &mut Company, body: &Map<String, Value>) -> Answer {
    if let Err(refusal) = check_properties(body, CUSTOMER_FIELDS, "Customer") {
        return refusal;
    }
    let result = match body.get("Id") {
        None => company.create_customer(body),
        Some(id) => company.update_customer(id.as_str().unwrap_or_default(), body),
    };
    match result {
        Ok(entity) => Answer::entity("Customer", &entity),
        Err(refusal) => refusal,
    }
}

impl Company {
    fn create_customer(&mut self, body: &Map<String, Value>) -> Result<Value, Answer> {
        let (mut entity, new_currency) = self.customer_fields(body, None)?;
        if let Some(code) = new_currency {
            self.add_currency(&code);
        }
        let id = self.next_customer_id.to_string();
        self.next_customer_id += 1;
        let now = meta_time();
        entity.insert("Id".into(), json!(id));
        entity.insert("SyncToken".into(), json!("0"));
        entity.insert(
            "MetaData".into(),
            json!({ "CreateTime": now, "LastUpdatedTime": now }),
        );
        let entity = Value::Object(entity);
        self.customers.push(entity.clone());
        Ok(entity)
    }

    fn update_customer(&mut self, id: &str, body: &Map<String, Value>) -> Result<Value, Answer> {
        let index = self
            .customer_index(id)
            .ok_or_else(|| object_not_found("Customer", id))?;
        let current = self.customers[index].clone();
        check_sync_token(&current, body)?;
        let input = if body.get("sparse") == Some(&Value::Bool(true)) {
            merge_sparse(&current, body, CUSTOMER_COMPUTED)
        } else {
            body.clone()
        };
        let (mut entity, _) = self.customer_fields(&input, Some(&current))?;
        entity.insert("Id".into(), json!(id));
        entity.insert(
            "SyncToken".into(),
            json!((sync_token(&current) + 1).to_string()),
        );
        let created = current["MetaData"]["CreateTime"].clone();
        entity.insert(
            "MetaData".into(),
            json!({ "CreateTime": created, "LastUpdatedTime": meta_time() }),
        );
        let entity = Value::Object(entity);
        self.customers[index] = entity.clone();
        Ok(entity)
    }

    /// Validates a customer's properties and fills QBO's defaults (everything but Id,
    /// SyncToken and MetaData). `current` is the customer being updated, if any. Also
    /// answers a currency to add to the company's list (see [`Company::customer_currency`]).
    fn customer_fields(
        &self,
        input: &Map<String, Value>,
        current: Option<&Value>,
    ) -> Result<(Map<String, Value>, Option<String>), Answer> {
        let own_id = current.and_then(|c| c["Id"].as_str());
        let name = match input.get("DisplayName") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(required("DisplayName"));
            }
            Some(_) => return Err(unsupported_property("DisplayName", "not a string")),
        };
        let len = name.chars().count();
        if len > MAX_DISPLAY_NAME_LEN {
            return Err(too_long("DisplayName", MAX_DISPLAY_NAME_LEN, len));
        }
        let taken = self.customers.iter().any(|c| {
            c["DisplayName"] == name.as_str()
                && Some(c["Id"].as_str().unwrap_or_default()) != own_id
        });
        if taken {
            return Err(duplicate_name());
        }
        let mut entity: Map<String, Value> = input
            .iter()
            .filter(|(k, _)| !listed(CUSTOMER_COMPUTED, k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        entity.insert("FullyQualifiedName".into(), json!(name));
        entity.entry("PrintOnCheckName").or_insert(json!(name));
        entity.entry("Active").or_insert(json!(true));
        entity.entry("Taxable").or_insert(json!(true));
        entity.entry("Job").or_insert(json!(false));
        entity.entry("BillWithParent").or_insert(json!(false));
        entity
            .entry("PreferredDeliveryMethod")
            .or_insert(json!("Print"));
        let current_currency = current.and_then(|c| c["CurrencyRef"]["value"].as_str());
        let (currency, new_currency) = self.customer_currency(input, current_currency)?;
        entity.insert("CurrencyRef".into(), currency_ref(&currency));
        entity.insert("Balance".into(), json!(0));
        entity.insert("BalanceWithJobs".into(), json!(0));
        entity.insert("domain".into(), json!("QBO"));
        entity.insert("sparse".into(), json!(false));
        Ok((entity, new_currency))
    }

    /// A customer's currency, checked, and whether it must be added to the currency list.
    ///
    /// Documented (Intuit, Customer `CurrencyRef`): "Reference to the currency in which all
    /// amounts associated with this customer are expressed. Once set, it cannot be changed.
    /// If specified currency is not currently in the company's currency list, it is added.
    /// If not specified, currency for this customer is the home currency of the company".
    /// So a known currency missing from the list is added, not refused. [I] Refused: a
    /// currency QBO does not know (2220), a non-home currency while multicurrency is off, a
    /// currency of the list made inactive, and an update naming another currency than the
    /// customer's (a full update without `CurrencyRef` keeps it).
    fn customer_currency(
        &self,
        input: &Map<String, Value>,
        current: Option<&str>,
    ) -> Result<(String, Option<String>), Answer> {
        let given = match input.get("CurrencyRef") {
            None | Some(Value::Null) => None,
            Some(reference) => {
                Some(ref_id(Some(reference)).ok_or_else(|| required("CurrencyRef"))?)
            }
        };
        if let Some(current) = current {
            return match given {
                Some(given) if given != current => Err(currency_locked()),
                _ => Ok((current.to_string(), None)),
            };
        }
        let code = given.unwrap_or_else(|| self.home_currency.clone());
        if !known_currency(&code) {
            return Err(invalid_currency("CurrencyRef", &code));
        }
        if code == self.home_currency {
            return Ok((code, None));
        }
        if !self.multicurrency {
            return Err(multicurrency_off(&code, &self.home_currency));
        }
        match self.currency(&code) {
            Some(listed) if !listed.active => Err(inactive_currency(&code)),
            Some(_) => Ok((code, None)),
            None => Ok((code.clone(), Some(code))),
        }
    }
}

// --- invoices ------------------------------------------------------------------------

/// Invoice properties QBO accepts; any other is rejected with 2010.
const INVOICE_FIELDS: &str = "\
    Id SyncToken sparse domain MetaData CustomerRef DocNumber TxnDate DueDate Line \
    TxnTaxDetail PrivateNote CustomerMemo EmailStatus PrintStatus BillEmail BillEmailCc \
    BillEmailBcc BillAddr ShipAddr ShipFromAddr ShipDate ShipMethodRef TrackingNum \
    SalesTermRef CurrencyRef ExchangeRate CustomField ClassRef DepartmentRef \
    GlobalTaxCalculation ApplyTaxAfterDiscount AllowOnlineCreditCardPayment \
    AllowOnlineACHPayment AllowIPNPayment AllowOnlinePayment Deposit DepositToAccountRef \
    LinkedTxn TransactionLocationType TotalAmt Balance HomeTotalAmt HomeBalance ProjectRef \
    RecurDataRef TaxExemptionRef InvoiceLink FreeFormAddress";

/// Invoice properties the fake computes or maintains itself (ignored on input).
const INVOICE_COMPUTED: &str = "\
    Id SyncToken sparse domain MetaData TotalAmt Balance HomeTotalAmt HomeBalance \
    InvoiceLink";

const LINE_FIELDS: &str = "\
    Id LineNum Description Amount DetailType SalesItemLineDetail DiscountLineDetail \
    SubTotalLineDetail DescriptionLineDetail LinkedTxn ProjectRef";

const SALES_DETAIL_FIELDS: &str = "\
    ItemRef Qty UnitPrice TaxCodeRef ServiceDate ClassRef ItemAccountRef TaxInclusiveAmt \
    DiscountAmt DiscountRate MarkupInfo PriceLevelRef TaxClassificationRef";

/// `POST invoice`: create, or update when `Id` is given (full, or `sparse: true`).
fn write_invoice(company: &mut Company, body: &Map<String, Value>) -> Answer {
    if let Err(refusal) = check_properties(body, INVOICE_FIELDS, "Invoice") {
        return refusal;
    }
    let result = match body.get("Id") {
        None => company.create_invoice(body),
        Some(id) => company.update_invoice(id.as_str().unwrap_or_default(), body),
    };
    match result {
        Ok(entity) => Answer::entity("Invoice", &entity),
        Err(refusal) => refusal,
    }
}

/// `POST invoice?operation=void` with `{"Id","SyncToken"}`: zeroes the amounts, prefixes
/// `PrivateNote` with "Voided", bumps `SyncToken`; the invoice stays readable.
fn void_invoice(company: &mut Company, body: &Map<String, Value>) -> Answer {
    let Some(id) = body.get("Id").and_then(Value::as_str) else {
        return required("Id");
    };
    let Some(invoice) = company.invoice_mut(id) else {
        return object_not_found("Invoice", id);
    };
    if let Err(refusal) = check_sync_token(&invoice.entity, body) {
        return refusal;
    }
    if invoice.voided {
        return business("This transaction is already void.");
    }
    invoice.voided = true;
    let entity = &mut invoice.entity;
    if let Some(lines) = entity["Line"].as_array_mut() {
        for line in lines.iter_mut().filter(|l| l.get("Amount").is_some()) {
            line["Amount"] = money(Decimal::ZERO);
        }
    }
    for field in ["TotalAmt", "Balance", "HomeTotalAmt", "HomeBalance"] {
        if field.starts_with("Home") && entity.get(field).is_none() {
            continue;
        }
        entity[field] = money(Decimal::ZERO);
    }
    entity["TxnTaxDetail"]["TotalTax"] = money(Decimal::ZERO);
    // [I] The tax lines of a non-US invoice are zeroed too.
    if let Some(tax_lines) = entity["TxnTaxDetail"]["TaxLine"].as_array_mut() {
        for line in tax_lines {
            line["Amount"] = money(Decimal::ZERO);
        }
    }
    let note = match entity["PrivateNote"].as_str() {
        Some(note) if !note.is_empty() => format!("Voided - {note}"),
        _ => "Voided".to_string(),
    };
    entity["PrivateNote"] = json!(note);
    entity["SyncToken"] = json!((sync_token(entity) + 1).to_string());
    entity["MetaData"]["LastUpdatedTime"] = json!(meta_time());
    Answer::entity("Invoice", entity)
}

impl Company {
    fn create_invoice(&mut self, body: &Map<String, Value>) -> Result<Value, Answer> {
        let mut entity = self.invoice_fields(body, &[])?;
        let id = self.next_invoice_id.to_string();
        self.next_invoice_id += 1;
        let now = meta_time();
        entity.insert("Id".into(), json!(id));
        entity.insert("SyncToken".into(), json!("0"));
        entity.insert(
            "MetaData".into(),
            json!({ "CreateTime": now, "LastUpdatedTime": now }),
        );
        let entity = Value::Object(entity);
        let stored = StoredInvoice {
            entity: entity.clone(),
            voided: false,
        };
        self.invoices.push(stored);
        Ok(entity)
    }

    /// Full update (omitted writable fields are dropped, `Line` replaced) or sparse update
    /// (only given fields change; a given `Line` still replaces all lines).
    fn update_invoice(&mut self, id: &str, body: &Map<String, Value>) -> Result<Value, Answer> {
        let Some(index) = self.invoices.iter().position(|i| i.entity["Id"] == id) else {
            return Err(object_not_found("Invoice", id));
        };
        let current = self.invoices[index].entity.clone();
        check_sync_token(&current, body)?;
        if self.invoices[index].voided {
            return Err(business(
                "You cannot modify a transaction that has been voided.",
            ));
        }
        let mut input = if body.get("sparse") == Some(&Value::Bool(true)) {
            merge_sparse(&current, body, INVOICE_COMPUTED)
        } else {
            body.clone()
        };
        if !self.is_us() && !body.contains_key("TxnTaxDetail") {
            // [I] A sparse update that does not send `TxnTaxDetail` has the tax computed
            // again from the lines' codes: the stored tax lines are not an override.
            input.remove("TxnTaxDetail");
        }
        let previous_lines = current["Line"].as_array().cloned().unwrap_or_default();
        let mut entity = self.invoice_fields(&input, &previous_lines)?;
        entity.insert("Id".into(), json!(id));
        entity.insert(
            "SyncToken".into(),
            json!((sync_token(&current) + 1).to_string()),
        );
        let created = current["MetaData"]["CreateTime"].clone();
        entity.insert(
            "MetaData".into(),
            json!({ "CreateTime": created, "LastUpdatedTime": meta_time() }),
        );
        let entity = Value::Object(entity);
        self.invoices[index].entity = entity.clone();
        Ok(entity)
    }

    /// Validates an invoice's properties and computes what QBO computes: names on refs,
    /// line ids, the SubTotal line, the currency and exchange rate, the tax (per the
    /// company's tax model), `TotalAmt` and `Balance`. Everything but Id, SyncToken and
    /// MetaData. Lines keep their `Id` when it names one of `previous_lines`.
    fn invoice_fields(
        &self,
        input: &Map<String, Value>,
        previous_lines: &[Value],
    ) -> Result<Map<String, Value>, Answer> {
        let customer_id =
            ref_id(input.get("CustomerRef")).ok_or_else(|| required("CustomerRef"))?;
        let customer = self
            .customers
            .iter()
            .find(|c| c["Id"] == customer_id && c["Active"] != false)
            .ok_or_else(|| invalid_reference("CustomerRef", "Customer", &customer_id))?;
        if let Some(doc) = input.get("DocNumber").filter(|v| !v.is_null()) {
            let doc = doc
                .as_str()
                .ok_or_else(|| unsupported_property("DocNumber", "not a string"))?;
            let len = doc.chars().count();
            if len > MAX_DOC_NUMBER_LEN {
                return Err(too_long("DocNumber", MAX_DOC_NUMBER_LEN, len));
            }
        }
        let txn_date = date_field(input, "TxnDate")?.unwrap_or_else(today);
        let due_date = date_field(input, "DueDate")?.unwrap_or_else(|| txn_date.clone());

        let mode = self.tax_mode(input)?;
        let lines = self.invoice_lines(input.get("Line"), previous_lines, mode)?;
        let (currency, exchange_rate) = self.invoice_currency(input, customer)?;
        let (tax_detail, total_tax) = match mode {
            TaxMode::Us => us_tax(input)?,
            TaxMode::NotApplicable => {
                match input.get("TxnTaxDetail") {
                    None | Some(Value::Null) => {}
                    Some(Value::Object(detail)) if detail.is_empty() => {}
                    Some(_) => return Err(tax_detail_not_applicable()),
                }
                // [I] The stored detail says no tax.
                (json!({ "TotalTax": money(Decimal::ZERO) }), Decimal::ZERO)
            }
            TaxMode::Excluded | TaxMode::Inclusive => self.global_tax(input, &lines, mode)?,
        };
        let total = lines.subtotal - lines.discount + total_tax;
        if total < Decimal::ZERO {
            return Err(business("Transaction total can not be negative."));
        }

        let mut entity: Map<String, Value> = input
            .iter()
            .filter(|(k, _)| !listed(INVOICE_COMPUTED, k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let customer_name = customer["DisplayName"].clone();
        entity.insert(
            "CustomerRef".into(),
            json!({ "value": customer_id, "name": customer_name }),
        );
        entity.insert("TxnDate".into(), json!(txn_date));
        entity.insert("DueDate".into(), json!(due_date));
        entity.insert("Line".into(), Value::Array(lines.lines));
        entity.insert("TxnTaxDetail".into(), tax_detail);
        if let Some(name) = mode.name() {
            entity.insert("GlobalTaxCalculation".into(), json!(name));
        }
        entity.insert("TotalAmt".into(), money(total));
        entity.insert("Balance".into(), money(total));
        entity.insert("CurrencyRef".into(), currency_ref(&currency));
        match exchange_rate {
            // Intuit: `HomeTotalAmt` is the total "in the home currency for multi-currency
            // enabled companies. Single currency companies will not have this field."
            Some(rate) => {
                entity.insert("ExchangeRate".into(), number(rate));
                entity.insert("HomeTotalAmt".into(), money(total * rate));
                entity.insert("HomeBalance".into(), money(total * rate));
            }
            None => {
                entity.remove("ExchangeRate");
            }
        }
        entity.entry("EmailStatus").or_insert(json!("NotSet"));
        entity.entry("PrintStatus").or_insert(json!("NotSet"));
        entity.insert("domain".into(), json!("QBO"));
        entity.insert("sparse".into(), json!(false));
        Ok(entity)
    }

    /// The invoice's tax model. US companies: [`TaxMode::Us`], whatever the request says
    /// (a `GlobalTaxCalculation` sent to a US company is stored as sent and changes
    /// nothing [I]). Others: `GlobalTaxCalculation`, which Intuit documents as "Not
    /// applicable to US companies; required for non-US companies" with "Default:
    /// TaxExcluded" (Bill reference); [I] absent means `TaxExcluded`. Another value is
    /// refused with 2170.
    fn tax_mode(&self, input: &Map<String, Value>) -> Result<TaxMode, Answer> {
        if self.is_us() {
            return Ok(TaxMode::Us);
        }
        match input.get("GlobalTaxCalculation") {
            None | Some(Value::Null) => Ok(TaxMode::Excluded),
            Some(Value::String(s)) if s == "TaxExcluded" => Ok(TaxMode::Excluded),
            Some(Value::String(s)) if s == "TaxInclusive" => Ok(TaxMode::Inclusive),
            Some(Value::String(s)) if s == "NotApplicable" => Ok(TaxMode::NotApplicable),
            Some(Value::String(s)) => Err(invalid_enumeration("GlobalTaxCalculation", s)),
            Some(other) => Err(invalid_enumeration(
                "GlobalTaxCalculation",
                &other.to_string(),
            )),
        }
    }

    /// The invoice's currency code and, in a multicurrency company, its exchange rate.
    ///
    /// Intuit, Invoice `CurrencyRef`: "Reference to the currency in which all amounts on the
    /// associated transaction are expressed. This must be defined if multicurrency is
    /// enabled for the company." [I] When it is absent, the customer's currency applies
    /// (the fake accepts the omission). Refused: a code QBO does not know (2220), a
    /// non-home currency while multicurrency is off, a currency that is not active in the
    /// company's list, and a currency other than the customer's (a customer has "only one
    /// currency" and its transactions are in it: Intuit, "Manage multiple currencies"; "All
    /// invoices must use the vendor's assigned currency" [S], Procore's QBO guide).
    ///
    /// `ExchangeRate` ("the number of home currency units it takes to equal one foreign
    /// currency unit", Intuit) is "Valid only if the company file is set up to use
    /// Multi-Currency": with multicurrency on it is 1 for the home currency [I], else the
    /// request's, else the rate set with [`FakeQuickBooks::set_exchange_rate`], else 1 [S];
    /// with multicurrency off a sent `ExchangeRate` is dropped [I].
    fn invoice_currency(
        &self,
        input: &Map<String, Value>,
        customer: &Value,
    ) -> Result<(String, Option<Decimal>), Answer> {
        let customer_currency = customer["CurrencyRef"]["value"]
            .as_str()
            .unwrap_or(&self.home_currency);
        let code = match input.get("CurrencyRef") {
            None | Some(Value::Null) => customer_currency.to_string(),
            Some(reference) => ref_id(Some(reference)).ok_or_else(|| required("CurrencyRef"))?,
        };
        if !known_currency(&code) {
            return Err(invalid_currency("CurrencyRef", &code));
        }
        if code != self.home_currency {
            if !self.multicurrency {
                return Err(multicurrency_off(&code, &self.home_currency));
            }
            if !self.currency(&code).is_some_and(|c| c.active) {
                return Err(inactive_currency(&code));
            }
        }
        if code != customer_currency {
            return Err(currency_mismatch());
        }
        if !self.multicurrency {
            return Ok((code, None));
        }
        if code == self.home_currency {
            return Ok((code, Some(Decimal::ONE)));
        }
        let rate = match amount_field(input, "ExchangeRate")? {
            // [I] Code and wording.
            Some(rate) if rate <= Decimal::ZERO => {
                return Err(business("The exchange rate must be greater than zero."));
            }
            Some(rate) => rate,
            None => self
                .exchange_rates
                .get(&code)
                .copied()
                .unwrap_or(Decimal::ONE),
        };
        Ok((code, Some(rate)))
    }

    /// The tax of a non-US invoice under `TaxExcluded` or `TaxInclusive`: a `TxnTaxDetail`
    /// with one `TaxLine` per rate and `TotalTax`, computed from the lines' codes (Intuit,
    /// non-US sales tax: "When creating or updating sales transactions, QuickBooks Online
    /// automatically calculates tax and returns the amount in the TxnTaxDetail.TotalTax
    /// attribute of the transaction based on the TaxCode assigned to each line").
    ///
    /// - `TaxExcluded`: per rate, `NetAmountTaxable` is the sum of its lines' amounts
    ///   (Intuit, TaxLineDetail: "If TaxRate is applicable on two lines, the taxableamount
    ///   represents total of the two lines"), and the tax that sum times the rate, rounded to
    ///   the cent once per rate [I] (half away from zero [I]).
    /// - `TaxInclusive`: each line's tax is rounded on its own (Intuit: with TaxInclusive
    ///   "the pre-tax transaction amount is the sum of pre-tax amounts rounded off per
    ///   line"), see [`Company::sales_line`].
    /// - Discounts: with `ApplyTaxAfterDiscount` false or absent the tax is on the amounts
    ///   before discount (Intuit: "If false or null, calculate the sales tax first, and then
    ///   apply the discount"); with true, [I] each rate's base loses its share of the
    ///   discount.
    /// - Override: a request `TxnTaxDetail` with `TaxLine`s replaces the computed amounts
    ///   (Intuit: the detail "can be calculated by QuickBooks business logic or you may
    ///   supply it"; an override sends `TotalTax` and one `TaxLine` per rate, and "You must
    ///   send all TaxRateRefs of a TaxCode even if you are modifying just one of them").
    ///   [I] `TotalTax` is then the sum of the supplied lines; a line naming a rate the
    ///   invoice does not use is refused (2500), an override leaving out a rate too (6000).
    /// - [I] A `TxnTaxDetail` with a `TotalTax` and no `TaxLine` (what a US-minded connector
    ///   sends) is ignored: the computed tax stands, so such a connector's totals differ
    ///   from its own. Intuit documents no override without tax lines, and integrators
    ///   report QBO Canada "does not honour a header-only TotalTax" [S].
    fn global_tax(
        &self,
        input: &Map<String, Value>,
        lines: &Lines,
        mode: TaxMode,
    ) -> Result<(Value, Decimal), Answer> {
        struct RateTotal {
            rate_id: String,
            percent: Decimal,
            base: Decimal,
            tax: Decimal,
        }
        let mut totals: Vec<RateTotal> = Vec::new();
        for line in &lines.taxed {
            let index = match totals.iter().position(|t| t.rate_id == line.rate_id) {
                Some(index) => index,
                None => {
                    totals.push(RateTotal {
                        rate_id: line.rate_id.clone(),
                        percent: line.percent,
                        base: Decimal::ZERO,
                        tax: Decimal::ZERO,
                    });
                    totals.len() - 1
                }
            };
            let total = &mut totals[index];
            total.base += line.net;
            if mode == TaxMode::Inclusive {
                total.tax += line
                    .inclusive_tax
                    .unwrap_or_else(|| cents(line.net * line.percent / Decimal::ONE_HUNDRED));
            }
        }
        if mode == TaxMode::Excluded {
            let after_discount = input.get("ApplyTaxAfterDiscount") == Some(&Value::Bool(true));
            for total in &mut totals {
                if after_discount
                    && lines.discount > Decimal::ZERO
                    && lines.subtotal > Decimal::ZERO
                {
                    total.base -= cents(lines.discount * total.base / lines.subtotal);
                }
                total.tax = cents(total.base * total.percent / Decimal::ONE_HUNDRED);
            }
        }
        let supplied = match input.get("TxnTaxDetail") {
            None | Some(Value::Null) => None,
            Some(Value::Object(detail)) => detail
                .get("TaxLine")
                .and_then(Value::as_array)
                .filter(|tax_lines| !tax_lines.is_empty()),
            Some(_) => return Err(unsupported_property("TxnTaxDetail", "not an object")),
        };
        if let Some(supplied) = supplied {
            let element = "TxnTaxDetail.TaxLine.TaxLineDetail.TaxRateRef";
            let mut overridden = Vec::new();
            for tax_line in supplied {
                let tax_line = tax_line
                    .as_object()
                    .ok_or_else(|| unsupported_property("TxnTaxDetail.TaxLine", "not an object"))?;
                let amount = amount_field(tax_line, "TxnTaxDetail.TaxLine.Amount")?
                    .ok_or_else(|| required("TxnTaxDetail.TaxLine.Amount"))?;
                let rate_id = ref_id(
                    tax_line
                        .get("TaxLineDetail")
                        .and_then(|d| d.get("TaxRateRef")),
                )
                .ok_or_else(|| required(element))?;
                let Some(total) = totals.iter_mut().find(|t| t.rate_id == rate_id) else {
                    return Err(invalid_reference(element, "TaxRate", &rate_id));
                };
                total.tax = amount;
                overridden.push(rate_id);
            }
            if let Some(missing) = totals.iter().find(|t| !overridden.contains(&t.rate_id)) {
                return Err(business(&format!(
                    "You must send all TaxRateRefs of a TaxCode even if you are modifying just one of them. TaxRate {} is missing.",
                    missing.rate_id
                )));
            }
        }
        let total_tax: Decimal = totals.iter().map(|t| t.tax).sum();
        let tax_lines: Vec<Value> = totals
            .iter()
            .map(|t| {
                json!({
                    "Amount": money(t.tax), "DetailType": "TaxLineDetail",
                    "TaxLineDetail": {
                        "TaxRateRef": { "value": t.rate_id }, "PercentBased": true,
                        "TaxPercent": number(t.percent), "NetAmountTaxable": money(t.base),
                    },
                })
            })
            .collect();
        let detail = json!({ "TotalTax": money(total_tax), "TaxLine": tax_lines });
        Ok((detail, total_tax))
    }

    /// Validates `Line` and computes the stored lines (SubTotal appended) and sums.
    fn invoice_lines(
        &self,
        line: Option<&Value>,
        previous_lines: &[Value],
        mode: TaxMode,
    ) -> Result<Lines, Answer> {
        let Some(Value::Array(input)) = line else {
            return Err(required("Line"));
        };
        let previous_ids: Vec<u64> = previous_lines
            .iter()
            .filter_map(|l| l["Id"].as_str().and_then(|id| id.parse().ok()))
            .collect();
        let mut next_id = previous_ids.iter().max().map_or(1, |m| m + 1);
        let mut out = Lines {
            lines: Vec::new(),
            subtotal: Decimal::ZERO,
            discount: Decimal::ZERO,
            taxed: Vec::new(),
        };
        let mut percent_discounts = Vec::new();
        let mut sales_lines = 0;
        for line in input {
            let line = line
                .as_object()
                .ok_or_else(|| unsupported_property("Line", "not an object"))?;
            check_properties(line, LINE_FIELDS, "Line")?;
            let detail_type = line
                .get("DetailType")
                .and_then(Value::as_str)
                .ok_or_else(|| required("Line.DetailType"))?;
            let mut stored = match detail_type {
                "SalesItemLineDetail" => {
                    let sales = self.sales_line(line, mode)?;
                    out.subtotal += sales.net;
                    out.taxed.extend(sales.taxed);
                    sales_lines += 1;
                    sales.stored
                }
                "DiscountLineDetail" => {
                    let (stored, amount) = discount_line(line)?;
                    match amount {
                        Some(amount) => out.discount += amount,
                        None => percent_discounts.push(out.lines.len()),
                    }
                    out.lines.push(stored);
                    continue;
                }
                "DescriptionOnly" => {
                    let mut stored = line.clone();
                    stored.remove("Amount");
                    stored
                }
                // QBO recomputes the subtotal line itself.
                "SubTotalLineDetail" => continue,
                other => {
                    return Err(unsupported_property(
                        "Line.DetailType",
                        &format!("{other} is not supported by the fake"),
                    ));
                }
            };
            let id = match line
                .get("Id")
                .and_then(Value::as_str)
                .and_then(|id| id.parse::<u64>().ok())
            {
                Some(id) if previous_ids.contains(&id) => id,
                _ => {
                    let id = next_id;
                    next_id += 1;
                    id
                }
            };
            stored.insert("Id".into(), json!(id.to_string()));
            stored.insert("LineNum".into(), json!(out.lines.len() + 1));
            out.lines.push(Value::Object(stored));
        }
        if sales_lines == 0 {
            return Err(required("Line"));
        }
        for index in percent_discounts {
            let line = &mut out.lines[index];
            let percent =
                decimal(&line["DiscountLineDetail"]["DiscountPercent"]).unwrap_or_default();
            let amount = cents(out.subtotal * percent / Decimal::ONE_HUNDRED);
            line["Amount"] = money(amount);
            out.discount += amount;
        }
        out.lines.push(json!({
            "Amount": money(out.subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {},
        }));
        Ok(out)
    }

    /// A `SalesItemLineDetail` line: `Amount` and an active `ItemRef` are required;
    /// `Amount` must be `Qty * UnitPrice` to the cent when both are given.
    ///
    /// `TaxCodeRef`:
    /// - US: absent, `TAX` or `NON`; anything else is refused with 6100.
    /// - Non-US, `TaxExcluded`/`TaxInclusive`: required, the id of an active TaxCode;
    ///   otherwise 6000 "Make sure all your transactions have a ... rate before you save."
    ///   ([`missing_tax_rate`]), the pseudo codes `TAX`/`NON` included.
    /// - Non-US, `NotApplicable`: [I] optional; one that is given must be usable.
    ///
    /// `Amount` is the amount before tax: QBO assumes line prices exclude tax [S]
    /// (ruckus/quickbooks-ruby#346). Under `TaxInclusive` a line may give its gross in
    /// `SalesItemLineDetail.TaxInclusiveAmt` ("The total amount of the line item including
    /// tax", Intuit); [I] the stored `Amount` is then the gross less tax, rounded per line,
    /// and the line's tax the difference.
    fn sales_line(&self, line: &Map<String, Value>, mode: TaxMode) -> Result<SalesLine, Answer> {
        let amount = amount_field(line, "Line.Amount")?.ok_or_else(|| required("Line.Amount"))?;
        let element = "Line.SalesItemLineDetail.ItemRef";
        let detail = line
            .get("SalesItemLineDetail")
            .and_then(Value::as_object)
            .ok_or_else(|| required("Line.SalesItemLineDetail"))?;
        check_properties(detail, SALES_DETAIL_FIELDS, "SalesItemLineDetail")?;
        let item_id = ref_id(detail.get("ItemRef")).ok_or_else(|| required(element))?;
        let item = self
            .active_item(&item_id)
            .ok_or_else(|| invalid_reference(element, "Item", &item_id))?;
        let qty = amount_field(detail, "Line.SalesItemLineDetail.Qty")?;
        let unit_price = amount_field(detail, "Line.SalesItemLineDetail.UnitPrice")?;
        if let (Some(qty), Some(unit_price)) = (qty, unit_price)
            && cents(qty * unit_price) != amount
        {
            return Err(business(&format!(
                "Amount is not equal to UnitPrice * Qty. Supplied value:{amount}"
            )));
        }
        let code_ref = ref_id(detail.get("TaxCodeRef"));
        let tax_code = match mode {
            TaxMode::Us => {
                if let Some(code) = &code_ref
                    && code != "TAX"
                    && code != "NON"
                {
                    return Err(invalid_line_tax_code(code));
                }
                None
            }
            TaxMode::NotApplicable => {
                if code_ref.is_some()
                    && code_ref
                        .as_deref()
                        .and_then(|c| self.active_tax_code(c))
                        .is_none()
                {
                    return Err(missing_tax_rate(&self.country));
                }
                None
            }
            TaxMode::Excluded | TaxMode::Inclusive => Some(
                code_ref
                    .as_deref()
                    .and_then(|c| self.active_tax_code(c))
                    .ok_or_else(|| missing_tax_rate(&self.country))?,
            ),
        };
        let mut detail = detail.clone();
        detail.insert(
            "ItemRef".into(),
            json!({ "value": item.id, "name": item.name }),
        );
        let mut net = amount;
        let mut taxed = None;
        if let Some(code) = tax_code {
            let rate = self.tax_rate(&code.rate_id).expect("a code's rate exists");
            let gross = match mode {
                TaxMode::Inclusive => {
                    amount_field(&detail, "Line.SalesItemLineDetail.TaxInclusiveAmt")?
                }
                _ => None,
            };
            let inclusive_tax = gross.map(|gross| {
                net = cents(gross * Decimal::ONE_HUNDRED / (Decimal::ONE_HUNDRED + rate.rate));
                gross - net
            });
            if let Some(gross) = gross {
                detail.insert("TaxInclusiveAmt".into(), money(gross));
            }
            taxed = Some(TaxedLine {
                net,
                rate_id: rate.id.clone(),
                percent: rate.rate,
                inclusive_tax,
            });
        }
        let mut stored = line.clone();
        stored.insert("Amount".into(), money(net));
        stored.insert("SalesItemLineDetail".into(), Value::Object(detail));
        Ok(SalesLine { stored, net, taxed })
    }
}

/// The tax model an invoice is computed under (see [`Company::tax_mode`]).
#[derive(Clone, Copy, Debug, PartialEq)]
enum TaxMode {
    /// US: lines carry `TAX`/`NON`; the tax is the request's `TxnTaxDetail.TotalTax`.
    Us,
    /// Global tax model, `GlobalTaxCalculation` `TaxExcluded`.
    Excluded,
    /// `TaxInclusive`.
    Inclusive,
    /// `NotApplicable`: no tax.
    NotApplicable,
}

impl TaxMode {
    /// The `GlobalTaxCalculation` value stored on the invoice (none for US).
    fn name(self) -> Option<&'static str> {
        match self {
            TaxMode::Us => None,
            TaxMode::Excluded => Some("TaxExcluded"),
            TaxMode::Inclusive => Some("TaxInclusive"),
            TaxMode::NotApplicable => Some("NotApplicable"),
        }
    }
}

/// The tax of a US invoice, as today: the request's `TxnTaxDetail` kept as sent, with
/// `TotalTax` (default 0) as the invoice's tax.
fn us_tax(input: &Map<String, Value>) -> Result<(Value, Decimal), Answer> {
    let mut detail = match input.get("TxnTaxDetail") {
        None | Some(Value::Null) => json!({}),
        Some(detail @ Value::Object(_)) => detail.clone(),
        Some(_) => return Err(unsupported_property("TxnTaxDetail", "not an object")),
    };
    let total_tax = match detail.get("TotalTax") {
        None | Some(Value::Null) => Decimal::ZERO,
        Some(v) => decimal(v)
            .ok_or_else(|| unsupported_property("TxnTaxDetail.TotalTax", "not a number"))?,
    };
    detail["TotalTax"] = money(total_tax);
    Ok((detail, total_tax))
}

/// Stored lines and their sums.
struct Lines {
    lines: Vec<Value>,
    /// The sales lines' amounts before tax.
    subtotal: Decimal,
    discount: Decimal,
    /// The sales lines under the global tax model (empty for US and `NotApplicable`).
    taxed: Vec<TaxedLine>,
}

/// A checked sales line: as stored, its amount before tax, and how it is taxed.
struct SalesLine {
    stored: Map<String, Value>,
    net: Decimal,
    taxed: Option<TaxedLine>,
}

/// A sales line as the global tax model sees it.
struct TaxedLine {
    net: Decimal,
    rate_id: String,
    percent: Decimal,
    /// `TaxInclusive` with `TaxInclusiveAmt`: the line's own tax (gross less net).
    inclusive_tax: Option<Decimal>,
}

/// A `DiscountLineDetail` line: a non-negative `Amount`, or (`PercentBased`) a
/// `DiscountPercent` resolved against the subtotal later (`None`).
fn discount_line(line: &Map<String, Value>) -> Result<(Value, Option<Decimal>), Answer> {
    let detail = line
        .get("DiscountLineDetail")
        .cloned()
        .unwrap_or_else(|| json!({ "PercentBased": false }));
    let percent_based = detail["PercentBased"] == true;
    let amount = amount_field(line, "Line.Amount")?;
    let amount = match (amount, percent_based) {
        (Some(amount), _) => Some(amount),
        (None, true) if decimal(&detail["DiscountPercent"]).is_some() => None,
        (None, _) => return Err(required("Line.Amount")),
    };
    if amount.is_some_and(|a| a < Decimal::ZERO) {
        return Err(business("Discount amount must not be negative."));
    }
    let mut stored = line.clone();
    stored.insert("DiscountLineDetail".into(), detail);
    if let Some(amount) = amount {
        stored.insert("Amount".into(), money(amount));
    }
    Ok((Value::Object(stored), amount))
}

// --- shared validation helpers ---------------------------------------------------------

/// Whether `name` is in a whitespace-separated list of property names.
fn listed(list: &str, name: &str) -> bool {
    list.split_whitespace().any(|n| n == name)
}

/// Rejects properties QBO does not know (2010), as its JSON binder does.
fn check_properties(object: &Map<String, Value>, known: &str, class: &str) -> Result<(), Answer> {
    match object.keys().find(|k| !listed(known, k)) {
        None => Ok(()),
        Some(unknown) => Err(unsupported_property(
            unknown,
            &format!(
                "Unrecognized field \"{unknown}\" (class com.intuit.schema.finance.v3.{class}), not marked as ignorable"
            ),
        )),
    }
}

/// The body's `SyncToken` must equal the stored one (else 5010).
fn check_sync_token(current: &Value, body: &Map<String, Value>) -> Result<(), Answer> {
    match body.get("SyncToken").and_then(Value::as_str) {
        None => Err(required("SyncToken")),
        Some(given) if given == current["SyncToken"] => Ok(()),
        Some(_) => Err(stale_object()),
    }
}

/// The stored entity with the body's fields laid over it (a sparse update's input).
fn merge_sparse(current: &Value, body: &Map<String, Value>, computed: &str) -> Map<String, Value> {
    let mut merged: Map<String, Value> = current
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !listed(computed, k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in body {
        merged.insert(k.clone(), v.clone());
    }
    merged
}

/// `{"value": "<id>"}` of a reference.
fn ref_id(reference: Option<&Value>) -> Option<String> {
    let id = reference?.get("value")?.as_str()?;
    (!id.is_empty()).then(|| id.to_string())
}

/// An optional `YYYY-MM-DD` property.
fn date_field(input: &Map<String, Value>, name: &str) -> Result<Option<String>, Answer> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() => {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(unsupported_property(name, "not a date in YYYY-MM-DD form")),
    }
}

/// An optional amount, which must be a JSON number (a string is refused with 2010).
fn amount_field(object: &Map<String, Value>, path: &str) -> Result<Option<Decimal>, Answer> {
    match object.get(path.rsplit('.').next().unwrap_or(path)) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => decimal(v)
            .map(Some)
            .ok_or_else(|| unsupported_property(path, "not a JSON number")),
    }
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

/// Rounds to cents, half away from zero.
fn cents(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// A money amount as QBO writes it: a JSON number with at least one decimal (`150.0`).
fn money(d: Decimal) -> Value {
    let d = cents(d).normalize();
    let text = if d.scale() == 0 {
        format!("{d}.0")
    } else {
        d.to_string()
    };
    serde_json::from_str(&text).expect("a decimal is a JSON number")
}

/// A number that is not money (a rate, a percent) as QBO writes it, without forced
/// decimals: `20`, `7.1`, `1.085`.
fn number(d: Decimal) -> Value {
    serde_json::from_str(&d.normalize().to_string()).expect("a decimal is a JSON number")
}

/// The currency codes QBO knows: the `currencyCode` enumeration of Intuit's
/// `IntuitBaseTypes.xsd` (QuickBooks-V3-Java-SDK), plus [I] a few codes newer than it.
const CURRENCY_CODES: &str = "\
    AED AFA ALL ANG AOA AOK ARP ARS AMD ATS AUD AWF AWG AZM BAM BBD BDT BEF BGL BHD BIF BMD \
    BND BOB BRC BRL BSD BTN BUK BWP BYR BYB BZD CAD CDF CHF CLP CNY COP CRC CZK CUP CVE DDM \
    DEM DJF DKK DOP DZD ECS EEK EGP ERN ESP ETB EUR FIM FJD FKP FRF GBP GEL GHC GIP GMD GNF \
    GRD GTQ GWP GYD HKD HNL HRK HTG HUF IDR IEP ILS INR IQD IRR ISK ITL JMD JOD KES KGS KHR \
    KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LTL LUF LVL LYD MAD MDL MGF MKD MMK MNT MOP \
    MRO MUR MVR MWK MXN MXP MYR MZM NAD NGN NIC NIO NLG NOK NPR NZD OMR PAB PEN PES PGK PHP \
    PKR PLN PLZ PTE PYG QAR ROL RUR RWF SAR SBD SCR SDD SDP SEK SGD SHP SIT SKK SLL SM SOS \
    SRG STD SUR SVC SYP SZL THB TMM TND TOP TRL TTD TWD TZS UAH UGS UGX USD UYP UYU UZS VND \
    VUV VAL WST XAF XCD XOF XPF YER YUD ZAR ZMK ZRZ ZWD \
    BYN GHS MZN RON RSD RUB TRY VES ZMW";

/// QBO's names of currencies (`CurrencyRef.name`, `CompanyCurrency.Name`). As in Intuit's
/// samples: USD, EUR, GBP, CAD, AUD, JPY; [I] the others. A code missing here is named by
/// itself [I].
const CURRENCY_NAMES: [(&str, &str); 20] = [
    ("USD", "United States Dollar"),
    ("EUR", "Euro"),
    ("GBP", "British Pound Sterling"),
    ("CAD", "Canadian Dollar"),
    ("AUD", "Australian Dollar"),
    ("JPY", "Japanese Yen"),
    ("NZD", "New Zealand Dollar"),
    ("CHF", "Swiss Franc"),
    ("INR", "Indian Rupee"),
    ("ZAR", "South African Rand"),
    ("SGD", "Singapore Dollar"),
    ("HKD", "Hong Kong Dollar"),
    ("SEK", "Swedish Krona"),
    ("NOK", "Norwegian Krone"),
    ("DKK", "Danish Krone"),
    ("MXN", "Mexican Peso"),
    ("BRL", "Brazilian Real"),
    ("CNY", "Chinese Yuan Renminbi"),
    ("PLN", "Polish Zloty"),
    ("AED", "UAE Dirham"),
];

fn known_currency(code: &str) -> bool {
    listed(CURRENCY_CODES, code)
}

fn currency_name(code: &str) -> &str {
    CURRENCY_NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, name)| name)
}

/// `{"value": "EUR", "name": "Euro"}`, the `CurrencyRef` of customers, invoices, accounts.
fn currency_ref(code: &str) -> Value {
    json!({ "value": code, "name": currency_name(code) })
}

/// An entity's `SyncToken` as a number.
fn sync_token(entity: &Value) -> u64 {
    entity["SyncToken"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Self-tests: the fake driven with plain HTTP
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod self_tests {
    use super::*;

    const REDIRECT: &str = "https://app.example/cb";

    fn http() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client")
    }

    /// Runs the authorize redirect and returns (code, realmId).
    async fn authorize_code(fake: &FakeQuickBooks) -> (String, String) {
        let response = http()
            .get(fake.auth_url())
            .query(&[
                ("response_type", "code"),
                ("client_id", CLIENT_ID),
                ("redirect_uri", REDIRECT),
                ("scope", "com.intuit.quickbooks.accounting openid"),
                ("state", "csrf-1"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        let location = url::Url::parse(location).unwrap();
        assert!(location.as_str().starts_with(REDIRECT));
        let params: HashMap<String, String> = location.query_pairs().into_owned().collect();
        assert_eq!(params["state"], "csrf-1");
        (params["code"].clone(), params["realmId"].clone())
    }

    async fn token_request(fake: &FakeQuickBooks, form: &[(&str, &str)]) -> (u16, Value) {
        let response = http()
            .post(fake.token_url())
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .header(header::ACCEPT, "application/json")
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// Authorizes and exchanges the code: an API client for the company picked.
    async fn connect(fake: &FakeQuickBooks) -> Api<'_> {
        let (code, realm) = authorize_code(fake).await;
        let exchange = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ];
        let (status, body) = token_request(fake, &exchange).await;
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().unwrap().to_string();
        Api { fake, token, realm }
    }

    /// A well-behaved API client.
    struct Api<'a> {
        fake: &'a FakeQuickBooks,
        token: String,
        realm: String,
    }

    impl Api<'_> {
        fn url(&self, path: &str) -> String {
            let (base, realm) = (self.fake.api_base(), &self.realm);
            format!("{base}/v3/company/{realm}/{path}")
        }

        async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
            let response = http()
                .get(self.url(path))
                .query(&[("minorversion", "75")])
                .query(query)
                .bearer_auth(&self.token)
                .header(header::ACCEPT, "application/json")
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.json().await.unwrap())
        }

        async fn post_raw(
            &self,
            path: &str,
            query: &[(&str, &str)],
            body: &Value,
        ) -> reqwest::Response {
            http()
                .post(self.url(path))
                .query(&[("minorversion", "75")])
                .query(query)
                .bearer_auth(&self.token)
                .header(header::ACCEPT, "application/json")
                .json(body)
                .send()
                .await
                .unwrap()
        }

        async fn post(&self, path: &str, query: &[(&str, &str)], body: &Value) -> (u16, Value) {
            let response = self.post_raw(path, query, body).await;
            (response.status().as_u16(), response.json().await.unwrap())
        }

        async fn create_customer(&self, name: &str) -> String {
            let body = json!({ "DisplayName": name });
            let (status, body) = self.post("customer", &[], &body).await;
            assert_eq!(status, 200, "{body}");
            body["Customer"]["Id"].as_str().unwrap().to_string()
        }

        async fn query(&self, query: &str) -> (u16, Value) {
            self.get("query", &[("query", query)]).await
        }
    }

    fn detail_of(body: &Value) -> &str {
        body["Fault"]["Error"][0]["Detail"]
            .as_str()
            .unwrap_or_default()
    }

    /// An invoice with one sales line per (amount, TaxCodeRef) on item 1.
    fn taxed_invoice(customer: &str, lines: &[(f64, Option<&str>)]) -> Value {
        let lines: Vec<Value> = lines
            .iter()
            .map(|(amount, code)| {
                let mut detail = json!({ "ItemRef": { "value": "1" } });
                if let Some(code) = code {
                    detail["TaxCodeRef"] = json!({ "value": code });
                }
                json!({ "Amount": amount, "DetailType": "SalesItemLineDetail",
                        "SalesItemLineDetail": detail })
            })
            .collect();
        json!({ "CustomerRef": { "value": customer }, "Line": lines })
    }

    fn code_of(body: &Value) -> &str {
        body["Fault"]["Error"][0]["code"]
            .as_str()
            .unwrap_or_default()
    }

    fn invoice_body(customer: &str) -> Value {
        json!({
            "CustomerRef": { "value": customer },
            "DocNumber": "INV-2024-0001", "TxnDate": "2024-05-01", "DueDate": "2024-05-31",
            "Line": [
                { "Amount": 150.00, "DetailType": "SalesItemLineDetail", "Description": "Pro plan May",
                  "SalesItemLineDetail": { "ItemRef": { "value": "1" }, "Qty": 1, "UnitPrice": 150.00 } },
                { "Amount": 12.0, "DetailType": "SalesItemLineDetail",
                  "SalesItemLineDetail": { "ItemRef": { "value": "2" }, "Qty": 12000, "UnitPrice": 0.001 } },
                { "Amount": 10.5, "DetailType": "DiscountLineDetail", "DiscountLineDetail": { "PercentBased": false } },
            ],
            "TxnTaxDetail": { "TotalTax": 0.99 },
        })
    }

    #[tokio::test]
    async fn auth_code_flow_rotates_refresh_tokens_and_rejects_bad_grants() {
        let fake = FakeQuickBooks::start().await;
        let (code, realm) = authorize_code(&fake).await;
        assert_eq!(realm, REALM);

        let exchange = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ];
        let (status, tokens) = token_request(&fake, &exchange).await;
        assert_eq!(status, 200);
        assert_eq!(tokens["token_type"], "bearer");
        assert_eq!(tokens["expires_in"], 3600);
        assert_eq!(tokens["x_refresh_token_expires_in"], 8_726_400);
        let rt1 = tokens["refresh_token"].as_str().unwrap().to_string();

        // Codes are single use.
        let (status, body) = token_request(&fake, &exchange).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );

        // Refresh rotates; client_secret_post is accepted too.
        let response = http()
            .post(fake.token_url())
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt1.as_str()),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers().contains_key("intuit_tid"));
        let refreshed: Value = response.json().await.unwrap();
        let rt2 = refreshed["refresh_token"].as_str().unwrap();
        assert_ne!(rt2, rt1);
        assert_eq!(fake.token_refreshes(), 1);

        // A wrong secret is invalid_client.
        let response = http()
            .post(fake.token_url())
            .basic_auth(CLIENT_ID, Some("wrong"))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", rt2)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.text().await.unwrap(), INVALID_CLIENT);

        // Revoked refresh tokens answer QBO's exact invalid_grant.
        fake.revoke_refresh_tokens();
        let response = http()
            .post(fake.token_url())
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", rt2)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(response.text().await.unwrap(), INVALID_GRANT);
        assert_eq!(fake.token_refreshes(), 2);
    }

    #[tokio::test]
    async fn api_calls_need_a_valid_token_accept_and_minorversion() {
        let fake = FakeQuickBooks::start().await;
        let api = connect(&fake).await;
        let (status, body) = api.get(&format!("companyinfo/{REALM}"), &[]).await;
        assert_eq!(status, 200);
        assert_eq!(body["CompanyInfo"]["CompanyName"], "Fake Co");
        assert_eq!(body["CompanyInfo"]["Id"], REALM);

        // Expired token: the lowercase gateway envelope.
        fake.expire_access_tokens();
        let (status, body) = api.get(&format!("companyinfo/{REALM}"), &[]).await;
        assert_eq!(status, 401);
        assert_eq!(body["fault"]["error"][0]["code"], "3200");
        assert_eq!(body["fault"]["type"], "AUTHENTICATION");
        assert!(body["time"].is_i64());
        assert!(body.get("Fault").is_none());

        let api = connect(&fake).await;
        // No minorversion.
        let response = http()
            .get(api.url(&format!("companyinfo/{REALM}")))
            .bearer_auth(&api.token)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["Fault"]["type"], "ValidationFault");
        assert!(
            body["Fault"]["Error"][0]["Detail"]
                .as_str()
                .unwrap()
                .contains("minorversion")
        );
        // No Accept: XML.
        let response = http()
            .get(api.url(&format!("companyinfo/{REALM}")))
            .query(&[("minorversion", "75")])
            .bearer_auth(&api.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/xml");
        // Over-long requestid.
        let long = "x".repeat(51);
        let (status, body) = api
            .post(
                "customer",
                &[("requestid", &long)],
                &json!({ "DisplayName": "A" }),
            )
            .await;
        assert_eq!((status, code_of(&body)), (400, "2050"));
        // Another company's path.
        fake.add_company("9130350000000002", "Other Co");
        let response = http()
            .get(format!(
                "{}/v3/company/9130350000000002/companyinfo/9130350000000002",
                fake.url
            ))
            .query(&[("minorversion", "75")])
            .bearer_auth(&api.token)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        // Unknown paths are 404 with a JSON fault.
        let (status, body) = api.get("nosuchthing/1", &[]).await;
        assert_eq!(status, 404);
        assert!(body["Fault"].is_object());
    }

    #[tokio::test]
    async fn customers_are_unique_and_queryable_with_quotes_and_non_ascii() {
        let fake = FakeQuickBooks::start().await;
        let api = connect(&fake).await;
        let obrien = api.create_customer("O'Brien & Sons").await;
        let muller = api.create_customer("Müller GmbH").await;
        assert_ne!(obrien, muller);

        let (status, body) = api
            .post("customer", &[], &json!({ "DisplayName": "Müller GmbH" }))
            .await;
        assert_eq!((status, code_of(&body)), (400, "6240"));
        let (status, body) = api
            .post(
                "customer",
                &[],
                &json!({ "PrimaryEmailAddr": { "Address": "a@b.c" } }),
            )
            .await;
        assert_eq!((status, code_of(&body)), (400, "2020"));

        let query = r"select * from Customer where DisplayName = 'O\'Brien & Sons'";
        let (status, body) = api.get("query", &[("query", query)]).await;
        assert_eq!(status, 200);
        assert_eq!(body["QueryResponse"]["Customer"][0]["Id"], obrien.as_str());
        assert_eq!(body["QueryResponse"]["maxResults"], 1);
        let query = "SELECT * FROM customer WHERE displayname = 'Müller GmbH'";
        let (_, body) = api.get("query", &[("query", query)]).await;
        assert_eq!(body["QueryResponse"]["Customer"][0]["Id"], muller.as_str());
        let (_, body) = api
            .get(
                "query",
                &[(
                    "query",
                    "select * from Customer where DisplayName = 'Nobody'",
                )],
            )
            .await;
        assert_eq!(body["QueryResponse"], json!({}));
        let (_, body) = api
            .get(
                "query",
                &[("query", "select * from Item where Name = 'Hours'")],
            )
            .await;
        assert_eq!(body["QueryResponse"]["Item"][0]["Id"], "2");
        let (status, body) = api
            .get(
                "query",
                &[(
                    "query",
                    "select * from Customer where DisplayName = O'Brien",
                )],
            )
            .await;
        assert_eq!((status, code_of(&body)), (400, "4000"));
        assert_eq!(fake.customers(REALM).len(), 2);
    }

    #[tokio::test]
    async fn invoices_are_created_replayed_updated_and_voided() {
        let fake = FakeQuickBooks::start().await;
        let api = connect(&fake).await;
        let customer = api.create_customer("Acme Inc").await;

        let body = invoice_body(&customer);
        let first = api
            .post_raw("invoice", &[("requestid", "inv_1-v1")], &body)
            .await;
        assert_eq!(first.status(), 200);
        let first = first.text().await.unwrap();
        let created: Value = serde_json::from_str(&first).unwrap();
        let invoice = &created["Invoice"];
        assert_eq!(invoice["SyncToken"], "0");
        assert_eq!(invoice["TotalAmt"], json!(152.49));
        assert_eq!(invoice["CustomerRef"]["name"], "Acme Inc");
        assert_eq!(
            invoice["Line"][0]["SalesItemLineDetail"]["ItemRef"]["name"],
            "Services"
        );
        let lines = invoice["Line"].as_array().unwrap();
        assert_eq!(lines.last().unwrap()["DetailType"], "SubTotalLineDetail");
        assert_eq!(lines.last().unwrap()["Amount"], json!(162.0));
        let id = invoice["Id"].as_str().unwrap().to_string();

        // Same requestid: the same bytes, nothing new stored.
        let again = api
            .post_raw("invoice", &[("requestid", "inv_1-v1")], &body)
            .await;
        assert_eq!(again.text().await.unwrap(), first);
        assert_eq!(fake.invoices(REALM).len(), 1);

        // Stale SyncToken after someone edits it in QBO.
        fake.edit_invoice_elsewhere(REALM, &id);
        let mut update = invoice_body(&customer);
        update["Id"] = json!(id);
        update["SyncToken"] = json!("0");
        update["Line"] = json!([{ "Amount": 175.0, "DetailType": "SalesItemLineDetail",
                                  "SalesItemLineDetail": { "ItemRef": { "value": "1" } } }]);
        let (status, body) = api
            .post("invoice", &[("requestid", "inv_1-v2")], &update)
            .await;
        assert_eq!((status, code_of(&body)), (400, "5010"));
        assert_eq!(body["Fault"]["Error"][0]["Message"], "Stale Object Error");

        // With the current token: a full update replaces the lines.
        let (_, current) = api.get(&format!("invoice/{id}"), &[]).await;
        update["SyncToken"] = current["Invoice"]["SyncToken"].clone();
        let (status, body) = api
            .post("invoice", &[("requestid", "inv_1-v3")], &update)
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["Invoice"]["SyncToken"], "2");
        assert_eq!(body["Invoice"]["TotalAmt"], json!(175.99));
        assert_eq!(body["Invoice"]["Line"].as_array().unwrap().len(), 2);

        // Void, then an update is refused.
        let void = json!({ "Id": id, "SyncToken": "2" });
        let (status, body) = api.post("invoice", &[("operation", "void")], &void).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["Invoice"]["TotalAmt"], json!(0.0));
        assert!(
            body["Invoice"]["PrivateNote"]
                .as_str()
                .unwrap()
                .starts_with("Voided")
        );
        update["SyncToken"] = json!("3");
        let (status, body) = api.post("invoice", &[], &update).await;
        assert_eq!((status, code_of(&body)), (400, "6000"));
        let (status, _) = api.get(&format!("invoice/{id}"), &[]).await;
        assert_eq!(status, 200);
        let (status, body) = api.get("invoice/999999", &[]).await;
        assert_eq!((status, code_of(&body)), (400, "610"));

        // Query by DocNumber.
        let query = "select * from Invoice where DocNumber = 'INV-2024-0001'";
        let (_, body) = api.get("query", &[("query", query)]).await;
        assert_eq!(body["QueryResponse"]["Invoice"][0]["Id"], id.as_str());
    }

    #[tokio::test]
    async fn invoice_validation_errors() {
        let fake = FakeQuickBooks::start().await;
        let api = connect(&fake).await;
        let customer = api.create_customer("Acme Inc").await;

        let mut body = invoice_body("12345");
        let (status, res) = api.post("invoice", &[], &body).await;
        assert_eq!((status, code_of(&res)), (400, "2500"));
        assert_eq!(res["Fault"]["Error"][0]["element"], "CustomerRef");

        fake.remove_item(REALM, "Hours");
        body["CustomerRef"]["value"] = json!(customer);
        let (status, res) = api.post("invoice", &[], &body).await;
        assert_eq!((status, code_of(&res)), (400, "2500"));
        assert_eq!(
            res["Fault"]["Error"][0]["element"],
            "Line.SalesItemLineDetail.ItemRef"
        );

        let mut body = invoice_body(&customer);
        body["Line"] = json!([{ "Amount": 10.0, "DetailType": "SalesItemLineDetail",
                                "SalesItemLineDetail": { "ItemRef": { "value": "1" }, "Qty": 3, "UnitPrice": 3.0 } }]);
        let (status, res) = api.post("invoice", &[], &body).await;
        assert_eq!((status, code_of(&res)), (400, "6000"));

        let mut body = invoice_body(&customer);
        body["Line"] = json!([]);
        let (status, res) = api.post("invoice", &[], &body).await;
        assert_eq!((status, code_of(&res)), (400, "2020"));

        let mut body = invoice_body(&customer);
        body["DocNumber"] = json!("X".repeat(22));
        let (status, res) = api.post("invoice", &[], &body).await;
        assert_eq!((status, code_of(&res)), (400, "2050"));

        let mut body = invoice_body(&customer);
        body["DueDat"] = json!("2024-05-31");
        let (status, res) = api.post("invoice", &[], &body).await;
        assert_eq!((status, code_of(&res)), (400, "2010"));

        let (status, res) = api
            .post("invoice", &[], &json!({ "Id": "424242", "SyncToken": "0" }))
            .await;
        assert_eq!((status, code_of(&res)), (400, "610"));
        assert!(fake.invoices(REALM).is_empty());
    }

    #[tokio::test]
    async fn lost_response_is_committed_and_replayed_by_requestid() {
        let fake = FakeQuickBooks::start().await;
        let api = connect(&fake).await;
        let customer = api.create_customer("Acme Inc").await;
        fake.fail_after_commit(1);
        let body = invoice_body(&customer);
        let (status, res) = api.post("invoice", &[("requestid", "r-1")], &body).await;
        assert_eq!((status, code_of(&res)), (500, "10000"));
        assert_eq!(res["Fault"]["type"], "SystemFault");
        assert_eq!(fake.invoices(REALM).len(), 1);
        let (status, res) = api.post("invoice", &[("requestid", "r-1")], &body).await;
        assert_eq!(status, 200);
        assert_eq!(res["Invoice"]["Id"], fake.invoices(REALM)[0]["Id"]);
        assert_eq!(fake.invoices(REALM).len(), 1);
    }

    #[tokio::test]
    async fn throttling_outages_and_concurrency() {
        let fake = FakeQuickBooks::start().await;
        let api = connect(&fake).await;
        let path = format!("companyinfo/{REALM}");

        fake.throttle_next(1);
        let response = http()
            .get(api.url(&path))
            .query(&[("minorversion", "75")])
            .bearer_auth(&api.token)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 429);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
        let body: Value = response.json().await.unwrap();
        assert_eq!(code_of(&body), "3001");
        assert_eq!(body["Fault"]["type"], "SERVICE");

        fake.outage_next(1);
        let response = http()
            .get(api.url(&path))
            .query(&[("minorversion", "75")])
            .bearer_auth(&api.token)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/html");
        assert!(response.headers().contains_key("intuit_tid"));
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("503 Service Temporarily Unavailable")
        );

        let (status, _) = api.get(&path, &[]).await;
        assert_eq!(status, 200);

        fake.set_delay(Duration::from_millis(300));
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..12 {
            let request = http()
                .get(api.url(&path))
                .query(&[("minorversion", "75")])
                .bearer_auth(&api.token)
                .header(header::ACCEPT, "application/json");
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
            10,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 429).count(),
            2,
            "{statuses:?}"
        );
        // The 11th and 12th were in flight (and refused) while ten were being served.
        assert_eq!(fake.max_concurrent_seen(REALM), 11);
        let recorded = fake.requests();
        assert!(recorded.iter().all(|r| r.status != 0));
        assert!(
            recorded
                .iter()
                .any(|r| r.path.ends_with("/companyinfo/9130350000000001") && r.authorization)
        );
    }

    #[tokio::test]
    async fn authorize_picks_the_configured_company_and_tokens_can_be_short_lived() {
        let fake = FakeQuickBooks::start().await;
        let other = "9130350000000002";
        fake.add_company(other, "Other Co");
        fake.set_authorizing_realm(other);
        let existing = fake.add_customer(other, "Preexisting Ltd");
        let api = connect(&fake).await;
        assert_eq!(api.realm, other);
        let (status, body) = api.get(&format!("companyinfo/{other}"), &[]).await;
        assert_eq!(status, 200);
        assert_eq!(body["CompanyInfo"]["CompanyName"], "Other Co");
        let query = "select * from Customer where DisplayName = 'Preexisting Ltd'";
        let (_, body) = api.get("query", &[("query", query)]).await;
        assert_eq!(
            body["QueryResponse"]["Customer"][0]["Id"],
            existing.as_str()
        );
        api.post(
            "customer",
            &[("requestid", "c-1")],
            &json!({ "DisplayName": "New" }),
        )
        .await;
        assert!(fake.customers(REALM).is_empty());
        assert_eq!(fake.customers(other).len(), 2);

        let recorded = fake.requests();
        let post = recorded
            .iter()
            .find(|r| r.method == "POST" && r.path.ends_with("/customer"));
        let post = post.expect("the customer POST is recorded");
        assert_eq!(post.requestid.as_deref(), Some("c-1"));
        assert!(post.query.contains("minorversion=75"));

        fake.set_access_token_lifetime(0);
        let api = connect(&fake).await;
        let (status, body) = api.get(&format!("companyinfo/{other}"), &[]).await;
        assert_eq!(status, 401);
        assert_eq!(body["fault"]["error"][0]["detail"], "Token expired");
    }

    #[tokio::test]
    async fn company_settings_show_in_company_info_and_preferences() {
        let fake = FakeQuickBooks::start().await;
        let api = connect(&fake).await;
        let (status, body) = api.get("preferences", &[]).await;
        assert_eq!(status, 200, "{body}");
        let prefs = &body["Preferences"];
        assert_eq!(prefs["CurrencyPrefs"]["MultiCurrencyEnabled"], false);
        assert_eq!(
            prefs["CurrencyPrefs"]["HomeCurrency"],
            json!({ "value": "USD" })
        );
        assert_eq!(prefs["TaxPrefs"]["UsingSalesTax"], true);
        assert_eq!(prefs["TaxPrefs"]["PartnerTaxEnabled"], true);
        assert!(body["time"].is_string());
        let (_, body) = api.get(&format!("companyinfo/{REALM}"), &[]).await;
        assert_eq!(body["CompanyInfo"]["Country"], "US");

        fake.set_company_settings(REALM, "GB", "GBP", true);
        let (_, body) = api.get(&format!("companyinfo/{REALM}"), &[]).await;
        assert_eq!(body["CompanyInfo"]["Country"], "GB");
        assert_eq!(body["CompanyInfo"]["CompanyAddr"]["Country"], "GB");
        let (_, body) = api.query("select * from Preferences").await;
        let prefs = &body["QueryResponse"]["Preferences"][0];
        assert_eq!(prefs["CurrencyPrefs"]["MultiCurrencyEnabled"], true);
        assert_eq!(prefs["CurrencyPrefs"]["HomeCurrency"]["value"], "GBP");
        assert_eq!(prefs["TaxPrefs"]["PartnerTaxEnabled"], false);
        let (_, body) = api.query("select * from CompanyInfo").await;
        assert_eq!(body["QueryResponse"]["CompanyInfo"][0]["Country"], "GB");
    }

    #[tokio::test]
    async fn currencies_follow_the_customer_and_need_multicurrency() {
        let fake = FakeQuickBooks::start().await;
        let api = connect(&fake).await;

        // Multicurrency off: only the home currency.
        let home = api.create_customer("Home Co").await;
        assert_eq!(
            fake.customers(REALM)[0]["CurrencyRef"],
            json!({ "value": "USD", "name": "United States Dollar" })
        );
        let euro = json!({ "DisplayName": "Euro GmbH", "CurrencyRef": { "value": "EUR" } });
        let (status, body) = api.post("customer", &[], &euro).await;
        assert_eq!((status, code_of(&body)), (400, "6000"));
        assert!(detail_of(&body).starts_with("Business Validation Error: Multicurrency"));
        let mut invoice = taxed_invoice(&home, &[(100.0, None)]);
        invoice["CurrencyRef"] = json!({ "value": "EUR" });
        let (status, body) = api.post("invoice", &[], &invoice).await;
        assert_eq!((status, code_of(&body)), (400, "6000"));
        let (status, body) = api.query("select * from CompanyCurrency").await;
        assert_eq!((status, &body["QueryResponse"]), (200, &json!({})));
        // Without multicurrency an invoice has no exchange rate.
        let (status, body) = api
            .post("invoice", &[], &taxed_invoice(&home, &[(10.0, None)]))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["Invoice"]["CurrencyRef"]["value"], "USD");
        assert!(body["Invoice"].get("ExchangeRate").is_none());
        assert!(body["Invoice"].get("HomeTotalAmt").is_none());

        // Multicurrency on: EUR is in the list; GBP is added by the customer naming it.
        fake.set_company_settings(REALM, "US", "USD", true);
        fake.add_currency(REALM, "EUR");
        fake.set_exchange_rate(REALM, "EUR", "1.1");
        let (status, body) = api.post("customer", &[], &euro).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["Customer"]["CurrencyRef"],
            json!({ "value": "EUR", "name": "Euro" })
        );
        let euro_id = body["Customer"]["Id"].as_str().unwrap().to_string();
        let pound = json!({ "DisplayName": "Pound Ltd", "CurrencyRef": { "value": "GBP" } });
        let (status, _) = api.post("customer", &[], &pound).await;
        assert_eq!(status, 200);
        let (_, body) = api.query("select * from CompanyCurrency").await;
        let listed = body["QueryResponse"]["CompanyCurrency"].as_array().unwrap();
        let codes: Vec<&str> = listed.iter().map(|c| c["Code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["EUR", "GBP"]);
        assert_eq!(listed[1]["Name"], "British Pound Sterling");
        assert_eq!(listed[1]["Active"], true);
        let (_, body) = api
            .query("select * from CompanyCurrency where Code = 'EUR'")
            .await;
        assert_eq!(body["QueryResponse"]["CompanyCurrency"][0]["Id"], "1");
        let bogus = json!({ "DisplayName": "Bogus", "CurrencyRef": { "value": "XYZ" } });
        let (status, body) = api.post("customer", &[], &bogus).await;
        assert_eq!((status, code_of(&body)), (400, "2220"));

        // The invoice takes the customer's currency and the exchange rate set.
        let (status, body) = api
            .post("invoice", &[], &taxed_invoice(&euro_id, &[(100.0, None)]))
            .await;
        assert_eq!(status, 200, "{body}");
        let created = &body["Invoice"];
        assert_eq!(
            created["CurrencyRef"],
            json!({ "value": "EUR", "name": "Euro" })
        );
        assert_eq!(created["ExchangeRate"], json!(1.1));
        assert_eq!(created["TotalAmt"], json!(100.0));
        assert_eq!(created["HomeTotalAmt"], json!(110.0));
        assert_eq!(fake.invoices(REALM)[1]["CurrencyRef"]["value"], "EUR");
        // An explicit rate wins; the home currency is 1.
        let mut explicit = taxed_invoice(&euro_id, &[(100.0, None)]);
        explicit["CurrencyRef"] = json!({ "value": "EUR", "name": "Euro" });
        explicit["ExchangeRate"] = json!(1.25);
        let (_, body) = api.post("invoice", &[], &explicit).await;
        assert_eq!(body["Invoice"]["HomeTotalAmt"], json!(125.0));
        let (_, body) = api
            .post("invoice", &[], &taxed_invoice(&home, &[(10.0, None)]))
            .await;
        assert_eq!(body["Invoice"]["ExchangeRate"], json!(1));
        assert_eq!(body["Invoice"]["HomeTotalAmt"], json!(10.0));

        // An invoice in another currency than its customer's is refused.
        let mut mixed = taxed_invoice(&euro_id, &[(100.0, None)]);
        mixed["CurrencyRef"] = json!({ "value": "USD" });
        let (status, body) = api.post("invoice", &[], &mixed).await;
        assert_eq!((status, code_of(&body)), (400, "6000"));
        assert_eq!(
            detail_of(&body),
            "Business Validation Error: You can only use one foreign currency per transaction."
        );

        // A customer's currency cannot change; a sparse update without it keeps it.
        let (_, current) = api.get(&format!("customer/{euro_id}"), &[]).await;
        let token = current["Customer"]["SyncToken"].clone();
        let change = json!({ "Id": euro_id, "SyncToken": token, "sparse": true,
                             "CurrencyRef": { "value": "USD" } });
        let (status, body) = api.post("customer", &[], &change).await;
        assert_eq!((status, code_of(&body)), (400, "6000"));
        let keep = json!({ "Id": euro_id, "SyncToken": token, "sparse": true,
                           "CompanyName": "Euro GmbH" });
        let (status, body) = api.post("customer", &[], &keep).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["Customer"]["CurrencyRef"]["value"], "EUR");

        // An inactive currency is refused on invoices and customers.
        fake.deactivate_currency(REALM, "EUR");
        let (status, body) = api
            .post("invoice", &[], &taxed_invoice(&euro_id, &[(100.0, None)]))
            .await;
        assert_eq!((status, code_of(&body)), (400, "6000"));
        let again = json!({ "DisplayName": "Euro 2", "CurrencyRef": { "value": "EUR" } });
        let (status, _) = api.post("customer", &[], &again).await;
        assert_eq!(status, 400);
        let (_, body) = api.query("select * from CompanyCurrency").await;
        assert_eq!(
            body["QueryResponse"]["CompanyCurrency"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let (_, body) = api
            .query("select * from CompanyCurrency where Active = false")
            .await;
        assert_eq!(body["QueryResponse"]["CompanyCurrency"][0]["Code"], "EUR");
    }

    #[tokio::test]
    async fn us_lines_take_only_the_pseudo_tax_codes() {
        let fake = FakeQuickBooks::start().await;
        let api = connect(&fake).await;
        let customer = api.create_customer("Acme Inc").await;
        let body = taxed_invoice(&customer, &[(100.0, Some("TAX")), (5.0, Some("NON"))]);
        let (status, res) = api.post("invoice", &[], &body).await;
        assert_eq!(status, 200, "{res}");
        assert!(res["Invoice"].get("GlobalTaxCalculation").is_none());
        let body = taxed_invoice(&customer, &[(100.0, Some("8"))]);
        let (status, res) = api.post("invoice", &[], &body).await;
        assert_eq!((status, code_of(&res)), (400, "6100"));
        assert_eq!(
            res["Fault"]["Error"][0]["Message"],
            "Invalid Line TaxCode in the request"
        );
        assert_eq!(
            detail_of(&res),
            "Valid line TaxCodes for US should be TAX or NON. Supplied value: 8"
        );
        assert_eq!(
            res["Fault"]["Error"][0]["element"],
            "Line.SalesItemLineDetail.TaxCodeRef"
        );
        let (_, res) = api.query("select * from TaxCode").await;
        let codes = res["QueryResponse"]["TaxCode"].as_array().unwrap();
        let ids: Vec<&str> = codes.iter().map(|c| c["Id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["TAX", "NON"]);
        assert_eq!(codes[1]["Taxable"], false);
        let (_, res) = api.query("select * from TaxRate").await;
        assert_eq!(res["QueryResponse"], json!({}));
    }

    #[tokio::test]
    async fn non_us_lines_need_tax_codes_and_qbo_computes_the_tax() {
        let fake = FakeQuickBooks::start().await;
        fake.set_company_settings(REALM, "GB", "GBP", false);
        let api = connect(&fake).await;
        let customer = api.create_customer("Tea Ltd").await;
        assert_eq!(fake.customers(REALM)[0]["CurrencyRef"]["value"], "GBP");

        // The default UK codes, as entities.
        let (_, res) = api
            .query("select * from TaxCode where Name = '20.0% S'")
            .await;
        let standard = &res["QueryResponse"]["TaxCode"][0];
        assert_eq!(standard["Id"], "3");
        assert_eq!(standard["Active"], true);
        assert_eq!(standard["Taxable"], true);
        let rate_ref = &standard["SalesTaxRateList"]["TaxRateDetail"][0]["TaxRateRef"];
        let rate_id = rate_ref["value"].as_str().unwrap().to_string();
        let (_, res) = api
            .query(&format!("select * from TaxRate where Id = '{rate_id}'"))
            .await;
        assert_eq!(res["QueryResponse"]["TaxRate"][0]["RateValue"], json!(20));
        let (_, res) = api.query("select * from TaxCode").await;
        assert_eq!(res["QueryResponse"]["TaxCode"].as_array().unwrap().len(), 5);

        // A line without a usable code: QBO's VAT message.
        for code in [None, Some("TAX"), Some("NON"), Some("20.0% S"), Some("99")] {
            let body = taxed_invoice(&customer, &[(100.0, Some("3")), (50.0, code)]);
            let (status, res) = api.post("invoice", &[], &body).await;
            assert_eq!((status, code_of(&res)), (400, "6000"), "{code:?}");
            assert_eq!(
                detail_of(&res),
                "Business Validation Error: Make sure all your transactions have a VAT rate before you save."
            );
        }

        // TaxExcluded (the default): tax per rate on the lines' amounts; a header-only
        // TotalTax is ignored.
        let mut body = taxed_invoice(
            &customer,
            &[(100.0, Some("3")), (50.0, Some("3")), (30.0, Some("5"))],
        );
        body["TxnTaxDetail"] = json!({ "TotalTax": 99.0 });
        let (status, res) = api.post("invoice", &[], &body).await;
        assert_eq!(status, 200, "{res}");
        let invoice = &res["Invoice"];
        assert_eq!(invoice["GlobalTaxCalculation"], "TaxExcluded");
        assert_eq!(invoice["TxnTaxDetail"]["TotalTax"], json!(30.0));
        let tax_lines = invoice["TxnTaxDetail"]["TaxLine"].as_array().unwrap();
        assert_eq!(tax_lines.len(), 2);
        assert_eq!(tax_lines[0]["Amount"], json!(30.0));
        assert_eq!(tax_lines[0]["DetailType"], "TaxLineDetail");
        let detail = &tax_lines[0]["TaxLineDetail"];
        assert_eq!(detail["TaxRateRef"]["value"], rate_id.as_str());
        assert_eq!(detail["TaxPercent"], json!(20));
        assert_eq!(detail["NetAmountTaxable"], json!(150.0));
        assert_eq!(tax_lines[1]["Amount"], json!(0.0));
        assert_eq!(invoice["TotalAmt"], json!(210.0));
        assert_eq!(invoice["CurrencyRef"]["value"], "GBP");
        let id = invoice["Id"].as_str().unwrap().to_string();

        // A sparse update of the lines has the tax computed again.
        let update = json!({ "Id": id, "SyncToken": "0", "sparse": true,
            "Line": [{ "Amount": 200.0, "DetailType": "SalesItemLineDetail",
                       "SalesItemLineDetail": { "ItemRef": { "value": "1" },
                                                "TaxCodeRef": { "value": "3" } } }] });
        let (status, res) = api.post("invoice", &[], &update).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["Invoice"]["TxnTaxDetail"]["TotalTax"], json!(40.0));
        assert_eq!(res["Invoice"]["TotalAmt"], json!(240.0));

        // An override with one TaxLine per rate is honoured; one missing a rate is not.
        let mut body = taxed_invoice(&customer, &[(100.0, Some("3"))]);
        body["TxnTaxDetail"] = json!({ "TotalTax": 19.99, "TaxLine": [{
            "Amount": 19.99, "DetailType": "TaxLineDetail",
            "TaxLineDetail": { "TaxRateRef": { "value": rate_id }, "PercentBased": true,
                               "TaxPercent": 20, "NetAmountTaxable": 100 } }] });
        let (status, res) = api.post("invoice", &[], &body).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["Invoice"]["TxnTaxDetail"]["TotalTax"], json!(19.99));
        assert_eq!(res["Invoice"]["TotalAmt"], json!(119.99));
        let mut partial = body.clone();
        partial["Line"] =
            taxed_invoice(&customer, &[(100.0, Some("3")), (10.0, Some("4"))])["Line"].clone();
        let (status, res) = api.post("invoice", &[], &partial).await;
        assert_eq!((status, code_of(&res)), (400, "6000"));

        // TaxInclusive: a gross in TaxInclusiveAmt is split per line.
        let mut body = taxed_invoice(&customer, &[(100.0, Some("3"))]);
        body["GlobalTaxCalculation"] = json!("TaxInclusive");
        body["Line"][0]["SalesItemLineDetail"]["TaxInclusiveAmt"] = json!(100.0);
        let (status, res) = api.post("invoice", &[], &body).await;
        assert_eq!(status, 200, "{res}");
        let invoice = &res["Invoice"];
        assert_eq!(invoice["GlobalTaxCalculation"], "TaxInclusive");
        assert_eq!(invoice["Line"][0]["Amount"], json!(83.33));
        assert_eq!(invoice["TxnTaxDetail"]["TotalTax"], json!(16.67));
        assert_eq!(invoice["TotalAmt"], json!(100.0));

        // NotApplicable: no tax, and no TxnTaxDetail allowed.
        let mut body = taxed_invoice(&customer, &[(100.0, None)]);
        body["GlobalTaxCalculation"] = json!("NotApplicable");
        let (status, res) = api.post("invoice", &[], &body).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["Invoice"]["TotalAmt"], json!(100.0));
        body["TxnTaxDetail"] = json!({ "TotalTax": 0 });
        let (status, res) = api.post("invoice", &[], &body).await;
        assert_eq!((status, code_of(&res)), (400, "6170"));
        body["GlobalTaxCalculation"] = json!("TaxIncluded");
        let (status, res) = api.post("invoice", &[], &body).await;
        assert_eq!((status, code_of(&res)), (400, "2170"));

        // An inactive code is refused; codes added later work.
        fake.deactivate_tax_code(REALM, "3");
        let (status, _) = api
            .post(
                "invoice",
                &[],
                &taxed_invoice(&customer, &[(100.0, Some("3"))]),
            )
            .await;
        assert_eq!(status, 400);
        let (_, res) = api.query("select * from TaxCode where Id = '3'").await;
        assert_eq!(res["QueryResponse"], json!({}));
        fake.add_tax_code(REALM, "12", "17.5% S", 17.5);
        let (status, res) = api
            .post(
                "invoice",
                &[],
                &taxed_invoice(&customer, &[(100.0, Some("12"))]),
            )
            .await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["Invoice"]["TxnTaxDetail"]["TotalTax"], json!(17.5));
        assert_eq!(res["Invoice"]["TotalAmt"], json!(117.5));
    }

    #[tokio::test]
    async fn tax_messages_follow_the_country() {
        let fake = FakeQuickBooks::start().await;
        fake.set_company_settings(REALM, "CA", "CAD", false);
        let api = connect(&fake).await;
        let customer = api.create_customer("Maple Inc").await;
        let (status, res) = api
            .post(
                "invoice",
                &[],
                &taxed_invoice(&customer, &[(100.0, Some("NON"))]),
            )
            .await;
        assert_eq!((status, code_of(&res)), (400, "6000"));
        assert!(detail_of(&res).contains("a GST/HST rate"));
        let (_, res) = api
            .query("select * from TaxCode where Name = 'HST ON'")
            .await;
        let hst = res["QueryResponse"]["TaxCode"][0]["Id"]
            .as_str()
            .unwrap()
            .to_string();
        let (_, res) = api
            .post(
                "invoice",
                &[],
                &taxed_invoice(&customer, &[(100.0, Some(&hst))]),
            )
            .await;
        assert_eq!(res["Invoice"]["TotalAmt"], json!(113.0));
        assert_eq!(res["Invoice"]["CurrencyRef"]["name"], "Canadian Dollar");
    }

    #[tokio::test]
    async fn look_ups_filter_and_page_like_qbo() {
        let fake = FakeQuickBooks::start().await;
        let api = connect(&fake).await;

        let (_, res) = api.query("select * from Item").await;
        let items = res["QueryResponse"]["Item"].as_array().unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0]["Type"], "Service");
        assert_eq!(items[0]["Active"], true);
        assert_eq!(
            items[0]["IncomeAccountRef"],
            json!({ "value": "80", "name": "Services" })
        );
        fake.remove_item(REALM, "Hours");
        let (_, res) = api.query("select * from Item").await;
        assert_eq!(res["QueryResponse"]["Item"].as_array().unwrap().len(), 2);
        let (_, res) = api.query("select * from Item where Active = false").await;
        assert_eq!(res["QueryResponse"]["Item"][0]["Name"], "Hours");
        let (_, res) = api
            .query("select * from Item where Active in (true, false)")
            .await;
        assert_eq!(res["QueryResponse"]["Item"].as_array().unwrap().len(), 3);

        let (_, res) = api.query("select * from Account").await;
        let accounts = res["QueryResponse"]["Account"].as_array().unwrap();
        assert_eq!(accounts.len(), 5);
        let checking = accounts.iter().find(|a| a["Name"] == "Checking").unwrap();
        assert_eq!(checking["AccountType"], "Bank");
        assert_eq!(checking["AccountSubType"], "Checking");
        assert_eq!(checking["AcctNum"], "1000");
        assert_eq!(checking["Active"], true);
        assert_eq!(checking["CurrencyRef"]["value"], "USD");
        let funds = accounts
            .iter()
            .find(|a| a["Name"] == "Undeposited Funds")
            .unwrap();
        assert_eq!(funds["AccountType"], "Other Current Asset");
        let (_, res) = api
            .query(
                "SELECT * FROM Account WHERE AccountType = 'Income' AND Active = true ORDERBY Name",
            )
            .await;
        let names: Vec<&str> = res["QueryResponse"]["Account"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Sales", "Services"]);
        let (_, res) = api
            .query("select * from Account where Name like 'S%'")
            .await;
        assert_eq!(res["QueryResponse"]["Account"].as_array().unwrap().len(), 2);
        let (_, res) = api
            .query("select * from Account where Id in ('35', '4')")
            .await;
        assert_eq!(res["QueryResponse"]["Account"].as_array().unwrap().len(), 2);
        let (status, res) = api.get("account/35", &[]).await;
        assert_eq!((status, &res["Account"]["Name"]), (200, &json!("Checking")));

        // Paging: startPosition and maxResults (what came back); past the end, empty.
        let (_, res) = api
            .query("select * from Account orderby Id startposition 2 maxresults 2")
            .await;
        let page = &res["QueryResponse"];
        assert_eq!(page["startPosition"], 2);
        assert_eq!(page["maxResults"], 2);
        let ids: Vec<&str> = page["Account"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["Id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["35", "80"]);
        let (_, res) = api
            .query("select * from Account startposition 5 maxresults 1000")
            .await;
        assert_eq!(res["QueryResponse"]["maxResults"], 1);
        let (_, res) = api.query("select * from Account startposition 6").await;
        assert_eq!(res["QueryResponse"], json!({}));

        // Refusals: 4001 for what the entity lacks or too large a page, 4000 for the rest.
        let (status, res) = api.query("select * from Account maxresults 1001").await;
        assert_eq!((status, code_of(&res)), (400, "4001"));
        assert_eq!(
            detail_of(&res),
            "QueryValidationError: value 1001 is too large. Max allowed value is 1000"
        );
        let (status, res) = api.query("select * from Account where Foo = 'x'").await;
        assert_eq!((status, code_of(&res)), (400, "4001"));
        assert_eq!(res["Fault"]["Error"][0]["Message"], "Invalid query");
        assert_eq!(
            detail_of(&res),
            "QueryValidationError: Property Foo not found for Entity Account"
        );
        let (status, res) = api.query("select * from Widget").await;
        assert_eq!((status, code_of(&res)), (400, "4000"));
        assert_eq!(res["Fault"]["Error"][0]["Message"], "Error parsing query");
        let (status, res) = api
            .query("select * from Account where Name = 'x' or Id = '1'")
            .await;
        assert_eq!((status, code_of(&res)), (400, "4000"));
    }

    #[tokio::test]
    async fn the_request_limit_is_a_rolling_minute() {
        let fake = FakeQuickBooks::start().await;
        let api = connect(&fake).await;
        let now = Instant::now();
        let (Some(recent), Some(old)) = (
            now.checked_sub(Duration::from_secs(59)),
            now.checked_sub(Duration::from_secs(61)),
        ) else {
            return; // The machine has been up for less than a minute.
        };
        let set_recent = |times: Vec<Instant>| {
            let mut s = lock(&fake.state);
            s.companies.get_mut(REALM).unwrap().recent = times.into();
        };
        let path = format!("companyinfo/{REALM}");

        // 500 in the last 59 s: throttled, with QBO's 3001 and no Retry-After.
        set_recent(vec![recent; MAX_REQUESTS_PER_MINUTE]);
        let response = http()
            .get(api.url(&path))
            .query(&[("minorversion", "75")])
            .bearer_auth(&api.token)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 429);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
        let body: Value = response.json().await.unwrap();
        assert_eq!(code_of(&body), "3001");
        assert_eq!(body["Fault"]["type"], "SERVICE");

        // The same 500 a minute and more ago have slid out of the window.
        set_recent(vec![old; MAX_REQUESTS_PER_MINUTE]);
        let (status, _) = api.get(&path, &[]).await;
        assert_eq!(status, 200);

        // 250 old and 499 recent: only the 499 count, so one more passes, the next not.
        let mut times = vec![old; 250];
        times.extend(vec![recent; MAX_REQUESTS_PER_MINUTE - 1]);
        set_recent(times);
        let (status, _) = api.get(&path, &[]).await;
        assert_eq!(status, 200);
        let (status, body) = api.get(&path, &[]).await;
        assert_eq!((status, code_of(&body)), (429, "3001"));
    }
}
