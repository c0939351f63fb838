//! The sync log: an append-only record of every attempt, test and cancellation.
//!
//! Entries are numbered by an increasing integer that doubles as the pagination cursor:
//! pages run newest first and the next page is "ids below the last one seen", so entries
//! written while someone pages can neither be skipped nor repeated (the single writer
//! assigns ids in commit order).

use sqlx::{QueryBuilder, Sqlite};

use super::{Store, StoreResult};

/// One entry to append.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub tenant_id: String,
    pub at_ms: i64,
    pub invoice_id: Option<String>,
    pub connection_id: String,
    pub provider: String,
    pub kind: String,
    pub job_id: Option<String>,
    pub event_id: Option<String>,
    pub attempt: i64,
    pub status: &'static str,
    pub response_code: Option<i64>,
    pub error: Option<String>,
    pub erp_record_id: Option<String>,
    pub duration_ms: i64,
    /// What a Wasm guest printed during the attempt (bounded), if one ran.
    pub guest_logs: Option<String>,
}

/// Status of a successful entry.
pub const SUCCESS: &str = "SUCCESS";
/// Status of a failed (or cancelled) entry.
pub const FAILED: &str = "FAILED";

impl LogEntry {
    /// Appends this entry within the caller's write.
    pub(super) fn insert(&self, db: &rusqlite::Connection) -> StoreResult<()> {
        db.prepare_cached(
            "INSERT INTO sync_log (tenant_id, at_ms, invoice_id, connection_id, provider, kind, job_id, event_id,
                                   attempt, status, response_code, error, erp_record_id, duration_ms, guest_logs)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )?
        .execute(rusqlite::params![
            self.tenant_id,
            self.at_ms,
            self.invoice_id,
            self.connection_id,
            self.provider,
            self.kind,
            self.job_id,
            self.event_id,
            self.attempt,
            self.status,
            self.response_code,
            self.error,
            self.erp_record_id,
            self.duration_ms,
            self.guest_logs,
        ])?;
        Ok(())
    }
}

/// A stored entry as the API returns it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogRow {
    pub id: i64,
    pub at_ms: i64,
    pub invoice_id: Option<String>,
    pub connection_id: String,
    pub provider: String,
    pub kind: String,
    pub job_id: Option<String>,
    pub event_id: Option<String>,
    pub attempt: i64,
    pub status: String,
    pub response_code: Option<i64>,
    pub error: Option<String>,
    pub erp_record_id: Option<String>,
    pub duration_ms: i64,
    pub guest_logs: Option<String>,
}

/// Filters of `GET /v1/sync-log`; every field narrows the result.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub status: Option<String>,
    pub invoice_id: Option<String>,
    pub connection_id: Option<String>,
    /// Only entries with an id below this one (the cursor of the previous page).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// One page of entries, newest first, and the cursor of the next page if there is one.
#[derive(Debug, Clone)]
pub struct LogPage {
    pub entries: Vec<LogRow>,
    pub next_before_id: Option<i64>,
}

impl Store {
    /// Appends one entry on its own (tests, start-up recovery notes).
    pub async fn append_log(&self, entry: &LogEntry) -> StoreResult<()> {
        let entry = entry.clone();
        self.write(move |db| entry.insert(db)).await
    }

    /// A page of a tenant's log, filtered.
    pub async fn query_log(&self, tenant_id: &str, f: &LogFilter) -> StoreResult<LogPage> {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT id, at_ms, invoice_id, connection_id, provider, kind, job_id, event_id, attempt, status,
                    response_code, error, erp_record_id, duration_ms, guest_logs
             FROM sync_log WHERE tenant_id = ",
        );
        q.push_bind(tenant_id);
        if let Some(v) = f.from_ms {
            q.push(" AND at_ms >= ").push_bind(v);
        }
        if let Some(v) = f.to_ms {
            q.push(" AND at_ms < ").push_bind(v);
        }
        if let Some(v) = &f.status {
            q.push(" AND status = ").push_bind(v.clone());
        }
        if let Some(v) = &f.invoice_id {
            q.push(" AND invoice_id = ").push_bind(v.clone());
        }
        if let Some(v) = &f.connection_id {
            q.push(" AND connection_id = ").push_bind(v.clone());
        }
        if let Some(v) = f.before_id {
            q.push(" AND id < ").push_bind(v);
        }
        q.push(" ORDER BY id DESC LIMIT ").push_bind(f.limit + 1);
        let mut entries: Vec<LogRow> = q.build_query_as().fetch_all(&self.reader).await?;
        let next_before_id = if entries.len() as i64 > f.limit {
            entries.truncate(f.limit as usize);
            entries.last().map(|e| e.id)
        } else {
            None
        };
        Ok(LogPage {
            entries,
            next_before_id,
        })
    }
}
