//! Uploaded components and the customers whose invoices they tweak.

use super::{Store, StoreError, StoreResult, now_ms};
use crate::domain::ids::new_id;

/// A transform as stored (without its bytes).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TransformRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub world: String,
    pub export: String,
    pub sha256: String,
    pub size: i64,
    pub created_ms: i64,
}

/// A new upload, already validated.
pub struct NewTransform<'a> {
    pub tenant_id: &'a str,
    pub name: &'a str,
    pub world: &'a str,
    pub export: &'a str,
    pub sha256: &'a str,
    pub bytes: &'a [u8],
}

const COLUMNS: &str = "id, tenant_id, name, world, export, sha256, size, created_ms";

impl Store {
    /// Stores an upload; the same bytes for the same world and tenant return the existing
    /// transform (`false` as the second value) instead of a copy.
    pub async fn insert_transform(
        &self,
        new: &NewTransform<'_>,
    ) -> StoreResult<(TransformRow, bool)> {
        let mut tx = self.write().await?;
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT id FROM transforms WHERE tenant_id = ? AND sha256 = ? AND world = ?",
        )
        .bind(new.tenant_id)
        .bind(new.sha256)
        .bind(new.world)
        .fetch_optional(&mut *tx)
        .await?;
        let (id, created) = match existing {
            Some(id) => (id, false),
            None => {
                let now = now_ms();
                sqlx::query("INSERT OR IGNORE INTO wasm_modules (sha256, bytes, created_ms) VALUES (?, ?, ?)")
                    .bind(new.sha256)
                    .bind(new.bytes)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let id = new_id("tr");
                sqlx::query(
                    "INSERT INTO transforms (id, tenant_id, name, world, export, sha256, size, created_ms)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&id)
                .bind(new.tenant_id)
                .bind(new.name)
                .bind(new.world)
                .bind(new.export)
                .bind(new.sha256)
                .bind(new.bytes.len() as i64)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                (id, true)
            }
        };
        tx.commit().await?;
        Ok((self.transform(new.tenant_id, &id).await?, created))
    }

    /// One transform of a tenant.
    pub async fn transform(&self, tenant_id: &str, id: &str) -> StoreResult<TransformRow> {
        sqlx::query_as::<_, TransformRow>(&format!(
            "SELECT {COLUMNS} FROM transforms WHERE tenant_id = ? AND id = ?"
        ))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.reader)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("transform {id} not found")))
    }

    /// Every transform of a tenant, newest first.
    pub async fn list_transforms(&self, tenant_id: &str) -> StoreResult<Vec<TransformRow>> {
        Ok(sqlx::query_as::<_, TransformRow>(&format!(
            "SELECT {COLUMNS} FROM transforms WHERE tenant_id = ? ORDER BY created_ms DESC, id DESC"
        ))
        .bind(tenant_id)
        .fetch_all(&self.reader)
        .await?)
    }

    /// A component's bytes by content hash.
    pub async fn wasm_bytes(&self, sha256: &str) -> StoreResult<Vec<u8>> {
        sqlx::query_scalar("SELECT bytes FROM wasm_modules WHERE sha256 = ?")
            .bind(sha256)
            .fetch_optional(&self.reader)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("component {sha256} not found")))
    }

    /// Sets (or with `None` removes) the invoice tweak of one customer.
    pub async fn set_customer_tweak(
        &self,
        tenant_id: &str,
        customer_id: &str,
        transform_id: Option<&str>,
    ) -> StoreResult<()> {
        let mut tx = self.write().await?;
        match transform_id {
            Some(t) => {
                sqlx::query(
                    "INSERT INTO customer_tweaks (tenant_id, customer_id, transform_id, updated_ms) VALUES (?, ?, ?, ?)
                     ON CONFLICT (tenant_id, customer_id) DO UPDATE SET transform_id = excluded.transform_id,
                        updated_ms = excluded.updated_ms",
                )
                .bind(tenant_id)
                .bind(customer_id)
                .bind(t)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM customer_tweaks WHERE tenant_id = ? AND customer_id = ?")
                    .bind(tenant_id)
                    .bind(customer_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The tweak transform applied to a customer's invoices, if any.
    pub async fn customer_tweak(
        &self,
        tenant_id: &str,
        customer_id: &str,
    ) -> StoreResult<Option<TransformRow>> {
        Ok(sqlx::query_as::<_, TransformRow>(
            "SELECT t.id, t.tenant_id, t.name, t.world, t.export, t.sha256, t.size, t.created_ms
             FROM customer_tweaks c JOIN transforms t ON t.id = c.transform_id
             WHERE c.tenant_id = ? AND c.customer_id = ?",
        )
        .bind(tenant_id)
        .bind(customer_id)
        .fetch_optional(&self.reader)
        .await?)
    }
}
