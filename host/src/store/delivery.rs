//! Store side of delivery control (docs/contracts.md, "Delivery control"): pausing and
//! resuming connections, bulk recoveries of FAILED documents, the tenants' alerts and
//! alert endpoint, and the gauges `/metrics` shows.
//!
//! None of this is on the delivery hot path, so each write is one statement (or one
//! short transaction of statements) whose SQL, with `$N` placeholders numbered in order
//! of first use, serves both backends: [`Bind`] carries the values, and each backend
//! runs the statements its own way ([`super::sqlite`]'s writer, [`super::postgres`]'s
//! pool).

use serde_json::json;
use sqlx::{FromRow, postgres::PgRow, sqlite::SqliteRow};

use super::reads::Reader;
use super::{
    AlertKind, Backend, ConnectionRow, ConnectionStatus, Store, StoreError, StoreResult, format_ms,
    now_ms,
};
use crate::domain::ids::new_id;

/// Sets a connection's status unless it is disconnected or already so; answers the
/// connection's tenant when it changed.
pub(super) const CHANGE_STATUS_SQL: &str = "UPDATE connections SET status = $1, updated_ms = $2 \
     WHERE id = $3 AND status NOT IN ('disconnected', $1) RETURNING tenant_id";

/// Moves a tenant's connection from one status to another, if it is in the first.
const TRANSITION_SQL: &str = "UPDATE connections SET status = $1, updated_ms = $2 \
     WHERE tenant_id = $3 AND id = $4 AND status = $5";

/// The condition of a job `f` that is its document's latest on its connection and
/// FAILED: the documents a recovery re-sends and the gauges count.
pub(super) const LATEST_FAILED: &str = "f.state = 'failed' AND NOT EXISTS (SELECT 1 FROM jobs k \
     WHERE k.connection_id = f.connection_id AND k.document_id = f.document_id \
     AND k.doc_type = f.doc_type AND k.seq > f.seq)";

/// A value bound to a delivery-control statement.
#[derive(Debug, Clone)]
pub(super) enum Bind {
    Text(String),
    Int(i64),
    /// A text NULL.
    Null,
    /// An integer NULL (PostgreSQL types every parameter).
    NullInt,
    Bytes(Vec<u8>),
}

impl From<&str> for Bind {
    fn from(s: &str) -> Self {
        Bind::Text(s.to_string())
    }
}

impl From<i64> for Bind {
    fn from(n: i64) -> Self {
        Bind::Int(n)
    }
}

impl From<Option<&str>> for Bind {
    fn from(s: Option<&str>) -> Self {
        s.map_or(Bind::Null, Bind::from)
    }
}

/// One statement and its values.
pub(super) type Statement = (String, Vec<Bind>);

/// A bulk recovery's progress, as `GET /v1/recoveries/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryProgress {
    pub id: String,
    pub connection_id: String,
    /// Documents queued again when it started.
    pub queued: i64,
    pub succeeded: i64,
    /// Failed again (after their retries) or cancelled by a disconnect.
    pub failed: i64,
    /// Waiting, retrying or in flight.
    pub remaining: i64,
    pub max_per_second: i64,
    pub created_ms: i64,
    pub done_ms: Option<i64>,
}

impl RecoveryProgress {
    /// Whether every document it queued has an outcome.
    pub fn done(&self) -> bool {
        self.remaining == 0
    }
}

#[derive(FromRow)]
struct RawRecovery {
    id: String,
    connection_id: String,
    count: i64,
    max_per_second: i64,
    created_ms: i64,
    done_ms: Option<i64>,
    succeeded: i64,
    failed: i64,
    remaining: i64,
}

/// An operational alert of a tenant.
#[derive(Debug, Clone)]
pub struct AlertRow {
    pub id: String,
    pub kind: AlertKind,
    pub connection_id: Option<String>,
    /// The event as delivered: `{id, type, created_at, data}`.
    pub body: serde_json::Value,
    pub created_ms: i64,
    pub closed_ms: Option<i64>,
    pub attempts: i64,
    pub delivered_ms: Option<i64>,
    pub last_error: Option<String>,
}

#[derive(FromRow)]
struct RawAlert {
    id: String,
    #[sqlx(rename = "type")]
    kind: String,
    connection_id: Option<String>,
    body: String,
    created_ms: i64,
    closed_ms: Option<i64>,
    attempts: i64,
    delivered_ms: Option<i64>,
    last_error: Option<String>,
}

impl TryFrom<RawAlert> for AlertRow {
    type Error = StoreError;
    fn try_from(r: RawAlert) -> StoreResult<Self> {
        Ok(AlertRow {
            kind: AlertKind::try_from(r.kind).map_err(StoreError::Corrupt)?,
            body: super::parse_json("alerts.body", &r.body)?,
            id: r.id,
            connection_id: r.connection_id,
            created_ms: r.created_ms,
            closed_ms: r.closed_ms,
            attempts: r.attempts,
            delivered_ms: r.delivered_ms,
            last_error: r.last_error,
        })
    }
}

/// An alert due for delivery, with where it goes.
#[derive(Debug, Clone, FromRow)]
pub struct DueAlert {
    pub id: String,
    pub tenant_id: String,
    pub body: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
    pub alert_url: String,
    /// The tenant's sealed alert secret (see [`Store::set_alert_url`]).
    pub alert_secret: Option<Vec<u8>>,
}

/// A tenant's alert endpoint.
#[derive(Debug, Clone, Default, FromRow)]
pub struct AlertEndpoint {
    pub alert_url: Option<String>,
    pub alert_secret: Option<Vec<u8>>,
}

/// What `/metrics` shows of delivery control.
#[derive(Debug, Clone, Default)]
pub struct DeliveryGauges {
    /// Connections per status.
    pub connections: Vec<(String, i64)>,
    /// Documents whose latest job on a connection FAILED, per connection.
    pub failed_documents: Vec<(String, i64)>,
}

/// `query` with every value of `binds` bound in order (sqlx, either backend).
macro_rules! bind_all {
    ($query:expr, $binds:expr) => {
        $binds.iter().fold($query, |q, b| match b {
            Bind::Text(s) => q.bind(s.clone()),
            Bind::Int(n) => q.bind(*n),
            Bind::Null => q.bind(None::<String>),
            Bind::NullInt => q.bind(None::<i64>),
            Bind::Bytes(b) => q.bind(b.clone()),
        })
    };
}
pub(super) use bind_all;

impl Store {
    /// The rows `sql` reads with `binds`, on either backend.
    async fn read<T>(&self, sql: &str, binds: &[Bind]) -> StoreResult<Vec<T>>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        Ok(match self.reader() {
            Reader::Sqlite(pool) => bind_all!(sqlx::query_as(sql), binds).fetch_all(pool).await,
            Reader::Postgres(pool) => bind_all!(sqlx::query_as(sql), binds).fetch_all(pool).await,
        }?)
    }

    /// Runs `statements` in one transaction; the rows each changed (or returned).
    async fn write_all(&self, statements: Vec<Statement>) -> StoreResult<Vec<u64>> {
        match &self.backend {
            Backend::Sqlite(s) => s.execute_all(statements).await,
            Backend::Postgres(p) => p.execute_all(statements).await,
        }
    }

    /// Runs one statement; the rows it changed.
    async fn write_one(&self, sql: &str, binds: Vec<Bind>) -> StoreResult<u64> {
        let changed = self.write_all(vec![(sql.to_string(), binds)]).await?;
        Ok(changed.first().copied().unwrap_or(0))
    }

    /// Sets a connection's status (e.g. `active` after authorization, `needs_reauth`),
    /// raising a `connection.needs_reauth` alert when it loses its authorization and
    /// closing that alert when it is active again.
    pub async fn set_connection_status(
        &self,
        connection_id: &str,
        status: ConnectionStatus,
    ) -> StoreResult<()> {
        let Some(tenant_id) = self.change_connection_status(connection_id, status).await? else {
            return Ok(());
        };
        match status {
            ConnectionStatus::NeedsReauth => {
                let data = json!({
                    "connection_id": connection_id,
                    "message": "the provider refused the connection's authorization; its deliveries wait until it is re-authorized (POST /v1/connections/{id}/reauthorize)",
                });
                self.raise_alert(
                    &tenant_id,
                    AlertKind::NeedsReauth,
                    Some(connection_id),
                    data,
                )
                .await?;
            }
            ConnectionStatus::Active => {
                self.close_alerts_of(connection_id, AlertKind::NeedsReauth)
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Pauses a tenant's active connection: its documents still queue, nothing is sent,
    /// nothing is cancelled. Pausing a paused connection changes nothing.
    pub async fn pause_connection(&self, tenant_id: &str, id: &str) -> StoreResult<ConnectionRow> {
        self.transition(
            tenant_id,
            id,
            ConnectionStatus::Active,
            ConnectionStatus::Paused,
        )
        .await
    }

    /// Resumes a tenant's paused connection: its queue drains in order. Closes the
    /// connection's `connection.paused` alerts.
    pub async fn resume_connection(&self, tenant_id: &str, id: &str) -> StoreResult<ConnectionRow> {
        let row = self
            .transition(
                tenant_id,
                id,
                ConnectionStatus::Paused,
                ConnectionStatus::Active,
            )
            .await?;
        self.close_alerts_of(id, AlertKind::Paused).await?;
        if let Some(pg) = self.postgres() {
            pg.wake_hosts();
        }
        Ok(row)
    }

    /// Moves a connection from `from` to `to`; already in `to` is no change, any other
    /// status is a conflict naming it.
    async fn transition(
        &self,
        tenant_id: &str,
        id: &str,
        from: ConnectionStatus,
        to: ConnectionStatus,
    ) -> StoreResult<ConnectionRow> {
        let binds = vec![
            to.as_str().into(),
            now_ms().into(),
            tenant_id.into(),
            id.into(),
            from.as_str().into(),
        ];
        self.write_one(TRANSITION_SQL, binds).await?;
        let row = self.connection(tenant_id, id).await?;
        if row.status != to {
            return Err(StoreError::Conflict(format!(
                "connection {id} is {}; only a connection that is {from} can become {to}",
                row.status
            )));
        }
        Ok(row)
    }

    /// Pauses an active connection whose deliveries have all failed for too long (the
    /// watcher decided), raising a `connection.paused` alert; false when it was no
    /// longer active (another host got there first, or an operator acted).
    pub async fn pause_for_failures(
        &self,
        connection: &ConnectionRow,
        failing_since_ms: i64,
    ) -> StoreResult<bool> {
        let binds = vec![
            ConnectionStatus::Paused.as_str().into(),
            now_ms().into(),
            connection.tenant_id.as_str().into(),
            connection.id.as_str().into(),
            ConnectionStatus::Active.as_str().into(),
        ];
        if self.write_one(TRANSITION_SQL, binds).await? == 0 {
            return Ok(false);
        }
        let data = json!({
            "connection_id": connection.id,
            "name": connection.name,
            "failing_since": format_ms(failing_since_ms),
            "message": format!(
                "every delivery to this webhook has failed since {}: the connection paused itself; documents keep queueing and are sent in order after POST /v1/connections/{}/resume",
                format_ms(failing_since_ms), connection.id
            ),
        });
        self.raise_alert(
            &connection.tenant_id,
            AlertKind::Paused,
            Some(&connection.id),
            data,
        )
        .await?;
        Ok(true)
    }

    /// If a connection's newest logged attempt failed: when the run of failures it ends
    /// began (the first failure since the last success) and when it last failed.
    pub async fn failing_run(&self, connection: &ConnectionRow) -> StoreResult<Option<(i64, i64)>> {
        let (t, c) = (connection.tenant_id.as_str(), connection.id.as_str());
        let newest: Vec<(String, i64)> = self
            .read(
                "SELECT status, at_ms FROM sync_log WHERE tenant_id = $1 AND connection_id = $2 \
                 ORDER BY id DESC LIMIT 1",
                &[t.into(), c.into()],
            )
            .await?;
        let last_failed = match newest.first() {
            Some((status, at)) if status == "FAILED" => *at,
            _ => return Ok(None),
        };
        let last_ok: Vec<(i64,)> = self
            .read(
                "SELECT id FROM sync_log WHERE tenant_id = $1 AND connection_id = $2 \
                 AND status = 'SUCCESS' ORDER BY id DESC LIMIT 1",
                &[t.into(), c.into()],
            )
            .await?;
        let after = last_ok.first().map_or(0, |(id,)| *id);
        let first: Vec<(i64,)> = self
            .read(
                "SELECT at_ms FROM sync_log WHERE tenant_id = $1 AND connection_id = $2 \
                 AND id > $3 ORDER BY id LIMIT 1",
                &[t.into(), c.into(), after.into()],
            )
            .await?;
        Ok(first.first().map(|(at,)| (*at, last_failed)))
    }

    /// The active webhook connections of every tenant (the auto-pause watcher's round).
    pub async fn active_webhooks(&self) -> StoreResult<Vec<ConnectionRow>> {
        let sql = format!(
            "SELECT {} FROM connections WHERE status = 'active' AND provider = 'webhook'",
            super::rows::CONNECTION_COLUMNS
        );
        let raw: Vec<super::rows::RawConnection> = self.read(&sql, &[]).await?;
        raw.into_iter().map(TryInto::try_into).collect()
    }

    // Recoveries.

    /// How many documents of a connection a recovery of FAILED deliveries between
    /// `since_ms` and `until_ms` would send again (the dry run).
    pub async fn count_recoverable(
        &self,
        tenant_id: &str,
        connection_id: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> StoreResult<i64> {
        let sql = format!(
            "SELECT COUNT(*) FROM jobs f WHERE f.tenant_id = $1 AND f.connection_id = $2 \
             AND f.updated_ms >= $3 AND f.updated_ms < $4 AND {LATEST_FAILED}"
        );
        let binds = [
            tenant_id.into(),
            connection_id.into(),
            since_ms.into(),
            until_ms.into(),
        ];
        let counted: Vec<(i64,)> = self.read(&sql, &binds).await?;
        Ok(counted.first().map_or(0, |(n,)| *n))
    }

    /// Starts a recovery: queues again, in one transaction, every document of the
    /// connection whose delivery FAILED between `since_ms` and `until_ms`, each with its
    /// event id, due one after the other at `max_per_second`, so fresh deliveries keep
    /// their place in the queue. Answers the recovery's id and count.
    pub async fn start_recovery(
        &self,
        tenant_id: &str,
        connection_id: &str,
        (since_ms, until_ms): (i64, i64),
        max_per_second: i64,
    ) -> StoreResult<(String, i64)> {
        let id = new_id("rcv");
        let now = now_ms();
        let jobs = format!(
            "INSERT INTO jobs (id, run_at_ms, created_ms, updated_ms, recovery_id, tenant_id, \
                               connection_id, doc_type, document_id, version, event_id, \
                               event_type, event_ms, kind, state, attempts) \
             SELECT $1 || '_' || f.seq, \
                    $2 + (ROW_NUMBER() OVER (ORDER BY f.seq) - 1) * 1000 / $3, $2, $2, $4, \
                    f.tenant_id, f.connection_id, f.doc_type, f.document_id, f.version, \
                    f.event_id, f.event_type, f.event_ms, 'manual', 'pending', 0 \
             FROM jobs f WHERE f.tenant_id = $5 AND f.connection_id = $6 \
                AND f.updated_ms >= $7 AND f.updated_ms < $8 AND {LATEST_FAILED}"
        );
        let recovery = "INSERT INTO recoveries (id, tenant_id, connection_id, since_ms, until_ms, \
                                                max_per_second, created_ms, count) \
                        SELECT $1, $2, $3, $4, $5, $6, $7, COUNT(*) FROM jobs WHERE recovery_id = $1";
        let statements = vec![
            (
                jobs,
                vec![
                    new_id("job").as_str().into(),
                    now.into(),
                    max_per_second.max(1).into(),
                    id.as_str().into(),
                    tenant_id.into(),
                    connection_id.into(),
                    since_ms.into(),
                    until_ms.into(),
                ],
            ),
            (
                recovery.to_string(),
                vec![
                    id.as_str().into(),
                    tenant_id.into(),
                    connection_id.into(),
                    since_ms.into(),
                    until_ms.into(),
                    max_per_second.max(1).into(),
                    now.into(),
                ],
            ),
        ];
        let changed = self.write_all(statements).await?;
        if let Some(pg) = self.postgres() {
            pg.wake_hosts();
        }
        Ok((id, changed.first().copied().unwrap_or(0) as i64))
    }

    /// A tenant's recovery and how far it got; another tenant's id is not found.
    pub async fn recovery(&self, tenant_id: &str, id: &str) -> StoreResult<RecoveryProgress> {
        let sql = "SELECT r.id, r.connection_id, r.count, r.max_per_second, r.created_ms, r.done_ms, \
                (SELECT COUNT(*) FROM jobs j WHERE j.recovery_id = r.id AND j.state = 'succeeded') AS succeeded, \
                (SELECT COUNT(*) FROM jobs j WHERE j.recovery_id = r.id AND j.state IN ('failed', 'cancelled')) AS failed, \
                (SELECT COUNT(*) FROM jobs j WHERE j.recovery_id = r.id AND j.state IN ('pending', 'leased')) AS remaining \
             FROM recoveries r WHERE r.tenant_id = $1 AND r.id = $2";
        let found: Vec<RawRecovery> = self.read(sql, &[tenant_id.into(), id.into()]).await?;
        let r = found
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::NotFound(format!("recovery {id} not found")))?;
        Ok(RecoveryProgress {
            id: r.id,
            connection_id: r.connection_id,
            queued: r.count,
            succeeded: r.succeeded,
            failed: r.failed,
            remaining: r.remaining,
            max_per_second: r.max_per_second,
            created_ms: r.created_ms,
            done_ms: r.done_ms,
        })
    }

    /// Marks every unfinished recovery with nothing left to send as done, raising a
    /// `recovery.done` alert for each (once, whichever host sees it first).
    pub async fn finish_recoveries(&self) -> StoreResult<usize> {
        let open: Vec<(String, String)> = self
            .read(
                "SELECT id, tenant_id FROM recoveries r WHERE r.done_ms IS NULL AND NOT EXISTS \
                 (SELECT 1 FROM jobs j WHERE j.recovery_id = r.id AND j.state IN ('pending', 'leased'))",
                &[],
            )
            .await?;
        let mut finished = 0;
        for (id, tenant_id) in open {
            let marked = self
                .write_one(
                    "UPDATE recoveries SET done_ms = $1 WHERE id = $2 AND done_ms IS NULL",
                    vec![now_ms().into(), id.as_str().into()],
                )
                .await?;
            if marked == 0 {
                continue;
            }
            let p = self.recovery(&tenant_id, &id).await?;
            let data = json!({
                "recovery_id": p.id, "connection_id": p.connection_id, "queued": p.queued,
                "succeeded": p.succeeded, "failed": p.failed,
            });
            self.raise_alert(
                &tenant_id,
                AlertKind::RecoveryDone,
                Some(&p.connection_id),
                data,
            )
            .await?;
            finished += 1;
        }
        Ok(finished)
    }

    // Alerts.

    /// Raises an alert: shown open in the console, and delivered to the tenant's
    /// `alert_url` if it has one now.
    pub async fn raise_alert(
        &self,
        tenant_id: &str,
        kind: AlertKind,
        connection_id: Option<&str>,
        data: serde_json::Value,
    ) -> StoreResult<String> {
        let id = new_id("evt");
        let now = now_ms();
        let body = json!({
            "id": id, "type": kind.as_str(), "created_at": format_ms(now), "data": data,
        });
        let sql = "INSERT INTO alerts (id, tenant_id, type, connection_id, body, created_ms, attempts, next_ms) \
                   SELECT $1, $2, $3, $4, $5, $6, 0, CASE WHEN t.alert_url IS NULL THEN NULL ELSE $6 END \
                   FROM tenants t WHERE t.id = $2";
        let binds = vec![
            id.as_str().into(),
            tenant_id.into(),
            kind.as_str().into(),
            connection_id.into(),
            body.to_string().as_str().into(),
            now.into(),
        ];
        self.write_one(sql, binds).await?;
        tracing::info!(alert = %id, tenant = %tenant_id, kind = %kind, connection = ?connection_id, "alert raised");
        Ok(id)
    }

    /// A tenant's alerts, newest first (only the open ones with `open_only`).
    pub async fn alerts(
        &self,
        tenant_id: &str,
        open_only: bool,
        limit: i64,
    ) -> StoreResult<Vec<AlertRow>> {
        let open = if open_only {
            "AND closed_ms IS NULL"
        } else {
            ""
        };
        let sql = format!(
            "SELECT id, type, connection_id, body, created_ms, closed_ms, attempts, delivered_ms, last_error \
             FROM alerts WHERE tenant_id = $1 {open} ORDER BY created_ms DESC, id DESC LIMIT $2"
        );
        let raw: Vec<RawAlert> = self.read(&sql, &[tenant_id.into(), limit.into()]).await?;
        raw.into_iter().map(TryInto::try_into).collect()
    }

    /// One alert of a tenant.
    pub async fn alert(&self, tenant_id: &str, id: &str) -> StoreResult<AlertRow> {
        let sql = "SELECT id, type, connection_id, body, created_ms, closed_ms, attempts, delivered_ms, last_error \
                   FROM alerts WHERE tenant_id = $1 AND id = $2";
        let raw: Vec<RawAlert> = self.read(sql, &[tenant_id.into(), id.into()]).await?;
        raw.into_iter()
            .next()
            .ok_or_else(|| StoreError::NotFound(format!("alert {id} not found")))?
            .try_into()
    }

    /// Closes a tenant's alert (an operator dismissed it); closing a closed one is no change.
    pub async fn close_alert(&self, tenant_id: &str, id: &str) -> StoreResult<AlertRow> {
        self.write_one(
            "UPDATE alerts SET closed_ms = $1 WHERE tenant_id = $2 AND id = $3 AND closed_ms IS NULL",
            vec![now_ms().into(), tenant_id.into(), id.into()],
        )
        .await?;
        self.alert(tenant_id, id).await
    }

    /// Closes a connection's open alerts of one kind (their condition cleared).
    async fn close_alerts_of(&self, connection_id: &str, kind: AlertKind) -> StoreResult<u64> {
        self.write_one(
            "UPDATE alerts SET closed_ms = $1 WHERE connection_id = $2 AND type = $3 AND closed_ms IS NULL",
            vec![now_ms().into(), connection_id.into(), kind.as_str().into()],
        )
        .await
    }

    /// Leases up to `limit` alerts due for delivery (to tenants with an `alert_url`)
    /// for `lease_ms`, counting the attempt; a host that dies mid-send leaves them due
    /// again when the lease ends.
    pub async fn claim_due_alerts(&self, limit: i64, lease_ms: i64) -> StoreResult<Vec<DueAlert>> {
        let now = now_ms();
        let claim = "UPDATE alerts SET next_ms = $1, attempts = attempts + 1 \
                     WHERE next_ms <= $2 AND id IN (SELECT a.id FROM alerts a JOIN tenants t ON t.id = a.tenant_id \
                        WHERE a.next_ms <= $2 AND t.alert_url IS NOT NULL ORDER BY a.next_ms LIMIT $3)";
        let lease_until = now + lease_ms;
        let claimed = self
            .write_one(claim, vec![lease_until.into(), now.into(), limit.into()])
            .await?;
        if claimed == 0 {
            return Ok(Vec::new());
        }
        self.read(
            "SELECT a.id, a.tenant_id, a.body, a.attempts, t.alert_url, t.alert_secret \
             FROM alerts a JOIN tenants t ON t.id = a.tenant_id \
             WHERE a.next_ms = $1 AND t.alert_url IS NOT NULL",
            &[lease_until.into()],
        )
        .await
    }

    /// Records an alert delivery attempt: delivered, due again at `retry_at_ms`, or (no
    /// retry time) given up, with the error.
    pub async fn settle_alert(
        &self,
        id: &str,
        delivered: bool,
        retry_at_ms: Option<i64>,
        error: Option<&str>,
    ) -> StoreResult<()> {
        let now = now_ms();
        let delivered_ms = if delivered {
            Bind::Int(now)
        } else {
            Bind::NullInt
        };
        let next = if delivered {
            Bind::NullInt
        } else {
            retry_at_ms.map_or(Bind::NullInt, Bind::Int)
        };
        self.write_one(
            "UPDATE alerts SET delivered_ms = $1, next_ms = $2, last_error = $3 WHERE id = $4",
            vec![delivered_ms, next, error.into(), id.into()],
        )
        .await?;
        Ok(())
    }

    /// A tenant's alert endpoint and sealed secret.
    pub async fn alert_endpoint(&self, tenant_id: &str) -> StoreResult<AlertEndpoint> {
        let found: Vec<AlertEndpoint> = self
            .read(
                "SELECT alert_url, alert_secret FROM tenants WHERE id = $1",
                &[tenant_id.into()],
            )
            .await?;
        found
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::NotFound(format!("tenant {tenant_id} not found")))
    }

    /// Sets (or with `None` removes) a tenant's `alert_url`. `sealed_secret` is stored
    /// only if the tenant has no alert secret yet; answers whether it was.
    pub async fn set_alert_url(
        &self,
        tenant_id: &str,
        alert_url: Option<&str>,
        sealed_secret: Option<Vec<u8>>,
    ) -> StoreResult<bool> {
        let mut statements = vec![(
            "UPDATE tenants SET alert_url = $1 WHERE id = $2".to_string(),
            vec![alert_url.into(), tenant_id.into()],
        )];
        if let Some(sealed) = sealed_secret {
            statements.push((
                "UPDATE tenants SET alert_secret = $1 WHERE id = $2 AND alert_secret IS NULL"
                    .to_string(),
                vec![Bind::Bytes(sealed), tenant_id.into()],
            ));
        }
        let changed = self.write_all(statements).await?;
        Ok(changed.get(1).copied().unwrap_or(0) > 0)
    }

    // Gauges.

    /// Connections by status and FAILED documents by connection, over every tenant.
    pub async fn delivery_gauges(&self) -> StoreResult<DeliveryGauges> {
        let connections = self
            .read(
                "SELECT status, COUNT(*) FROM connections GROUP BY status ORDER BY status",
                &[],
            )
            .await?;
        let failed = format!(
            "SELECT f.connection_id, COUNT(*) FROM jobs f WHERE {LATEST_FAILED} \
             GROUP BY f.connection_id ORDER BY f.connection_id"
        );
        let failed_documents = self.read(&failed, &[]).await?;
        Ok(DeliveryGauges {
            connections,
            failed_documents,
        })
    }
}
