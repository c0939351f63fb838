//! Copying one table: keyset pages from the source, each one multi-row
//! `INSERT … ON CONFLICT DO NOTHING` into the target, sized to about [`BATCH_BYTES`].

use std::time::Instant;

use sqlx::{PgConnection, Postgres, QueryBuilder, SqliteConnection};

use super::catalogue::{Table, column_list};
use super::pages::{Pages, Value};
use super::{BATCH_BYTES, MigrateError, ProgressTicker, progress};

/// What copying one table did.
#[derive(Debug, Default)]
pub(super) struct Copied {
    pub(super) source_rows: u64,
    pub(super) inserted: u64,
    /// Leased jobs copied as pending.
    pub(super) requeued: u64,
}

/// Copies one table in keyset batches.
pub(super) async fn copy_table(
    source: &mut SqliteConnection,
    target: &mut PgConnection,
    table: &'static Table,
) -> Result<Copied, MigrateError> {
    let started = Instant::now();
    let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", table.name))
        .fetch_one(&mut *source)
        .await
        .map_err(MigrateError::read(table.name))?;
    progress(format_args!("{}: copying {total} rows", table.name));

    let mut pages = Pages::new(table, table.columns.iter().collect());
    let insert_head = format!(
        "INSERT INTO {} ({}) ",
        table.name,
        column_list(table.columns)
    );
    let max_rows = table.max_batch_rows();
    let mut limit = table.first_batch.min(max_rows);
    let mut copied = Copied::default();
    let mut ticker = ProgressTicker::new();
    while let Some(mut batch) = pages.next(source, limit).await? {
        let fetched = batch.len();
        let mut bytes = 0;
        for row in &mut batch {
            if table.name == "jobs" && requeue_if_leased(table, row) {
                copied.requeued += 1;
            }
            bytes += row.iter().map(Value::size).sum::<usize>();
        }
        copied.inserted += insert(target, table, &insert_head, batch).await?;
        copied.source_rows += fetched as u64;
        if ticker.due() {
            progress(format_args!(
                "{}: {} / {total} rows",
                table.name, copied.source_rows
            ));
        }
        // Size the next batch from this one's rows.
        limit = (BATCH_BYTES / (bytes / fetched).max(1)).clamp(1, max_rows);
    }
    let (read, inserted) = (copied.source_rows, copied.inserted);
    progress(format_args!(
        "{}: {read} rows read, {inserted} copied, {} already in the target ({:.1} s)",
        table.name,
        read - inserted.min(read),
        started.elapsed().as_secs_f64()
    ));
    Ok(copied)
}

/// Writes one batch as one statement (one transaction); rows already in the target are
/// kept as they are. Answers how many rows it inserted.
async fn insert(
    target: &mut PgConnection,
    table: &Table,
    insert_head: &str,
    batch: Vec<Vec<Value>>,
) -> Result<u64, MigrateError> {
    let mut insert = QueryBuilder::<Postgres>::new(insert_head);
    insert.push_values(batch, |mut b, row| {
        for value in row {
            match value {
                Value::Text(v) => b.push_bind(v),
                Value::Int(v) => b.push_bind(v),
                Value::Blob(v) => b.push_bind(v),
                Value::Bool(v) => b.push_bind(v),
            };
        }
    });
    insert.push(" ON CONFLICT DO NOTHING");
    let done = insert
        .build()
        .execute(&mut *target)
        .await
        .map_err(MigrateError::write(table.name))?;
    Ok(done.rows_affected())
}

/// A job leased in the source has lost its lease holder (the SQLite server is gone):
/// it goes to the target as pending, lease cleared, and without the attempt its claim
/// counted, as the server's own start-up recovery does. Answers whether it was leased.
fn requeue_if_leased(table: &Table, row: &mut [Value]) -> bool {
    let state = table.index("state");
    if row[state] != Value::Text(Some("leased".into())) {
        return false;
    }
    row[state] = Value::Text(Some("pending".into()));
    row[table.index("lease_token")] = Value::Text(None);
    row[table.index("lease_until_ms")] = Value::Int(None);
    if let Value::Int(Some(attempts)) = &mut row[table.index("attempts")] {
        *attempts = (*attempts - 1).max(0);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::super::catalogue::Kind;
    use super::*;

    #[test]
    fn a_leased_job_is_requeued() {
        let jobs = Table::named("jobs");
        let mut row: Vec<Value> = jobs
            .columns
            .iter()
            .map(|c| match c.kind {
                Kind::Int => Value::Int(Some(7)),
                _ => Value::Text(Some("x".into())),
            })
            .collect();
        assert!(!requeue_if_leased(jobs, &mut row));
        row[jobs.index("state")] = Value::Text(Some("leased".into()));
        assert!(requeue_if_leased(jobs, &mut row));
        assert_eq!(
            row[jobs.index("state")],
            Value::Text(Some("pending".into()))
        );
        assert_eq!(row[jobs.index("lease_token")], Value::Text(None));
        assert_eq!(row[jobs.index("lease_until_ms")], Value::Int(None));
        assert_eq!(row[jobs.index("attempts")], Value::Int(Some(6)));
    }
}
