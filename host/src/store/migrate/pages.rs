//! Reading a table of the SQLite store a page at a time, along its primary key (keyset
//! pagination), as plain values that can be written to PostgreSQL as they are.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::MigrateError;
use super::catalogue::{Column, Kind, Table, column_list};

/// One stored value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Blob(Option<Vec<u8>>),
    Bool(Option<bool>),
}

impl Value {
    /// Roughly the memory it holds, for sizing batches.
    pub(super) fn size(&self) -> usize {
        16 + match self {
            Value::Text(v) => v.as_ref().map_or(0, String::len),
            Value::Blob(v) => v.as_ref().map_or(0, Vec::len),
            Value::Int(_) | Value::Bool(_) => 8,
        }
    }

    /// A key value as text, for messages (keys are never blobs).
    pub(super) fn display(&self) -> String {
        match self {
            Value::Text(Some(s)) => s.clone(),
            Value::Int(Some(n)) => n.to_string(),
            Value::Bool(Some(b)) => b.to_string(),
            Value::Blob(_) => "(bytes)".into(),
            _ => "NULL".into(),
        }
    }

    fn read(row: &SqliteRow, index: usize, kind: Kind) -> Result<Value, sqlx::Error> {
        Ok(match kind {
            Kind::Text => Value::Text(row.try_get(index)?),
            Kind::Int => Value::Int(row.try_get(index)?),
            Kind::Blob => Value::Blob(row.try_get(index)?),
            Kind::Bool => Value::Bool(row.try_get::<Option<i64>, _>(index)?.map(|v| v != 0)),
        })
    }

    fn bind_to<'q>(&self, query: SqliteQuery<'q>) -> SqliteQuery<'q> {
        match self {
            Value::Text(v) => query.bind(v.clone()),
            Value::Int(v) => query.bind(*v),
            Value::Blob(v) => query.bind(v.clone()),
            Value::Bool(v) => query.bind(v.map(i64::from)),
        }
    }
}

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// Walks one table of the source in key order, a page at a time, reading some of its
/// columns. Each page starts after the key of the previous page's last row, so a page
/// costs the same however far into the table it is.
pub(super) struct Pages {
    table: &'static Table,
    columns: Vec<&'static Column>,
    first_sql: String,
    next_sql: String,
    /// Where each key column is among `columns`.
    key_index: Vec<usize>,
    /// The key of the last row read; `None` before the first page.
    after: Option<Vec<Value>>,
    /// Set by a short page: the table has no more rows.
    done: bool,
}

impl Pages {
    /// Pages of `columns` of `table`; they must include its key.
    pub(super) fn new(table: &'static Table, columns: Vec<&'static Column>) -> Pages {
        let select = column_list(columns.iter().copied());
        let key_index = table
            .key
            .iter()
            .map(|k| {
                columns
                    .iter()
                    .position(|c| c.name == *k)
                    .expect("the key columns are read")
            })
            .collect();
        Pages {
            table,
            first_sql: table.keyset_sql(&select, false),
            next_sql: table.keyset_sql(&select, true),
            columns,
            key_index,
            after: None,
            done: false,
        }
    }

    /// The next page of at most `limit` rows, each with the values of the columns in
    /// order; `None` after the last row.
    pub(super) async fn next(
        &mut self,
        source: &mut SqliteConnection,
        limit: usize,
    ) -> Result<Option<Vec<Vec<Value>>>, MigrateError> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .read(source, limit)
            .await
            .map_err(MigrateError::read(self.table.name))?;
        self.done = page.len() < limit;
        let Some(last) = page.last() else {
            return Ok(None);
        };
        self.after = Some(self.key_index.iter().map(|&i| last[i].clone()).collect());
        Ok(Some(page))
    }

    async fn read(
        &self,
        source: &mut SqliteConnection,
        limit: usize,
    ) -> Result<Vec<Vec<Value>>, sqlx::Error> {
        let sql = if self.after.is_some() {
            &self.next_sql
        } else {
            &self.first_sql
        };
        let mut query = sqlx::query(sql);
        for value in self.after.iter().flatten() {
            query = value.bind_to(query);
        }
        let rows = query.bind(limit as i64).fetch_all(source).await?;
        rows.iter()
            .map(|row| {
                self.columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| Value::read(row, i, c.kind))
                    .collect()
            })
            .collect()
    }
}
