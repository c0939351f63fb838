//! Invoices and their versions, and the jobs that ingest and manual sync queue.

use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use crate::domain::Invoice;
use crate::domain::ids::{new_id, prefix};
use crate::store::rows::{NewJob, Queueing, manual_target};
use crate::store::{IngestOutcome, QueuedJob, StoreError, StoreResult, now_ms};

fn insert_job(db: &Connection, job: &NewJob<'_>, now: i64) -> StoreResult<QueuedJob> {
    let job_id = new_id(prefix::JOB);
    db.prepare_cached(
        "INSERT INTO jobs (id, tenant_id, connection_id, invoice_id, version, event_id, event_type, event_ms, kind,
                           state, attempts, run_at_ms, created_ms, updated_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
    )?
    .execute(params![
        job_id,
        job.tenant_id,
        job.connection_id,
        job.invoice_id,
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

/// Connections of a tenant that take invoices of `entity`: active ones, and those
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
        let routes = matches!(status.as_str(), "active" | "pending_auth" | "needs_reauth")
            && (takes.is_none() || takes.as_deref() == entity);
        if routes {
            routed.push((row.get(1)?, row.get(0)?));
        }
    }
    routed.sort();
    Ok(routed.into_iter().map(|(_, id)| id).collect())
}

impl SqliteStore {
    /// Stores a validated invoice and queues one job per routed connection, atomically.
    ///
    /// The same content as the current version is a no-op; different content becomes the
    /// next version.
    pub(crate) async fn ingest_invoice(
        &self,
        tenant_id: &str,
        invoice: &Invoice,
    ) -> StoreResult<IngestOutcome> {
        let (body, hash) = invoice.canonical_body();
        let tenant_id = tenant_id.to_string();
        let invoice_id = invoice.id.clone();
        let status = invoice.status.as_str();
        let entity = invoice.entity.clone();
        let void = invoice.is_void();
        self.write(move |db| {
            let current: Option<(i64, String)> = db
                .prepare_cached(
                    "SELECT version, content_hash FROM invoices WHERE tenant_id = ? AND id = ?",
                )?
                .query_row(params![tenant_id, invoice_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((version, current_hash)) = &current
                && *current_hash == hash
            {
                return Ok(IngestOutcome::unchanged(*version));
            }
            let version = current.map_or(1, |(v, _)| v + 1);
            let now = now_ms();
            db.prepare_cached(
                "INSERT INTO invoice_versions (tenant_id, invoice_id, version, content_hash, status, body, received_ms)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![tenant_id, invoice_id, version, hash, status, body, now])?;
            db.prepare_cached(
                "INSERT INTO invoices (tenant_id, id, version, content_hash, status, entity, updated_ms)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (tenant_id, id) DO UPDATE SET
                    version = excluded.version, content_hash = excluded.content_hash,
                    status = excluded.status, entity = excluded.entity, updated_ms = excluded.updated_ms",
            )?
            .execute(params![tenant_id, invoice_id, version, hash, status, entity, now])?;
            let queueing = Queueing {
                tenant_id: &tenant_id,
                invoice_id: &invoice_id,
                version,
                void,
                now,
            };
            let jobs = routed_connections(db, &tenant_id, entity.as_deref())?
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

    /// Manual sync: queues the current version of an invoice again, to one connection or
    /// to every active connection it routes to. A job still waiting for a retry is run
    /// now instead of being doubled; a redelivery keeps the event id of that version.
    pub(crate) async fn manual_sync(
        &self,
        tenant_id: &str,
        invoice_id: &str,
        connection_id: Option<&str>,
    ) -> StoreResult<Vec<QueuedJob>> {
        let tenant_id = tenant_id.to_string();
        let invoice_id = invoice_id.to_string();
        let connection_id = connection_id.map(str::to_string);
        self.write(move |db| {
            let (version, status, entity): (i64, String, Option<String>) = db
                .prepare_cached(
                    "SELECT version, status, entity FROM invoices WHERE tenant_id = ? AND id = ?",
                )?
                .query_row(params![tenant_id, invoice_id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("invoice {invoice_id} not found")))?;
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
            let queueing = Queueing {
                tenant_id: &tenant_id,
                invoice_id: &invoice_id,
                version,
                void: status == "VOID",
                now,
            };
            let mut jobs = Vec::new();
            for conn in targets {
                let open: Option<String> = db
                    .prepare_cached(
                        "UPDATE jobs SET run_at_ms = MIN(run_at_ms, ?), updated_ms = ?
                         WHERE seq = (SELECT MAX(seq) FROM jobs WHERE connection_id = ? AND invoice_id = ?
                                      AND state IN ('pending', 'leased'))
                         RETURNING id",
                    )?
                    .query_row(params![now, now, conn, invoice_id], |r| r.get(0))
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
                        "SELECT event_id, event_type, event_ms FROM jobs WHERE connection_id = ? AND invoice_id = ? AND version = ?
                         ORDER BY seq DESC LIMIT 1",
                    )?
                    .query_row(params![conn, invoice_id, version], |r| {
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
