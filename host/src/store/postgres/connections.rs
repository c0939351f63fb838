//! Connections on PostgreSQL: one destination (ERP account or webhook) of one tenant.
//!
//! The one-connection-per-tenant rule holds across hosts because checking it locks the
//! tenant row; a disconnect locks its connection row, which ingests and manual syncs
//! lock too (`FOR KEY SHARE`) when they queue jobs, so no job is queued for a
//! connection after its disconnect cancelled the open ones.

use super::PgStore;
use crate::store::kinds::ConnectionStatus;
use crate::store::rows::{
    CANCELLED_BY_DISCONNECT, CONNECTION_COLUMNS, RawConnection, one_connection_message,
};
use crate::store::{ConnectionRow, LogEntry, NewConnection, StoreError, StoreResult, now_ms};

impl PgStore {
    /// Inserts a connection, enforcing one live connection per tenant unless Multi-ERP is
    /// on. The tenant row is locked first, so a concurrent insert (or `set_multi_erp`) on
    /// another host waits for this one and then sees its connection.
    pub(crate) async fn insert_connection(
        &self,
        new: &NewConnection,
    ) -> StoreResult<ConnectionRow> {
        let mut tx = self.pool.begin().await?;
        let multi_erp: bool =
            sqlx::query_scalar("SELECT multi_erp FROM tenants WHERE id = $1 FOR UPDATE")
                .bind(&new.tenant_id)
                .fetch_one(&mut *tx)
                .await?;
        if !multi_erp {
            let existing: Option<String> = sqlx::query_scalar(
                "SELECT id FROM connections WHERE tenant_id = $1 AND status != 'disconnected' LIMIT 1",
            )
            .bind(&new.tenant_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(existing) = existing {
                return Err(StoreError::Conflict(one_connection_message(&existing)));
            }
        }
        let now = now_ms();
        let raw: RawConnection = sqlx::query_as(&format!(
            "INSERT INTO connections (id, tenant_id, provider, name, entity, status, config, secrets, created_ms, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
             RETURNING {CONNECTION_COLUMNS}"
        ))
        .bind(&new.id)
        .bind(&new.tenant_id)
        .bind(new.provider)
        .bind(&new.name)
        .bind(&new.entity)
        .bind(new.status)
        .bind(new.config.to_string())
        .bind(&new.secrets)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        raw.try_into()
    }

    /// Saves a changed name, entity or config. Secrets and status have their own writes
    /// (`save_connection_credentials`, `set_connection_status`) so an edit never puts
    /// back a token or status that changed meanwhile.
    pub(crate) async fn update_connection(
        &self,
        row: &ConnectionRow,
    ) -> StoreResult<ConnectionRow> {
        let raw: Option<RawConnection> = sqlx::query_as(&format!(
            "UPDATE connections SET name = $1, entity = $2, config = $3, updated_ms = $4
             WHERE tenant_id = $5 AND id = $6 AND status != 'disconnected'
             RETURNING {CONNECTION_COLUMNS}"
        ))
        .bind(&row.name)
        .bind(&row.entity)
        .bind(row.config.to_string())
        .bind(now_ms())
        .bind(&row.tenant_id)
        .bind(&row.id)
        .fetch_optional(&self.pool)
        .await?;
        match raw {
            Some(raw) => raw.try_into(),
            None => Err(StoreError::Conflict(format!(
                "connection {} is disconnected and can no longer change; create a new connection",
                row.id
            ))),
        }
    }

    /// Records a test sync: its log entry, and the result shown on the entry's connection.
    pub(crate) async fn record_test(
        &self,
        result: &serde_json::Value,
        entry: &LogEntry,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE connections SET last_test = $1 WHERE id = $2")
            .bind(result.to_string())
            .bind(&entry.connection_id)
            .execute(&mut *tx)
            .await?;
        super::sync_log::insert(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Disconnects: the connection stops receiving, its open jobs are cancelled and each
    /// cancellation is logged. Nothing is deleted, here or in the ERP.
    ///
    /// The connection row is locked first (`FOR UPDATE`): a concurrent disconnect waits
    /// and then finds it disconnected, and an ingest or manual sync queueing a job for
    /// it either commits first (its job is then cancelled here) or waits and no longer
    /// routes to it.
    pub(crate) async fn disconnect(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<(ConnectionRow, u64)> {
        let mut tx = self.pool.begin().await?;
        let conn: ConnectionRow = sqlx::query_as::<_, RawConnection>(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
        ))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("connection {id} not found")))?
        .try_into()?;
        if conn.status == ConnectionStatus::Disconnected {
            tx.commit().await?;
            return Ok((conn, 0));
        }
        let raw: RawConnection = sqlx::query_as(&format!(
            "UPDATE connections SET status = 'disconnected', updated_ms = $1 WHERE tenant_id = $2 AND id = $3
             RETURNING {CONNECTION_COLUMNS}"
        ))
        .bind(now_ms())
        .bind(tenant_id)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let cancelled =
            super::jobs::cancel_open_jobs(&mut tx, id, conn.provider, CANCELLED_BY_DISCONNECT)
                .await?;
        tx.commit().await?;
        // Other hosts stop their attempts that still wait for the ERP's limits.
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(super::STOP_CHANNEL)
            .bind(id)
            .execute(&self.pool)
            .await
        {
            tracing::warn!(error = %e, connection = id, "telling the other hosts of a disconnect failed; their waiting attempts find it when they settle");
        }
        Ok((raw.try_into()?, cancelled))
    }
}
