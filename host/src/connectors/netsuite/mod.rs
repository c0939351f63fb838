//! The NetSuite connector: SuiteTalk REST web services with Token-Based Authentication.
//!
//! Exactly one NetSuite invoice per invoice, however many retries and re-syncs:
//! - customers and invoices are upserted by external id (`PUT /record/v1/<type>/eid:<id>`,
//!   see [`mapping`] for the id scheme), so a retry after a lost answer, a re-sync and a
//!   reconnection all land on the same record;
//! - the invoice upsert carries `?replace=item`: on an update NetSuite *appends* item
//!   lines that have no `line` key, so without it every re-sync would add the lines again
//!   and inflate the total; with it the sent lines replace the old ones (the REST API
//!   Browser lists `replace` on the upsert operation, as on PATCH);
//! - a create answers 204 with the new internal id only in `Location`; an update may not
//!   name it, so the id is then the stored one or read back with `GET …/eid:<id>`; it is
//!   stored per (account, tenant, invoice) for the sync log's `erp_record_id`;
//! - a customer is upserted when new or changed (a fingerprint of its body is stored
//!   with its id), one upsert at a time per customer, so a burst of a new customer's
//!   invoices does not race to create it.
//!
//! `VOID`: REST web services cannot void an invoice (voiding is a UI and SuiteScript
//! `N/transaction` operation; REST record actions for invoices only group them), so the
//! invoice is credited in full with NetSuite's documented transform
//! `POST /invoice/<id>/!transform/creditMemo`, which leaves nothing to pay. The credit memo
//! carries its own external id and is looked up by it before transforming, so a void is
//! applied once however often it is retried. An invoice that never reached NetSuite needs
//! no void: the attempt succeeds with a note.
//!
//! Limits: NetSuite limits the requests in flight per account (5 without SuiteCloud Plus,
//! shared by every integration), and answers 429 beyond it. Each account gets a semaphore
//! of [`DEFAULT_CONCURRENCY`] permits, or `ERP_SYNC_NETSUITE_CONCURRENCY` when set (for
//! accounts with a larger or specially allocated limit); a refusal takes a permit away and
//! answered requests give it back (see [`super::limits`]), since other integrations may
//! use part of the account's limit. 429s and concurrency codes, 5xx and timeouts are
//! retried with backoff; a refused login is tried once more with a fresh nonce and
//! timestamp, then fails asking to check the token; validation errors fail at once with
//! NetSuite's `o:errorCode` and `o:errorPath` in the sync log.

pub mod api;
pub mod client;
pub mod config;
pub mod credit_notes;
pub mod customer_updates;
pub mod ledger;
pub mod lists;
pub mod mapping;
pub mod payments;
pub mod preview;
pub mod refunds;
pub mod tba;

use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::limits::{AccountLimits, Rules};
use super::locks::KeyedLocks;
use super::{
    Checked, ConfigChange, Connector, Entries, ErpList, LedgerRequest, Outcome, Preview,
    PreviewInput, Step, SyncRequest, profile,
};
use crate::store::{ConnectionRow, ErpRecord, Store};
use api::{NsError, NsErrorKind};
use client::{Account, Answer};
use mapping::{ItemRules, external_id};
use tba::Credentials;

/// Requests in flight per NetSuite account unless `ERP_SYNC_NETSUITE_CONCURRENCY` says
/// otherwise: the limit of an account without SuiteCloud Plus licences.
pub const DEFAULT_CONCURRENCY: usize = 5;

/// The environment variable overriding [`DEFAULT_CONCURRENCY`].
pub const CONCURRENCY_ENV: &str = "ERP_SYNC_NETSUITE_CONCURRENCY";

/// Refusals for too many requests at once one call waits out before it gives up as a
/// retryable failure.
const MAX_REFUSALS: u32 = 8;

/// How long a call waits after its `n`th refusal for too many requests at once: 250 ms,
/// doubling, up to 5 s, with ±20 % jitter so refused calls do not return together.
fn refusal_backoff(n: u32) -> Duration {
    let base = Duration::from_millis(250) * 2u32.saturating_pow(n.saturating_sub(1).min(5));
    let base = base.min(Duration::from_secs(5));
    base.mul_f64(rand::Rng::gen_range(&mut rand::thread_rng(), 0.8..1.2))
}

/// A call the limits held back, as the connector's error.
fn blocked_error(blocked: super::limits::Blocked, account: &str) -> NsError {
    let outcome = blocked.outcome("NetSuite", account);
    let kind = match outcome.kind {
        super::OutcomeKind::Deferred { after } => NsErrorKind::Deferred(after),
        _ => NsErrorKind::Retryable(None),
    };
    NsError {
        kind,
        status: None,
        details: Vec::new(),
        message: outcome.detail.unwrap_or_default(),
    }
}

impl From<NsError> for Outcome {
    fn from(e: NsError) -> Self {
        match e.kind {
            NsErrorKind::Retryable(after) => Outcome::retryable(e.status, e.message, after),
            NsErrorKind::Deferred(after) => Outcome::deferred(e.message, after),
            _ => Outcome::permanent(e.status, e.message),
        }
    }
}

/// A successful attempt with a note for the sync log.
fn success_with(code: Option<u16>, erp_record_id: Option<String>, note: String) -> Outcome {
    Outcome {
        detail: Some(note),
        ..Outcome::success(code, erp_record_id)
    }
}

/// The connector; one per process.
pub struct NetSuiteConnector {
    api_base: Option<String>,
    http: reqwest::Client,
    store: Store,
    /// Requests in flight per account (and, with a PostgreSQL store, across hosts).
    limits: AccountLimits,
    /// One customer upsert at a time per (account, customer): a burst of a new
    /// customer's invoices sends one upsert, not one each racing to create it.
    customer_locks: KeyedLocks,
}

/// One request to NetSuite.
enum Request<'a> {
    /// A record service request.
    Record {
        method: Method,
        path: &'a str,
        query: &'a [(&'a str, &'a str)],
        body: Option<&'a Value>,
    },
    /// One page of a SuiteQL query.
    Query {
        q: &'a str,
        limit: usize,
        offset: usize,
    },
}

/// One connection's account and who it works for.
struct Session {
    account: Account,
    tenant_id: String,
    subsidiary_id: Option<String>,
    /// The connection's `payment_account` (see [`ledger::payment_account`]).
    payment_account: Option<String>,
    /// The connection's `item_map` and `default_item_id`.
    items: ItemRules,
    /// Cancelled when the connection is disconnected.
    stop: CancellationToken,
}

impl NetSuiteConnector {
    /// A connector; `api_base` (`ERP_SYNC_NETSUITE_API_BASE`) overrides the URL derived
    /// from each connection's account id (a connection's own `api_base` overrides both).
    ///
    /// A connection's `api_base` is the tenant's to choose, so calls go through the
    /// SSRF-guarded client (see [`super::egress`]) unless private targets are allowed.
    pub fn new(
        api_base: Option<String>,
        store: Store,
        allow_private: bool,
        timeout: Duration,
        max_pause: Duration,
    ) -> Self {
        let concurrency = std::env::var(CONCURRENCY_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_CONCURRENCY);
        let http = super::egress::http_client(allow_private, timeout);
        NetSuiteConnector {
            api_base: api_base.filter(|b| !b.trim().is_empty()),
            http,
            limits: AccountLimits::new(
                &store,
                Rules {
                    concurrent: concurrency,
                    per_minute: None,
                    patience: Duration::from_secs(60),
                },
                timeout,
            )
            .capping_pauses(max_pause),
            store,
            customer_locks: KeyedLocks::default(),
        }
    }

    /// The account, credentials and limit of a connection.
    fn session(
        &self,
        connection: &ConnectionRow,
        secrets: &Value,
        stop: CancellationToken,
    ) -> Result<Session, Outcome> {
        let config = &connection.config;
        let text = |key: &str| {
            config
                .get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let account_id = text("account_id")
            .ok_or_else(|| Outcome::permanent(None, "the connection has no NetSuite account_id"))?;
        let credentials =
            Credentials::from_secrets(secrets).map_err(|e| Outcome::permanent(None, e))?;
        let base = text("api_base")
            .or_else(|| self.api_base.clone())
            .unwrap_or_else(|| Account::default_base(&account_id));
        let account = Account {
            account_id,
            base: base.trim_end_matches('/').to_string(),
            credentials,
        };
        Ok(Session {
            account,
            tenant_id: connection.tenant_id.clone(),
            subsidiary_id: text("subsidiary_id"),
            payment_account: ledger::payment_account(connection),
            items: ItemRules::from_config(config),
            stop,
        })
    }

    /// One call within the account's limit; a refused login is tried once more with a
    /// fresh nonce and timestamp (a clock step or a nonce clash must not fail a sync),
    /// and a refusal for too many requests at once is waited out (the account's window
    /// has just shrunk) and sent again, without spending a retry.
    async fn call(
        &self,
        session: &Session,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Answer, NsError> {
        self.call_request(
            session,
            Request::Record {
                method,
                path,
                query,
                body,
            },
        )
        .await
    }

    /// [`NetSuiteConnector::call`] for any request, a record one or a SuiteQL query.
    async fn call_request(
        &self,
        session: &Session,
        request: Request<'_>,
    ) -> Result<Answer, NsError> {
        let mut tried_again = false;
        let mut refusals = 0;
        let key = session.account.key();
        loop {
            let pass = self
                .limits
                .try_enter(&key, &session.stop)
                .await
                .map_err(|blocked| blocked_error(blocked, &key))?;
            let result = client::send(&self.http, &session.account, &request).await;
            // The account's limit is shared with its other integrations: learn it.
            match &result {
                Err(e) if e.is_over_concurrency() => pass.over_limit(),
                Err(e) if e.status.is_none() => drop(pass),
                _ => pass.answered(),
            }
            match result {
                Err(e) if e.kind == NsErrorKind::Unauthorized && !tried_again => {
                    tried_again = true;
                }
                Err(e) if e.is_over_concurrency() && refusals < MAX_REFUSALS => {
                    refusals += 1;
                    let wait = match e.kind {
                        NsErrorKind::Retryable(Some(after)) => after,
                        _ => refusal_backoff(refusals),
                    };
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = session.stop.cancelled() => {
                            return Err(blocked_error(super::limits::Blocked::Stopped, &key));
                        }
                    }
                }
                other => return other,
            }
        }
    }

    /// `GET /<record_type>/eid:<eid>`: the record as NetSuite holds it now (`None`: not
    /// there).
    async fn by_eid(
        &self,
        session: &Session,
        record_type: &str,
        eid: &str,
    ) -> Step<Option<Answer>> {
        let path = format!("{record_type}/eid:{eid}");
        match self.call(session, Method::GET, &path, &[], None).await {
            Ok(answer) => Ok(Some(answer)),
            Err(e) if e.kind == NsErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// One field of the record at `path`, for an error message; `None` when it cannot be
    /// read.
    async fn field_of(&self, session: &Session, path: &str, field: &str) -> Option<Value> {
        let answer = self.call(session, Method::GET, path, &[], None).await;
        answer.ok()?.body.get(field).cloned()
    }

    /// The internal id of the record of `record_type` with external id `eid`, if any.
    async fn id_by_external_id(
        &self,
        session: &Session,
        record_type: &str,
        eid: &str,
    ) -> Result<Option<String>, Outcome> {
        let Some(answer) = self.by_eid(session, record_type, eid).await? else {
            return Ok(None);
        };
        match &answer.body["id"] {
            Value::String(id) => Ok(Some(id.clone())),
            Value::Number(id) => Ok(Some(id.to_string())),
            _ => Err(Outcome::retryable(
                Some(answer.status),
                format!("NetSuite returned the {record_type} {eid} without an id"),
                None,
            )),
        }
    }

    async fn remembered(
        &self,
        session: &Session,
        kind: &str,
        local_id: &str,
    ) -> Result<Option<ErpRecord>, Outcome> {
        let account = session.account.key();
        Ok(self
            .store
            .erp_record(&account, &session.tenant_id, kind, local_id)
            .await?)
    }

    async fn remember(
        &self,
        session: &Session,
        kind: &str,
        local_id: &str,
        remote_id: &str,
        version: Option<String>,
    ) -> Result<(), Outcome> {
        let remote_id = remote_id.to_string();
        let record = ErpRecord { remote_id, version };
        let (account, tenant) = (session.account.key(), &session.tenant_id);
        self.store
            .put_erp_record(&account, tenant, kind, local_id, &record)
            .await?;
        Ok(())
    }

    /// Upserts `body` as the `record_type` with external id `eid`; answers its internal
    /// id (from `Location`, else `known`, else read back by external id).
    async fn upsert(
        &self,
        session: &Session,
        record_type: &str,
        eid: &str,
        query: &[(&str, &str)],
        body: &Value,
        known: Option<String>,
    ) -> Result<(u16, String), Outcome> {
        let path = format!("{record_type}/eid:{eid}");
        let answer = self
            .call(session, Method::PUT, &path, query, Some(body))
            .await?;
        self.upserted(session, record_type, eid, answer, known)
            .await
    }

    /// The status and internal id of an upsert's answer (see [`NetSuiteConnector::upsert`]).
    async fn upserted(
        &self,
        session: &Session,
        record_type: &str,
        eid: &str,
        answer: Answer,
        known: Option<String>,
    ) -> Result<(u16, String), Outcome> {
        let id = match answer.location_id.or(known) {
            Some(id) => id,
            None => self
                .id_by_external_id(session, record_type, eid)
                .await?
                .ok_or_else(|| {
                    Outcome::retryable(
                        Some(answer.status),
                        format!("NetSuite accepted the {record_type} {eid} but cannot find it yet"),
                        None,
                    )
                })?,
        };
        Ok((answer.status, id))
    }

    /// The NetSuite customer of the invoice's customer: upserted by external id when it
    /// is new or its name, e-mail or subsidiary changed, else the remembered one.
    async fn customer(
        &self,
        session: &Session,
        invoice: &crate::domain::Invoice,
    ) -> Result<String, Outcome> {
        self.customer_of(session, &invoice.customer).await
    }

    /// [`NetSuiteConnector::customer`] for any document's customer.
    async fn customer_of(
        &self,
        session: &Session,
        customer: &crate::domain::Customer,
    ) -> Result<String, Outcome> {
        let local = &customer.id;
        let body = mapping::customer_body_of(customer, session.subsidiary_id.as_deref());
        let fingerprint = mapping::fingerprint(&body);
        let eid = external_id("cus", &session.tenant_id, local);
        let key = format!("{}/{eid}", session.account.key());
        let _guard = self.customer_locks.lock(&key).await;
        self.upsert_customer(session, local, &eid, &body, fingerprint)
            .await
    }

    async fn upsert_customer(
        &self,
        session: &Session,
        local: &str,
        eid: &str,
        body: &Value,
        fingerprint: String,
    ) -> Result<String, Outcome> {
        let known = self.remembered(session, "customer", local).await?;
        if let Some(r) = &known
            && r.version.as_deref() == Some(fingerprint.as_str())
        {
            return Ok(r.remote_id.clone());
        }
        let (_, id) = self
            .upsert(
                session,
                "customer",
                eid,
                &[],
                body,
                known.map(|r| r.remote_id),
            )
            .await?;
        self.remember(session, "customer", local, &id, Some(fingerprint))
            .await?;
        Ok(id)
    }

    /// The internal id of the currency whose ISO code (NetSuite's `symbol`) is `code`.
    async fn currency(&self, session: &Session, code: &str) -> Result<String, Outcome> {
        if let Some(r) = self.remembered(session, "currency", code).await? {
            return Ok(r.remote_id);
        }
        let q = format!("symbol IS \"{code}\"");
        let answer = self
            .call(
                session,
                Method::GET,
                "currency",
                &[("q", &q), ("limit", "1")],
                None,
            )
            .await?;
        let id = match &answer.body["items"][0]["id"] {
            Value::String(id) => id.clone(),
            Value::Number(id) => id.to_string(),
            _ => {
                return Err(Outcome::permanent(
                    Some(answer.status),
                    format!(
                        "the NetSuite account has no currency with ISO code {code} (symbol {code}); add it under Lists > Accounting > Currencies"
                    ),
                ));
            }
        };
        self.remember(session, "currency", code, &id, None).await?;
        Ok(id)
    }

    async fn sync_invoice(&self, req: &SyncRequest<'_>) -> Result<Outcome, Outcome> {
        let session = self.session(req.connection, req.secrets, req.stop.clone())?;
        let invoice = req.document;
        if invoice.is_void() {
            return self.void(&session, req).await;
        }
        // A missing item fails before anything is written.
        let lines = mapping::item_lines(invoice, &session.items)
            .map_err(|e| Outcome::permanent(None, e))?;
        let customer = self.customer(&session, invoice).await?;
        let currency = self.currency(&session, &invoice.currency).await?;
        let body = mapping::invoice_body(
            invoice,
            &customer,
            &currency,
            session.subsidiary_id.as_deref(),
            lines,
        );
        let known = self.remembered(&session, "invoice", &invoice.id).await?;
        let eid = external_id("inv", &session.tenant_id, &invoice.id);
        let (status, id) = self
            .upsert(
                &session,
                "invoice",
                &eid,
                &[("replace", "item")],
                &body,
                known.map(|r| r.remote_id),
            )
            .await?;
        self.remember(&session, "invoice", &invoice.id, &id, None)
            .await?;
        Ok(Outcome::success(Some(status), Some(id)))
    }

    /// Credits the invoice in full with a credit memo (see the module docs), once.
    async fn void(&self, session: &Session, req: &SyncRequest<'_>) -> Result<Outcome, Outcome> {
        let invoice = req.document;
        let invoice_id = match self.remembered(session, "invoice", &invoice.id).await? {
            Some(r) => r.remote_id,
            None => {
                let eid = external_id("inv", &session.tenant_id, &invoice.id);
                match self.id_by_external_id(session, "invoice", &eid).await? {
                    Some(id) => {
                        self.remember(session, "invoice", &invoice.id, &id, None)
                            .await?;
                        id
                    }
                    None => {
                        return Ok(success_with(
                            None,
                            None,
                            "the invoice was never in NetSuite; nothing to void".into(),
                        ));
                    }
                }
            }
        };
        if let Some(memo) = self.remembered(session, "credit_memo", &invoice.id).await? {
            return Ok(success_with(
                None,
                Some(invoice_id.clone()),
                format!(
                    "already voided: credit memo {} credits NetSuite invoice {invoice_id} in full",
                    memo.remote_id
                ),
            ));
        }
        let memo_eid = external_id("void", &session.tenant_id, &invoice.id);
        let (status, memo_id) = match self
            .id_by_external_id(session, "creditMemo", &memo_eid)
            .await?
        {
            // An earlier attempt credited it, and its answer was lost.
            Some(id) => (200, id),
            None => {
                let body = json!({
                    "externalId": memo_eid,
                    "memo": format!("Voided in the billing platform: invoice {} (erp-sync {})", invoice.number, invoice.id),
                });
                let path = format!("invoice/{invoice_id}/!transform/creditMemo");
                let answer = self
                    .call(session, Method::POST, &path, &[], Some(&body))
                    .await?;
                let id = match answer.location_id {
                    Some(id) => id,
                    None => self
                        .id_by_external_id(session, "creditMemo", &memo_eid)
                        .await?
                        .ok_or_else(|| {
                            Outcome::retryable(
                                Some(answer.status),
                                "NetSuite accepted the credit memo but cannot find it yet",
                                None,
                            )
                        })?,
                };
                (answer.status, id)
            }
        };
        self.remember(session, "credit_memo", &invoice.id, &memo_id, None)
            .await?;
        Ok(success_with(
            Some(status),
            Some(invoice_id.clone()),
            format!("voided: credit memo {memo_id} credits NetSuite invoice {invoice_id} in full"),
        ))
    }
}

impl NetSuiteConnector {
    /// See [`Connector::test`].
    async fn test_connection(&self, connection: &ConnectionRow, secrets: &Value) -> Step {
        let session = self.session(connection, secrets, CancellationToken::new())?;
        let answer = self
            .call(&session, Method::GET, "customer", &[("limit", "1")], None)
            .await?;
        let realm = tba::realm(&session.account.account_id);
        if let Some(subsidiary) = &session.subsidiary_id {
            let what = format!("subsidiary_id {subsidiary} is not a subsidiary");
            self.must_exist(&session, &format!("subsidiary/{subsidiary}"), what)
                .await?;
        }
        if let Some(account) = &session.payment_account {
            let what = format!("payment_account {account} is not an account");
            self.must_exist(&session, &format!("account/{account}"), what)
                .await?;
        }
        let note = format!("connected to NetSuite account {realm}");
        Ok(success_with(Some(answer.status), None, note))
    }

    /// `GET <path>` for [`Connector::test`]: a record not found fails it, saying "`what` of
    /// NetSuite account <realm>".
    async fn must_exist(&self, session: &Session, path: &str, what: String) -> Step<()> {
        match self.call(session, Method::GET, path, &[], None).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind == NsErrorKind::NotFound => {
                let realm = tba::realm(&session.account.account_id);
                let detail = format!("{what} of NetSuite account {realm}: {e}");
                Err(Outcome::permanent(e.status, detail))
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[async_trait]
impl Connector for NetSuiteConnector {
    profile!(NetSuite, TestFirst);

    async fn sync(&self, req: SyncRequest<'_>) -> Outcome {
        match self.sync_invoice(&req).await {
            Ok(o) | Err(o) => o,
        }
    }

    /// Credit notes, payments, refunds and customer updates (see [`ledger`]).
    async fn sync_document(&self, req: LedgerRequest<'_>) -> Outcome {
        let synced = match self.session(req.connection, req.secrets, req.stop.clone()) {
            Ok(session) => self.sync_ledger(&session, req.document).await,
            Err(o) => Err(o),
        };
        match synced {
            Ok(o) | Err(o) => o,
        }
    }

    async fn check_change(&self, change: ConfigChange<'_>) -> Checked {
        config::check(change).await
    }

    fn in_flight_cap(&self) -> usize {
        self.limits.ceiling() * 2
    }

    async fn lookup(&self, connection: &ConnectionRow, secrets: &Value, list: ErpList) -> Entries {
        self.list(connection, secrets, list).await
    }

    async fn preview(&self, input: PreviewInput<'_>) -> Result<Preview, Outcome> {
        self.preview_of(input).await
    }

    /// A cheap authenticated read (one customer), the configured subsidiary and the
    /// `payment_account`, so wrong credentials, a wrong subsidiary or a wrong account fail
    /// here rather than at the first invoice or payment.
    async fn test(&self, connection: &ConnectionRow, secrets: &Value) -> Outcome {
        match self.test_connection(connection, secrets).await {
            Ok(o) | Err(o) => o,
        }
    }
}
