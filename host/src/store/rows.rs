//! The values the store's API takes and returns, shared by both backends.

use super::kinds::{ConnectionStatus, JobKind, LogKind, LogStatus, Provider};
use super::{StoreError, StoreResult, parse_json};
use crate::domain::DocumentType;
use crate::domain::ids::{new_id, prefix};

/// A tenant: one billing platform account whose objects are isolated from all others.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub multi_erp: bool,
}

impl Tenant {
    /// A new tenant (Multi-ERP off) with its first API key, and that key's hash, which
    /// is what the store keeps.
    pub(super) fn generate(name: &str) -> (Tenant, String, String) {
        let tenant = Tenant {
            id: new_id(prefix::TENANT),
            name: name.to_string(),
            multi_erp: false,
        };
        let key = crate::crypto::api_key::generate_api_key();
        let hash = crate::crypto::api_key::hash_api_key(&key);
        (tenant, key, hash)
    }
}

/// A connection as stored; `secrets` is sealed and only the worker opens it.
#[derive(Debug, Clone)]
pub struct ConnectionRow {
    pub id: String,
    pub tenant_id: String,
    pub provider: Provider,
    pub name: String,
    pub entity: Option<String>,
    pub status: ConnectionStatus,
    pub config: serde_json::Value,
    pub secrets: Option<Vec<u8>>,
    pub last_test: Option<serde_json::Value>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A connection row as both databases return it, JSON still as text.
#[derive(sqlx::FromRow)]
pub(super) struct RawConnection {
    pub id: String,
    pub tenant_id: String,
    pub provider: String,
    pub name: String,
    pub entity: Option<String>,
    pub status: String,
    pub config: String,
    pub secrets: Option<Vec<u8>>,
    pub last_test: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// The columns [`RawConnection`] reads, in its order.
pub(super) const CONNECTION_COLUMNS: &str = "id, tenant_id, provider, name, entity, status, config, secrets, last_test, created_ms, updated_ms";

impl TryFrom<RawConnection> for ConnectionRow {
    type Error = StoreError;
    fn try_from(r: RawConnection) -> StoreResult<Self> {
        Ok(ConnectionRow {
            config: parse_json("connections.config", &r.config)?,
            last_test: r
                .last_test
                .as_deref()
                .map(|t| parse_json("connections.last_test", t))
                .transpose()?,
            provider: Provider::try_from(r.provider).map_err(StoreError::Corrupt)?,
            status: ConnectionStatus::try_from(r.status).map_err(StoreError::Corrupt)?,
            id: r.id,
            tenant_id: r.tenant_id,
            name: r.name,
            entity: r.entity,
            secrets: r.secrets,
            created_ms: r.created_ms,
            updated_ms: r.updated_ms,
        })
    }
}

/// What is needed to create a connection; the id is chosen by the caller so secrets can
/// be sealed bound to it before the row exists.
#[derive(Debug, Clone)]
pub struct NewConnection {
    pub id: String,
    pub tenant_id: String,
    pub provider: Provider,
    pub name: String,
    pub entity: Option<String>,
    pub status: ConnectionStatus,
    pub config: serde_json::Value,
    pub secrets: Option<Vec<u8>>,
}

/// The message of the 409 that guards the one-ERP-per-tenant default.
pub(super) fn one_connection_message(existing: &str) -> String {
    format!(
        "this tenant already has a connection ({existing}); one connection per tenant is the default. \
         Turn on Multi-ERP mode (PATCH /v1/settings {{\"multi_erp\": true}}) to route invoices to several connections by entity, \
         or disconnect {existing} first"
    )
}

/// A job created by an ingest or a manual sync, as the API reports it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct QueuedJob {
    pub job_id: String,
    pub connection_id: String,
}

/// What an ingest did.
#[derive(Debug, Clone)]
pub struct IngestOutcome {
    pub version: i64,
    /// The same content was already stored: nothing new was queued.
    pub unchanged: bool,
    pub jobs: Vec<QueuedJob>,
}

impl IngestOutcome {
    /// The ingest of the content of the current `version` again: a no-op.
    pub(super) fn unchanged(version: i64) -> Self {
        IngestOutcome {
            version,
            unchanged: true,
            jobs: Vec::new(),
        }
    }
}

/// One stored version of a document.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionInfo {
    pub version: i64,
    pub status: String,
    pub content_hash: String,
    pub received_ms: i64,
}

/// The latest job of a document to one connection: its sync state there.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SyncStateRow {
    pub connection_id: String,
    pub job_id: String,
    pub version: i64,
    pub event_id: String,
    pub event_type: String,
    pub state: String,
    pub attempts: i64,
    pub last_code: Option<i64>,
    pub last_error: Option<String>,
    pub updated_ms: i64,
}

/// A document with its history and per-connection sync state.
#[derive(Debug, Clone)]
pub struct DocumentState {
    pub document: serde_json::Value,
    pub version: i64,
    pub versions: Vec<VersionInfo>,
    pub sync: Vec<SyncStateRow>,
}

/// A document that applies to another (a payment of an invoice), with its sync state.
#[derive(Debug, Clone)]
pub struct LinkedDocument {
    pub document: DocumentRef,
    /// How much of it goes to the target, as stored (decimal text).
    pub amount: Option<String>,
    pub status: String,
    pub sync: Vec<SyncStateRow>,
}

/// One document of the ledger, by type and id: what a job delivers and a log entry is
/// about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRef {
    pub doc_type: DocumentType,
    pub id: String,
}

impl DocumentRef {
    /// The invoice `id`.
    pub fn invoice(id: impl Into<String>) -> Self {
        DocumentRef {
            doc_type: DocumentType::Invoice,
            id: id.into(),
        }
    }

    /// The id, when this is an invoice: sync-log entries keep `invoice_id` for invoices.
    pub fn invoice_id(&self) -> Option<&str> {
        (self.doc_type == DocumentType::Invoice).then_some(self.id.as_str())
    }
}

/// A document type read back from a column, or the corruption it is.
pub(super) fn doc_type_of(text: &str) -> StoreResult<DocumentType> {
    DocumentType::from_code(text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown document type {text:?}")))
}

impl std::fmt::Display for DocumentRef {
    /// E.g. `credit note cn_1`, for messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.doc_type.noun(), self.id)
    }
}

/// Where a document another applies to stands on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prerequisite {
    /// A delivery of it succeeded there: it has its record.
    Synced,
    /// Its latest delivery there FAILED (or was cancelled) and none succeeded.
    Failed,
    /// Not delivered there yet: not posted, or its delivery is still pending.
    Waiting,
}

/// One delivery to queue: which version goes where, as which event.
pub(super) struct NewJob<'a> {
    pub(super) tenant_id: &'a str,
    pub(super) connection_id: &'a str,
    pub(super) doc_type: DocumentType,
    pub(super) document_id: &'a str,
    pub(super) version: i64,
    pub(super) event_id: String,
    pub(super) event_type: String,
    pub(super) event_ms: i64,
    pub(super) kind: &'static str,
}

/// The document version an ingest or a manual sync queues jobs of, at `now`.
pub(super) struct Queueing<'a> {
    pub(super) tenant_id: &'a str,
    pub(super) doc_type: DocumentType,
    pub(super) document_id: &'a str,
    pub(super) version: i64,
    /// Whether this version voids the document.
    pub(super) void: bool,
    pub(super) now: i64,
}

impl<'a> Queueing<'a> {
    /// Queueing of `version` of the document (`doc_type`, `document_id`) at `now`.
    pub(super) fn new(
        tenant_id: &'a str,
        (doc_type, document_id): (DocumentType, &'a str),
        (version, void): (i64, bool),
        now: i64,
    ) -> Self {
        Queueing {
            tenant_id,
            doc_type,
            document_id,
            version,
            void,
            now,
        }
    }

    /// An ingest's delivery to one connection, as a new event.
    pub(super) fn sync(&self, connection_id: &'a str) -> NewJob<'a> {
        self.job(connection_id, None, "sync")
    }

    /// A manual sync's delivery: a redelivery of the `previous` event of this version to
    /// that connection (id, type, time) if there was one, else a new event.
    pub(super) fn manual(
        &self,
        connection_id: &'a str,
        previous: Option<(String, String, i64)>,
    ) -> NewJob<'a> {
        self.job(connection_id, previous, "manual")
    }

    fn job(
        &self,
        connection_id: &'a str,
        event: Option<(String, String, i64)>,
        kind: &'static str,
    ) -> NewJob<'a> {
        let (event_id, event_type, event_ms) = event.unwrap_or_else(|| {
            let event_type = self.doc_type.event_type(self.version == 1, self.void);
            (new_id(prefix::EVENT), event_type.to_string(), self.now)
        });
        NewJob {
            tenant_id: self.tenant_id,
            connection_id,
            doc_type: self.doc_type,
            document_id: self.document_id,
            version: self.version,
            event_id,
            event_type,
            event_ms,
            kind,
        }
    }
}

/// The targets of a manual sync naming connection `id`, whose status is `status`
/// (`None`: no such connection of the tenant): only an active connection can sync.
pub(super) fn manual_target(id: &str, status: Option<&str>) -> StoreResult<Vec<String>> {
    match status {
        None => Err(StoreError::NotFound(format!("connection {id} not found"))),
        Some("active") => Ok(vec![id.to_string()]),
        Some(other) => Err(StoreError::Conflict(format!(
            "connection {id} is {other}; only an active connection can sync"
        ))),
    }
}

/// A leased job, with everything the worker needs to attempt it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedJob {
    pub id: String,
    pub tenant_id: String,
    pub connection_id: String,
    #[sqlx(try_from = "String")]
    pub doc_type: DocumentType,
    pub document_id: String,
    pub version: i64,
    pub event_id: String,
    pub event_type: String,
    pub kind: JobKind,
    /// The number of this attempt, 1 for the first.
    pub attempts: i64,
    pub lease_token: String,
    /// When this version was accepted (unix ms), for the ingest-to-delivery metric.
    pub created_ms: i64,
    /// The event's `created_at` (unix ms): the same on every redelivery of the event.
    pub event_ms: i64,
}

/// When the next claimable job becomes due (unix ms), so the worker can sleep until then:
/// a pending job not waiting behind an earlier job of its document, or a lease running out.
/// Both backends run it, each with its own spelling of `NOT_EXCLUDED` (the connections the
/// worker has enough of in flight, which it does not claim from now).
///
/// The pending half walks the due index in order and stops at the first claimable job
/// (`ORDER BY … LIMIT 1`), rather than checking every pending job for the minimum: with
/// a recovery's thousands of jobs waiting for their turn, the `MIN` over all of them
/// took 24 ms on PostgreSQL, in nearly every claim (the recovery fairness bench).
pub(super) const NEXT_DUE_SQL: &str = "SELECT MIN(t) FROM (
        SELECT t FROM (SELECT j.run_at_ms AS t FROM jobs j
        WHERE j.state = 'pending' AND NOT_EXCLUDED
          AND EXISTS (SELECT 1 FROM connections c WHERE c.id = j.connection_id AND c.status = 'active')
          AND NOT EXISTS (SELECT 1 FROM jobs p
                          WHERE p.connection_id = j.connection_id AND p.document_id = j.document_id
                            AND p.doc_type = j.doc_type AND p.seq < j.seq AND p.state IN ('pending', 'leased'))
        ORDER BY j.run_at_ms LIMIT 1) first_pending
        UNION ALL SELECT MIN(j.lease_until_ms) FROM jobs j
        WHERE j.state = 'leased'
          AND EXISTS (SELECT 1 FROM connections c WHERE c.id = j.connection_id AND c.status = 'active')) s";

/// The columns [`ClaimedJob`] reads, in its order, for a `RETURNING` clause.
pub(super) const CLAIMED_COLUMNS: &str = "id, tenant_id, connection_id, doc_type, document_id, version, event_id, event_type, \
     kind, attempts, lease_token, created_ms, event_ms";

/// A leased job with what its attempt reads, fetched in the claim's transaction so the
/// worker needs no further reads: the connection, the document version's body (`None`
/// if it is missing, which fails the attempt), for an invoice the customer's invoice
/// tweak, and for a document that applies to others where they stand on the connection.
#[derive(Debug, Clone)]
pub struct Claim {
    pub job: ClaimedJob,
    pub connection: ConnectionRow,
    pub body: Option<String>,
    /// Where each document this one applies to stands on the job's connection, when the
    /// claim read it (SQLite does, with the writer's cached statements); `None`: the
    /// worker reads it ([`super::Store::prerequisites`]).
    pub prerequisites: Option<Vec<(DocumentRef, Prerequisite)>>,
    pub tweak: Option<TransformRow>,
}

/// What one claim leased, and when it leased everything due, how long the worker may
/// sleep: it learns both from one write, instead of claiming again to find nothing and
/// then reading.
#[derive(Debug, Clone, Default)]
pub struct Claimed {
    pub claims: Vec<Claim>,
    /// Only when the claim leased fewer jobs than asked for: when the next claimable job
    /// becomes due (unix ms), `None` if none is waiting. A job waiting behind an earlier
    /// version of its invoice is not claimable; it becomes so when that version settles
    /// ([`Settled::unblocked`]).
    pub next_due_ms: Option<i64>,
}

/// How recording an attempt went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Whether the lease still held, so the job moved on (the entry is logged either way).
    pub applied: bool,
    /// Whether a later job of the same (connection, invoice) is waiting, which this
    /// job's settling may have made claimable: the worker claims again only then.
    pub unblocked: bool,
}

/// What happens to a job after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobNext {
    Succeeded,
    /// The connection needs re-authorization: the job waits, pending, and this attempt
    /// does not count against its retries.
    Held,
    /// Try again at this time (unix ms).
    RetryAt(i64),
    /// Nothing was sent (the ERP's limits held the call back): run again at this time
    /// (unix ms), and this attempt does not count against the job's retries.
    Deferred(i64),
    Failed,
}

impl JobNext {
    /// The job's next state, its next run time if it changes, and how many attempts to
    /// give back (a held attempt does not count).
    pub(super) fn columns(self) -> (&'static str, Option<i64>, i64) {
        match self {
            JobNext::Succeeded => ("succeeded", None, 0),
            JobNext::Held => ("pending", None, 1),
            JobNext::RetryAt(at) => ("pending", Some(at), 0),
            JobNext::Deferred(at) => ("pending", Some(at), 1),
            JobNext::Failed => ("failed", None, 0),
        }
    }
}

/// Returns leased job `$4` to `pending` while its lease token is `$5`, without counting
/// its attempt, due at `$1` and noting `$2` when given, at `$3`. `EXTRA` is where a backend
/// clears columns of its own.
pub(super) const GIVE_BACK_SQL: &str = "UPDATE jobs SET state = 'pending', attempts = attempts - 1,
       lease_token = NULL, lease_until_ms = NULL EXTRA, run_at_ms = COALESCE($1, run_at_ms),
       last_error = COALESCE($2, last_error), updated_ms = $3
     WHERE id = $4 AND lease_token = $5";

/// A job stopped without a result of its own (cancelled, or cut by a crash), as the
/// statement that stopped it returns it.
#[derive(Clone, sqlx::FromRow)]
pub(super) struct StoppedJob {
    pub id: String,
    pub tenant_id: String,
    pub connection_id: String,
    #[sqlx(try_from = "String")]
    pub doc_type: DocumentType,
    pub document_id: String,
    pub event_id: String,
    pub kind: JobKind,
    pub attempts: i64,
}

/// The columns [`StoppedJob`] reads, for a `RETURNING` clause.
pub(super) const STOPPED_COLUMNS: &str =
    "id, tenant_id, connection_id, doc_type, document_id, event_id, kind, attempts";

/// Why an attempt cut by a crash has no result; its log entry says so.
pub(super) const INTERRUPTED: &str =
    "interrupted: erp-sync stopped during this attempt; it is retried with the same event id";

/// Why a job's `last_error` reads as it does after a crash cut its attempt.
pub(super) const INTERRUPTED_LAST_ERROR: &str = "interrupted: erp-sync stopped during this attempt";

/// Why a disconnect's cancelled jobs were not delivered.
pub(super) const CANCELLED_BY_DISCONNECT: &str =
    "cancelled: the connection was disconnected before this delivery completed";

impl StoppedJob {
    /// The FAILED entry saying why this job's attempt has no result.
    pub(super) fn entry(&self, provider: Provider, at_ms: i64, reason: &str) -> LogEntry {
        LogEntry {
            tenant_id: self.tenant_id.clone(),
            at_ms,
            document: Some(DocumentRef {
                doc_type: self.doc_type,
                id: self.document_id.clone(),
            }),
            connection_id: self.connection_id.clone(),
            provider,
            kind: self.kind.into(),
            job_id: Some(self.id.clone()),
            event_id: Some(self.event_id.clone()),
            attempt: self.attempts,
            status: LogStatus::Failed,
            response_code: None,
            error: Some(reason.to_string()),
            erp_record_id: None,
            duration_ms: 0,
            guest_logs: None,
        }
    }
}

/// One sync-log entry to append.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub tenant_id: String,
    pub at_ms: i64,
    /// The document the entry is about (none for a test sync).
    pub document: Option<DocumentRef>,
    pub connection_id: String,
    pub provider: Provider,
    pub kind: LogKind,
    pub job_id: Option<String>,
    pub event_id: Option<String>,
    pub attempt: i64,
    pub status: LogStatus,
    pub response_code: Option<i64>,
    pub error: Option<String>,
    pub erp_record_id: Option<String>,
    pub duration_ms: i64,
    /// What a Wasm guest printed during the attempt (bounded), if one ran.
    pub guest_logs: Option<String>,
}

/// The number of placeholders of [`insert_log_sql`].
pub(super) const LOG_VALUES: usize = 17;

/// The `INSERT` of one sync-log entry, with its [`LOG_VALUES`] placeholders written by
/// `p(n)`.
pub(super) fn insert_log_sql(p: impl Fn(usize) -> String) -> String {
    let values: Vec<String> = (1..=LOG_VALUES).map(p).collect();
    format!(
        "INSERT INTO sync_log (tenant_id, at_ms, invoice_id, connection_id, provider, kind, job_id, event_id,
                               attempt, status, response_code, error, erp_record_id, duration_ms, guest_logs,
                               document_type, document_id)
         VALUES ({})",
        values.join(", ")
    )
}

/// A stored entry as the API returns it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogRow {
    pub id: i64,
    pub at_ms: i64,
    pub invoice_id: Option<String>,
    /// The document type's wire name (`credit_note`), as stored.
    pub document_type: Option<String>,
    pub document_id: Option<String>,
    pub connection_id: String,
    pub provider: Provider,
    pub kind: LogKind,
    pub job_id: Option<String>,
    pub event_id: Option<String>,
    pub attempt: i64,
    pub status: LogStatus,
    pub response_code: Option<i64>,
    pub error: Option<String>,
    pub erp_record_id: Option<String>,
    pub duration_ms: i64,
    pub guest_logs: Option<String>,
}

/// The columns [`LogRow`] reads.
pub(super) const LOG_COLUMNS: &str = "id, at_ms, invoice_id, document_type, document_id, connection_id, provider, kind, job_id, event_id, \
     attempt, status, response_code, error, erp_record_id, duration_ms, guest_logs";

/// Filters of `GET /v1/sync-log`; every field narrows the result.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub status: Option<LogStatus>,
    pub invoice_id: Option<String>,
    pub document_type: Option<DocumentType>,
    pub document_id: Option<String>,
    pub connection_id: Option<String>,
    /// Only entries with an id below this one (the cursor of the previous page).
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl LogFilter {
    /// The page query of `tenant_id`'s log with these filters, in either backend's
    /// dialect (sqlx writes the placeholders).
    pub(super) fn query<'a, DB>(&'a self, tenant_id: &'a str) -> sqlx::QueryBuilder<'a, DB>
    where
        DB: sqlx::Database,
        &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    {
        let mut q = sqlx::QueryBuilder::new(format!(
            "SELECT {LOG_COLUMNS} FROM sync_log WHERE tenant_id = "
        ));
        q.push_bind(tenant_id);
        if let Some(v) = self.from_ms {
            q.push(" AND at_ms >= ").push_bind(v);
        }
        if let Some(v) = self.to_ms {
            q.push(" AND at_ms < ").push_bind(v);
        }
        if let Some(v) = &self.status {
            q.push(" AND status = ").push_bind(v.as_str());
        }
        // `invoice_id` is the invoice's document id: both use the same index.
        if let Some(v) = &self.invoice_id {
            q.push(" AND document_type = 'invoice' AND document_id = ")
                .push_bind(v.as_str());
        }
        if let Some(v) = self.document_type {
            q.push(" AND document_type = ").push_bind(v.as_str());
        }
        if let Some(v) = &self.document_id {
            q.push(" AND document_id = ").push_bind(v.as_str());
        }
        if let Some(v) = &self.connection_id {
            q.push(" AND connection_id = ").push_bind(v.as_str());
        }
        if let Some(v) = self.before_id {
            q.push(" AND id < ").push_bind(v);
        }
        q.push(" ORDER BY id DESC LIMIT ").push_bind(self.limit + 1);
        q
    }
}

/// One page of entries, newest first, and the cursor of the next page if there is one.
#[derive(Debug, Clone)]
pub struct LogPage {
    pub entries: Vec<LogRow>,
    pub next_before_id: Option<i64>,
}

impl LogPage {
    /// Makes a page from up to `limit + 1` rows: the extra row only says there is more.
    pub(super) fn from_rows(mut entries: Vec<LogRow>, limit: i64) -> LogPage {
        let next_before_id = if entries.len() as i64 > limit {
            entries.truncate(limit as usize);
            entries.last().map(|e| e.id)
        } else {
            None
        };
        LogPage {
            entries,
            next_before_id,
        }
    }
}

/// A transform as stored (without its bytes).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TransformRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub world: String,
    pub export: String,
    pub sha256: String,
    pub size: i64,
    pub created_ms: i64,
}

/// The columns [`TransformRow`] reads.
pub(super) const TRANSFORM_COLUMNS: &str =
    "id, tenant_id, name, world, export, sha256, size, created_ms";

/// A new upload, already validated.
pub struct NewTransform<'a> {
    pub tenant_id: &'a str,
    pub name: &'a str,
    pub world: &'a str,
    pub export: &'a str,
    pub sha256: &'a str,
    pub bytes: &'a [u8],
}

/// A pending OAuth authorization, bound to one tenant and connection.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OAuthState {
    pub state: String,
    pub tenant_id: String,
    pub connection_id: String,
    pub provider: Provider,
    pub verifier: Option<Vec<u8>>,
}

/// The refusal of an unknown, expired or used OAuth state.
pub(super) fn oauth_state_refused() -> StoreError {
    StoreError::NotFound(
        "this authorization link is unknown, expired or already used; start again with POST /v1/connections/{id}/reauthorize".into(),
    )
}

/// The ERP record standing for one of our objects.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ErpRecord {
    pub remote_id: String,
    pub version: Option<String>,
}
