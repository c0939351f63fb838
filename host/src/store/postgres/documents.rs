//! Documents and their versions, and the jobs that ingest and manual sync queue, on
//! PostgreSQL.
//!
//! SQLite runs every write alone; here hosts ingest at once, so each ingest or manual
//! sync of one document first takes a transaction-scoped advisory lock on that document
//! ([`lock_document`]). Writes of one document then run one after another across all
//! hosts, as on SQLite, while different documents still run in parallel. A credit note
//! on an invoice also locks the invoice, so two credit notes cannot both take the last of
//! its total.

use sqlx::PgConnection;

use super::PgStore;
use crate::documents::AnyDocument;
use crate::domain::DocumentType;
use crate::domain::ids::{new_id, prefix};
use crate::store::ledger::{
    DELETE_LINKS_SQL, INSERT_LINK_SQL, INVOICE_BODY_SQL, Ingest, OTHER_CREDITS_SQL,
    check_credit_cap,
};
use crate::store::rows::{NewJob, Queueing, manual_target};
use crate::store::{DocumentRef, IngestOutcome, QueuedJob, StoreError, StoreResult, now_ms};

/// Serializes the writes of one document across hosts until the transaction ends.
///
/// Locking the `documents` row alone is not enough: before a document's first version
/// there is no row to lock, and two hosts ingesting it at once would both compute
/// version 1, the second failing on the primary key (a 500). The advisory lock exists
/// whether or not the row does. Its key is a 64-bit hash of tenant, type and id; two
/// documents sharing a hash merely wait for each other.
async fn lock_document(
    db: &mut PgConnection,
    tenant_id: &str,
    doc_type: DocumentType,
    id: &str,
) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2 || '/' || $3, 0))")
        .bind(tenant_id)
        .bind(doc_type.as_str())
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Refuses an ISSUED credit note that would over-credit its invoice, holding the
/// invoice's lock until commit so concurrent credit notes on it are checked in turn.
async fn check_credit(db: &mut PgConnection, tenant_id: &str, doc: &Ingest) -> StoreResult<()> {
    let Some(check) = &doc.credit() else {
        return Ok(());
    };
    lock_document(db, tenant_id, DocumentType::Invoice, &check.invoice_id).await?;
    let invoice_body: Option<String> = sqlx::query_scalar(INVOICE_BODY_SQL)
        .bind(tenant_id)
        .bind(&check.invoice_id)
        .fetch_optional(&mut *db)
        .await?;
    let others: Vec<String> = sqlx::query_scalar(OTHER_CREDITS_SQL)
        .bind(tenant_id)
        .bind(&check.invoice_id)
        .bind(doc.id())
        .fetch_all(&mut *db)
        .await?;
    check_credit_cap(check, invoice_body.as_deref(), &others)
}

/// Replaces what a document applies to with this version's links.
async fn replace_links(db: &mut PgConnection, tenant_id: &str, doc: &Ingest) -> StoreResult<()> {
    sqlx::query(DELETE_LINKS_SQL)
        .bind(tenant_id)
        .bind(doc.doc_type().as_str())
        .bind(doc.id())
        .execute(&mut *db)
        .await?;
    for link in doc.doc.applies_to() {
        sqlx::query(INSERT_LINK_SQL)
            .bind(tenant_id)
            .bind(link.doc_type.as_str())
            .bind(&link.id)
            .bind(doc.doc_type().as_str())
            .bind(doc.id())
            .bind(link.amount.map(|a| a.to_string()))
            .execute(&mut *db)
            .await?;
    }
    Ok(())
}

async fn insert_job(db: &mut PgConnection, job: &NewJob<'_>, now: i64) -> StoreResult<QueuedJob> {
    let job_id = new_id(prefix::JOB);
    sqlx::query(
        "INSERT INTO jobs (id, tenant_id, connection_id, document_id, version, event_id, event_type, event_ms, kind,
                           state, attempts, run_at_ms, created_ms, updated_ms, doc_type)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10, $10, $11)",
    )
    .bind(&job_id)
    .bind(job.tenant_id)
    .bind(job.connection_id)
    .bind(job.document_id)
    .bind(job.version)
    .bind(job.event_id.as_str())
    .bind(job.event_type.as_str())
    .bind(job.event_ms)
    .bind(job.kind)
    .bind(now)
    .bind(job.doc_type.as_str())
    .execute(db)
    .await?;
    Ok(QueuedJob {
        job_id,
        connection_id: job.connection_id.to_string(),
    })
}

/// Connections of a tenant that take documents of `entity`: active ones, and those
/// waiting for (re-)authorization, whose jobs wait until they are active.
///
/// The rows are locked `FOR KEY SHARE` until commit, which only a disconnect's
/// `FOR UPDATE` waits for: a connection being disconnected is either routed to before
/// its disconnect cancels the open jobs, or not routed to at all.
async fn routed_connections(
    db: &mut PgConnection,
    tenant_id: &str,
    entity: Option<&str>,
) -> StoreResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM connections
         WHERE tenant_id = $1 AND status IN ('active', 'pending_auth', 'needs_reauth', 'paused')
           AND (entity IS NULL OR entity = $2)
         ORDER BY created_ms, id
         FOR KEY SHARE",
    )
    .bind(tenant_id)
    .bind(entity)
    .fetch_all(db)
    .await?)
}

impl PgStore {
    /// Stores a validated document and queues one job per routed connection, atomically.
    ///
    /// The same content as the current version is a no-op; different content becomes the
    /// next version.
    pub(crate) async fn ingest_document(
        &self,
        tenant_id: &str,
        document: AnyDocument,
    ) -> StoreResult<IngestOutcome> {
        let doc = Ingest::of(document);
        let (doc_type, id) = (doc.doc_type().as_str(), doc.id());
        let entity = doc.doc.entity();
        let mut tx = self.pool.begin().await?;
        // The lock is a statement of its own: a statement reads from the snapshot taken
        // when it started, so a read in the same statement as the lock could miss the
        // version committed by the ingest it waited for.
        lock_document(&mut tx, tenant_id, doc.doc_type(), id).await?;
        let current: Option<(i64, String)> = sqlx::query_as(
            "SELECT version, content_hash FROM documents WHERE tenant_id = $1 AND doc_type = $2 AND id = $3",
        )
        .bind(tenant_id)
        .bind(doc_type)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((version, current_hash)) = &current
            && *current_hash == doc.hash
        {
            tx.commit().await?;
            return Ok(IngestOutcome::unchanged(*version));
        }
        check_credit(&mut tx, tenant_id, &doc).await?;
        let version = current.map_or(1, |(v, _)| v + 1);
        let now = now_ms();
        // The new version and the current-version row, in one statement.
        sqlx::query(
            "WITH version AS (
                INSERT INTO document_versions (tenant_id, document_id, version, content_hash, status, body, received_ms, doc_type)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $9))
             INSERT INTO documents (tenant_id, id, version, content_hash, status, entity, updated_ms, doc_type)
             VALUES ($1, $2, $3, $4, $5, $8, $7, $9)
             ON CONFLICT (tenant_id, doc_type, id) DO UPDATE SET
                version = excluded.version, content_hash = excluded.content_hash,
                status = excluded.status, entity = excluded.entity, updated_ms = excluded.updated_ms",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(version)
        .bind(&doc.hash)
        .bind(doc.doc.status())
        .bind(&doc.body)
        .bind(now)
        .bind(entity)
        .bind(doc_type)
        .execute(&mut *tx)
        .await?;
        if doc.has_links() {
            replace_links(&mut tx, tenant_id, &doc).await?;
        }
        let queueing = Queueing::new(
            tenant_id,
            (doc.doc_type(), id),
            (version, doc.doc.is_void()),
            now,
        );
        let mut jobs = Vec::new();
        for connection_id in routed_connections(&mut tx, tenant_id, entity).await? {
            jobs.push(insert_job(&mut tx, &queueing.sync(&connection_id), now).await?);
        }
        tx.commit().await?;
        if !jobs.is_empty() {
            self.wake_hosts();
        }
        Ok(IngestOutcome {
            version,
            unchanged: false,
            jobs,
        })
    }

    /// Manual sync: queues the current version of a document again, to one connection or
    /// to every active connection it routes to. A job still waiting for a retry is run
    /// now instead of being doubled; a redelivery keeps the event id of that version.
    pub(crate) async fn manual_sync(
        &self,
        tenant_id: &str,
        document: &DocumentRef,
        connection_id: Option<&str>,
    ) -> StoreResult<Vec<QueuedJob>> {
        let (doc_type, document_id) = (document.doc_type, document.id.as_str());
        let mut tx = self.pool.begin().await?;
        lock_document(&mut tx, tenant_id, doc_type, document_id).await?;
        let (version, status, entity): (i64, String, Option<String>) = sqlx::query_as(
            "SELECT version, status, entity FROM documents WHERE tenant_id = $1 AND doc_type = $2 AND id = $3",
        )
        .bind(tenant_id)
        .bind(doc_type.as_str())
        .bind(document_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("{document} not found")))?;
        let targets = match connection_id {
            Some(id) => {
                // Locked as `routed_connections` locks: see there.
                let status: Option<String> = sqlx::query_scalar(
                    "SELECT status FROM connections WHERE tenant_id = $1 AND id = $2 FOR KEY SHARE",
                )
                .bind(tenant_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                manual_target(id, status.as_deref())?
            }
            None => routed_connections(&mut tx, tenant_id, entity.as_deref()).await?,
        };
        let now = now_ms();
        let queueing = Queueing::new(
            tenant_id,
            (doc_type, document_id),
            (version, status == "VOID"),
            now,
        );
        let mut jobs = Vec::new();
        for conn in targets {
            // The outer state test is checked again if the job is locked meanwhile (a
            // settle on another host): a job that finished is not reported as queued.
            let open: Option<String> = sqlx::query_scalar(
                "UPDATE jobs SET run_at_ms = LEAST(run_at_ms, $1), updated_ms = $1
                 WHERE seq = (SELECT MAX(seq) FROM jobs WHERE connection_id = $2 AND document_id = $3
                              AND doc_type = $4 AND state IN ('pending', 'leased'))
                   AND state IN ('pending', 'leased')
                 RETURNING id",
            )
            .bind(now)
            .bind(&conn)
            .bind(document_id)
            .bind(doc_type.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(job_id) = open {
                jobs.push(QueuedJob {
                    job_id,
                    connection_id: conn,
                });
                continue;
            }
            let previous: Option<(String, String, i64)> = sqlx::query_as(
                "SELECT event_id, event_type, event_ms FROM jobs
                 WHERE connection_id = $1 AND document_id = $2 AND doc_type = $3 AND version = $4
                 ORDER BY seq DESC LIMIT 1",
            )
            .bind(&conn)
            .bind(document_id)
            .bind(doc_type.as_str())
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?;
            let job = queueing.manual(&conn, previous);
            jobs.push(insert_job(&mut tx, &job, now).await?);
        }
        tx.commit().await?;
        if !jobs.is_empty() {
            self.wake_hosts();
        }
        Ok(jobs)
    }
}
