//! Invoices and their versions, and the jobs that ingest and manual sync queue, on
//! PostgreSQL.
//!
//! SQLite runs every write alone; here hosts ingest at once, so each ingest or manual
//! sync of one invoice first takes a transaction-scoped advisory lock on that invoice
//! ([`lock_invoice`]). Writes of one invoice then run one after another across all
//! hosts, as on SQLite, while different invoices still run in parallel.

use sqlx::PgConnection;

use super::PgStore;
use crate::domain::Invoice;
use crate::domain::ids::{new_id, prefix};
use crate::store::rows::{NewJob, Queueing, manual_target};
use crate::store::{IngestOutcome, QueuedJob, StoreError, StoreResult, now_ms};

/// Serializes the writes of one invoice across hosts until the transaction ends.
///
/// Locking the `invoices` row alone is not enough: before an invoice's first version
/// there is no row to lock, and two hosts ingesting it at once would both compute
/// version 1, the second failing on the primary key (a 500). The advisory lock exists
/// whether or not the row does. Its key is a 64-bit hash of tenant and invoice id; two
/// invoices sharing a hash merely wait for each other.
async fn lock_invoice(db: &mut PgConnection, tenant_id: &str, invoice_id: &str) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))")
        .bind(tenant_id)
        .bind(invoice_id)
        .execute(db)
        .await?;
    Ok(())
}

async fn insert_job(db: &mut PgConnection, job: &NewJob<'_>, now: i64) -> StoreResult<QueuedJob> {
    let job_id = new_id(prefix::JOB);
    sqlx::query(
        "INSERT INTO jobs (id, tenant_id, connection_id, invoice_id, version, event_id, event_type, event_ms, kind,
                           state, attempts, run_at_ms, created_ms, updated_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10, $10)",
    )
    .bind(&job_id)
    .bind(job.tenant_id)
    .bind(job.connection_id)
    .bind(job.invoice_id)
    .bind(job.version)
    .bind(job.event_id.as_str())
    .bind(job.event_type.as_str())
    .bind(job.event_ms)
    .bind(job.kind)
    .bind(now)
    .execute(db)
    .await?;
    Ok(QueuedJob {
        job_id,
        connection_id: job.connection_id.to_string(),
    })
}

/// Connections of a tenant that take invoices of `entity`: active ones, and those
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
         WHERE tenant_id = $1 AND status IN ('active', 'pending_auth', 'needs_reauth')
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
        let invoice_id = invoice.id.as_str();
        let status = invoice.status.as_str();
        let entity = invoice.entity.as_deref();
        let mut tx = self.pool.begin().await?;
        // The lock is a statement of its own: a statement reads from the snapshot taken
        // when it started, so a read in the same statement as the lock could miss the
        // version committed by the ingest it waited for.
        lock_invoice(&mut tx, tenant_id, invoice_id).await?;
        let current: Option<(i64, String)> = sqlx::query_as(
            "SELECT version, content_hash FROM invoices WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(invoice_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((version, current_hash)) = &current
            && *current_hash == hash
        {
            tx.commit().await?;
            return Ok(IngestOutcome::unchanged(*version));
        }
        let version = current.map_or(1, |(v, _)| v + 1);
        let now = now_ms();
        // The new version and the current-version row, in one statement.
        sqlx::query(
            "WITH version AS (
                INSERT INTO invoice_versions (tenant_id, invoice_id, version, content_hash, status, body, received_ms)
                VALUES ($1, $2, $3, $4, $5, $6, $7))
             INSERT INTO invoices (tenant_id, id, version, content_hash, status, entity, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $8, $7)
             ON CONFLICT (tenant_id, id) DO UPDATE SET
                version = excluded.version, content_hash = excluded.content_hash,
                status = excluded.status, entity = excluded.entity, updated_ms = excluded.updated_ms",
        )
        .bind(tenant_id)
        .bind(invoice_id)
        .bind(version)
        .bind(&hash)
        .bind(status)
        .bind(&body)
        .bind(now)
        .bind(entity)
        .execute(&mut *tx)
        .await?;
        let queueing = Queueing {
            tenant_id,
            invoice_id,
            version,
            void: invoice.is_void(),
            now,
        };
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

    /// Manual sync: queues the current version of an invoice again, to one connection or
    /// to every active connection it routes to. A job still waiting for a retry is run
    /// now instead of being doubled; a redelivery keeps the event id of that version.
    pub(crate) async fn manual_sync(
        &self,
        tenant_id: &str,
        invoice_id: &str,
        connection_id: Option<&str>,
    ) -> StoreResult<Vec<QueuedJob>> {
        let mut tx = self.pool.begin().await?;
        lock_invoice(&mut tx, tenant_id, invoice_id).await?;
        let (version, status, entity): (i64, String, Option<String>) = sqlx::query_as(
            "SELECT version, status, entity FROM invoices WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(invoice_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("invoice {invoice_id} not found")))?;
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
        let queueing = Queueing {
            tenant_id,
            invoice_id,
            version,
            void: status == "VOID",
            now,
        };
        let mut jobs = Vec::new();
        for conn in targets {
            // The outer state test is checked again if the job is locked meanwhile (a
            // settle on another host): a job that finished is not reported as queued.
            let open: Option<String> = sqlx::query_scalar(
                "UPDATE jobs SET run_at_ms = LEAST(run_at_ms, $1), updated_ms = $1
                 WHERE seq = (SELECT MAX(seq) FROM jobs WHERE connection_id = $2 AND invoice_id = $3
                              AND state IN ('pending', 'leased'))
                   AND state IN ('pending', 'leased')
                 RETURNING id",
            )
            .bind(now)
            .bind(&conn)
            .bind(invoice_id)
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
                 WHERE connection_id = $1 AND invoice_id = $2 AND version = $3
                 ORDER BY seq DESC LIMIT 1",
            )
            .bind(&conn)
            .bind(invoice_id)
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
