//! Uploaded components and the customers whose invoices they tweak.

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, from_row};
use crate::domain::ids::new_id;
use crate::store::{NewTransform, StoreResult, TransformRow, now_ms};

/// Whether the tenant has any customer tweak: most have none, and then the claim skips
/// [`read_invoice_tweak`], whose `json_extract` parses the whole invoice body.
pub(super) fn has_tweaks(db: &rusqlite::Connection, tenant_id: &str) -> StoreResult<bool> {
    Ok(db
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM customer_tweaks WHERE tenant_id = ?)")?
        .query_row(params![tenant_id], |r| r.get(0))?)
}

/// The invoice tweak of the customer an invoice body names, within a write (the
/// worker's claim reads it there).
pub(super) fn read_invoice_tweak(
    db: &rusqlite::Connection,
    tenant_id: &str,
    invoice_body: &str,
) -> StoreResult<Option<TransformRow>> {
    Ok(db
        .prepare_cached(
            "SELECT t.id, t.tenant_id, t.name, t.world, t.export, t.sha256, t.size, t.created_ms
             FROM customer_tweaks c JOIN transforms t ON t.id = c.transform_id
             WHERE c.tenant_id = ? AND c.customer_id = json_extract(?, '$.customer.id')",
        )?
        .query_row(params![tenant_id, invoice_body], |r| {
            Ok(from_row!(r => TransformRow {
                id, tenant_id, name, world, export, sha256, size, created_ms,
            }))
        })
        .optional()?)
}

impl SqliteStore {
    /// Stores an upload; the same bytes for the same world and tenant return the existing
    /// transform (`false` as the second value) instead of a copy.
    pub(crate) async fn insert_transform(
        &self,
        new: &NewTransform<'_>,
    ) -> StoreResult<(TransformRow, bool)> {
        let (tenant_id, name, world, export, sha256, bytes) = (
            new.tenant_id.to_string(),
            new.name.to_string(),
            new.world.to_string(),
            new.export.to_string(),
            new.sha256.to_string(),
            new.bytes.to_vec(),
        );
        let (id, created) = self
            .write(move |db| {
                let existing: Option<String> = db
                    .prepare_cached(
                        "SELECT id FROM transforms WHERE tenant_id = ? AND sha256 = ? AND world = ?",
                    )?
                    .query_row(params![tenant_id, sha256, world], |r| r.get(0))
                    .optional()?;
                if let Some(id) = existing {
                    return Ok((id, false));
                }
                let now = now_ms();
                db.prepare_cached(
                    "INSERT OR IGNORE INTO wasm_modules (sha256, bytes, created_ms) VALUES (?, ?, ?)",
                )?
                .execute(params![sha256, bytes, now])?;
                let id = new_id("tr");
                db.prepare_cached(
                    "INSERT INTO transforms (id, tenant_id, name, world, export, sha256, size, created_ms)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![id, tenant_id, name, world, export, sha256, bytes.len() as i64, now])?;
                Ok((id, true))
            })
            .await?;
        Ok((
            crate::store::reads::transform(self.reads(), new.tenant_id, &id).await?,
            created,
        ))
    }

    /// Sets (or with `None` removes) the invoice tweak of one customer.
    pub(crate) async fn set_customer_tweak(
        &self,
        tenant_id: &str,
        customer_id: &str,
        transform_id: Option<&str>,
    ) -> StoreResult<()> {
        let (tenant_id, customer_id) = (tenant_id.to_string(), customer_id.to_string());
        let transform_id = transform_id.map(str::to_string);
        self.write(move |db| {
            match &transform_id {
                Some(t) => {
                    db.prepare_cached(
                        "INSERT INTO customer_tweaks (tenant_id, customer_id, transform_id, updated_ms) VALUES (?, ?, ?, ?)
                         ON CONFLICT (tenant_id, customer_id) DO UPDATE SET transform_id = excluded.transform_id,
                            updated_ms = excluded.updated_ms",
                    )?
                    .execute(params![tenant_id, customer_id, t, now_ms()])?;
                }
                None => {
                    db.prepare_cached(
                        "DELETE FROM customer_tweaks WHERE tenant_id = ? AND customer_id = ?",
                    )?
                    .execute(params![tenant_id, customer_id])?;
                }
            }
            Ok(())
        })
        .await
    }
}
