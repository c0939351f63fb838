//! A fake Xero: the identity endpoints (OAuth 2.0 authorization code with PKCE, token
//! rotation, connections) and the part of the Accounting API 2.0 that erp-sync uses
//! (organisation, accounts, tax rates, currencies, items, contacts, invoices, credit notes
//! with their allocations, payments).
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
//! handlers are `settings`, `items`, `contacts`, `invoices` (with `lines`), `credit_notes`
//! (allocations, open credit) and `payments` (each invoice's open balance), reading a
//! write's elements through `elements` and list parameters through `lists` and `filters`.
//! `answers` holds Xero's envelopes and errors, `state` the organisations. Serving, request
//! recording and the OAuth book of codes and tokens are the shared fake-ERP harness
//! (`super::harness`).

mod answers;
mod connections;
mod contacts;
mod credit_notes;
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
mod payments;
mod settings;
mod setup;
mod state;

use axum::Router;
use axum::http::header;
use axum::http::request::Parts;
use axum::routing::{any, delete, get, post};
use serde_json::Value;
use uuid::Uuid;

use super::harness::{Fake, Record, lock};

use answers::unknown_path;
use connections::{delete_connection, list_connections};
use gate::api;
use oauth::{authorize, revocation};
use state::{FakeState, Org};

/// The app's OAuth client id.
pub const CLIENT_ID: &str = "xero-test-client";
/// The app's OAuth client secret (a confidential "web app": the secret is always required).
pub const CLIENT_SECRET: &str = "xero-test-secret";
/// The organisation that exists from the start and is authorized by default.
pub const TENANT_ID: &str = "a3b0c7e2-0000-4000-8000-00000000000a";

/// What the fake keeps of each request (identity and accounting endpoints alike) besides
/// the harness's [`Recorded`](super::harness::Recorded) line and status.
#[derive(Clone, Debug)]
pub struct Details {
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// The `xero-tenant-id` header.
    pub tenant: Option<String>,
    /// Whether an `Authorization` header was sent.
    pub authorization: bool,
    /// The request body (lossy UTF-8).
    pub body: String,
}

/// The running fake (its URL, state, requests, faults and OAuth endpoints are the
/// harness's [`Fake`]). Dropping it stops the server.
pub type FakeXero = Fake<FakeState, Details>;

impl FakeXero {
    /// Starts the fake on an ephemeral loopback port, with organisation [`TENANT_ID`]
    /// ("Fake Ltd", base currency GBP, accounts 200 and 260, UK tax rates).
    pub async fn start() -> Self {
        let api = Router::new()
            .route("/identity/connect/revocation", post(revocation))
            .route("/connections", get(list_connections))
            .route("/Connections", get(list_connections))
            .route("/connections/{id}", delete(delete_connection))
            .route("/Connections/{id}", delete(delete_connection))
            .route("/api.xro/2.0/{*rest}", any(api))
            .fallback(unknown_path);
        let state = FakeState::new();
        Fake::start_oauth("the fake Xero", state, get(authorize), api).await
    }

    /// The identity server's revocation endpoint (RFC 7009, refresh tokens).
    pub fn revocation_url(&self) -> String {
        format!("{}/identity/connect/revocation", self.url)
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

    /// Stored sales credit notes of an organisation, in creation order.
    pub fn credit_notes(&self, tenant: &str) -> Vec<Value> {
        self.with_org(tenant, |o| o.data.credit_notes.clone())
    }

    /// Stored payments of an organisation (deleted ones included), in creation order.
    pub fn payments(&self, tenant: &str) -> Vec<Value> {
        self.with_org(tenant, |o| o.data.payments.clone())
    }

    /// Panics unless every accounting write received so far carried an `Idempotency-Key`.
    pub fn assert_every_write_has_an_idempotency_key(&self) {
        let without: Vec<String> = self
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET" && r.path.starts_with("/api.xro/"))
            .filter(|r| r.idempotency_key.is_none())
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert!(
            without.is_empty(),
            "every write carries an Idempotency-Key: {without:?}"
        );
    }

    /// Stored contacts of an organisation, in creation order.
    pub fn contacts(&self, tenant: &str) -> Vec<Value> {
        self.with_org(tenant, |o| o.data.contacts.clone())
    }

    /// The most accounting calls for `tenant` that were in flight at once (including any
    /// refused for exceeding the limit of 5).
    pub fn max_concurrent_seen(&self, tenant: &str) -> usize {
        self.with_org(tenant, |o| o.calls.max_seen())
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
        let org = s.orgs.get_mut(tenant);
        f(org.unwrap_or_else(|| panic!("unknown tenant {tenant}")))
    }
}

impl Record for Details {
    fn new(head: &Parts, body: &[u8]) -> Self {
        let header = |name: &str| {
            head.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Details {
            idempotency_key: header("idempotency-key"),
            tenant: header("xero-tenant-id"),
            authorization: head.headers.contains_key(header::AUTHORIZATION),
            body: String::from_utf8_lossy(body).into_owned(),
        }
    }

    fn trace_header() -> Option<(&'static str, String)> {
        Some(("xero-correlation-id", Uuid::new_v4().to_string()))
    }
}

#[cfg(test)]
mod self_tests;
