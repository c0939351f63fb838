//! ERP connectors' memory: OAuth states in flight and ERP record mappings.

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, from_row};
use crate::store::delivery::CHANGE_STATUS_SQL;
use crate::store::kinds::{ConnectionStatus, Provider};
use crate::store::rows::oauth_state_refused;
use crate::store::{ErpRecord, OAuthState, StoreResult, now_ms};

impl SqliteStore {
    /// Remembers an OAuth `state` for `ttl_ms`.
    pub(crate) async fn create_oauth_state(
        &self,
        state: &str,
        tenant_id: &str,
        connection_id: &str,
        provider: Provider,
        verifier: Option<&[u8]>,
        ttl_ms: i64,
    ) -> StoreResult<()> {
        let (state, tenant_id, connection_id, provider) = (
            state.to_string(),
            tenant_id.to_string(),
            connection_id.to_string(),
            provider,
        );
        let verifier = verifier.map(<[u8]>::to_vec);
        let expires = now_ms() + ttl_ms;
        self.write(move |db| {
            db.prepare_cached(
                "INSERT INTO oauth_states (state, tenant_id, connection_id, provider, verifier, expires_ms)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![state, tenant_id, connection_id, provider, verifier, expires])?;
            Ok(())
        })
        .await
    }

    /// Consumes an OAuth `state`: it works once, before it expires.
    pub(crate) async fn take_oauth_state(&self, state: &str) -> StoreResult<OAuthState> {
        let now = now_ms();
        let state = state.to_string();
        let row = self
            .write(move |db| {
                Ok(db
                    .prepare_cached(
                        "UPDATE oauth_states SET used_ms = ? WHERE state = ? AND used_ms IS NULL AND expires_ms > ?
                         RETURNING state, tenant_id, connection_id, provider, verifier",
                    )?
                    .query_row(params![now, state, now], |r| {
                        Ok(from_row!(r => OAuthState {
                            state, tenant_id, connection_id, provider, verifier,
                        }))
                    })
                    .optional()?)
            })
            .await?;
        row.ok_or_else(oauth_state_refused)
    }

    /// Records (or updates) the ERP record standing for a local object.
    pub(crate) async fn put_erp_record(
        &self,
        account: &str,
        tenant_id: &str,
        kind: &str,
        local_id: &str,
        record: &ErpRecord,
    ) -> StoreResult<()> {
        let (account, tenant_id, kind, local_id) = (
            account.to_string(),
            tenant_id.to_string(),
            kind.to_string(),
            local_id.to_string(),
        );
        let record = record.clone();
        self.write(move |db| {
            db.prepare_cached(
                "INSERT INTO erp_records (account, tenant_id, kind, local_id, remote_id, version, updated_ms)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (account, tenant_id, kind, local_id) DO UPDATE SET
                    remote_id = excluded.remote_id, version = excluded.version, updated_ms = excluded.updated_ms",
            )?
            .execute(params![
                account,
                tenant_id,
                kind,
                local_id,
                record.remote_id,
                record.version,
                now_ms()
            ])?;
            Ok(())
        })
        .await
    }

    /// Sets a connection's status (e.g. `active` after authorization, `needs_reauth`):
    /// the connection's tenant when that changed it.
    pub(crate) async fn change_connection_status(
        &self,
        connection_id: &str,
        status: ConnectionStatus,
    ) -> StoreResult<Option<String>> {
        let connection_id = connection_id.to_string();
        self.write(move |db| {
            Ok(db
                .prepare_cached(CHANGE_STATUS_SQL)?
                .query_row(params![status, now_ms(), connection_id], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    /// Replaces a connection's sealed secrets, and its config when given, in one
    /// transaction: a rotated refresh token is never half-saved, and a token refresh
    /// (no config) leaves a config edited meanwhile as it is.
    pub(crate) async fn save_connection_credentials(
        &self,
        connection_id: &str,
        config: Option<&serde_json::Value>,
        sealed: &[u8],
    ) -> StoreResult<()> {
        let connection_id = connection_id.to_string();
        let config = config.map(|c| c.to_string());
        let sealed = sealed.to_vec();
        self.write(move |db| {
            db.prepare_cached(
                "UPDATE connections SET config = COALESCE(?, config), secrets = ?, updated_ms = ? WHERE id = ?",
            )?
            .execute(params![config, sealed, now_ms(), connection_id])?;
            Ok(())
        })
        .await
    }
}
