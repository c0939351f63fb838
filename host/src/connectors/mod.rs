//! Destinations: one connector per provider behind one trait, each in its own folder.
//!
//! A provider's folder holds everything erp-sync knows of it: its config and how a
//! connection is made (`config.rs`, and `connect.rs` for OAuth providers), how a document
//! becomes its record (`mapping.rs`), one call within its limits (`client.rs`), its
//! errors (`api.rs`), its lists for mapping pages (`lists.rs`) and previews
//! (`preview.rs`). The rest of erp-sync reaches a provider only through [`Connector`]
//! (and [`OAuthConnect`] for the OAuth round trip), found by [`Provider`] in
//! [`Connectors`]: adding a provider is a folder and one registration line.
//!
//! The worker hands a connector one invoice version for one connection and gets back an
//! [`Outcome`]: success, a failure worth retrying (maybe with the provider's
//! `Retry-After`), a permanent failure that no retry can fix, a hold until the connection
//! is re-authorized, or a deferral when the ERP's limits keep the call back. The worker
//! records what they report. ERP connectors also keep their own memory in the store
//! (OAuth tokens, and which ERP record stands for which invoice and customer); the
//! webhook connector keeps none.

pub mod coalesce;
pub mod egress;
pub mod limits;
pub mod lines;
pub mod locks;
pub mod mapping_aids;
pub mod netsuite;
pub mod oauth;
pub mod oauth_client;
pub mod onboarding;
pub mod quickbooks;
pub mod webhook;
pub mod xero;

use std::time::Duration;

use async_trait::async_trait;

use crate::documents::AnyDocument;
use crate::domain::Invoice;
pub use crate::store::{ConnectionRow, ConnectionStatus, JobKind, Provider};
pub use mapping_aids::{ErpEntry, ErpList, Preview, PreviewInput, PreviewRequest};
pub use onboarding::{
    Callback, Checked, CheckedConfig, ConfigChange, ConfigContext, ConfigError, ConnectError,
    OAuthConnect, Onboarding,
};

/// States, inside a [`Connector`] impl, what it is: `profile!(Xero, OAuth)` is its
/// [`Provider`] and how its connections are made ([`Onboarding`]).
macro_rules! profile {
    ($provider:ident, $onboarding:ident) => {
        fn provider(&self) -> $crate::connectors::Provider {
            $crate::connectors::Provider::$provider
        }

        fn onboarding(&self) -> $crate::connectors::Onboarding {
            $crate::connectors::Onboarding::$onboarding
        }
    };
}
pub(crate) use profile;

/// An ERP list as read for a mapping page, or why it could not be read.
pub type Entries = Result<Vec<ErpEntry>, Outcome>;

/// A credit note, payment, refund or customer update to deliver ([`Connector::sync_document`]).
pub type LedgerRequest<'a> = SyncRequest<'a, AnyDocument>;

/// How a connector's step ends: `Err` is an outcome that ends the attempt early (with `?`).
pub type Step<T = Outcome> = Result<T, Outcome>;

/// One document version to deliver to one connection: an invoice (`D` = [`Invoice`]),
/// or any other document of the ledger (`D` = [`AnyDocument`]).
pub struct SyncRequest<'a, D = Invoice> {
    /// Cancelled when the connection is disconnected: an attempt still waiting for the
    /// ERP's limits then sends nothing.
    pub stop: &'a tokio_util::sync::CancellationToken,
    pub connection: &'a ConnectionRow,
    /// The connection's opened (unsealed) secrets.
    pub secrets: &'a serde_json::Value,
    pub document: &'a D,
    /// The same document as its canonical JSON text, as stored: webhooks and transforms
    /// send it on without rebuilding it.
    pub document_json: &'a str,
    /// The job: one delivery of one version, stable across its retries (a manual
    /// re-sync is a new job).
    pub job_id: &'a str,
    pub event_id: &'a str,
    /// An automatic delivery, or an operator's re-sync (a new job).
    pub kind: JobKind,
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
    /// An outcome of `kind` without a record id or guest logs.
    fn of(kind: OutcomeKind, code: Option<u16>, detail: Option<String>) -> Self {
        Outcome {
            kind,
            response_code: code,
            detail,
            erp_record_id: None,
            guest_logs: None,
        }
    }

    /// A successful attempt.
    pub fn success(code: Option<u16>, erp_record_id: Option<String>) -> Self {
        Outcome {
            erp_record_id,
            ..Outcome::of(OutcomeKind::Success, code, None)
        }
    }

    /// A failure worth retrying.
    pub fn retryable(
        code: Option<u16>,
        detail: impl Into<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        let kind = OutcomeKind::Retryable { retry_after };
        Outcome::of(kind, code, Some(detail.into()))
    }

    /// A failure no retry can fix.
    pub fn permanent(code: Option<u16>, detail: impl Into<String>) -> Self {
        Outcome::of(OutcomeKind::Permanent, code, Some(detail.into()))
    }

    /// The connection needs re-authorization; the delivery waits for it.
    pub fn held(detail: impl Into<String>) -> Self {
        Outcome::of(OutcomeKind::Held, None, Some(detail.into()))
    }

    /// Nothing was sent; the delivery runs again after `after`, not counted as a retry.
    pub fn deferred(detail: impl Into<String>, after: Duration) -> Self {
        Outcome::of(OutcomeKind::Deferred { after }, None, Some(detail.into()))
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

    /// The sync-log entry of this outcome: `error` is what the entry says went wrong
    /// (the detail, with the worker's note on what happens next), `None` on success.
    pub fn log_entry(&self, about: Attempted<'_>, error: Option<String>) -> crate::store::LogEntry {
        crate::store::LogEntry {
            tenant_id: about.connection.tenant_id.clone(),
            at_ms: about.at_ms,
            document: about.job.map(|j| crate::store::DocumentRef {
                doc_type: j.doc_type,
                id: j.document_id.to_string(),
            }),
            connection_id: about.connection.id.clone(),
            provider: about.connection.provider,
            kind: about.kind,
            job_id: about.job.map(|j| j.job_id.to_string()),
            event_id: about.job.map(|j| j.event_id.to_string()),
            attempt: about.attempt,
            status: crate::store::LogStatus::of(self.is_success()),
            response_code: self.response_code.map(i64::from),
            error,
            erp_record_id: self.erp_record_id.clone(),
            duration_ms: about.took.as_millis() as i64,
            guest_logs: self.guest_logs.clone(),
        }
    }
}

/// The store failed under an attempt: nothing is known to be lost, so it is retried.
impl From<crate::store::StoreError> for Outcome {
    fn from(e: crate::store::StoreError) -> Self {
        Outcome::retryable(None, e.to_string(), None)
    }
}

/// Keeps `remote_id` as the ERP customer standing for `local` (customers carry no
/// version), so later deliveries find it without asking the ERP.
pub async fn remember_customer(
    store: &crate::store::Store,
    account: &str,
    tenant: &str,
    local: &str,
    remote_id: &str,
) -> Result<(), Outcome> {
    let record = crate::store::ErpRecord {
        remote_id: remote_id.to_string(),
        version: None,
    };
    store
        .put_erp_record(account, tenant, "customer", local, &record)
        .await?;
    Ok(())
}

/// What an attempt (or a test sync) was about, for its log entry.
#[derive(Clone, Copy)]
pub struct Attempted<'a> {
    pub connection: &'a ConnectionRow,
    pub kind: crate::store::LogKind,
    /// The job and its event, for a delivery (a test sync has none).
    pub job: Option<JobRef<'a>>,
    pub attempt: i64,
    pub at_ms: i64,
    pub took: Duration,
}

/// The ids of a delivery's job, for its log entry.
#[derive(Clone, Copy)]
pub struct JobRef<'a> {
    pub job_id: &'a str,
    pub event_id: &'a str,
    pub doc_type: crate::domain::DocumentType,
    pub document_id: &'a str,
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
    /// Which provider this is.
    fn provider(&self) -> Provider;

    /// How its new connections are made.
    fn onboarding(&self) -> Onboarding;

    /// Checks a config for a new connection (`current` is `None`) or for a change of
    /// `current` (the keys already merged): the config to store and the secrets to seal.
    async fn check_config(
        &self,
        ctx: &ConfigContext<'_>,
        config: serde_json::Map<String, serde_json::Value>,
        current: Option<&ConnectionRow>,
    ) -> Checked {
        // Every provider's connections take a retry schedule, checked here once.
        let mut config = config;
        let retry = config.remove("retry").filter(|v| !v.is_null());
        if let Some(retry) = &retry {
            crate::sync::RetryPolicy::check_config(retry)
                .map_err(|e| onboarding::ConfigError::new(e.field, e.message))?;
        }
        let change = ConfigChange {
            ctx,
            config,
            current,
        };
        let mut checked = self.check_change(change).await?;
        if let (Some(retry), Some(stored)) = (retry, checked.config.as_object_mut()) {
            stored.insert("retry".into(), retry);
        }
        Ok(checked)
    }

    /// The provider's own check behind [`Connector::check_config`].
    async fn check_change(&self, change: ConfigChange<'_>) -> Checked;

    /// Whether a config change completes this pending connection, so that its test sync
    /// runs and a pass activates it (Xero: authorized, then its organisation chosen).
    fn completes_on_change(&self, connection: &ConnectionRow) -> bool {
        let _ = connection;
        false
    }

    /// Delivers one invoice version.
    async fn sync(&self, request: SyncRequest<'_>) -> Outcome;

    /// Delivers one version of a credit note, payment, refund or customer update: the one
    /// place a provider learns a new document type. A provider that has not learnt it
    /// fails the delivery, saying so; a re-sync delivers it once it has.
    async fn sync_document(&self, request: SyncRequest<'_, AnyDocument>) -> Outcome {
        Outcome::permanent(
            None,
            format!(
                "{} connections do not take {}s yet; nothing was sent",
                self.provider().label(),
                request.document.doc_type().noun()
            ),
        )
    }

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
    ) -> Entries {
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

/// Every connector, built once at start-up, and what they share.
pub struct Connectors {
    /// One connector per provider ([`Connectors::new`] checks that none is missing).
    all: Vec<std::sync::Arc<dyn Connector>>,
    /// The OAuth providers' connect flows.
    oauth: Vec<(Provider, std::sync::Arc<dyn OAuthConnect>)>,
    /// Stops a disconnected connection's attempts that still wait for an ERP's limits.
    pub stops: limits::Stops,
    /// ERP lists read for mapping pages, kept briefly.
    pub lists: mapping_aids::KeptLists,
}

impl Connectors {
    /// The registry of `connectors`, one per provider, and of the OAuth providers among
    /// them. Every [`Provider`] must have one.
    pub fn new(
        connectors: Vec<std::sync::Arc<dyn Connector>>,
        oauth: Vec<(Provider, std::sync::Arc<dyn OAuthConnect>)>,
    ) -> Self {
        for p in Provider::ALL {
            assert!(
                connectors.iter().any(|c| c.provider() == *p),
                "no connector registered for {p}"
            );
        }
        Connectors {
            all: connectors,
            oauth,
            stops: Default::default(),
            lists: Default::default(),
        }
    }

    /// The connector serving `provider`.
    pub fn get(&self, provider: Provider) -> &dyn Connector {
        self.all
            .iter()
            .find(|c| c.provider() == provider)
            .map(|c| c.as_ref())
            .expect("every provider has a connector (checked by Connectors::new)")
    }

    /// The connect flow of an OAuth provider; `None` for the others.
    pub fn oauth(&self, provider: Provider) -> Option<&dyn OAuthConnect> {
        self.oauth
            .iter()
            .find(|(p, _)| *p == provider)
            .map(|(_, c)| c.as_ref())
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
        let entries = self
            .get(connection.provider)
            .lookup(connection, secrets, list)
            .await?;
        self.lists.put(&connection.id, list, entries.clone());
        Ok(entries)
    }
}
