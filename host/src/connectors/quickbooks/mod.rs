//! The QuickBooks Online connector: OAuth 2.0, customers, items, idempotent invoices.
//!
//! Exactly one QuickBooks invoice per invoice, however many retries and re-syncs:
//! - the invoice's QuickBooks `Id` and `SyncToken` are stored per company (realm), so a
//!   re-sync is an update of the same record, and reconnecting the same company finds
//!   them again;
//! - a create carries `requestid` = the job id (≤ 50 characters), so a retry after a
//!   lost answer is replayed by QuickBooks instead of creating again; when a retry has
//!   no stored record, the invoice is first looked up by `DocNumber`;
//! - an update re-sends with the stored `SyncToken`; a stale token (5010) re-reads the
//!   invoice and re-applies, twice at most.
//!
//! Access tokens are refreshed a minute before they expire (and once on a 401), one
//! refresh per connection at a time; a rotated refresh token is saved in the same
//! transaction as the access token. A refresh refused with `invalid_grant` turns the
//! connection `needs_reauth` and holds its deliveries until it is re-authorized.
//! Each company gets at most 10 requests in flight and 500 a minute, QuickBooks' limits.

pub mod api;
pub mod mapping;

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
use api::{MINOR_VERSION, QboError, QboErrorKind};
use mapping::{ItemRules, quote};

/// The OAuth scope erp-sync asks for.
pub const SCOPE: &str = "com.intuit.quickbooks.accounting";
/// Requests in flight per company, QuickBooks' concurrency limit.
const MAX_CONCURRENT: usize = 10;
/// Requests per minute per company.
const PER_MINUTE: u32 = 500;

/// One connection's live credentials.
struct Session {
    connection: ConnectionRow,
    realm: String,
    tokens: OAuthTokens,
}

impl Session {
    fn account(&self) -> String {
        format!("quickbooks:{}", self.realm)
    }
}

/// The connector; one per process.
pub struct QuickBooksConnector {
    app: OAuthApp,
    tokens: TokenKeeper,
    http: reqwest::Client,
    store: Store,
    /// Per-company limits, shared by every connection to that company (and, with a
    /// PostgreSQL store, by every host).
    limits: AccountLimits,
}

impl From<QboError> for Outcome {
    fn from(e: QboError) -> Self {
        match e.kind {
            QboErrorKind::Retryable(after) => Outcome::retryable(e.status, e.message, after),
            QboErrorKind::Uncertain | QboErrorKind::Unauthorized => {
                Outcome::retryable(e.status, e.message, None)
            }
            _ => Outcome::permanent(e.status, e.message),
        }
    }
}

impl QuickBooksConnector {
    /// A connector for `app`; OAuth redirects go to `<public_url>/v1/oauth/callback`.
    pub fn new(
        app: OAuthApp,
        public_url: &str,
        store: Store,
        sealer: Sealer,
        timeout: Duration,
    ) -> Self {
        let redirect = format!("{}/v1/oauth/callback", public_url.trim_end_matches('/'));
        let flow = if app.client_id.is_empty() {
            None
        } else {
            OAuthFlow::new(&app, &redirect, &[SCOPE], false)
                .map_err(
                    |e| tracing::error!(error = %e, "the QuickBooks OAuth settings are invalid"),
                )
                .ok()
        };
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .expect("a static HTTP client configuration");
        QuickBooksConnector {
            app,
            tokens: TokenKeeper::new("QuickBooks", flow, store.clone(), sealer),
            http,
            limits: AccountLimits::new(&store, MAX_CONCURRENT, Some(PER_MINUTE), timeout),
            store,
        }
    }

    /// A fresh authorization URL (and its state) for the operator to visit.
    pub fn authorize(&self) -> Result<Authorization, String> {
        Ok(self.tokens.flow()?.authorize())
    }

    /// Finishes the OAuth round trip: exchanges the code, stores the tokens sealed and
    /// the company (realm) in the config.
    pub async fn complete_authorization(
        &self,
        connection: &ConnectionRow,
        code: &str,
        realm: &str,
    ) -> Result<(), String> {
        let tokens = self
            .tokens
            .flow()?
            .exchange(code, None)
            .await
            .map_err(|e| e.to_string())?;
        let mut config = connection.config.clone();
        config["realm_id"] = json!(realm);
        self.tokens
            .save(&connection.id, Some(&config), &tokens)
            .await
    }

    fn session(connection: ConnectionRow, tokens: OAuthTokens) -> Result<Session, Outcome> {
        let realm = connection
            .config
            .get("realm_id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                Outcome::held("the QuickBooks connection has not been authorized yet")
            })?;
        Ok(Session {
            connection,
            realm,
            tokens,
        })
    }

    /// A session whose access token is valid for at least a minute.
    async fn fresh_session(&self, connection_id: &str) -> Result<Session, Outcome> {
        let (connection, tokens) = self.tokens.fresh(connection_id).await?;
        Self::session(connection, tokens)
    }

    /// One API call, within the company's limits, retried once after a token refresh
    /// when QuickBooks answers 401.
    async fn call(
        &self,
        session: &mut Session,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, Outcome> {
        let mut refreshed = false;
        loop {
            let result = {
                let _pass = self.limits.enter(&session.account()).await?;
                self.send(session, method.clone(), path, query, body).await
            };
            match result {
                Err(e) if e.kind == QboErrorKind::Unauthorized && !refreshed => {
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

    async fn send(
        &self,
        session: &Session,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, QboError> {
        let url = format!(
            "{}/v3/company/{}/{path}",
            self.app.api_base.trim_end_matches('/'),
            session.realm
        );
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(&session.tokens.access_token)
            .header(reqwest::header::ACCEPT, "application/json")
            .query(&[("minorversion", MINOR_VERSION)])
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| QboError::network(&e))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = response.text().await.map_err(|e| QboError::network(&e))?;
        if (200..300).contains(&status) {
            serde_json::from_str(&text).map_err(|e| QboError {
                kind: QboErrorKind::Retryable(None),
                status: Some(status),
                message: format!("QuickBooks answered {status} with unreadable JSON: {e}"),
            })
        } else {
            Err(QboError::from_response(status, &content_type, &text))
        }
    }

    async fn query_one(
        &self,
        session: &mut Session,
        entity: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<Value>, Outcome> {
        let q = format!("select * from {entity} where {field} = {}", quote(value));
        let answer = self
            .call(
                session,
                reqwest::Method::GET,
                "query",
                &[("query", &q)],
                None,
            )
            .await?;
        Ok(answer["QueryResponse"][entity].get(0).cloned())
    }

    /// The QuickBooks Customer for the invoice's customer: stored mapping, else a lookup
    /// by DisplayName, else a new Customer; remembered for next time.
    async fn customer(
        &self,
        session: &mut Session,
        invoice: &Invoice,
        tenant_id: &str,
    ) -> Result<String, Outcome> {
        let account = session.account();
        let store_err = |e: crate::store::StoreError| Outcome::retryable(None, e.to_string(), None);
        if let Some(r) = self
            .store
            .erp_record(&account, tenant_id, "customer", &invoice.customer.id)
            .await
            .map_err(store_err)?
        {
            return Ok(r.remote_id);
        }
        let name = &invoice.customer.name;
        let found = match self
            .query_one(session, "Customer", "DisplayName", name)
            .await?
        {
            Some(c) => c,
            None => {
                let body = mapping::customer_body(invoice);
                match self
                    .call(session, reqwest::Method::POST, "customer", &[], Some(&body))
                    .await
                {
                    Ok(created) => created["Customer"].clone(),
                    Err(o) if o.detail.as_deref().is_some_and(|d| d.contains("6240")) => self
                        .query_one(session, "Customer", "DisplayName", name)
                        .await?
                        .ok_or(o)?,
                    Err(o) => return Err(o),
                }
            }
        };
        let id = found["Id"]
            .as_str()
            .ok_or_else(|| {
                Outcome::permanent(None, "QuickBooks returned a Customer without an Id")
            })?
            .to_string();
        self.store
            .put_erp_record(
                &account,
                tenant_id,
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
        tenant_id: &str,
        invoice_id: &str,
        entity: &Value,
    ) -> Result<ErpRecord, Outcome> {
        let record = ErpRecord {
            remote_id: entity["Id"].as_str().unwrap_or_default().to_string(),
            version: entity["SyncToken"].as_str().map(str::to_string),
        };
        self.store
            .put_erp_record(
                &session.account(),
                tenant_id,
                "invoice",
                invoice_id,
                &record,
            )
            .await
            .map_err(|e| Outcome::retryable(None, e.to_string(), None))?;
        Ok(record)
    }

    /// The stored record of this invoice; on a retry without one, a lookup by DocNumber
    /// settles whether an earlier attempt created it after all.
    async fn existing(
        &self,
        session: &mut Session,
        req: &SyncRequest<'_>,
    ) -> Result<Option<ErpRecord>, Outcome> {
        let tenant = &req.connection.tenant_id;
        if let Some(r) = self
            .store
            .erp_record(&session.account(), tenant, "invoice", &req.invoice.id)
            .await
            .map_err(|e| Outcome::retryable(None, e.to_string(), None))?
        {
            return Ok(Some(r));
        }
        // A first automatic attempt cannot have written before; a retry, or a manual
        // re-sync after a failure, might have (an answer lost after the ERP committed).
        if req.attempt <= 1 && req.kind == "sync" {
            return Ok(None);
        }
        match self
            .query_one(session, "Invoice", "DocNumber", &req.invoice.number)
            .await?
        {
            Some(found) => Ok(Some(
                self.remember(session, tenant, &req.invoice.id, &found)
                    .await?,
            )),
            None => Ok(None),
        }
    }

    /// POSTs an invoice write with `Id` and the current SyncToken, re-reading the
    /// SyncToken when QuickBooks says it is stale.
    async fn write_with_token(
        &self,
        session: &mut Session,
        req: &SyncRequest<'_>,
        mut record: ErpRecord,
        body: &Value,
        operation: Option<&str>,
    ) -> Result<Value, Outcome> {
        for round in 0..3 {
            let mut body = body.clone();
            body["Id"] = json!(record.remote_id);
            body["SyncToken"] = json!(record.version.clone().unwrap_or_else(|| "0".into()));
            let requestid = format!("{}-{}{round}", req.job_id, operation.map_or("u", |_| "v"));
            let mut query = vec![("requestid", requestid.as_str())];
            if let Some(op) = operation {
                query.push(("operation", op));
            }
            match self
                .call(
                    session,
                    reqwest::Method::POST,
                    "invoice",
                    &query,
                    Some(&body),
                )
                .await
            {
                Ok(answer) => return Ok(answer),
                Err(o)
                    if o.detail
                        .as_deref()
                        .is_some_and(|d| d.contains("error 5010"))
                        && round < 2 =>
                {
                    let path = format!("invoice/{}", record.remote_id);
                    let current = self
                        .call(session, reqwest::Method::GET, &path, &[], None)
                        .await?;
                    record.version = current["Invoice"]["SyncToken"].as_str().map(str::to_string);
                }
                Err(o) => return Err(o),
            }
        }
        Err(Outcome::permanent(
            Some(400),
            "the QuickBooks invoice kept changing under us (stale SyncToken three times)",
        ))
    }

    async fn sync_invoice(&self, req: &SyncRequest<'_>) -> Result<Outcome, Outcome> {
        let mut session = self.fresh_session(&req.connection.id).await?;
        let tenant = req.connection.tenant_id.clone();
        let existing = self.existing(&mut session, req).await?;
        if req.invoice.is_void() {
            let Some(record) = existing else {
                return Ok(Outcome {
                    detail: Some("the invoice was never in QuickBooks; nothing to void".into()),
                    ..Outcome::success(None, None)
                });
            };
            let id = record.remote_id.clone();
            let answer = self
                .write_with_token(
                    &mut session,
                    req,
                    record,
                    &json!({"sparse": true}),
                    Some("void"),
                )
                .await?;
            self.remember(&session, &tenant, &req.invoice.id, &answer["Invoice"])
                .await?;
            return Ok(Outcome::success(Some(200), Some(id)));
        }
        let customer = self.customer(&mut session, req.invoice, &tenant).await?;
        let rules = ItemRules::from_config(&req.connection.config);
        let body = mapping::invoice_body(req.invoice, &customer, &rules)
            .map_err(|e| Outcome::permanent(None, e))?;
        let answer = match existing {
            Some(record) => {
                self.write_with_token(&mut session, req, record, &body, None)
                    .await?
            }
            None => {
                // The job id is stable across retries of this delivery: QuickBooks
                // replays its first answer instead of creating a second invoice.
                let query = [("requestid", req.job_id)];
                self.call(
                    &mut session,
                    reqwest::Method::POST,
                    "invoice",
                    &query,
                    Some(&body),
                )
                .await?
            }
        };
        let record = self
            .remember(&session, &tenant, &req.invoice.id, &answer["Invoice"])
            .await?;
        Ok(Outcome::success(Some(200), Some(record.remote_id)))
    }
}

#[async_trait]
impl Connector for QuickBooksConnector {
    async fn sync(&self, req: SyncRequest<'_>) -> Outcome {
        match self.sync_invoice(&req).await {
            Ok(o) | Err(o) => o,
        }
    }

    /// Reads the company, and finds the default Item (`Services`) when the config names
    /// none, so a connection that cannot book lines fails here, not at the first invoice.
    async fn test(&self, connection: &ConnectionRow, _secrets: &Value) -> Outcome {
        let mut session = match self.fresh_session(&connection.id).await {
            Ok(s) => s,
            Err(o) => return o,
        };
        let path = format!("companyinfo/{}", session.realm);
        let company = match self
            .call(&mut session, reqwest::Method::GET, &path, &[], None)
            .await
        {
            Ok(c) => c,
            Err(o) => return o,
        };
        let rules = ItemRules::from_config(&session.connection.config);
        if rules.default_item_id.is_none() && rules.item_map.is_empty() {
            match self
                .query_one(&mut session, "Item", "Name", "Services")
                .await
            {
                Ok(Some(item)) => {
                    let mut config = session.connection.config.clone();
                    config["default_item_id"] = item["Id"].clone();
                    // The config alone: re-saving the tokens read before a refresh could
                    // put back a rotated refresh token.
                    let mut row = session.connection.clone();
                    row.config = config;
                    if let Err(e) = self.store.update_connection(&row).await {
                        return Outcome::retryable(None, e.to_string(), None);
                    }
                }
                Ok(None) => {
                    return Outcome::permanent(
                        None,
                        "the company has no Item named Services to book invoice lines to; set default_item_id (or item_map) in the connection config",
                    );
                }
                Err(o) => return o,
            }
        }
        let name = company["CompanyInfo"]["CompanyName"]
            .as_str()
            .unwrap_or("the company");
        Outcome {
            detail: Some(format!("connected to {name}")),
            ..Outcome::success(Some(200), Some(session.realm.clone()))
        }
    }
}
