//! Connections: one destination (ERP account or webhook) of one tenant.

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, from_row};
use crate::store::kinds::ConnectionStatus;
use crate::store::rows::{
    CANCELLED_BY_DISCONNECT, CONNECTION_COLUMNS, RawConnection, one_connection_message,
};
use crate::store::{ConnectionRow, LogEntry, NewConnection, StoreError, StoreResult, now_ms};

/// A connection by id within a write (the worker's claim reads it there, fresh).
pub(super) fn read_connection(db: &rusqlite::Connection, id: &str) -> StoreResult<ConnectionRow> {
    db.prepare_cached(&format!(
        "SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = ?"
    ))?
    .query_row([id], |r| {
        Ok(from_row!(r => RawConnection {
            id, tenant_id, provider, name, entity, status, config, secrets, last_test,
            created_ms, updated_ms,
        }))
    })
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("connection {id} not found")))?
    .try_into()
}

impl SqliteStore {
    /// Inserts a connection, enforcing one live connection per tenant unless Multi-ERP is on.
    pub(crate) async fn insert_connection(
        &self,
        new: &NewConnection,
    ) -> StoreResult<ConnectionRow> {
        let row = new.clone();
        self.write(move |db| {
            let multi_erp: bool = db
                .prepare_cached("SELECT multi_erp FROM tenants WHERE id = ?")?
                .query_row([&row.tenant_id], |r| r.get(0))?;
            if !multi_erp {
                let existing: Option<String> = db
                    .prepare_cached(
                        "SELECT id FROM connections WHERE tenant_id = ? AND status != 'disconnected' LIMIT 1",
                    )?
                    .query_row([&row.tenant_id], |r| r.get(0))
                    .optional()?;
                if let Some(existing) = existing {
                    return Err(StoreError::Conflict(one_connection_message(&existing)));
                }
            }
            let now = now_ms();
            db.prepare_cached(
                "INSERT INTO connections (id, tenant_id, provider, name, entity, status, config, secrets, created_ms, updated_ms)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                row.id,
                row.tenant_id,
                row.provider,
                row.name,
                row.entity,
                row.status,
                row.config.to_string(),
                row.secrets,
                now,
                now
            ])?;
            Ok(())
        })
        .await?;
        crate::store::reads::connection(self.reads(), &new.tenant_id, &new.id).await
    }

    /// Saves a changed name, entity or config. Secrets and status have their own writes
    /// ([`Store::save_connection_credentials`], [`Store::set_connection_status`]) so an
    /// edit never puts back a token or status that changed meanwhile.
    pub(crate) async fn update_connection(
        &self,
        row: &ConnectionRow,
    ) -> StoreResult<ConnectionRow> {
        let row = row.clone();
        let (tenant_id, id) = (row.tenant_id.clone(), row.id.clone());
        self.write(move |db| {
            let changed = db
                .prepare_cached(
                    "UPDATE connections SET name = ?, entity = ?, config = ?, updated_ms = ?
                     WHERE tenant_id = ? AND id = ? AND status != 'disconnected'",
                )?
                .execute(params![
                    row.name,
                    row.entity,
                    row.config.to_string(),
                    now_ms(),
                    row.tenant_id,
                    row.id
                ])?;
            if changed == 0 {
                return Err(StoreError::Conflict(format!(
                    "connection {} is disconnected and can no longer change; create a new connection",
                    row.id
                )));
            }
            Ok(())
        })
        .await?;
        crate::store::reads::connection(self.reads(), &tenant_id, &id).await
    }

    /// Records a test sync: its log entry, and the result shown on the entry's connection.
    pub(crate) async fn record_test(
        &self,
        result: &serde_json::Value,
        entry: &LogEntry,
    ) -> StoreResult<()> {
        let (result, entry) = (result.to_string(), entry.clone());
        self.write(move |db| {
            db.prepare_cached("UPDATE connections SET last_test = ? WHERE id = ?")?
                .execute(params![result, entry.connection_id])?;
            entry.insert(db)
        })
        .await
    }

    /// Disconnects: the connection stops receiving, its open jobs are cancelled and each
    /// cancellation is logged. Nothing is deleted, here or in the ERP.
    pub(crate) async fn disconnect(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<(ConnectionRow, u64)> {
        let conn = crate::store::reads::connection(self.reads(), tenant_id, id).await?;
        if conn.status == ConnectionStatus::Disconnected {
            return Ok((conn, 0));
        }
        let (tenant, conn_id, provider) = (tenant_id.to_string(), id.to_string(), conn.provider);
        let cancelled = self
            .write(move |db| {
                db.prepare_cached(
                    "UPDATE connections SET status = 'disconnected', updated_ms = ? WHERE tenant_id = ? AND id = ?",
                )?
                .execute(params![now_ms(), tenant, conn_id])?;
                super::jobs::cancel_open_jobs(
                    db,
                    &conn_id,
                    provider,
                    CANCELLED_BY_DISCONNECT,
                )
            })
            .await?;
        Ok((
            crate::store::reads::connection(self.reads(), tenant_id, id).await?,
            cancelled,
        ))
    }
}
