//! Uploaded components and the customers whose invoices they tweak, on PostgreSQL.
//!
//! Uploads are deduplicated by the unique index on (tenant, sha256, world): two hosts
//! storing the same upload at once both answer with the one transform that won.

use super::PgStore;
use crate::domain::ids::new_id;
use crate::store::rows::TRANSFORM_COLUMNS;
use crate::store::{NewTransform, StoreResult, TransformRow, now_ms};

impl PgStore {
    /// Stores an upload; the same bytes for the same world and tenant return the existing
    /// transform (`false` as the second value) instead of a copy.
    pub(crate) async fn insert_transform(
        &self,
        new: &NewTransform<'_>,
    ) -> StoreResult<(TransformRow, bool)> {
        let existing_sql = format!(
            "SELECT {TRANSFORM_COLUMNS} FROM transforms WHERE tenant_id = $1 AND sha256 = $2 AND world = $3"
        );
        let mut tx = self.pool.begin().await?;
        // The common duplicate is answered without sending the bytes again.
        let existing: Option<TransformRow> = sqlx::query_as(&existing_sql)
            .bind(new.tenant_id)
            .bind(new.sha256)
            .bind(new.world)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = existing {
            tx.commit().await?;
            return Ok((row, false));
        }
        let now = now_ms();
        sqlx::query(
            "INSERT INTO wasm_modules (sha256, bytes, created_ms) VALUES ($1, $2, $3)
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(new.sha256)
        .bind(new.bytes)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // A concurrent upload of the same component makes this insert wait for it; if it
        // commits, nothing is inserted here and its transform is the answer.
        let inserted: Option<TransformRow> = sqlx::query_as(&format!(
            "INSERT INTO transforms (id, tenant_id, name, world, export, sha256, size, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (tenant_id, sha256, world) DO NOTHING
             RETURNING {TRANSFORM_COLUMNS}"
        ))
        .bind(new_id("tr"))
        .bind(new.tenant_id)
        .bind(new.name)
        .bind(new.world)
        .bind(new.export)
        .bind(new.sha256)
        .bind(new.bytes.len() as i64)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let outcome = match inserted {
            Some(row) => (row, true),
            None => {
                let row: TransformRow = sqlx::query_as(&existing_sql)
                    .bind(new.tenant_id)
                    .bind(new.sha256)
                    .bind(new.world)
                    .fetch_one(&mut *tx)
                    .await?;
                (row, false)
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// Sets (or with `None` removes) the invoice tweak of one customer.
    pub(crate) async fn set_customer_tweak(
        &self,
        tenant_id: &str,
        customer_id: &str,
        transform_id: Option<&str>,
    ) -> StoreResult<()> {
        match transform_id {
            Some(t) => {
                sqlx::query(
                    "INSERT INTO customer_tweaks (tenant_id, customer_id, transform_id, updated_ms)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (tenant_id, customer_id) DO UPDATE SET transform_id = excluded.transform_id,
                        updated_ms = excluded.updated_ms",
                )
                .bind(tenant_id)
                .bind(customer_id)
                .bind(t)
                .bind(now_ms())
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM customer_tweaks WHERE tenant_id = $1 AND customer_id = $2",
                )
                .bind(tenant_id)
                .bind(customer_id)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }
}
