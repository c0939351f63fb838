//! PostgreSQL side of delivery control: its statements run in one transaction (see
//! `store/delivery.rs` for the statements).

use super::PgStore;
use crate::store::StoreResult;
use crate::store::delivery::{Bind, Statement, bind_all};

impl PgStore {
    /// Runs `statements` in one transaction; the rows each changed.
    pub(in crate::store) async fn execute_all(
        &self,
        statements: Vec<Statement>,
    ) -> StoreResult<Vec<u64>> {
        let mut tx = self.pool.begin().await?;
        let mut changed = Vec::with_capacity(statements.len());
        for (sql, binds) in &statements {
            let done = bind_all!(sqlx::query(sql), binds).execute(&mut *tx).await?;
            changed.push(done.rows_affected());
        }
        tx.commit().await?;
        Ok(changed)
    }
}
