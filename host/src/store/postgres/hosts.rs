//! Hosts sharing the database, their heartbeats, and the recovery of a dead host's
//! leases.
//!
//! On SQLite a crashed process's leases are recovered when it restarts, because the
//! data dir lock says no one else can hold them. With several hosts no such lock
//! exists, so liveness is a heartbeat: each host updates its `hosts` row every
//! [`HEARTBEAT`]; any host that sees a row older than [`HOST_TIMEOUT`] deletes it and
//! returns the jobs leased under that host's id to the queue, logging each cut attempt
//! as FAILED without counting it against the job's retries (as SQLite does at start-up).
//! A host that was only slow, not dead, finds its leases' fencing tokens changed: its
//! late results are logged but cannot overwrite the redelivery's.

use std::collections::HashMap;

use std::time::Instant;

use sqlx::{Connection, PgConnection};
use tokio_util::sync::CancellationToken;

use super::{HEARTBEAT, HOST_TIMEOUT, PgStore};
use crate::store::kinds::Provider;
use crate::store::rows::{INTERRUPTED, INTERRUPTED_LAST_ERROR, STOPPED_COLUMNS, StoppedJob};
use crate::store::{StoreResult, now_ms};

/// Now, by the database's clock, in unix milliseconds. Heartbeats are written and judged
/// by this one clock, so hosts whose own clocks disagree cannot declare each other dead.
const DB_NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// Adds (or after a stall, re-adds) this host's row, stamped by the database's clock.
async fn register_host(db: &mut PgConnection, host_id: &str) -> StoreResult<()> {
    let name = std::env::var("HOSTNAME")
        .ok()
        .unwrap_or_else(|| format!("pid {}", std::process::id()));
    sqlx::query(&format!(
        "INSERT INTO hosts (id, name, started_ms, heartbeat_ms) VALUES ($1, $2, {DB_NOW_MS}, {DB_NOW_MS})
         ON CONFLICT (id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms"
    ))
    .bind(host_id)
    .bind(name)
    .execute(db)
    .await?;
    Ok(())
}

impl PgStore {
    /// Registers this host, before it claims anything.
    pub(super) async fn register_host(&self) -> StoreResult<()> {
        let mut db = self.pool.acquire().await?;
        register_host(&mut db, &self.host_id).await
    }

    /// Returns the leases of dead hosts to the queue; see the module docs. Returns how
    /// many jobs came back.
    pub(crate) async fn recover_leases(&self) -> StoreResult<u64> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "DELETE FROM hosts WHERE heartbeat_ms < {DB_NOW_MS} - $1"
        ))
        .bind(HOST_TIMEOUT.as_millis() as i64)
        .execute(&mut *tx)
        .await?;
        let recovered: Vec<StoppedJob> = sqlx::query_as(&format!(
            "UPDATE jobs SET state = 'pending', run_at_ms = $1, lease_token = NULL, lease_until_ms = NULL,
                             lease_host = NULL, attempts = attempts - 1, last_error = $2, updated_ms = $1
             WHERE seq IN (SELECT seq FROM jobs j
                           WHERE j.state = 'leased'
                             AND NOT EXISTS (SELECT 1 FROM hosts h WHERE h.id = j.lease_host)
                           FOR UPDATE SKIP LOCKED)
             RETURNING {STOPPED_COLUMNS}"
        ))
        .bind(now)
        .bind(INTERRUPTED_LAST_ERROR)
        .fetch_all(&mut *tx)
        .await?;
        let mut providers: HashMap<String, Provider> = HashMap::new();
        for job in &recovered {
            let provider = match providers.get(&job.connection_id) {
                Some(p) => *p,
                None => {
                    let p: Provider =
                        sqlx::query_scalar("SELECT provider FROM connections WHERE id = $1")
                            .bind(&job.connection_id)
                            .fetch_one(&mut *tx)
                            .await?;
                    providers.insert(job.connection_id.clone(), p);
                    p
                }
            };
            // RETURNING shows the row after the update: the attempt that was cut is the
            // one just given back.
            let cut = StoppedJob {
                attempts: job.attempts + 1,
                ..job.clone()
            };
            super::sync_log::insert(&mut tx, &cut.entry(provider, now, INTERRUPTED)).await?;
        }
        tx.commit().await?;
        if !recovered.is_empty() {
            self.wake_hosts();
        }
        Ok(recovered.len() as u64)
    }
}

/// Beats until `stop`, and recovers dead hosts' leases after each beat.
///
/// The beat has a connection of its own, so a pool busy with deliveries cannot delay it
/// into looking dead. A host recovers others' leases only once its own beat has been
/// healthy for longer than [`HOST_TIMEOUT`]: after the database was unreachable for a
/// while, every host's row looks stale at first, and none may take the others' leases
/// before they have had the time to beat again.
pub(super) async fn beat(store: PgStore, stop: CancellationToken) {
    let mut conn: Option<PgConnection> = None;
    let mut healthy_since: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(HEARTBEAT) => {}
            _ = stop.cancelled() => return,
        }
        if conn.is_none() {
            match PgConnection::connect_with(&store.pool.connect_options()).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "the heartbeat could not reach PostgreSQL");
                    healthy_since = None;
                    continue;
                }
            }
        }
        let Some(db) = conn.as_mut() else { continue };
        if let Err(e) = register_host(db, &store.host_id).await {
            tracing::warn!(error = %e, "the heartbeat could not reach PostgreSQL");
            conn = None;
            healthy_since = None;
            continue;
        }
        let since = *healthy_since.get_or_insert_with(Instant::now);
        if since.elapsed() <= HOST_TIMEOUT {
            continue;
        }
        match store.recover_leases().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                jobs = n,
                "returned the leases of a host that stopped beating to the queue"
            ),
            Err(e) => tracing::warn!(error = %e, "recovering dead hosts' leases failed"),
        }
    }
}
