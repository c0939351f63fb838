//! The durable queue: claiming due jobs under a lease, and settling attempts.
//!
//! A claim moves due jobs to `leased` with a fresh `lease_token` (a fencing token) and a
//! `lease_until`. Settling an attempt only succeeds while the token still matches, so a
//! worker that lost its lease (the job was cancelled, or re-claimed after the lease ran
//! out) cannot overwrite newer state; its attempt is still logged, because it happened.
//!
//! A job is claimable while no earlier job of the same (connection, invoice) is open, so
//! the versions of one invoice reach each connection in order while different invoices
//! run in parallel.

use sqlx::{Sqlite, Transaction};

use super::sync_log::{FAILED, LogEntry};
use super::{Store, StoreResult, now_ms};

/// A leased job, with everything the worker needs to attempt it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedJob {
    pub id: String,
    pub tenant_id: String,
    pub connection_id: String,
    pub invoice_id: String,
    pub version: i64,
    pub event_id: String,
    pub event_type: String,
    pub kind: String,
    /// The number of this attempt, 1 for the first.
    pub attempts: i64,
    pub lease_token: String,
    /// When this version was accepted (unix ms), for the ingest-to-delivery metric.
    pub created_ms: i64,
    /// The event's `created_at` (unix ms): the same on every redelivery of the event.
    pub event_ms: i64,
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
    Failed,
}

/// Cancels every open job of a connection, logging one FAILED entry per job.
pub(super) async fn cancel_open_jobs(
    tx: &mut Transaction<'_, Sqlite>,
    connection_id: &str,
    provider: &str,
    reason: &str,
) -> StoreResult<u64> {
    let now = now_ms();
    let cancelled: Vec<(String, String, String, String, i64, String)> = sqlx::query_as(
        "UPDATE jobs SET state = 'cancelled', lease_token = NULL, lease_until_ms = NULL, last_error = ?, updated_ms = ?
         WHERE connection_id = ? AND state IN ('pending', 'leased')
         RETURNING id, tenant_id, invoice_id, event_id, attempts, kind",
    )
    .bind(reason)
    .bind(now)
    .bind(connection_id)
    .fetch_all(&mut **tx)
    .await?;
    for (job_id, tenant_id, invoice_id, event_id, attempts, kind) in &cancelled {
        LogEntry {
            tenant_id: tenant_id.clone(),
            at_ms: now,
            invoice_id: Some(invoice_id.clone()),
            connection_id: connection_id.to_string(),
            provider: provider.to_string(),
            kind: kind.clone(),
            job_id: Some(job_id.clone()),
            event_id: Some(event_id.clone()),
            attempt: *attempts,
            status: FAILED,
            response_code: None,
            error: Some(reason.to_string()),
            erp_record_id: None,
            duration_ms: 0,
            guest_logs: None,
        }
        .insert(tx)
        .await?;
    }
    Ok(cancelled.len() as u64)
}

impl Store {
    /// Leases up to `limit` due jobs for `lease_ms`.
    pub async fn claim_due(&self, limit: i64, lease_ms: i64) -> StoreResult<Vec<ClaimedJob>> {
        let now = now_ms();
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut tx = self.write().await?;
        let jobs = sqlx::query_as::<_, ClaimedJob>(
            "UPDATE jobs SET state = 'leased', lease_token = ?1, lease_until_ms = ?2, attempts = attempts + 1,
                             updated_ms = ?3
             WHERE seq IN (
                SELECT j.seq FROM jobs j
                WHERE ((j.state = 'pending' AND j.run_at_ms <= ?3) OR (j.state = 'leased' AND j.lease_until_ms <= ?3))
                  AND EXISTS (SELECT 1 FROM connections c WHERE c.id = j.connection_id AND c.status = 'active')
                  AND NOT EXISTS (SELECT 1 FROM jobs p
                                  WHERE p.connection_id = j.connection_id AND p.invoice_id = j.invoice_id
                                    AND p.seq < j.seq AND p.state IN ('pending', 'leased'))
                ORDER BY j.run_at_ms, j.seq LIMIT ?4)
             RETURNING id, tenant_id, connection_id, invoice_id, version, event_id, event_type, kind, attempts,
                       lease_token, created_ms, event_ms",
        )
        .bind(&token)
        .bind(now + lease_ms)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(jobs)
    }

    /// Records an attempt and moves its job on, if the lease still holds. Returns false
    /// when the lease was lost (the entry is logged all the same).
    pub async fn settle_attempt(
        &self,
        job: &ClaimedJob,
        next: JobNext,
        entry: &LogEntry,
    ) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        entry.insert(&mut tx).await?;
        let (state, run_at) = match next {
            JobNext::Succeeded => ("succeeded", None),
            JobNext::Held => ("pending", None),
            JobNext::RetryAt(at) => ("pending", Some(at)),
            JobNext::Failed => ("failed", None),
        };
        let done = sqlx::query(
            "UPDATE jobs SET state = ?, run_at_ms = COALESCE(?, run_at_ms), lease_token = NULL, lease_until_ms = NULL,
                             attempts = attempts - ?, last_error = ?, last_code = ?, updated_ms = ?
             WHERE id = ? AND lease_token = ?",
        )
        .bind(state)
        .bind(run_at)
        .bind(matches!(next, JobNext::Held) as i64)
        .bind(&entry.error)
        .bind(entry.response_code)
        .bind(now_ms())
        .bind(&job.id)
        .bind(&job.lease_token)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a leased job back untouched, undoing the attempt count the claim added; used
    /// when the attempt never started (its connection stopped being active meanwhile).
    pub async fn release_lease(&self, job: &ClaimedJob) -> StoreResult<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE jobs SET state = 'pending', attempts = attempts - 1, lease_token = NULL, lease_until_ms = NULL,
                             updated_ms = ?
             WHERE id = ? AND lease_token = ?",
        )
        .bind(now_ms())
        .bind(&job.id)
        .bind(&job.lease_token)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// At start-up, returns every job leased by a previous process to the queue, logging
    /// each interrupted attempt as FAILED. Safe only because the data dir lock guarantees
    /// that no other process holds leases here.
    pub async fn recover_leases(&self) -> StoreResult<u64> {
        let now = now_ms();
        let mut tx = self.write().await?;
        let recovered: Vec<(String, String, String, String, String, String, i64)> = sqlx::query_as(
            "UPDATE jobs SET state = 'pending', run_at_ms = ?1, lease_token = NULL, lease_until_ms = NULL,
                             last_error = 'interrupted: erp-sync stopped during this attempt', updated_ms = ?1
             WHERE state = 'leased'
             RETURNING id, tenant_id, connection_id, invoice_id, event_id, kind, attempts",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        for (job_id, tenant_id, connection_id, invoice_id, event_id, kind, attempts) in &recovered {
            let provider: String =
                sqlx::query_scalar("SELECT provider FROM connections WHERE id = ?")
                    .bind(connection_id)
                    .fetch_one(&mut *tx)
                    .await?;
            LogEntry {
                tenant_id: tenant_id.clone(),
                at_ms: now,
                invoice_id: Some(invoice_id.clone()),
                connection_id: connection_id.clone(),
                provider,
                kind: kind.clone(),
                job_id: Some(job_id.clone()),
                event_id: Some(event_id.clone()),
                attempt: *attempts,
                status: FAILED,
                response_code: None,
                error: Some(
                    "interrupted: erp-sync stopped during this attempt; it is retried with the same event id"
                        .into(),
                ),
                erp_record_id: None,
                duration_ms: 0,
                guest_logs: None,
            }
            .insert(&mut tx)
            .await?;
        }
        tx.commit().await?;
        Ok(recovered.len() as u64)
    }

    /// When the next claimable job becomes due (unix ms), so the worker can sleep until
    /// then. A job waiting behind an earlier version of its invoice is not claimable; it
    /// becomes so when that version settles, which wakes the worker.
    pub async fn next_due_ms(&self) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(t) FROM (
                SELECT MIN(j.run_at_ms) AS t FROM jobs j
                WHERE j.state = 'pending'
                  AND EXISTS (SELECT 1 FROM connections c WHERE c.id = j.connection_id AND c.status = 'active')
                  AND NOT EXISTS (SELECT 1 FROM jobs p
                                  WHERE p.connection_id = j.connection_id AND p.invoice_id = j.invoice_id
                                    AND p.seq < j.seq AND p.state IN ('pending', 'leased'))
                UNION ALL SELECT MIN(lease_until_ms) FROM jobs WHERE state = 'leased')",
        )
        .fetch_one(&self.reader)
        .await?)
    }

    /// Jobs waiting or in flight, per state; backs the queue-depth metric.
    pub async fn queue_depth(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT state, COUNT(*) FROM jobs WHERE state IN ('pending', 'leased') GROUP BY state",
        )
        .fetch_all(&self.reader)
        .await?)
    }

    /// Jobs still leased; after a graceful shutdown this must be zero.
    pub async fn leased_count(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'leased'")
                .fetch_one(&self.reader)
                .await?,
        )
    }
}
