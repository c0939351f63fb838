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
//!
//! Layout: [`FakeXero`] and its router are here, its setup and fault injection in `setup`;
//! `oauth` and `connections` play the identity server. Every accounting call passes `gate`
//! (routing), `limits` (token, tenant, scope, the rate limits) and `idempotency`; the
//! handlers are `settings`, `items`, `contacts` and `invoices` (with `lines`), reading a
//! write's elements through `elements` and list parameters through `lists` and `filters`.
//! `answers` holds Xero's envelopes and errors, `state` the organisations. Serving, request
//! recording and the OAuth book of codes and tokens are the shared fake-ERP harness
//! (`super::harness`).

mod answers;
mod connections;
mod contacts;
mod elements;
mod filters;
mod gate;
mod idempotency;
mod invoices;
mod items;
mod limits;
mod lines;
mod lists;
mod oauth;
mod settings;
mod setup;
mod state;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::header;
use axum::http::request::Parts;
use axum::routing::{any, delete, get, post};
use serde_json::Value;
use uuid::Uuid;

use super::harness::oauth as oauth_server;
use super::harness::{Record, Server, lock};

use answers::unknown_path;
use connections::{delete_connection, list_connections};
use gate::api;
use oauth::{CLIENT, authorize, revocation};
use state::{FakeState, Org, Shared};

/// The app's OAuth client id.
pub const CLIENT_ID: &str = "xero-test-client";
/// The app's OAuth client secret (a confidential "web app": the secret is always required).
pub const CLIENT_SECRET: &str = "xero-test-secret";
/// The organisation that exists from the start and is authorized by default.
pub const TENANT_ID: &str = "a3b0c7e2-0000-4000-8000-00000000000a";

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
    server: Server<Recorded>,
}

impl FakeXero {
    /// Starts the fake on an ephemeral loopback port, with organisation [`TENANT_ID`]
    /// ("Fake Ltd", base currency GBP, accounts 200 and 260, UK tax rates).
    pub async fn start() -> Self {
        let state: Shared = Arc::new(Mutex::new(FakeState::new()));
        let app = Router::new()
            .route("/identity/connect/authorize", get(authorize))
            .route(
                "/identity/connect/token",
                post(oauth_server::token::<FakeState>),
            )
            .route("/identity/connect/revocation", post(revocation))
            .route("/connections", get(list_connections))
            .route("/Connections", get(list_connections))
            .route("/connections/{id}", delete(delete_connection))
            .route("/Connections/{id}", delete(delete_connection))
            .route("/api.xro/2.0/{*rest}", any(api))
            .fallback(unknown_path)
            .with_state(state.clone());
        let server = Server::start("the fake Xero", app).await;
        FakeXero {
            url: server.url.clone(),
            state,
            server,
        }
    }

    /// The OAuth app erp-sync connects as, pointed at this fake (its endpoints and the
    /// client credentials it accepts).
    pub fn app(&self) -> erp_sync::config::OAuthApp {
        CLIENT.app(self.auth_url(), self.token_url(), self.api_base())
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
        self.server.requests()
    }

    /// The most accounting calls for `tenant` that were in flight at once (including any
    /// refused for exceeding the limit of 5).
    pub fn max_concurrent_seen(&self, tenant: &str) -> usize {
        self.with_org(tenant, |o| o.calls.max_seen())
    }

    /// How many `grant_type=refresh_token` requests reached the token endpoint with valid
    /// client credentials (successful or not).
    pub fn token_refreshes(&self) -> usize {
        lock(&self.state).oauth.refreshes
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
    fn with_org<T>(&self, tenant: &str, f: impl FnOnce(&mut Org) -> T) -> T {
        let mut s = lock(&self.state);
        let org = s
            .orgs
            .get_mut(tenant)
            .unwrap_or_else(|| panic!("unknown tenant {tenant}"));
        f(org)
    }
}

impl Record for Recorded {
    fn new(head: &Parts, body: &[u8]) -> Self {
        let header = |name: &str| {
            head.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Recorded {
            method: head.method.to_string(),
            path: head.uri.path().to_string(),
            query: head.uri.query().unwrap_or_default().to_string(),
            idempotency_key: header("idempotency-key"),
            tenant: header("xero-tenant-id"),
            authorization: head.headers.contains_key(header::AUTHORIZATION),
            body: String::from_utf8_lossy(body).into_owned(),
            status: 0,
        }
    }

    fn answered(&mut self, status: u16) {
        self.status = status;
    }

    fn trace_header() -> Option<(&'static str, String)> {
        Some(("xero-correlation-id", Uuid::new_v4().to_string()))
    }
}

#[cfg(test)]
mod self_tests;
