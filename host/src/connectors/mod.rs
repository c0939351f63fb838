//! Destinations: one connector per provider behind one trait.
//!
//! The worker hands a connector one invoice version for one connection and gets back an
//! [`Outcome`]: success, a failure worth retrying (maybe with the provider's
//! `Retry-After`), a permanent failure that no retry can fix, or a hold until the
//! connection is re-authorized. The worker records what they report. ERP connectors also
//! keep their own memory in the store (OAuth tokens, and which ERP record stands for
//! which invoice and customer); the webhook connector keeps none.

pub mod coalesce;
pub mod egress;
pub mod limits;
pub mod lines;
pub mod mapping_aids;
pub mod netsuite;
pub mod oauth;
pub mod quickbooks;
pub mod webhook;
pub mod xero;

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::Invoice;
use crate::store::ConnectionRow;
pub use mapping_aids::{ErpEntry, ErpList, Preview, PreviewInput, PreviewRequest};

/// The providers erp-sync can connect to.
pub const PROVIDERS: &[&str] = &["webhook", "quickbooks", "xero", "netsuite"];

/// One invoice version to deliver to one connection.
pub struct SyncRequest<'a> {
    /// Cancelled when the connection is disconnected: an attempt still waiting for the
    /// ERP's limits then sends nothing.
    pub stop: &'a tokio_util::sync::CancellationToken,
    pub connection: &'a ConnectionRow,
    /// The connection's opened (unsealed) secrets.
    pub secrets: &'a serde_json::Value,
    pub invoice: &'a Invoice,
    /// The same invoice as its canonical JSON text ([`Invoice::canonical_text`]), as
    /// stored: webhooks and transforms send it on without rebuilding it.
    pub invoice_json: &'a str,
    /// The job: one delivery of one version, stable across its retries (a manual
    /// re-sync is a new job).
    pub job_id: &'a str,
    pub event_id: &'a str,
    /// `sync` (automatic) or `manual` (an operator's re-sync, a new job).
    pub kind: &'a str,
    pub event_type: &'a str,
    /// When the event was created (unix ms); stable across retries.
    pub event_created_ms: i64,
    pub attempt: i64,
}

/// How an attempt ended, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeKind {
    Success,
    /// Worth trying again; `retry_after` is the provider's own hint, if it gave one.
    Retryable {
        retry_after: Option<Duration>,
    },
    /// No retry can fix this (bad configuration, validation error, guest failure).
    Permanent,
    /// The connection lost its authorization: the delivery waits (not failed, not
    /// counted) until an operator re-authorizes the connection.
    Held,
    /// Nothing was sent: the ERP's limits keep the call back longer than an attempt may
    /// wait (a daily limit, a long pause), or the connection stopped. The delivery runs
    /// again after `after`, and the attempt does not count as a retry.
    Deferred {
        after: Duration,
    },
}

/// What a connector reports about one attempt; the worker logs it verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub kind: OutcomeKind,
    pub response_code: Option<u16>,
    /// Error details (or a short note on success) for the sync log.
    pub detail: Option<String>,
    /// The record's id in the destination, when it has one.
    pub erp_record_id: Option<String>,
    /// What a Wasm transform printed while building the request, if one ran.
    pub guest_logs: Option<String>,
}

impl Outcome {
    /// A successful attempt.
    pub fn success(code: Option<u16>, erp_record_id: Option<String>) -> Self {
        Outcome {
            kind: OutcomeKind::Success,
            response_code: code,
            detail: None,
            erp_record_id,
            guest_logs: None,
        }
    }

    /// A failure worth retrying.
    pub fn retryable(
        code: Option<u16>,
        detail: impl Into<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        Outcome {
            kind: OutcomeKind::Retryable { retry_after },
            response_code: code,
            detail: Some(detail.into()),
            erp_record_id: None,
            guest_logs: None,
        }
    }

    /// A failure no retry can fix.
    pub fn permanent(code: Option<u16>, detail: impl Into<String>) -> Self {
        Outcome {
            kind: OutcomeKind::Permanent,
            response_code: code,
            detail: Some(detail.into()),
            erp_record_id: None,
            guest_logs: None,
        }
    }

    /// The connection needs re-authorization; the delivery waits for it.
    pub fn held(detail: impl Into<String>) -> Self {
        Outcome {
            kind: OutcomeKind::Held,
            response_code: None,
            detail: Some(detail.into()),
            erp_record_id: None,
            guest_logs: None,
        }
    }

    /// Nothing was sent; the delivery runs again after `after`, not counted as a retry.
    pub fn deferred(detail: impl Into<String>, after: Duration) -> Self {
        Outcome {
            kind: OutcomeKind::Deferred { after },
            response_code: None,
            detail: Some(detail.into()),
            erp_record_id: None,
            guest_logs: None,
        }
    }

    /// Attaches a guest's captured logs.
    pub fn with_guest_logs(mut self, logs: Option<String>) -> Self {
        self.guest_logs = logs;
        self
    }

    /// Whether the attempt succeeded.
    pub fn is_success(&self) -> bool {
        self.kind == OutcomeKind::Success
    }
}

/// A mapping gap: something a document needs that the connection's maps do not give
/// (a line without an item, a tax code without a mapping, a currency the ERP cannot
/// book). A delivery with gaps fails at once naming them all; a preview lists them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Gap {
    /// The document field that has no mapping, e.g. `lines[0].tax_code`.
    pub field: String,
    /// What is missing and which setting gives it.
    pub message: String,
}

impl Gap {
    /// A gap at `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Gap {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The permanent failure of a delivery with these gaps.
    pub fn failure(provider: &str, gaps: &[Gap]) -> Outcome {
        let list: Vec<String> = gaps
            .iter()
            .map(|g| format!("{}: {}", g.field, g.message))
            .collect();
        Outcome::permanent(
            None,
            format!(
                "the invoice cannot be booked in {provider} as mapped: {}",
                list.join("; ")
            ),
        )
    }
}

/// A destination provider.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Delivers one invoice version.
    async fn sync(&self, request: SyncRequest<'_>) -> Outcome;

    /// The read-only (or `test` event) check run when a connection is created or changed.
    async fn test(&self, connection: &ConnectionRow, secrets: &serde_json::Value) -> Outcome;

    /// How many attempts of one connection the worker keeps in flight at most: enough to
    /// use the provider's limits fully (a batching connector needs one batch sending and
    /// another filling), few enough that one connection's backlog leaves the worker free
    /// for the others.
    fn in_flight_cap(&self) -> usize {
        64
    }

    /// Reads one of the ERP's lists (items, accounts, tax rates, currencies) for a
    /// mapping page; read-only.
    async fn lookup(
        &self,
        connection: &ConnectionRow,
        secrets: &serde_json::Value,
        list: ErpList,
    ) -> Result<Vec<ErpEntry>, Outcome> {
        let _ = (connection, secrets, list);
        Err(Outcome::permanent(
            None,
            "this provider has no lists to map to",
        ))
    }

    /// The exact request a delivery of this document would send, and every mapping gap;
    /// sends nothing (it may read what the request depends on).
    async fn preview(&self, input: PreviewInput<'_>) -> Result<Preview, Outcome>;
}

/// Every connector, built once at start-up.
pub struct Connectors {
    pub webhook: webhook::WebhookConnector,
    pub quickbooks: quickbooks::QuickBooksConnector,
    pub netsuite: netsuite::NetSuiteConnector,
    pub xero: xero::XeroConnector,
    /// Stops a disconnected connection's attempts that still wait for an ERP's limits.
    pub stops: limits::Stops,
    /// ERP lists read for mapping pages, kept briefly.
    pub lists: mapping_aids::KeptLists,
}

impl Connectors {
    /// The connector serving `provider`, if erp-sync has one.
    pub fn get(&self, provider: &str) -> Option<&dyn Connector> {
        match provider {
            "webhook" => Some(&self.webhook),
            "quickbooks" => Some(&self.quickbooks),
            "netsuite" => Some(&self.netsuite),
            "xero" => Some(&self.xero),
            _ => None,
        }
    }

    /// One of a connection's ERP lists, read at most once a minute.
    pub async fn lookup(
        &self,
        connection: &ConnectionRow,
        secrets: &serde_json::Value,
        list: ErpList,
    ) -> Result<Vec<ErpEntry>, Outcome> {
        if let Some(entries) = self.lists.get(&connection.id, list) {
            return Ok(entries);
        }
        let connector = self.get(&connection.provider).ok_or_else(|| {
            Outcome::permanent(None, format!("no connector for {}", connection.provider))
        })?;
        let entries = connector.lookup(connection, secrets, list).await?;
        self.lists.put(&connection.id, list, entries.clone());
        Ok(entries)
    }
}
