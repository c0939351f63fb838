//! The tables `migrate-store` copies: the SQLite schema of `migrations/sqlite`, restated
//! column by column so that rows are copied exactly as stored. A test checks it against
//! the migrations, so a migration that adds a table or a column must add it here too.

use super::MAX_BATCH_ROWS;

/// How a column is read from SQLite and written to PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// TEXT -> TEXT.
    Text,
    /// INTEGER -> BIGINT.
    Int,
    /// BLOB -> BYTEA.
    Blob,
    /// INTEGER 0/1 -> BOOLEAN.
    Bool,
}

/// One column of a copied table.
pub(super) struct Column {
    pub(super) name: &'static str,
    pub(super) kind: Kind,
}

// Shorthands for the catalogue below: text, integer, blob and boolean columns.
const fn column(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}
const fn t(name: &'static str) -> Column {
    column(name, Kind::Text)
}
const fn i(name: &'static str) -> Column {
    column(name, Kind::Int)
}
const fn b(name: &'static str) -> Column {
    column(name, Kind::Blob)
}
const fn flag(name: &'static str) -> Column {
    column(name, Kind::Bool)
}

/// One copied table: the columns of `migrations/sqlite` (the PostgreSQL table has the
/// same names; extra PostgreSQL columns keep their defaults).
pub(super) struct Table {
    pub(super) name: &'static str,
    pub(super) columns: &'static [Column],
    /// The primary key: the order of the batches and what a target row must match.
    pub(super) key: &'static [&'static str],
    /// Further columns a target row must match to count as this source row, where the
    /// key alone is a number the target may have given to another row.
    pub(super) also_match: &'static [&'static str],
    /// Whether keys may be printed (not for tables whose keys are credentials).
    pub(super) show_keys: bool,
    /// Rows in the first batch, before the row size is known.
    pub(super) first_batch: usize,
    /// The column numbered by an identity sequence, which the target must move past the
    /// copied numbers.
    pub(super) identity: Option<&'static str>,
}

/// Every table, in foreign-key order.
pub(super) const TABLES: &[Table] = &[
    Table::new(
        "tenants",
        &["id"],
        &[
            t("id"),
            t("name"),
            flag("multi_erp"),
            i("created_ms"),
            t("alert_url"),
            b("alert_secret"),
        ],
    ),
    Table::new(
        "api_keys",
        &["key_hash"],
        &[t("key_hash"), t("tenant_id"), i("created_ms")],
    )
    .with_hidden_keys(),
    Table::new(
        "connections",
        &["id"],
        &[
            t("id"),
            t("tenant_id"),
            t("provider"),
            t("name"),
            t("entity"),
            t("status"),
            t("config"),
            b("secrets"),
            t("last_test"),
            i("created_ms"),
            i("updated_ms"),
        ],
    ),
    Table::new(
        "documents",
        &["tenant_id", "doc_type", "id"],
        &[
            t("tenant_id"),
            t("doc_type"),
            t("id"),
            i("version"),
            t("content_hash"),
            t("status"),
            t("entity"),
            i("updated_ms"),
        ],
    ),
    Table::new(
        "document_versions",
        &["tenant_id", "doc_type", "document_id", "version"],
        &[
            t("tenant_id"),
            t("doc_type"),
            t("document_id"),
            i("version"),
            t("content_hash"),
            t("status"),
            t("body"),
            i("received_ms"),
        ],
    ),
    Table::new(
        "document_links",
        &[
            "tenant_id",
            "target_type",
            "target_id",
            "doc_type",
            "document_id",
        ],
        &[
            t("tenant_id"),
            t("target_type"),
            t("target_id"),
            t("doc_type"),
            t("document_id"),
            t("amount"),
        ],
    ),
    Table::new(
        "jobs",
        &["seq"],
        &[
            i("seq"),
            t("id"),
            t("tenant_id"),
            t("connection_id"),
            t("document_id"),
            i("version"),
            t("event_id"),
            t("event_type"),
            t("kind"),
            i("event_ms"),
            t("state"),
            i("attempts"),
            i("run_at_ms"),
            t("lease_token"),
            i("lease_until_ms"),
            t("last_error"),
            i("last_code"),
            i("created_ms"),
            i("updated_ms"),
            t("doc_type"),
            t("recovery_id"),
        ],
    )
    .with_also_match(&["id"])
    .with_identity("seq"),
    Table::new(
        "sync_log",
        &["id"],
        &[
            i("id"),
            t("tenant_id"),
            i("at_ms"),
            t("invoice_id"),
            t("connection_id"),
            t("provider"),
            t("kind"),
            t("job_id"),
            t("event_id"),
            i("attempt"),
            t("status"),
            i("response_code"),
            t("error"),
            t("erp_record_id"),
            i("duration_ms"),
            t("guest_logs"),
            t("document_type"),
            t("document_id"),
        ],
    )
    .with_also_match(&["tenant_id", "at_ms", "connection_id", "attempt"])
    .with_identity("id"),
    Table::new(
        "wasm_modules",
        &["sha256"],
        &[t("sha256"), b("bytes"), i("created_ms")],
    )
    // A component may be several MiB.
    .with_first_batch(1),
    Table::new(
        "transforms",
        &["id"],
        &[
            t("id"),
            t("tenant_id"),
            t("name"),
            t("world"),
            t("export"),
            t("sha256"),
            i("size"),
            i("created_ms"),
        ],
    ),
    Table::new(
        "customer_tweaks",
        &["tenant_id", "customer_id"],
        &[
            t("tenant_id"),
            t("customer_id"),
            t("transform_id"),
            i("updated_ms"),
        ],
    ),
    Table::new(
        "oauth_states",
        &["state"],
        &[
            t("state"),
            t("tenant_id"),
            t("connection_id"),
            t("provider"),
            b("verifier"),
            i("expires_ms"),
            i("used_ms"),
        ],
    )
    .with_hidden_keys(),
    Table::new(
        "erp_records",
        &["account", "tenant_id", "kind", "local_id"],
        &[
            t("account"),
            t("tenant_id"),
            t("kind"),
            t("local_id"),
            t("remote_id"),
            t("version"),
            i("updated_ms"),
        ],
    ),
    Table::new(
        "recoveries",
        &["id"],
        &[
            t("id"),
            t("tenant_id"),
            t("connection_id"),
            i("since_ms"),
            i("until_ms"),
            i("max_per_second"),
            i("count"),
            i("created_ms"),
            i("done_ms"),
        ],
    ),
    Table::new(
        "alerts",
        &["id"],
        &[
            t("id"),
            t("tenant_id"),
            t("type"),
            t("connection_id"),
            t("body"),
            i("created_ms"),
            i("closed_ms"),
            i("attempts"),
            i("next_ms"),
            i("delivered_ms"),
            t("last_error"),
        ],
    ),
];

impl Table {
    /// A table matched by its key alone, with printable keys, and a first batch of 16
    /// rows; the `with_` methods below say where a table differs.
    const fn new(
        name: &'static str,
        key: &'static [&'static str],
        columns: &'static [Column],
    ) -> Table {
        Table {
            name,
            columns,
            key,
            also_match: &[],
            show_keys: true,
            first_batch: 16,
            identity: None,
        }
    }

    const fn with_also_match(self, also_match: &'static [&'static str]) -> Table {
        Table { also_match, ..self }
    }

    const fn with_hidden_keys(self) -> Table {
        Table {
            show_keys: false,
            ..self
        }
    }

    const fn with_first_batch(self, first_batch: usize) -> Table {
        Table {
            first_batch,
            ..self
        }
    }

    const fn with_identity(self, column: &'static str) -> Table {
        Table {
            identity: Some(column),
            ..self
        }
    }

    /// Where the column `name` is in [`Table::columns`].
    pub(super) fn index(&self, name: &str) -> usize {
        self.columns
            .iter()
            .position(|c| c.name == name)
            .expect("a column of the table")
    }

    /// The column `name`.
    pub(super) fn column(&self, name: &str) -> &Column {
        &self.columns[self.index(name)]
    }

    /// The columns a target row must match: the key, then `also_match`.
    pub(super) fn match_columns(&self) -> Vec<&Column> {
        self.key
            .iter()
            .chain(self.also_match)
            .map(|name| self.column(name))
            .collect()
    }

    /// Most rows in one batch: [`MAX_BATCH_ROWS`], fewer for a table so wide that one
    /// `INSERT` would pass PostgreSQL's limit of bind parameters.
    pub(super) fn max_batch_rows(&self) -> usize {
        MAX_BATCH_ROWS.min(60_000 / self.columns.len())
    }

    /// `SELECT <columns> FROM <table> [WHERE (<key>) > (?, …)] ORDER BY <key> LIMIT ?`.
    pub(super) fn keyset_sql(&self, columns: &str, after: bool) -> String {
        let key = self.key.join(", ");
        let mut sql = format!("SELECT {columns} FROM {} ", self.name);
        if after {
            let marks = vec!["?"; self.key.len()].join(", ");
            sql.push_str(&format!("WHERE ({key}) > ({marks}) "));
        }
        sql.push_str(&format!("ORDER BY {key} LIMIT ?"));
        sql
    }

    /// The table `name` of [`TABLES`].
    #[cfg(test)]
    pub(super) fn named(name: &str) -> &'static Table {
        TABLES
            .iter()
            .find(|t| t.name == name)
            .expect("a copied table")
    }
}

/// A list of column names for SQL.
pub(super) fn column_list<'a>(columns: impl IntoIterator<Item = &'a Column>) -> String {
    columns
        .into_iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use sqlx::{Connection, SqliteConnection};

    use super::*;

    #[test]
    fn every_table_is_consistent() {
        for table in TABLES {
            for column in table.match_columns() {
                assert!(
                    matches!(column.kind, Kind::Text | Kind::Int),
                    "{}.{} is matched, so it must be text or integer",
                    table.name,
                    column.name
                );
            }
            assert!(table.columns.len() * table.max_batch_rows() <= 65_535);
            assert!(table.first_batch >= 1);
            if let Some(identity) = table.identity {
                assert_eq!(table.column(identity).kind, Kind::Int, "{}", table.name);
            }
        }
        let names: Vec<_> = TABLES.iter().map(|t| t.name).collect();
        let position = |n: &str| names.iter().position(|x| *x == n).unwrap();
        // Foreign keys of migrations/postgres: parents first.
        for (child, parent) in [
            ("api_keys", "tenants"),
            ("connections", "tenants"),
            ("transforms", "tenants"),
            ("transforms", "wasm_modules"),
            ("customer_tweaks", "transforms"),
        ] {
            assert!(
                position(parent) < position(child),
                "{parent} before {child}"
            );
        }
    }

    /// The copy list is the SQLite schema: a migration that adds a table or a column
    /// must add it here too, or the copy would silently drop it.
    #[tokio::test]
    async fn tables_are_the_sqlite_schema() {
        let mut db = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::migrate!("./migrations/sqlite")
            .run(&mut db)
            .await
            .unwrap();
        let mut schema: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table'
             AND name NOT LIKE 'sqlite_%' AND name != '_sqlx_migrations'",
        )
        .fetch_all(&mut db)
        .await
        .unwrap();
        schema.sort();
        let mut ours: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        ours.sort();
        assert_eq!(schema, ours);
        for table in TABLES {
            let columns: Vec<(String, String)> =
                sqlx::query_as("SELECT name, type FROM pragma_table_info(?) ORDER BY cid")
                    .bind(table.name)
                    .fetch_all(&mut db)
                    .await
                    .unwrap();
            let expected: Vec<(String, String)> = table
                .columns
                .iter()
                .map(|c| {
                    let ty = match c.kind {
                        Kind::Text => "TEXT",
                        Kind::Int | Kind::Bool => "INTEGER",
                        Kind::Blob => "BLOB",
                    };
                    (c.name.to_string(), ty.to_string())
                })
                .collect();
            assert_eq!(columns, expected, "the columns of {}", table.name);
            let key: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk",
            )
            .bind(table.name)
            .fetch_all(&mut db)
            .await
            .unwrap();
            assert_eq!(key, table.key, "the primary key of {}", table.name);
        }
    }

    #[test]
    fn keyset_queries() {
        assert_eq!(
            Table::named("jobs").keyset_sql("seq, id", true),
            "SELECT seq, id FROM jobs WHERE (seq) > (?) ORDER BY seq LIMIT ?"
        );
        assert_eq!(
            Table::named("document_versions").keyset_sql("body", false),
            "SELECT body FROM document_versions ORDER BY tenant_id, doc_type, document_id, version LIMIT ?"
        );
    }
}
