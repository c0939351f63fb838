//! A fake QuickBooks Online: Intuit's OAuth 2.0 endpoints and the part of the Accounting
//! API v3 that erp-sync uses (company info, query, customer, invoice create/update/void/read).
//!
//! It checks what QBO checks and answers in QBO's wire shapes (bearer tokens per realm,
//! `minorversion`, `requestid` replay, `SyncToken`, reference and length validation, the
//! capital-`Fault` and lowercase gateway error envelopes, throttling), so a connector that
//! is wrong about the protocol fails here. Where QBO's behaviour is undocumented, the choice
//! made is marked "[I]". Faults (throttling, outages, lost responses, expired or revoked
//! tokens, concurrent edits) are injected through methods on [`FakeQuickBooks`].

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

impl Company {
    fn new(name: &str) -> Self {
        let items = [("1", "Services"), ("2", "Hours"), ("3", "Setup")]
            .into_iter()
            .map(|(id, name)| Item {
                id: id.to_string(),
                name: name.to_string(),
                active: true,
            })
            .collect();
        Company {
            name: name.to_string(),
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
    let now = Instant::now();
    while company
        .recent
        .front()
        .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
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
            ("GET", ["query"]) => (
                query(company, self.params.get("query").unwrap_or_default()),
                false,
            ),
            ("GET", ["customer", id]) => (read_customer(company, id), false),
            ("POST", ["customer"]) => (self.with_body(|b| write_customer(company, b)), false),
            ("GET", ["item", id]) => (read_item(company, id), false),
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
        let info = json!({
            "CompanyName": company.name, "LegalName": company.name, "Id": self.realm,
            "SyncToken": "0", "Country": "US", "SupportedLanguages": "en",
            "domain": "QBO", "sparse": false,
            "MetaData": { "CreateTime": "2024-01-01T00:00:00-07:00", "LastUpdatedTime": "2024-01-01T00:00:00-07:00" },
        });
        Answer::entity("CompanyInfo", &info)
    }
}

fn read_customer(company: &Company, id: &str) -> Answer {
    match company.customer_index(id) {
        Some(i) => Answer::entity("Customer", &company.customers[i]),
        None => object_not_found("Customer", id),
    }
}

fn read_item(company: &Company, id: &str) -> Answer {
    match company.items.iter().find(|i| i.id == id) {
        Some(item) => Answer::entity("Item", &item_entity(item)),
        None => object_not_found("Item", id),
    }
}

fn read_invoice(company: &Company, id: &str) -> Answer {
    match company.invoices.iter().find(|i| i.entity["Id"] == id) {
        Some(invoice) => Answer::entity("Invoice", &invoice.entity),
        None => object_not_found("Invoice", id),
    }
}

fn item_entity(item: &Item) -> Value {
    json!({
        "Id": item.id, "SyncToken": "0", "Name": item.name, "FullyQualifiedName": item.name,
        "Active": item.active, "Type": "Service", "domain": "QBO", "sparse": false,
    })
}

// --- query ---------------------------------------------------------------------------

/// A parsed `select * from <Entity> [where <Field> = '<value>'] [startposition n] [maxresults n]`.
#[derive(Debug, PartialEq)]
struct Query {
    entity: &'static str,
    filter: Option<(&'static str, String)>,
    start: usize,
    max: usize,
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Equals,
    Text(String),
}

/// Splits a query into words, `=` and single-quoted strings (`\'` is a quote, `\\` a backslash).
fn tokenize(query: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '=' {
            chars.next();
            tokens.push(Token::Equals);
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

fn parse_query(query: &str) -> Result<Query, String> {
    let mut tokens = tokenize(query)?.into_iter().peekable();
    for keyword in ["select", "*", "from"] {
        match tokens.next() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword) => {}
            other => {
                return Err(format!(
                    "Encountered {other:?}, was expecting \"{keyword}\""
                ));
            }
        }
    }
    let entity = match tokens.next() {
        Some(Token::Word(w)) => ["Customer", "Item", "Invoice"]
            .into_iter()
            .find(|e| e.eq_ignore_ascii_case(&w))
            .ok_or_else(|| format!("entity {w} is not supported by the fake"))?,
        other => return Err(format!("Encountered {other:?}, was expecting an entity")),
    };
    let mut filter = None;
    if matches!(tokens.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case("where")) {
        tokens.next();
        let fields: &[&'static str] = match entity {
            "Customer" => &["DisplayName", "Id"],
            "Item" => &["Name", "Id"],
            _ => &["DocNumber", "Id"],
        };
        let field = match tokens.next() {
            Some(Token::Word(w)) => fields
                .iter()
                .copied()
                .find(|f| f.eq_ignore_ascii_case(&w))
                .ok_or_else(|| format!("property {w} of {entity} is not queryable in the fake"))?,
            other => return Err(format!("Encountered {other:?}, was expecting a property")),
        };
        if tokens.next() != Some(Token::Equals) {
            return Err("was expecting \"=\"".to_string());
        }
        let Some(Token::Text(value)) = tokens.next() else {
            return Err("was expecting a quoted string".to_string());
        };
        filter = Some((field, value));
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
            (Token::Word(w), Some(n))
                if w.eq_ignore_ascii_case("maxresults") && (1..=1000).contains(&n) =>
            {
                max = n
            }
            (other, _) => return Err(format!("Encountered {other:?}")),
        }
    }
    Ok(Query {
        entity,
        filter,
        start,
        max,
    })
}

/// `GET query?query=...`: `{"QueryResponse":{"<Entity>":[...],"startPosition","maxResults"}}`,
/// or an empty `QueryResponse` when nothing matches.
fn query(company: &Company, text: &str) -> Answer {
    let q = match parse_query(text) {
        Ok(q) => q,
        Err(detail) => return query_parser_error(&detail),
    };
    let candidates: Vec<Value> = match q.entity {
        "Customer" => company.customers.clone(),
        "Item" => company
            .items
            .iter()
            .filter(|i| i.active)
            .map(item_entity)
            .collect(),
        _ => company.invoices.iter().map(|i| i.entity.clone()).collect(),
    };
    let found: Vec<Value> = candidates
        .into_iter()
        .filter(|e| match &q.filter {
            Some((field, value)) => e[*field].as_str() == Some(value.as_str()),
            None => true,
        })
        .skip(q.start - 1)
        .take(q.max)
        .collect();
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
        let mut entity = self.customer_fields(body, None)?;
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
        let mut entity = self.customer_fields(&input, Some(id))?;
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
    /// SyncToken and MetaData). `own_id` is the customer being updated, if any.
    fn customer_fields(
        &self,
        input: &Map<String, Value>,
        own_id: Option<&str>,
    ) -> Result<Map<String, Value>, Answer> {
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
        entity
            .entry("CurrencyRef")
            .or_insert(json!({ "value": "USD", "name": "United States Dollar" }));
        entity.insert("Balance".into(), json!(0));
        entity.insert("BalanceWithJobs".into(), json!(0));
        entity.insert("domain".into(), json!("QBO"));
        entity.insert("sparse".into(), json!(false));
        Ok(entity)
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
    for field in ["TotalAmt", "Balance"] {
        entity[field] = money(Decimal::ZERO);
    }
    entity["TxnTaxDetail"]["TotalTax"] = money(Decimal::ZERO);
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
        let input = if body.get("sparse") == Some(&Value::Bool(true)) {
            merge_sparse(&current, body, INVOICE_COMPUTED)
        } else {
            body.clone()
        };
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
    /// line ids, the SubTotal line, `TotalAmt` and `Balance`. Everything but Id, SyncToken
    /// and MetaData. Lines keep their `Id` when it names one of `previous_lines`.
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

        let lines = self.invoice_lines(input.get("Line"), previous_lines)?;
        let tax_detail = match input.get("TxnTaxDetail") {
            None | Some(Value::Null) => json!({}),
            Some(detail @ Value::Object(_)) => detail.clone(),
            Some(_) => return Err(unsupported_property("TxnTaxDetail", "not an object")),
        };
        let total_tax = match tax_detail.get("TotalTax") {
            None | Some(Value::Null) => Decimal::ZERO,
            Some(v) => decimal(v)
                .ok_or_else(|| unsupported_property("TxnTaxDetail.TotalTax", "not a number"))?,
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
        let mut tax = tax_detail;
        tax["TotalTax"] = money(total_tax);
        entity.insert("TxnTaxDetail".into(), tax);
        entity.insert("TotalAmt".into(), money(total));
        entity.insert("Balance".into(), money(total));
        entity.entry("EmailStatus").or_insert(json!("NotSet"));
        entity.entry("PrintStatus").or_insert(json!("NotSet"));
        entity
            .entry("CurrencyRef")
            .or_insert(json!({ "value": "USD", "name": "United States Dollar" }));
        entity.insert("domain".into(), json!("QBO"));
        entity.insert("sparse".into(), json!(false));
        Ok(entity)
    }

    /// Validates `Line` and computes the stored lines (SubTotal appended) and sums.
    fn invoice_lines(
        &self,
        line: Option<&Value>,
        previous_lines: &[Value],
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
                    let (stored, amount) = self.sales_line(line)?;
                    out.subtotal += amount;
                    sales_lines += 1;
                    stored
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
    fn sales_line(
        &self,
        line: &Map<String, Value>,
    ) -> Result<(Map<String, Value>, Decimal), Answer> {
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
        let mut detail = detail.clone();
        detail.insert(
            "ItemRef".into(),
            json!({ "value": item.id, "name": item.name }),
        );
        let mut stored = line.clone();
        stored.insert("Amount".into(), money(amount));
        stored.insert("SalesItemLineDetail".into(), Value::Object(detail));
        Ok((stored, amount))
    }
}

/// Stored lines and their sums.
struct Lines {
    lines: Vec<Value>,
    subtotal: Decimal,
    discount: Decimal,
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
}
