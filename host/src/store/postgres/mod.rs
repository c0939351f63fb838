//! The PostgreSQL backend: several erp-sync hosts share one durable queue.
//!
//! Every write is an ordinary sqlx transaction; PostgreSQL's row locks and MVCC do what
//! SQLite's single writer does for one process. What sharing adds:
//!
//! - **Claims** take due jobs with `FOR UPDATE SKIP LOCKED`, so hosts never wait on, or
//!   take, each other's jobs; each lease carries a fencing token ([`jobs`]).
//! - **Hosts** register in `hosts` and beat every [`HEARTBEAT`]. A host whose beat is
//!   older than [`HOST_TIMEOUT`] is dead: a living host returns its leases to the queue
//!   and logs each cut attempt ([`hosts`]).
//! - **Wake-ups**: after a commit that queued work, `NOTIFY erp_sync_jobs` (coalesced,
//!   see [`send_wakeups`]); every host `LISTEN`s and wakes its worker at once
//!   ([`PgStore::forward_wakeups`]).
//! - **ERP limits and token refreshes** are shared through the database ([`limits`]).

mod connections;
mod delivery;
mod documents;
mod erp;
pub mod hosts;
mod jobs;
pub mod limits;
mod retention;
mod sync_log;
mod tenants;
mod transforms;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::StoreResult;

/// How often a host beats.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long after its last beat a host counts as dead.
pub const HOST_TIMEOUT: Duration = Duration::from_secs(15);
/// The channel that says "new work is queued".
const WAKE_CHANNEL: &str = "erp_sync_jobs";
/// The channel that says "this connection was disconnected" (the payload is its id).
const STOP_CHANNEL: &str = "erp_sync_stops";

/// The PostgreSQL backend; cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// This process, as named in `hosts` and in the leases it holds.
    host_id: Arc<str>,
    /// Stops the heartbeat and the wake-up sender (servers only).
    beat: Option<CancellationToken>,
    /// Says "work was queued" to [`send_wakeups`], which tells every host.
    queued: Arc<Notify>,
    /// Token refreshes in progress on this host (see [`limits`]).
    refreshes: Arc<tokio::sync::Semaphore>,
}

impl PgStore {
    /// Connects and migrates. A server (`server`) also registers as a host and starts
    /// beating; an administrative command does neither.
    pub async fn open(url: &str, server: bool) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name("erp-sync");
        let pool = PgPoolOptions::new()
            .max_connections(32)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        // Several hosts may start at once: the migrator takes PostgreSQL's advisory
        // lock, so one migrates and the others wait and find it done.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let host_id: Arc<str> = crate::domain::ids::new_id("host").into();
        let mut store = PgStore {
            pool,
            host_id,
            beat: None,
            queued: Arc::new(Notify::new()),
            refreshes: Arc::new(tokio::sync::Semaphore::new(limits::REFRESHES_AT_ONCE)),
        };
        if server {
            store.register_host().await?;
            let beat = CancellationToken::new();
            tokio::spawn(hosts::beat(store.clone(), beat.clone()));
            tokio::spawn(send_wakeups(store.clone(), beat.clone()));
            store.beat = Some(beat);
        }
        Ok(store)
    }

    /// The pool, for the shared ERP limits and `migrate-store`.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Stops beating, leaves the hosts table and closes the pool; on graceful shutdown,
    /// after the worker gave back its leases.
    pub(crate) async fn close(&self) {
        if let Some(beat) = &self.beat {
            beat.cancel();
            let _ = sqlx::query("DELETE FROM hosts WHERE id = $1")
                .bind(&*self.host_id)
                .execute(&self.pool)
                .await;
        }
        self.pool.close().await;
    }

    pub(crate) async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Tells every host's worker, soon after the commit that queued work, that there is
    /// work (see [`send_wakeups`]).
    pub(crate) fn wake_hosts(&self) {
        self.queued.notify_one();
    }

    /// Calls `wake` whenever any host queues work, and `stopped` with a connection's id
    /// when any host disconnects it, until `stop`. The listener reconnects by itself
    /// after a lost connection (sqlx's `PgListener`); a wake-up lost meanwhile costs at
    /// most the worker's idle poll.
    pub async fn forward_wakeups(
        self,
        wake: impl Fn() + Send + 'static,
        stopped: impl Fn(&str) + Send + 'static,
        stop: CancellationToken,
    ) {
        loop {
            let listener = async {
                let mut l = PgListener::connect_with(&self.pool).await?;
                l.listen_all([WAKE_CHANNEL, STOP_CHANNEL]).await?;
                Ok::<_, sqlx::Error>(l)
            };
            let mut listener = tokio::select! {
                l = listener => l,
                _ = stop.cancelled() => return,
            };
            match &mut listener {
                Ok(l) => loop {
                    tokio::select! {
                        n = l.recv() => match n {
                            Ok(n) if n.channel() == STOP_CHANNEL => stopped(n.payload()),
                            Ok(_) => wake(),
                            Err(e) => {
                                tracing::warn!(error = %e, "the wake-up listener lost PostgreSQL; reconnecting");
                                break;
                            }
                        },
                        _ = stop.cancelled() => return,
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "listening for wake-ups failed; retrying in a second")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.cancelled() => return,
            }
        }
    }
}

/// Sends `NOTIFY erp_sync_jobs` after commits that queued work, until `stop`.
///
/// Not inside those transactions: PostgreSQL serializes the commits of transactions that
/// notify (one queue, one lock), which cost 14 % of ingest throughput here. A commit
/// only sets a flag; this task sends one NOTIFY for however many commits set it while
/// the previous one was on its way, so a burst of ingests costs a few notifications. A
/// notification lost to a crash between commit and send costs other hosts at most their
/// idle poll; this host's own worker is woken directly.
async fn send_wakeups(store: PgStore, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = store.queued.notified() => {}
            _ = stop.cancelled() => return,
        }
        if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(WAKE_CHANNEL)
            .execute(&store.pool)
            .await
        {
            tracing::warn!(error = %e, "waking the other hosts failed; they find the work at their next poll");
        }
    }
}
