//! Tenants, their API keys and their settings.

use rusqlite::params;

use super::SqliteStore;
use crate::crypto::api_key;
use crate::store::{StoreError, StoreResult, Tenant, now_ms};

impl SqliteStore {
    /// Creates a tenant and its first API key; the key is returned once and stored hashed.
    pub(crate) async fn create_tenant(&self, name: &str) -> StoreResult<(Tenant, String)> {
        let (tenant, key, hash) = Tenant::generate(name);
        let (id, name, now) = (tenant.id.clone(), tenant.name.clone(), now_ms());
        self.write(move |db| {
            db.prepare_cached(
                "INSERT INTO tenants (id, name, multi_erp, created_ms) VALUES (?, ?, 0, ?)",
            )?
            .execute(params![id, name, now])?;
            db.prepare_cached(
                "INSERT INTO api_keys (key_hash, tenant_id, created_ms) VALUES (?, ?, ?)",
            )?
            .execute(params![hash, id, now])?;
            Ok(())
        })
        .await?;
        Ok((tenant, key))
    }

    /// The tenant an API key belongs to, if any. Every API request asks this, so known
    /// keys are remembered in memory (keys are never reassigned, and this process owns
    /// the data dir); unknown keys are not, so guessing cannot grow the cache.
    pub(crate) async fn tenant_by_api_key(&self, key: &str) -> StoreResult<Option<Tenant>> {
        let hash = api_key::hash_api_key(key);
        if let Some(tenant) = self
            .known_keys
            .read()
            .ok()
            .and_then(|k| k.get(&hash).cloned())
        {
            return Ok(Some(tenant));
        }
        let tenant = sqlx::query_as::<_, Tenant>(
            "SELECT t.id, t.name, t.multi_erp FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
             WHERE k.key_hash = ?",
        )
        .bind(&hash)
        .fetch_optional(&self.reader)
        .await?;
        if let (Some(t), Ok(mut known)) = (&tenant, self.known_keys.write()) {
            known.insert(hash, t.clone());
        }
        Ok(tenant)
    }

    /// Turns Multi-ERP mode on or off. Turning it off is refused while more than one
    /// connection is active, since the tenant would silently keep several destinations.
    pub(crate) async fn set_multi_erp(&self, tenant_id: &str, on: bool) -> StoreResult<Tenant> {
        let id = tenant_id.to_string();
        self.write(move |db| {
            if !on {
                let active: i64 = db
                    .prepare_cached(
                        "SELECT COUNT(*) FROM connections WHERE tenant_id = ? AND status != 'disconnected'",
                    )?
                    .query_row([&id], |r| r.get(0))?;
                if active > 1 {
                    return Err(StoreError::Conflict(format!(
                        "multi_erp cannot be turned off while {active} connections are connected; disconnect all but one first"
                    )));
                }
            }
            db.prepare_cached("UPDATE tenants SET multi_erp = ? WHERE id = ?")?
                .execute(params![on, id])?;
            Ok(())
        })
        .await?;
        let tenant = crate::store::reads::tenant(self.reads(), tenant_id).await?;
        if let Ok(mut known) = self.known_keys.write() {
            for cached in known.values_mut().filter(|t| t.id == tenant.id) {
                *cached = tenant.clone();
            }
        }
        Ok(tenant)
    }
}
