//! The reads behind `GET /v1/overview`, written once for both backends (like
//! [`super::reads`]): a tenant's delivery attempts per connection and hour, the jobs
//! waiting per connection, the documents whose latest delivery FAILED, and the open
//! alerts. Each is one grouped query, so the overview costs four queries however many
//! connections a tenant has.

use std::collections::HashMap;

use super::delivery::LATEST_FAILED;
use super::reads::{Reader, on_pool};
use super::{Store, StoreResult};

/// A tenant's delivery health since some moment, keyed by connection id; what the
/// overview shows for each connection. A connection with nothing to count is absent
/// from the maps (read it as zero).
#[derive(Debug, Default)]
pub struct Health {
    /// Delivery attempts (kinds `sync` and `manual`; tests are not deliveries) per
    /// connection and hour (`at_ms / 3_600_000`): (succeeded, failed).
    pub attempts: HashMap<(String, i64), (i64, i64)>,
    /// Jobs pending or leased per connection.
    pub queue_depth: HashMap<String, i64>,
    /// Documents whose latest job on the connection failed, per connection.
    pub failed_documents: HashMap<String, i64>,
    /// The tenant's alerts not closed yet.
    pub open_alerts: i64,
}

impl Health {
    /// (succeeded, failed) attempts on `connection_id` in hour `hour`.
    pub fn attempts_in(&self, connection_id: &str, hour: i64) -> (i64, i64) {
        self.attempts
            .get(&(connection_id.to_string(), hour))
            .copied()
            .unwrap_or_default()
    }

    /// Jobs pending or leased on `connection_id`.
    pub fn queue_depth_of(&self, connection_id: &str) -> i64 {
        self.queue_depth.get(connection_id).copied().unwrap_or(0)
    }

    /// Documents whose latest job on `connection_id` failed.
    pub fn failed_documents_of(&self, connection_id: &str) -> i64 {
        self.failed_documents
            .get(connection_id)
            .copied()
            .unwrap_or(0)
    }
}

const ATTEMPTS_SQL: &str = "SELECT connection_id, at_ms / 3600000 AS hour, status, COUNT(*)
     FROM sync_log WHERE tenant_id = $1 AND at_ms >= $2 AND kind IN ('sync', 'manual')
     GROUP BY connection_id, at_ms / 3600000, status";

const QUEUE_SQL: &str = "SELECT connection_id, COUNT(*) FROM jobs
     WHERE tenant_id = $1 AND state IN ('pending', 'leased') GROUP BY connection_id";

/// Documents left FAILED: the same condition a recovery re-sends and the gauges count
/// ([`LATEST_FAILED`], a failed job with no later job for its document on its
/// connection), per connection.
fn failed_sql() -> String {
    format!(
        "SELECT f.connection_id, COUNT(*) FROM jobs f
         WHERE f.tenant_id = $1 AND {LATEST_FAILED} GROUP BY f.connection_id"
    )
}

const OPEN_ALERTS_SQL: &str =
    "SELECT COUNT(*) FROM alerts WHERE tenant_id = $1 AND closed_ms IS NULL";

/// Per-connection counts that `sql` reads for the tenant.
async fn per_connection(
    r: Reader<'_>,
    sql: &str,
    tenant_id: &str,
) -> StoreResult<HashMap<String, i64>> {
    let rows: Vec<(String, i64)> = on_pool!(r, |pool| {
        sqlx::query_as(sql).bind(tenant_id).fetch_all(pool).await
    })?;
    Ok(rows.into_iter().collect())
}

impl Store {
    /// A tenant's delivery health: attempts from `since_ms` on, per connection and hour;
    /// what waits and what FAILED now; how many alerts are open.
    pub async fn health(&self, tenant_id: &str, since_ms: i64) -> StoreResult<Health> {
        let r = self.reader();
        let rows: Vec<(String, i64, String, i64)> = on_pool!(r, |pool| {
            sqlx::query_as(ATTEMPTS_SQL)
                .bind(tenant_id)
                .bind(since_ms)
                .fetch_all(pool)
                .await
        })?;
        let mut attempts: HashMap<(String, i64), (i64, i64)> = HashMap::new();
        for (connection_id, hour, status, n) in rows {
            let counts = attempts.entry((connection_id, hour)).or_default();
            match status.as_str() {
                "SUCCESS" => counts.0 += n,
                _ => counts.1 += n,
            }
        }
        let (open_alerts,): (i64,) = on_pool!(r, |pool| {
            sqlx::query_as(OPEN_ALERTS_SQL)
                .bind(tenant_id)
                .fetch_one(pool)
                .await
        })?;
        Ok(Health {
            attempts,
            queue_depth: per_connection(r, QUEUE_SQL, tenant_id).await?,
            failed_documents: per_connection(r, &failed_sql(), tenant_id).await?,
            open_alerts,
        })
    }
}
