//! Documents and their versions, and the jobs that ingest and manual sync queue.

use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use crate::documents::AnyDocument;
use crate::domain::DocumentType;
use crate::domain::ids::{new_id, prefix};
use crate::store::ledger::{
    DELETE_LINKS_SQL, INSERT_LINK_SQL, INVOICE_BODY_SQL, Ingest, OTHER_CREDITS_SQL,
    check_credit_cap,
};
use crate::store::rows::{NewJob, Queueing, manual_target};
use crate::store::{DocumentRef, IngestOutcome, QueuedJob, StoreError, StoreResult, now_ms};

fn insert_job(db: &Connection, job: &NewJob<'_>, now: i64) -> StoreResult<QueuedJob> {
    let job_id = new_id(prefix::JOB);
    db.prepare_cached(
        "INSERT INTO jobs (id, tenant_id, connection_id, doc_type, document_id, version, event_id, event_type,
                           event_ms, kind, state, attempts, run_at_ms, created_ms, updated_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
    )?
    .execute(params![
        job_id,
        job.tenant_id,
        job.connection_id,
        job.doc_type.as_str(),
        job.document_id,
        job.version,
        job.event_id,
        job.event_type,
        job.event_ms,
        job.kind,
        now,
        now,
        now
    ])?;
    Ok(QueuedJob {
        job_id,
        connection_id: job.connection_id.to_string(),
    })
}

/// Connections of a tenant that take documents of `entity`: active ones, and those
/// waiting for (re-)authorization, whose jobs wait until they are active.
///
/// Filtered and ordered here rather than in SQL: the `IN` list and `ORDER BY` made SQLite
/// build an ephemeral table and a sorter on every ingest, a twelfth of the writer's time
/// in the profile, for the handful of connections a tenant has.
fn routed_connections(
    db: &Connection,
    tenant_id: &str,
    entity: Option<&str>,
) -> StoreResult<Vec<String>> {
    let mut routed: Vec<(i64, String)> = Vec::new();
    let mut stmt = db.prepare_cached(
        "SELECT id, created_ms, status, entity FROM connections WHERE tenant_id = ?",
    )?;
    let mut rows = stmt.query(params![tenant_id])?;
    while let Some(row) = rows.next()? {
        let status: String = row.get(2)?;
        let takes: Option<String> = row.get(3)?;
        let routes = matches!(
            status.as_str(),
            "active" | "pending_auth" | "needs_reauth" | "paused"
        ) && (takes.is_none() || takes.as_deref() == entity);
        if routes {
            routed.push((row.get(1)?, row.get(0)?));
        }
    }
    routed.sort();
    Ok(routed.into_iter().map(|(_, id)| id).collect())
}

/// The current version of a document, and its content hash.
fn current_version(
    db: &Connection,
    tenant_id: &str,
    doc_type: DocumentType,
    id: &str,
) -> StoreResult<Option<(i64, String)>> {
    Ok(db
        .prepare_cached(
            "SELECT version, content_hash FROM documents WHERE tenant_id = ? AND doc_type = ? AND id = ?",
        )?
        .query_row(params![tenant_id, doc_type.as_str(), id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?)
}

/// Refuses an ISSUED credit note that would over-credit its invoice (the single writer
/// makes the read and the write that follows one step).
fn check_credit(db: &Connection, tenant_id: &str, doc: &Ingest) -> StoreResult<()> {
    let Some(check) = &doc.credit() else {
        return Ok(());
    };
    let invoice_body: Option<String> = db
        .prepare_cached(INVOICE_BODY_SQL)?
        .query_row(params![tenant_id, check.invoice_id], |r| r.get(0))
        .optional()?;
    let others = db
        .prepare_cached(OTHER_CREDITS_SQL)?
        .query_map(params![tenant_id, check.invoice_id, doc.id()], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    check_credit_cap(check, invoice_body.as_deref(), &others)
}

/// Replaces what a document applies to with this version's links.
fn replace_links(db: &Connection, tenant_id: &str, doc: &Ingest) -> StoreResult<()> {
    db.prepare_cached(DELETE_LINKS_SQL)?.execute(params![
        tenant_id,
        doc.doc_type().as_str(),
        doc.id()
    ])?;
    for link in doc.doc.applies_to() {
        db.prepare_cached(INSERT_LINK_SQL)?.execute(params![
            tenant_id,
            link.doc_type.as_str(),
            link.id,
            doc.doc_type().as_str(),
            doc.id(),
            link.amount.map(|a| a.to_string())
        ])?;
    }
    Ok(())
}

impl SqliteStore {
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
        let tenant_id = tenant_id.to_string();
        self.write(move |db| {
            let current = current_version(db, &tenant_id, doc.doc_type(), doc.id())?;
            if let Some((version, current_hash)) = &current
                && *current_hash == doc.hash
            {
                return Ok(IngestOutcome::unchanged(*version));
            }
            check_credit(db, &tenant_id, &doc)?;
            let version = current.map_or(1, |(v, _)| v + 1);
            let now = now_ms();
            let doc_type = doc.doc_type().as_str();
            db.prepare_cached(
                "INSERT INTO document_versions (tenant_id, doc_type, document_id, version, content_hash, status, body, received_ms)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![tenant_id, doc_type, doc.id(), version, doc.hash, doc.doc.status(), doc.body, now])?;
            db.prepare_cached(
                "INSERT INTO documents (tenant_id, doc_type, id, version, content_hash, status, entity, updated_ms)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (tenant_id, doc_type, id) DO UPDATE SET
                    version = excluded.version, content_hash = excluded.content_hash,
                    status = excluded.status, entity = excluded.entity, updated_ms = excluded.updated_ms",
            )?
            .execute(params![tenant_id, doc_type, doc.id(), version, doc.hash, doc.doc.status(), doc.doc.entity(), now])?;
            if doc.has_links() {
                replace_links(db, &tenant_id, &doc)?;
            }
            let queueing = Queueing::new(&tenant_id, (doc.doc_type(), doc.id()), (version, doc.doc.is_void()), now);
            let jobs = routed_connections(db, &tenant_id, doc.doc.entity())?
                .iter()
                .map(|connection_id| insert_job(db, &queueing.sync(connection_id), now))
                .collect::<StoreResult<_>>()?;
            Ok(IngestOutcome {
                version,
                unchanged: false,
                jobs,
            })
        })
        .await
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
        let tenant_id = tenant_id.to_string();
        let document = document.clone();
        let connection_id = connection_id.map(str::to_string);
        self.write(move |db| {
            let (doc_type, document_id) = (document.doc_type, document.id.as_str());
            let (version, status, entity): (i64, String, Option<String>) = db
                .prepare_cached(
                    "SELECT version, status, entity FROM documents WHERE tenant_id = ? AND doc_type = ? AND id = ?",
                )?
                .query_row(params![tenant_id, doc_type.as_str(), document_id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("{document} not found")))?;
            let targets = match &connection_id {
                Some(id) => {
                    let status: Option<String> = db
                        .prepare_cached(
                            "SELECT status FROM connections WHERE tenant_id = ? AND id = ?",
                        )?
                        .query_row(params![tenant_id, id], |r| r.get(0))
                        .optional()?;
                    manual_target(id, status.as_deref())?
                }
                None => routed_connections(db, &tenant_id, entity.as_deref())?,
            };
            let now = now_ms();
            let queueing = Queueing::new(&tenant_id, (doc_type, document_id), (version, status == "VOID"), now);
            let mut jobs = Vec::new();
            for conn in targets {
                let open: Option<String> = db
                    .prepare_cached(
                        "UPDATE jobs SET run_at_ms = MIN(run_at_ms, ?), updated_ms = ?
                         WHERE seq = (SELECT MAX(seq) FROM jobs WHERE connection_id = ? AND document_id = ?
                                      AND doc_type = ? AND state IN ('pending', 'leased'))
                         RETURNING id",
                    )?
                    .query_row(params![now, now, conn, document_id, doc_type.as_str()], |r| r.get(0))
                    .optional()?;
                if let Some(job_id) = open {
                    jobs.push(QueuedJob {
                        job_id,
                        connection_id: conn,
                    });
                    continue;
                }
                let previous: Option<(String, String, i64)> = db
                    .prepare_cached(
                        "SELECT event_id, event_type, event_ms FROM jobs
                         WHERE connection_id = ? AND document_id = ? AND doc_type = ? AND version = ?
                         ORDER BY seq DESC LIMIT 1",
                    )?
                    .query_row(params![conn, document_id, doc_type.as_str(), version], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()?;
                jobs.push(insert_job(db, &queueing.manual(&conn, previous), now)?);
            }
            Ok(jobs)
        })
        .await
    }
}
