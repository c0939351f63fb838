//! The durable queue: claiming due jobs under a lease, and settling attempts.
//!
//! A claim moves due jobs to `leased` with a fresh `lease_token` (a fencing token) and a
//! `lease_until`. Settling an attempt only succeeds while the token still matches, so a
//! worker that lost its lease (the job was cancelled, or re-claimed after the lease ran
//! out) cannot overwrite newer state; its attempt is still logged, because it happened.
//!
//! A job is claimable while no earlier job of the same (connection, document) is open, so
//! the versions of one document reach each connection in order while different documents
//! run in parallel.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::connections::read_connection;
use super::transforms::{has_tweaks, read_invoice_tweak};
use super::{SqliteStore, from_row};
use crate::domain::{Document, DocumentType};
use crate::store::kinds::Provider;
use crate::store::ledger::{PREREQUISITE_SQL, prerequisite};
use crate::store::rows::{
    CLAIMED_COLUMNS, GIVE_BACK_SQL, INTERRUPTED, INTERRUPTED_LAST_ERROR, NEXT_DUE_SQL,
    STOPPED_COLUMNS, StoppedJob,
};
use crate::store::{
    Claim, Claimed, ClaimedJob, ConnectionRow, DocumentRef, JobNext, LogEntry, Prerequisite,
    Settled, StoreResult, now_ms,
};

/// Reads a document type column.
fn doc_type_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<DocumentType> {
    let text: String = r.get(i)?;
    DocumentType::try_from(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    })
}

/// Reads the columns [`CLAIMED_COLUMNS`] names, in that order.
fn claimed_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClaimedJob> {
    Ok(from_row!(r => ClaimedJob {
        id, tenant_id, connection_id, doc_type as doc_type_at, document_id, version, event_id,
        event_type, kind, attempts, lease_token, created_ms, event_ms,
    }))
}

/// Reads the columns [`STOPPED_COLUMNS`] names, in that order.
fn stopped_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoppedJob> {
    Ok(from_row!(r => StoppedJob {
        id, tenant_id, connection_id, doc_type as doc_type_at, document_id, event_id, kind, attempts,
    }))
}

/// Cancels every open job of a connection, logging one FAILED entry per job.
pub(super) fn cancel_open_jobs(
    db: &Connection,
    connection_id: &str,
    provider: Provider,
    reason: &str,
) -> StoreResult<u64> {
    let now = now_ms();
    let cancelled = db
        .prepare_cached(&format!(
            "UPDATE jobs SET state = 'cancelled', lease_token = NULL, lease_until_ms = NULL, last_error = ?, updated_ms = ?
             WHERE connection_id = ? AND state IN ('pending', 'leased')
             RETURNING {STOPPED_COLUMNS}"
        ))?
        .query_map(params![reason, now, connection_id], stopped_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    for job in &cancelled {
        job.entry(provider, now, reason).insert(db)?;
    }
    Ok(cancelled.len() as u64)
}

/// Whether a later job of the same (connection, document) as `job` is pending.
fn later_job_waits(db: &Connection, job: &ClaimedJob) -> StoreResult<bool> {
    Ok(db
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM jobs
                            WHERE connection_id = ?1 AND document_id = ?2 AND doc_type = ?3 AND state = 'pending'
                              AND seq > (SELECT seq FROM jobs WHERE id = ?4))",
        )?
        .query_row(
            params![job.connection_id, job.document_id, job.doc_type.as_str(), job.id],
            |r| r.get(0),
        )?)
}

/// Where each document a claimed job's document applies to stands on its connection, read
/// in the claim's write: a few microseconds with cached statements, where the worker's
/// own read through the read pool cost tens.
fn prerequisites(
    db: &Connection,
    job: &ClaimedJob,
    body: &str,
) -> StoreResult<Vec<(DocumentRef, Prerequisite)>> {
    let mut found = Vec::new();
    for document in crate::documents::references(job.doc_type, body) {
        let (synced, latest): (bool, Option<String>) =
            db.prepare_cached(PREREQUISITE_SQL)?.query_row(
                params![job.connection_id, document.id, document.doc_type.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
        found.push((document, prerequisite(synced, latest.as_deref())));
    }
    Ok(found)
}

/// The connections a claim skips, as a JSON array (`?N`, NULL for none).
fn not_excluded(n: u8) -> String {
    format!("(?{n} IS NULL OR j.connection_id NOT IN (SELECT value FROM json_each(?{n})))")
}

fn next_due_ms(db: &Connection, exclude: Option<&str>) -> StoreResult<Option<i64>> {
    static SQL: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| NEXT_DUE_SQL.replace("NOT_EXCLUDED", &not_excluded(1)));
    Ok(db
        .prepare_cached(&SQL)?
        .query_row(params![exclude], |r| r.get(0))?)
}

impl SqliteStore {
    /// Leases up to `limit` due jobs for `lease_ms`, with what their attempts read.
    ///
    /// Expired leases come first, then pending jobs in due order. The pending half walks
    /// the `jobs_due (state, run_at_ms)` index in order and stops at `limit`, so a claim
    /// costs the same with a backlog of a million jobs as with ten (no sort of every due
    /// job, which the single `OR` query needed).
    pub(crate) async fn claim_due(
        &self,
        limit: i64,
        lease_ms: i64,
        exclude: &[String],
    ) -> StoreResult<Claimed> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let exclude = (!exclude.is_empty())
            .then(|| serde_json::to_string(exclude).expect("strings serialize"));
        self.write(move |db| {
            let now = now_ms();
            let jobs = db
                .prepare_cached(&format!(
                    "UPDATE jobs SET state = 'leased', lease_token = ?1, lease_until_ms = ?2, attempts = attempts + 1,
                                     updated_ms = ?3
                     WHERE seq IN (
                        SELECT seq FROM (
                            SELECT j.seq FROM jobs j
                            WHERE j.state = 'leased' AND j.lease_until_ms <= ?3
                              AND EXISTS (SELECT 1 FROM connections c WHERE c.id = j.connection_id AND c.status = 'active')
                            LIMIT ?4)
                        UNION ALL
                        SELECT seq FROM (
                            SELECT j.seq FROM jobs j
                            WHERE j.state = 'pending' AND j.run_at_ms <= ?3 AND {excluded}
                              AND EXISTS (SELECT 1 FROM connections c WHERE c.id = j.connection_id AND c.status = 'active')
                              AND NOT EXISTS (SELECT 1 FROM jobs p
                                              WHERE p.connection_id = j.connection_id AND p.document_id = j.document_id
                                                AND p.doc_type = j.doc_type AND p.seq < j.seq
                                                AND p.state IN ('pending', 'leased'))
                            ORDER BY j.run_at_ms, j.seq LIMIT ?4)
                        LIMIT ?4)
                     RETURNING {CLAIMED_COLUMNS}",
                    excluded = not_excluded(5)
                ))?
                .query_map(params![token, now + lease_ms, now, limit, exclude], claimed_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            // Fewer than asked for: nothing else is due, so say when something will be.
            let next_due_ms = if jobs.len() < limit as usize {
                next_due_ms(db, exclude.as_deref())?
            } else {
                None
            };
            let mut connections: HashMap<String, ConnectionRow> = HashMap::new();
            let mut tweaking: HashMap<String, bool> = HashMap::new();
            let mut claims = Vec::with_capacity(jobs.len());
            for job in jobs {
                let connection = match connections.get(&job.connection_id) {
                    Some(c) => c.clone(),
                    None => {
                        let c = read_connection(db, &job.connection_id)?;
                        connections.insert(c.id.clone(), c.clone());
                        c
                    }
                };
                let body: Option<String> = db
                    .prepare_cached(
                        "SELECT body FROM document_versions
                         WHERE tenant_id = ? AND doc_type = ? AND document_id = ? AND version = ?",
                    )?
                    .query_row(
                        params![job.tenant_id, job.doc_type.as_str(), job.document_id, job.version],
                        |r| r.get(0),
                    )
                    .optional()?;
                let tenant_tweaks = match tweaking.get(&job.tenant_id) {
                    Some(t) => *t,
                    None => {
                        let t = has_tweaks(db, &job.tenant_id)?;
                        tweaking.insert(job.tenant_id.clone(), t);
                        t
                    }
                };
                // Tweaks reshape invoices only.
                let tweak = match &body {
                    Some(body) if tenant_tweaks && job.doc_type == crate::domain::Invoice::TYPE => {
                        read_invoice_tweak(db, &job.tenant_id, body)?
                    }
                    _ => None,
                };
                let prerequisites = match &body {
                    Some(body) => Some(prerequisites(db, &job, body)?),
                    None => None,
                };
                claims.push(Claim {
                    job,
                    connection,
                    body,
                    tweak,
                    prerequisites,
                });
            }
            Ok(Claimed {
                claims,
                next_due_ms,
            })
        })
        .await
    }

    /// Records an attempt and moves its job on, if the lease still holds (the entry is
    /// logged all the same), and says whether a later job of its document is waiting.
    pub(crate) async fn settle_attempt(
        &self,
        job: &ClaimedJob,
        next: JobNext,
        entry: &LogEntry,
    ) -> StoreResult<Settled> {
        let (state, run_at, given_back) = next.columns();
        let (job, entry) = (job.clone(), entry.clone());
        self.write(move |db| {
            entry.insert(db)?;
            let done = db
                .prepare_cached(
                    "UPDATE jobs SET state = ?, run_at_ms = COALESCE(?, run_at_ms), lease_token = NULL, lease_until_ms = NULL,
                                     attempts = attempts - ?, last_error = ?, last_code = ?, updated_ms = ?
                     WHERE id = ? AND lease_token = ?",
                )?
                .execute(params![
                    state,
                    run_at,
                    given_back,
                    entry.error,
                    entry.response_code,
                    now_ms(),
                    job.id,
                    job.lease_token
                ])?;
            // Ingest, claim and settle all pass through this one writer in order, so
            // a version ingested after this read is woken for by its own ingest.
            let unblocked = done == 1 && later_job_waits(db, &job)?;
            Ok(Settled {
                applied: done == 1,
                unblocked,
            })
        })
        .await
    }

    /// Returns a leased job to `pending` without counting its attempt, if its lease still
    /// holds; with `wait`, due then and with that note.
    pub(crate) async fn give_back(
        &self,
        job: &ClaimedJob,
        wait: Option<(i64, &str)>,
    ) -> StoreResult<()> {
        let (job_id, token) = (job.id.clone(), job.lease_token.clone());
        let (run_at_ms, note) = wait.map(|(at, note)| (at, note.to_string())).unzip();
        self.write(move |db| {
            static SQL: std::sync::LazyLock<String> =
                std::sync::LazyLock::new(|| GIVE_BACK_SQL.replace("EXTRA", ""));
            db.prepare_cached(&SQL)?
                .execute(params![run_at_ms, note, now_ms(), job_id, token])?;
            Ok(())
        })
        .await
    }

    /// At start-up, returns every job leased by a previous process to the queue, logging
    /// each interrupted attempt as FAILED. The interrupted attempt does not count against
    /// the job's retries (a crash of ours is not the destination failing), so the retry
    /// runs under the same attempt number, as a graceful stop's released lease does. Safe
    /// only because the data dir lock guarantees that no other process holds leases here.
    pub(crate) async fn recover_leases(&self) -> StoreResult<u64> {
        self.write(|db| {
            let now = now_ms();
            let recovered = db
                .prepare_cached(&format!(
                    "UPDATE jobs SET state = 'pending', run_at_ms = ?1, lease_token = NULL, lease_until_ms = NULL,
                                     attempts = attempts - 1,
                                     last_error = ?2, updated_ms = ?1
                     WHERE state = 'leased'
                     RETURNING {STOPPED_COLUMNS}"
                ))?
                .query_map(params![now, INTERRUPTED_LAST_ERROR], stopped_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            for job in &recovered {
                let provider: Provider = db
                    .prepare_cached("SELECT provider FROM connections WHERE id = ?")?
                    .query_row([&job.connection_id], |r| r.get(0))?;
                // RETURNING shows the row after the update: the attempt that was cut is
                // the one just given back.
                let cut = StoppedJob {
                    attempts: job.attempts + 1,
                    ..job.clone()
                };
                cut.entry(provider, now, INTERRUPTED).insert(db)?;
            }
            Ok(recovered.len() as u64)
        })
        .await
    }
}
