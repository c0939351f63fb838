//! The Xero connector: OAuth 2.0 with PKCE, organisations, contacts, idempotent invoices.
//!
//! - Connect: authorization code with PKCE (S256) and `state`; the callback lists the
//!   organisations the operator authorized (`/connections`) and binds the connection to
//!   one (`tenant_id`; when several were authorized, the operator picks one with
//!   `PATCH /v1/connections/{id}`). Tokens live 30 minutes and the refresh token rotates
//!   on every refresh; [`TokenKeeper`] refreshes one at a time and saves atomically.
//! - Contacts are keyed by our customer id in `ContactNumber`: stored mapping, else a
//!   `where` lookup, else created; remembered.
//! - Every write carries an `Idempotency-Key` derived from the job, so a retry within
//!   Xero's replay window never duplicates; past it (a retry with no stored record),
//!   the invoice is looked up by `InvoiceNumber` before creating. Creates use `PUT`
//!   (create only), updates address the stored `InvoiceID`; `VOID` voids (or deletes a
//!   `DRAFT`, as Xero requires).
//! - Creates arriving together (a bill run) go as multi-invoice requests of up to 50
//!   (see [`batch`]).
//! - Limits per organisation: 5 calls in flight, 60 a minute; a 429's `Retry-After`
//!   pauses every call to that organisation, and `X-MinLimit-Remaining: 0` pauses until
//!   the minute turns.

pub mod api;
pub mod batch;
pub mod mapping;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::limits::AccountLimits;
use super::oauth::{Authorization, OAuthFlow, OAuthTokens, TokenKeeper};
use super::{Connector, Outcome, SyncRequest};
use crate::config::OAuthApp;
use crate::crypto::seal::Sealer;
use crate::domain::Invoice;
use crate::store::{ConnectionRow, ErpRecord, Store};
use api::{XeroError, XeroErrorKind};
use mapping::{LineRules, where_literal};

/// The scopes erp-sync asks for by default: a refresh token, invoices, contacts, and
/// the organisation read the test sync does (Xero's granular scopes).
pub const DEFAULT_SCOPES: &str =
    "offline_access accounting.invoices accounting.contacts accounting.settings.read";
const MAX_CONCURRENT: usize = 5;
const PER_MINUTE: u32 = 60;

/// One organisation authorized by the operator.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct XeroTenant {
    pub tenant_id: String,
    pub name: String,
}

/// A pause Xero asked for (429 with Retry-After) on one organisation.
struct TenantGate {
    paused_until: Mutex<Option<tokio::time::Instant>>,
}

impl TenantGate {
    fn pause(&self, d: Duration) {
        let until = tokio::time::Instant::now() + d;
        let mut p = self.paused_until.lock().expect("pause lock");
        if p.is_none_or(|current| current < until) {
            *p = Some(until);
        }
    }

    async fn wait(&self) {
        let until = *self.paused_until.lock().expect("pause lock");
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }
}

struct Session {
    connection: ConnectionRow,
    tenant_id: String,
    tokens: OAuthTokens,
}

impl Session {
    fn account(&self) -> String {
        format!("xero:{}", self.tenant_id)
    }
}

/// The connector; one per process.
pub struct XeroConnector {
    app: OAuthApp,
    tokens: TokenKeeper,
    http: reqwest::Client,
    store: Store,
    gates: Mutex<HashMap<String, Arc<TenantGate>>>,
    /// Per-organisation limits (and, with a PostgreSQL store, shared by every host).
    limits: AccountLimits,
    batches: batch::Batches,
}

impl From<XeroError> for Outcome {
    fn from(e: XeroError) -> Self {
        match e.kind {
            XeroErrorKind::Retryable(after) => Outcome::retryable(e.status, e.message, after),
            XeroErrorKind::Uncertain | XeroErrorKind::Unauthorized => {
                Outcome::retryable(e.status, e.message, None)
            }
            _ => Outcome::permanent(e.status, e.message),
        }
    }
}

fn store_err(e: crate::store::StoreError) -> Outcome {
    Outcome::retryable(None, e.to_string(), None)
}

impl XeroConnector {
    /// A connector for `app` asking for `scopes` (space separated).
    pub fn new(
        app: OAuthApp,
        public_url: &str,
        scopes: &str,
        store: Store,
        sealer: Sealer,
        timeout: Duration,
    ) -> Self {
        let redirect = format!("{}/v1/oauth/callback", public_url.trim_end_matches('/'));
        let scopes: Vec<&str> = scopes.split_whitespace().collect();
        let flow = if app.client_id.is_empty() {
            None
        } else {
            OAuthFlow::new(&app, &redirect, &scopes, true)
                .map_err(|e| tracing::error!(error = %e, "the Xero OAuth settings are invalid"))
                .ok()
        };
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .expect("a static HTTP client configuration");
        XeroConnector {
            app,
            tokens: TokenKeeper::new("Xero", flow, store.clone(), sealer),
            http,
            limits: AccountLimits::new(&store, MAX_CONCURRENT, Some(PER_MINUTE), timeout),
            store,
            gates: Mutex::new(HashMap::new()),
            batches: batch::Batches::default(),
        }
    }

    /// A fresh authorization URL, `state` and PKCE verifier.
    pub fn authorize(&self) -> Result<Authorization, String> {
        Ok(self.tokens.flow()?.authorize())
    }

    /// Exchanges the code (with the PKCE verifier), stores the tokens, and answers the
    /// organisations this authorization reaches (also kept in the config).
    pub async fn complete_authorization(
        &self,
        connection: &ConnectionRow,
        code: &str,
        verifier: Option<String>,
    ) -> Result<Vec<XeroTenant>, String> {
        let tokens = self
            .tokens
            .flow()?
            .exchange(code, verifier)
            .await
            .map_err(|e| e.to_string())?;
        let url = format!("{}/connections", self.app.api_base.trim_end_matches('/'));
        let response = self
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
        self.tokens
            .save(&connection.id, Some(&config), &tokens)
            .await?;
        Ok(tenants)
    }

    fn gate(&self, tenant: &str) -> Arc<TenantGate> {
        self.gates
            .lock()
            .expect("gates lock")
            .entry(tenant.to_string())
            .or_insert_with(|| {
                Arc::new(TenantGate {
                    paused_until: Mutex::new(None),
                })
            })
            .clone()
    }

    fn session(connection: ConnectionRow, tokens: OAuthTokens) -> Result<Session, Outcome> {
        let tenant_id = connection
            .config
            .get("tenant_id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                Outcome::held("no Xero organisation is chosen yet: set tenant_id on the connection")
            })?;
        Ok(Session {
            connection,
            tenant_id,
            tokens,
        })
    }

    async fn fresh_session(&self, connection_id: &str) -> Result<Session, Outcome> {
        let (connection, tokens) = self.tokens.fresh(connection_id).await?;
        Self::session(connection, tokens)
    }

    /// One call within the organisation's limits, retried once after a refresh on 401.
    async fn call(
        &self,
        session: &mut Session,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, Outcome> {
        let gate = self.gate(&session.tenant_id);
        let mut refreshed = false;
        loop {
            let result = {
                gate.wait().await;
                let _pass = self.limits.enter(&session.account()).await?;
                self.send(
                    session,
                    &gate,
                    method.clone(),
                    path,
                    query,
                    body,
                    idempotency_key,
                )
                .await
            };
            match result {
                Err(e) if e.kind == XeroErrorKind::Unauthorized && !refreshed => {
                    refreshed = true;
                    let failed = session.tokens.access_token.clone();
                    let (connection, tokens) = self
                        .tokens
                        .refresh(&session.connection.id, Some(&failed))
                        .await?;
                    *session = Self::session(connection, tokens)?;
                }
                Err(e) => return Err(e.into()),
                Ok(v) => return Ok(v),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        session: &Session,
        gate: &TenantGate,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, XeroError> {
        let url = format!(
            "{}/api.xro/2.0/{path}",
            self.app.api_base.trim_end_matches('/')
        );
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(&session.tokens.access_token)
            .header("xero-tenant-id", &session.tenant_id)
            .header(reqwest::header::ACCEPT, "application/json")
            .query(query);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| XeroError::network(&e))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let problem = header("x-rate-limit-problem");
        if header("x-minlimit-remaining").as_deref() == Some("0") {
            gate.pause(Duration::from_secs(60));
        }
        let text = response.text().await.map_err(|e| XeroError::network(&e))?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text).map_err(|e| XeroError {
                kind: XeroErrorKind::Retryable(None),
                status: Some(status),
                message: format!("Xero answered {status} with unreadable JSON: {e}"),
            });
        }
        if status == 429 {
            gate.pause(retry_after.unwrap_or(Duration::from_secs(60)));
        }
        Err(XeroError::from_response(
            status,
            &text,
            retry_after,
            problem.as_deref(),
        ))
    }

    /// The first element of a write answered with `summarizeErrors=false`, or its
    /// validation errors as a permanent failure.
    fn element(answer: &Value, collection: &str) -> Result<Value, Outcome> {
        let element = answer[collection].get(0).cloned().unwrap_or(Value::Null);
        // Invoices flag a failed element with `HasErrors`, contacts with
        // `HasValidationErrors` (and a zero ContactID that must never be used).
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
        Ok(element)
    }

    async fn contact(
        &self,
        session: &mut Session,
        invoice: &Invoice,
        job_id: &str,
    ) -> Result<String, Outcome> {
        let account = session.account();
        let tenant = session.connection.tenant_id.clone();
        if let Some(r) = self
            .store
            .erp_record(&account, &tenant, "customer", &invoice.customer.id)
            .await
            .map_err(store_err)?
        {
            return Ok(r.remote_id);
        }
        let by = |field: &str, value: &str| format!("{field}=={}", where_literal(value));
        let number_filter = by("ContactNumber", &invoice.customer.id);
        let found = self
            .call(
                session,
                reqwest::Method::GET,
                "Contacts",
                &[("where", &number_filter)],
                None,
                None,
            )
            .await?;
        let mut contact = found["Contacts"].get(0).cloned();
        if contact.is_none() {
            let body = json!({"Contacts": [mapping::contact_element(invoice)]});
            let key = format!("{job_id}-contact");
            let created = self
                .call(
                    session,
                    reqwest::Method::PUT,
                    "Contacts",
                    &[("summarizeErrors", "false")],
                    Some(&body),
                    Some(&key),
                )
                .await?;
            contact = match Self::element(&created, "Contacts") {
                Ok(c) => Some(c),
                Err(failed) => {
                    // A contact with this name exists without our ContactNumber: link it.
                    let name_filter = by("Name", &invoice.customer.name);
                    let found = self
                        .call(
                            session,
                            reqwest::Method::GET,
                            "Contacts",
                            &[("where", &name_filter)],
                            None,
                            None,
                        )
                        .await?;
                    Some(found["Contacts"].get(0).cloned().ok_or(failed)?)
                }
            };
        }
        let id = contact
            .and_then(|c| c["ContactID"].as_str().map(str::to_string))
            .ok_or_else(|| {
                Outcome::permanent(None, "Xero returned a contact without a ContactID")
            })?;
        self.store
            .put_erp_record(
                &account,
                &tenant,
                "customer",
                &invoice.customer.id,
                &ErpRecord {
                    remote_id: id.clone(),
                    version: None,
                },
            )
            .await
            .map_err(store_err)?;
        Ok(id)
    }

    async fn remember(
        &self,
        session: &Session,
        invoice_id: &str,
        element: &Value,
    ) -> Result<ErpRecord, Outcome> {
        let record = ErpRecord {
            remote_id: element["InvoiceID"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            version: element["Status"].as_str().map(str::to_string),
        };
        self.store
            .put_erp_record(
                &session.account(),
                &session.connection.tenant_id,
                "invoice",
                invoice_id,
                &record,
            )
            .await
            .map_err(store_err)?;
        Ok(record)
    }

    async fn existing(
        &self,
        session: &mut Session,
        req: &SyncRequest<'_>,
    ) -> Result<Option<ErpRecord>, Outcome> {
        if let Some(r) = self
            .store
            .erp_record(
                &session.account(),
                &req.connection.tenant_id,
                "invoice",
                &req.invoice.id,
            )
            .await
            .map_err(store_err)?
        {
            return Ok(Some(r));
        }
        // A first automatic attempt cannot have written before; a retry, or a manual
        // re-sync after a failure, might have (an answer lost after the ERP committed).
        if req.attempt <= 1 && req.kind == "sync" {
            return Ok(None);
        }
        let found = self
            .call(
                session,
                reqwest::Method::GET,
                "Invoices",
                &[("InvoiceNumbers", &req.invoice.number)],
                None,
                None,
            )
            .await?;
        match found["Invoices"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["Type"] == "ACCREC"))
        {
            Some(i) => Ok(Some(self.remember(session, &req.invoice.id, i).await?)),
            None => Ok(None),
        }
    }

    /// Creates one invoice as part of a multi-invoice request; answers its element.
    async fn create_batched(
        &self,
        session: &mut Session,
        element: Value,
        job_id: &str,
    ) -> Result<Value, Outcome> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let pending = batch::Pending {
            element,
            job_id: job_id.to_string(),
            reply,
        };
        if self.batches.join(&session.connection.id, pending) {
            loop {
                self.batches.gather(&session.connection.id).await;
                let items = self.batches.take(&session.connection.id);
                if items.is_empty() {
                    break;
                }
                let (body, key) = batch::request(&items);
                let query = [("summarizeErrors", "false"), ("unitdp", "4")];
                let result = self
                    .call(
                        session,
                        reqwest::Method::PUT,
                        "Invoices",
                        &query,
                        Some(&body),
                        Some(&key),
                    )
                    .await;
                for (i, item) in items.into_iter().enumerate() {
                    let mine = match &result {
                        Ok(answer) => answer["Invoices"].get(i).cloned().ok_or_else(|| {
                            Outcome::retryable(
                                Some(200),
                                "Xero answered fewer invoices than were sent",
                                None,
                            )
                        }),
                        Err(o) => Err(o.clone()),
                    };
                    let _ = item.reply.send(mine);
                }
            }
        }
        answer.await.unwrap_or_else(|_| {
            Err(Outcome::retryable(
                None,
                "the batch carrying this invoice was abandoned",
                None,
            ))
        })
    }

    async fn sync_invoice(&self, req: &SyncRequest<'_>) -> Result<Outcome, Outcome> {
        let mut session = self.fresh_session(&req.connection.id).await?;
        let existing = self.existing(&mut session, req).await?;
        if req.invoice.is_void() {
            let Some(record) = existing else {
                return Ok(Outcome {
                    detail: Some("the invoice was never in Xero; nothing to void".into()),
                    ..Outcome::success(None, None)
                });
            };
            let status = if record.version.as_deref() == Some("DRAFT") {
                "DELETED"
            } else {
                "VOIDED"
            };
            let body = json!({"Invoices": [{"InvoiceID": record.remote_id, "Status": status}]});
            let path = format!("Invoices/{}", record.remote_id);
            let key = format!("{}-void", req.job_id);
            let answer = self
                .call(
                    &mut session,
                    reqwest::Method::POST,
                    &path,
                    &[("summarizeErrors", "false")],
                    Some(&body),
                    Some(&key),
                )
                .await?;
            let element = Self::element(&answer, "Invoices")?;
            self.remember(&session, &req.invoice.id, &element).await?;
            return Ok(Outcome::success(Some(200), Some(record.remote_id)));
        }
        let contact = self.contact(&mut session, req.invoice, req.job_id).await?;
        let rules = LineRules::from_config(&req.connection.config);
        let mut element = mapping::invoice_element(req.invoice, &contact, &rules);
        let query = [("summarizeErrors", "false"), ("unitdp", "4")];
        let answer = match &existing {
            Some(record) => {
                element["InvoiceID"] = json!(record.remote_id);
                let path = format!("Invoices/{}", record.remote_id);
                let key = format!("{}-update", req.job_id);
                let body = json!({"Invoices": [element]});
                self.call(
                    &mut session,
                    reqwest::Method::POST,
                    &path,
                    &query,
                    Some(&body),
                    Some(&key),
                )
                .await?
            }
            None => {
                let created = self
                    .create_batched(&mut session, element, req.job_id)
                    .await?;
                json!({"Invoices": [created]})
            }
        };
        let element = Self::element(&answer, "Invoices")?;
        let record = self.remember(&session, &req.invoice.id, &element).await?;
        Ok(Outcome::success(Some(200), Some(record.remote_id)))
    }
}

#[async_trait]
impl Connector for XeroConnector {
    async fn sync(&self, req: SyncRequest<'_>) -> Outcome {
        match self.sync_invoice(&req).await {
            Ok(o) | Err(o) => o,
        }
    }

    /// Reads the organisation.
    async fn test(&self, connection: &ConnectionRow, _secrets: &Value) -> Outcome {
        let mut session = match self.fresh_session(&connection.id).await {
            Ok(s) => s,
            Err(o) => return o,
        };
        match self
            .call(
                &mut session,
                reqwest::Method::GET,
                "Organisation",
                &[],
                None,
                None,
            )
            .await
        {
            Ok(answer) => {
                let name = answer["Organisations"][0]["Name"]
                    .as_str()
                    .unwrap_or("the organisation");
                Outcome {
                    detail: Some(format!("connected to {name}")),
                    ..Outcome::success(Some(200), Some(session.tenant_id.clone()))
                }
            }
            Err(o) => o,
        }
    }
}
