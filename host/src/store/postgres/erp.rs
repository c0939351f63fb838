//! ERP connectors' memory on PostgreSQL: OAuth states in flight, ERP record mappings,
//! and the connection writes the connectors make (status, rotated credentials).

use super::PgStore;
use crate::store::delivery::CHANGE_STATUS_SQL;
use crate::store::kinds::{ConnectionStatus, Provider};
use crate::store::rows::oauth_state_refused;
use crate::store::{ErpRecord, OAuthState, StoreResult, now_ms};

impl PgStore {
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
        sqlx::query(
            "INSERT INTO oauth_states (state, tenant_id, connection_id, provider, verifier, expires_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(state)
        .bind(tenant_id)
        .bind(connection_id)
        .bind(provider)
        .bind(verifier)
        .bind(now_ms() + ttl_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Consumes an OAuth `state`: it works once, before it expires. One statement marks
    /// it used only if it was not, so of two hosts taking it at once exactly one gets it.
    pub(crate) async fn take_oauth_state(&self, state: &str) -> StoreResult<OAuthState> {
        let now = now_ms();
        sqlx::query_as::<_, OAuthState>(
            "UPDATE oauth_states SET used_ms = $1 WHERE state = $2 AND used_ms IS NULL AND expires_ms > $1
             RETURNING state, tenant_id, connection_id, provider, verifier",
        )
        .bind(now)
        .bind(state)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(oauth_state_refused)
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
        sqlx::query(
            "INSERT INTO erp_records (account, tenant_id, kind, local_id, remote_id, version, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (account, tenant_id, kind, local_id) DO UPDATE SET
                remote_id = excluded.remote_id, version = excluded.version, updated_ms = excluded.updated_ms",
        )
        .bind(account)
        .bind(tenant_id)
        .bind(kind)
        .bind(local_id)
        .bind(&record.remote_id)
        .bind(&record.version)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets a connection's status (e.g. `active` after authorization, `needs_reauth`):
    /// the connection's tenant when that changed it. Becoming active makes its waiting jobs claimable, so every host is woken.
    pub(crate) async fn change_connection_status(
        &self,
        connection_id: &str,
        status: ConnectionStatus,
    ) -> StoreResult<Option<String>> {
        let tenant: Option<String> = sqlx::query_scalar(CHANGE_STATUS_SQL)
            .bind(status)
            .bind(now_ms())
            .bind(connection_id)
            .fetch_optional(&self.pool)
            .await?;
        if tenant.is_some() && status == ConnectionStatus::Active {
            self.wake_hosts();
        }
        Ok(tenant)
    }

    /// Replaces a connection's sealed secrets, and its config when given, in one
    /// statement: a rotated refresh token is never half-saved, and a token refresh
    /// (no config) leaves a config edited meanwhile as it is.
    pub(crate) async fn save_connection_credentials(
        &self,
        connection_id: &str,
        config: Option<&serde_json::Value>,
        sealed: &[u8],
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE connections SET config = COALESCE($1, config), secrets = $2, updated_ms = $3 WHERE id = $4",
        )
        .bind(config.map(|c| c.to_string()))
        .bind(sealed)
        .bind(now_ms())
        .bind(connection_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
