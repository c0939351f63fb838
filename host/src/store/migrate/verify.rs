//! Verifying one table: every source row must have a matching row in the target (same
//! key, and the same `also_match` columns), looked up in batches.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row, SqliteConnection};

use super::catalogue::{Column, Kind, Table, column_list};
use super::pages::{Pages, Value};
use super::{MAX_BATCH_ROWS, MigrateError, ProgressTicker, TableReport, progress};

/// How many missing keys a table's report lists at most.
const MISSING_EXAMPLES: usize = 5;

/// Looks every source row up in the target, by key (and `also_match`), in batches;
/// fills in the target count and what is missing.
pub(super) async fn verify_table(
    source: &mut SqliteConnection,
    target: &mut PgConnection,
    table: &'static Table,
    entry: &mut TableReport,
) -> Result<(), MigrateError> {
    let verify_err = MigrateError::verify(table.name);
    let columns = table.match_columns();
    let mut pages = Pages::new(table, columns.clone());
    let (mut checked, mut ticker) = (0u64, ProgressTicker::new());
    while let Some(keys) = pages.next(source, MAX_BATCH_ROWS).await? {
        let missing = find_missing(target, table, &columns, &keys)
            .await
            .map_err(verify_err)?;
        entry.missing += missing.len() as u64;
        if table.show_keys {
            let room = MISSING_EXAMPLES.saturating_sub(entry.missing_examples.len());
            for row in missing.iter().take(room) {
                let key = key_text(row, &columns[..table.key.len()]).map_err(verify_err)?;
                entry.missing_examples.push(key);
            }
        }
        checked += keys.len() as u64;
        if ticker.due() {
            progress(format_args!(
                "verifying {}: {checked} / {} rows",
                table.name, entry.source_rows
            ));
        }
    }
    // The snapshot's own count is authoritative (it is what was walked above).
    entry.source_rows = checked;
    let target_rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", table.name))
        .fetch_one(&mut *target)
        .await
        .map_err(verify_err)?;
    entry.target_rows = target_rows as u64;
    Ok(())
}

/// The rows of `keys` (values of `columns`) that have no matching row in the target, in
/// one query:
///
/// ```sql
/// SELECT <k> FROM UNNEST($1::text[], …) AS k(<cols>)
/// WHERE NOT EXISTS (SELECT 1 FROM <table> t WHERE t.c = k.c AND …)
/// ```
async fn find_missing(
    target: &mut PgConnection,
    table: &Table,
    columns: &[&Column],
    keys: &[Vec<Value>],
) -> Result<Vec<PgRow>, sqlx::Error> {
    let alias = column_list(columns.iter().copied());
    let condition = columns
        .iter()
        .map(|c| format!("t.{0} = k.{0}", c.name))
        .collect::<Vec<_>>()
        .join(" AND ");
    let mut lookup = QueryBuilder::<Postgres>::new("SELECT ");
    lookup.push(&alias).push(" FROM UNNEST(");
    for (i, column) in columns.iter().enumerate() {
        if i > 0 {
            lookup.push(", ");
        }
        // Matched columns are text or integers (checked by a test of the catalogue).
        match column.kind {
            Kind::Int => {
                let values: Vec<Option<i64>> = keys
                    .iter()
                    .map(|k| match &k[i] {
                        Value::Int(v) => *v,
                        _ => None,
                    })
                    .collect();
                lookup.push_bind(values).push("::bigint[]");
            }
            _ => {
                let values: Vec<Option<String>> = keys
                    .iter()
                    .map(|k| match &k[i] {
                        Value::Text(v) => v.clone(),
                        _ => None,
                    })
                    .collect();
                lookup.push_bind(values).push("::text[]");
            }
        }
    }
    lookup.push(format!(
        ") AS k({alias}) WHERE NOT EXISTS (SELECT 1 FROM {} t WHERE {condition})",
        table.name
    ));
    lookup.build().fetch_all(&mut *target).await
}

/// The key columns at the start of a row of [`find_missing`], as `(a, b)`.
fn key_text(row: &PgRow, key: &[&Column]) -> Result<String, sqlx::Error> {
    let values = key
        .iter()
        .enumerate()
        .map(|(i, column)| match column.kind {
            Kind::Int => row
                .try_get::<Option<i64>, _>(i)
                .map(|v| Value::Int(v).display()),
            _ => row
                .try_get::<Option<String>, _>(i)
                .map(|v| Value::Text(v).display()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(format!("({})", values.join(", ")))
}
