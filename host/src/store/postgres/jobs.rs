//! The durable queue on PostgreSQL: claims shared by several hosts.
//!
//! A claim locks due jobs with `FOR UPDATE SKIP LOCKED`: hosts claiming at once each
//! get different jobs and none waits for another. A job is claimable while no earlier
//! job of the same (connection, document) is open, which every host reads from committed
//! rows, so the versions of one document reach each connection in order across hosts.
//! Each lease carries a fresh fencing token and the claiming host's id; settling only
//! applies while the token still matches (see [`super::hosts`] for dead hosts).

use std::collections::HashMap;
use std::sync::LazyLock;

use super::PgStore;
use super::sync_log::{self, bind_entry};
use crate::store::kinds::Provider;
use crate::store::rows::{
    CLAIMED_COLUMNS, CONNECTION_COLUMNS, GIVE_BACK_SQL, NEXT_DUE_SQL, RawConnection,
    STOPPED_COLUMNS, StoppedJob, TRANSFORM_COLUMNS, insert_log_sql,
};
use crate::store::{
    Claim, Claimed, ClaimedJob, ConnectionRow, JobNext, LogEntry, Settled, StoreResult,
    TransformRow, now_ms,
};

/// A claimed job with its document body, from the claim statement.
#[derive(sqlx::FromRow)]
struct ClaimRow {
    #[sqlx(flatten)]
    job: ClaimedJob,
    body: Option<String>,
}

/// The customer an invoice body names, read in Rust: PostgreSQL's JSON operators refuse
/// a document with a `\u0000` escape anywhere in it (an invoice's metadata may hold
/// one), and a claim that read the customer in SQL failed on every host.
fn customer_of(body: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Body {
        customer: Customer,
    }
    #[derive(serde::Deserialize)]
    struct Customer {
        id: String,
    }
    serde_json::from_str::<Body>(body)
        .ok()
        .map(|b| b.customer.id)
}

/// A customer's tweak with the (tenant, customer) it belongs to.
#[derive(sqlx::FromRow)]
struct TweakRow {
    customer_id: String,
    #[sqlx(flatten)]
    transform: TransformRow,
}

/// Cancels every open job of a connection within the caller's transaction, logging
/// one FAILED entry per job.
pub(super) async fn cancel_open_jobs(
    tx: &mut sqlx::PgConnection,
    connection_id: &str,
    provider: Provider,
    reason: &str,
) -> StoreResult<u64> {
    let now = now_ms();
    let cancelled: Vec<StoppedJob> = sqlx::query_as(&format!(
        "UPDATE jobs SET state = 'cancelled', lease_token = NULL, lease_until_ms = NULL, lease_host = NULL,
                         last_error = $1, updated_ms = $2
         WHERE connection_id = $3 AND state IN ('pending', 'leased')
         RETURNING {STOPPED_COLUMNS}"
    ))
    .bind(reason)
    .bind(now)
    .bind(connection_id)
    .fetch_all(&mut *tx)
    .await?;
    for job in &cancelled {
        sync_log::insert(tx, &job.entry(provider, now, reason)).await?;
    }
    Ok(cancelled.len() as u64)
}

/// Jobs that may be claimed now: expired leases first, then pending jobs in due order,
/// each half locking at most `$4` rows and skipping rows another host has locked.
///
const CLAIM: &str = "
WITH expired AS (
    SELECT j.seq FROM jobs j
    WHERE j.state = 'leased' AND j.lease_until_ms <= $3
      AND EXISTS (SELECT 1 FROM connections c WHERE c.id = j.connection_id AND c.status = 'active')
    LIMIT $4
    FOR UPDATE OF j SKIP LOCKED
), due AS (
    SELECT j.seq FROM jobs j
    WHERE j.state = 'pending' AND j.run_at_ms <= $3 AND NOT (j.connection_id = ANY($6))
      AND EXISTS (SELECT 1 FROM connections c WHERE c.id = j.connection_id AND c.status = 'active')
      AND NOT EXISTS (SELECT 1 FROM jobs p
                      WHERE p.connection_id = j.connection_id AND p.document_id = j.document_id
                        AND p.doc_type = j.doc_type AND p.seq < j.seq AND p.state IN ('pending', 'leased'))
    ORDER BY j.run_at_ms, j.seq
    LIMIT $4
    FOR UPDATE OF j SKIP LOCKED
), picked AS (
    SELECT seq FROM (SELECT seq FROM expired UNION ALL SELECT seq FROM due) s LIMIT $4
), leased AS (
    UPDATE jobs SET state = 'leased', lease_token = $1, lease_until_ms = $2, lease_host = $5,
                    attempts = attempts + 1, updated_ms = $3
    WHERE seq IN (SELECT seq FROM picked)
    RETURNING CLAIMED
)
SELECT l.*, v.body
FROM leased l
LEFT JOIN document_versions v
       ON v.tenant_id = l.tenant_id AND v.doc_type = l.doc_type AND v.document_id = l.document_id
      AND v.version = l.version";

/// Settling an attempt: its sync-log entry (`$1`–`$17`) and the job's next state
/// (`$18`–`$23`), applied only while the lease's fencing token (`$23`) holds.
static SETTLE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH logged AS ({})
         UPDATE jobs SET state = $18, run_at_ms = COALESCE($19, run_at_ms), lease_token = NULL,
                         lease_until_ms = NULL, lease_host = NULL, attempts = attempts - $20,
                         last_error = $12, last_code = $11, updated_ms = $21
          WHERE id = $22 AND lease_token = $23
         RETURNING seq",
        insert_log_sql(|n| format!("${n}"))
    )
});

/// The tweaks of the (tenant, customer) pairs given as two parallel arrays.
static TWEAKS_SQL: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<String> = TRANSFORM_COLUMNS
        .split(", ")
        .map(|c| format!("t.{c}"))
        .collect();
    format!(
        "SELECT c.customer_id, {}
         FROM customer_tweaks c JOIN transforms t ON t.id = c.transform_id
         JOIN UNNEST($1::text[], $2::text[]) AS w(tenant_id, customer_id)
           ON w.tenant_id = c.tenant_id AND w.customer_id = c.customer_id",
        columns.join(", ")
    )
});

/// [`CLAIM`] with the claimed columns spelled out.
static CLAIM_SQL: LazyLock<String> = LazyLock::new(|| CLAIM.replace("CLAIMED", CLAIMED_COLUMNS));

impl PgStore {
    /// Leases up to `limit` due jobs for `lease_ms`, with what their attempts read: the
    /// claim (with the bodies), the connections and the customers' tweaks, in one
    /// transaction.
    pub(crate) async fn claim_due(
        &self,
        limit: i64,
        lease_ms: i64,
        exclude: &[String],
    ) -> StoreResult<Claimed> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let now = now_ms();
        // One transaction, so a claim whose connections cannot be read leases nothing.
        // Its four round trips are shared by the whole batch.
        let mut tx = self.pool.begin().await?;
        let rows: Vec<ClaimRow> = sqlx::query_as(&CLAIM_SQL)
            .bind(&token)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .bind(&*self.host_id)
            .bind(exclude)
            .fetch_all(&mut *tx)
            .await?;
        // Fewer than asked for: nothing else is due, so say when something will be.
        let next_due_ms = if rows.len() < limit as usize {
            static SQL: LazyLock<String> = LazyLock::new(|| {
                NEXT_DUE_SQL.replace("NOT_EXCLUDED", "NOT (j.connection_id = ANY($1))")
            });
            sqlx::query_scalar(&SQL)
                .bind(exclude)
                .fetch_one(&mut *tx)
                .await?
        } else {
            None
        };
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(Claimed {
                claims: Vec::new(),
                next_due_ms,
            });
        }
        let mut ids: Vec<String> = rows.iter().map(|r| r.job.connection_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let connections: HashMap<String, ConnectionRow> = sqlx::query_as::<_, RawConnection>(
            &format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = ANY($1)"),
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|raw| ConnectionRow::try_from(raw).map(|c| (c.id.clone(), c)))
        .collect::<StoreResult<_>>()?;
        // Each invoice body is parsed once, for its customer; then one query finds the
        // tweaks (which reshape invoices only).
        let customers: Vec<Option<String>> = rows
            .iter()
            .map(|r| {
                let invoice = r.job.doc_type == crate::domain::DocumentType::Invoice;
                r.body.as_deref().filter(|_| invoice).and_then(customer_of)
            })
            .collect();
        let (tenants, named): (Vec<String>, Vec<String>) = rows
            .iter()
            .zip(&customers)
            .filter_map(|(r, c)| Some((r.job.tenant_id.clone(), c.clone()?)))
            .unzip();
        let mut tweaks: HashMap<(String, String), TransformRow> = HashMap::new();
        if !named.is_empty() {
            let found: Vec<TweakRow> = sqlx::query_as(&TWEAKS_SQL)
                .bind(&tenants)
                .bind(&named)
                .fetch_all(&mut *tx)
                .await?;
            for t in found {
                tweaks.insert((t.transform.tenant_id.clone(), t.customer_id), t.transform);
            }
        }
        tx.commit().await?;
        let mut claims = Vec::with_capacity(rows.len());
        for (row, customer) in rows.into_iter().zip(customers) {
            let tweak = customer.and_then(|c| tweaks.get(&(row.job.tenant_id.clone(), c)).cloned());
            let connection = connections
                .get(&row.job.connection_id)
                .cloned()
                .ok_or_else(|| {
                    crate::store::StoreError::NotFound(format!(
                        "connection {} not found",
                        row.job.connection_id
                    ))
                })?;
            claims.push(Claim {
                job: row.job,
                connection,
                body: row.body,
                prerequisites: None,
                tweak,
            });
        }
        Ok(Claimed {
            claims,
            next_due_ms,
        })
    }

    /// Records an attempt and moves its job on, if the lease (its fencing token) still
    /// holds; the entry is logged all the same. Says whether a later job of its document
    /// is waiting.
    pub(crate) async fn settle_attempt(
        &self,
        job: &ClaimedJob,
        next: JobNext,
        entry: &LogEntry,
    ) -> StoreResult<Settled> {
        let (state, run_at, given_back) = next.columns();
        // One statement, so one round trip: the log entry and the job's move commit
        // together (a statement is atomic) without a BEGIN and COMMIT of their own.
        let seq: Option<i64> = bind_entry(sqlx::query(&SETTLE), entry)
            .bind(state)
            .bind(run_at)
            .bind(given_back)
            .bind(now_ms())
            .bind(&job.id)
            .bind(&job.lease_token)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| sqlx::Row::try_get(&row, 0))
            .transpose()?;
        let Some(seq) = seq else {
            return Ok(Settled {
                applied: false,
                unblocked: false,
            });
        };
        // Read after the settle committed, not in its RETURNING: the statement's snapshot
        // predates a version ingested while it ran, and that version's own wake-up may
        // have come (and found this job still leased) before the commit.
        let unblocked = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM jobs
                            WHERE connection_id = $1 AND document_id = $2 AND doc_type = $3
                              AND seq > $4 AND state = 'pending')",
        )
        .bind(&job.connection_id)
        .bind(&job.document_id)
        .bind(job.doc_type.as_str())
        .bind(seq)
        .fetch_one(&self.pool)
        .await?;
        Ok(Settled {
            applied: true,
            unblocked,
        })
    }

    /// Returns a leased job to `pending` without counting its attempt, if its lease still
    /// holds; with `wait`, due then and with that note.
    pub(crate) async fn give_back(
        &self,
        job: &ClaimedJob,
        wait: Option<(i64, &str)>,
    ) -> StoreResult<()> {
        let (run_at_ms, note) = wait.unzip();
        static SQL: LazyLock<String> =
            LazyLock::new(|| GIVE_BACK_SQL.replace("EXTRA", ", lease_host = NULL"));
        sqlx::query(&SQL)
            .bind(run_at_ms)
            .bind(note)
            .bind(now_ms())
            .bind(&job.id)
            .bind(&job.lease_token)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
