//! SQLite side of delivery control: its statements run as one write of the writer
//! (see `store/delivery.rs` for the statements).

use rusqlite::types::{ToSqlOutput, Value};

use super::SqliteStore;
use crate::store::StoreResult;
use crate::store::delivery::{Bind, Statement};

impl rusqlite::ToSql for Bind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Bind::Text(s) => ToSqlOutput::from(s.as_str()),
            Bind::Int(n) => ToSqlOutput::from(*n),
            Bind::Null | Bind::NullInt => ToSqlOutput::Owned(Value::Null),
            Bind::Bytes(b) => ToSqlOutput::from(b.as_slice()),
        })
    }
}

impl SqliteStore {
    /// Runs `statements` in one transaction (one closure of the writer); the rows each
    /// changed.
    pub(in crate::store) async fn execute_all(
        &self,
        statements: Vec<Statement>,
    ) -> StoreResult<Vec<u64>> {
        self.write(move |db| {
            statements
                .iter()
                .map(|(sql, binds)| {
                    let changed = db
                        .prepare_cached(sql)?
                        .execute(rusqlite::params_from_iter(binds.iter()))?;
                    Ok(changed as u64)
                })
                .collect()
        })
        .await
    }
}
