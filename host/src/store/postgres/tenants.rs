//! Tenants, their API keys and their settings, on PostgreSQL.
//!
//! Unlike SQLite, API keys are not cached in memory: another host may change a
//! tenant's settings, so every lookup asks the database.

use super::PgStore;
use crate::crypto::api_key;
use crate::store::{StoreError, StoreResult, Tenant, now_ms};

impl PgStore {
    /// Creates a tenant and its first API key; the key is returned once and stored hashed.
    pub(crate) async fn create_tenant(&self, name: &str) -> StoreResult<(Tenant, String)> {
        let (tenant, key, hash) = Tenant::generate(name);
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO tenants (id, name, multi_erp, created_ms) VALUES ($1, $2, FALSE, $3)",
        )
        .bind(&tenant.id)
        .bind(&tenant.name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO api_keys (key_hash, tenant_id, created_ms) VALUES ($1, $2, $3)")
            .bind(hash)
            .bind(&tenant.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((tenant, key))
    }

    /// The tenant an API key belongs to, if any.
    pub(crate) async fn tenant_by_api_key(&self, key: &str) -> StoreResult<Option<Tenant>> {
        Ok(sqlx::query_as::<_, Tenant>(
            "SELECT t.id, t.name, t.multi_erp FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
             WHERE k.key_hash = $1",
        )
        .bind(api_key::hash_api_key(key))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Turns Multi-ERP mode on or off. Turning it off is refused while more than one
    /// connection is active, since the tenant would silently keep several destinations.
    ///
    /// The tenant row stays locked while the connections are counted, as
    /// `insert_connection` locks it while checking the one-connection rule: the two
    /// cannot interleave, whichever host runs them.
    pub(crate) async fn set_multi_erp(&self, tenant_id: &str, on: bool) -> StoreResult<Tenant> {
        let mut tx = self.pool.begin().await?;
        let found: Option<bool> =
            sqlx::query_scalar("SELECT multi_erp FROM tenants WHERE id = $1 FOR UPDATE")
                .bind(tenant_id)
                .fetch_optional(&mut *tx)
                .await?;
        if found.is_none() {
            return Err(StoreError::NotFound(format!(
                "tenant {tenant_id} not found"
            )));
        }
        if !on {
            let active: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM connections WHERE tenant_id = $1 AND status != 'disconnected'",
            )
            .bind(tenant_id)
            .fetch_one(&mut *tx)
            .await?;
            if active > 1 {
                return Err(StoreError::Conflict(format!(
                    "multi_erp cannot be turned off while {active} connections are connected; disconnect all but one first"
                )));
            }
        }
        let tenant = sqlx::query_as::<_, Tenant>(
            "UPDATE tenants SET multi_erp = $1 WHERE id = $2 RETURNING id, name, multi_erp",
        )
        .bind(on)
        .bind(tenant_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(tenant)
    }
}
