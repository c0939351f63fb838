//! The reads both backends make the same way, written once: each runs one sqlx query
//! on whichever pool the store has (SQLite's read pool, or PostgreSQL's pool). The SQL
//! uses `$N` placeholders, which sqlx binds on both. What differs per backend (writes,
//! claims, the API-key cache, hosts and shared limits) stays in [`super::sqlite`] and
//! [`super::postgres`].

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, PgPool, SqlitePool};

use super::ledger::{PREREQUISITE_SQL, prerequisite};
use super::rows::{CONNECTION_COLUMNS, RawConnection, TRANSFORM_COLUMNS, one_connection_message};
use super::{
    Backend, ConnectionRow, DocumentRef, DocumentState, ErpRecord, LinkedDocument, LogFilter,
    LogPage, LogRow, Prerequisite, Store, StoreError, StoreResult, SyncStateRow, Tenant,
    TransformRow, VersionInfo, parse_json,
};

/// A pool of either backend.
#[derive(Clone, Copy)]
pub(super) enum Reader<'a> {
    Sqlite(&'a SqlitePool),
    Postgres(&'a PgPool),
}

/// Evaluates `$body` with `$pool` bound to the reader's pool, whichever it is: the same
/// query text and binds serve both backends.
macro_rules! on_pool {
    ($reader:expr, |$pool:ident| $body:expr) => {
        match $reader {
            Reader::Sqlite($pool) => $body,
            Reader::Postgres($pool) => $body,
        }
    };
}
pub(super) use on_pool;

/// A row type sqlx reads on either backend.
pub(super) trait AnyRow:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> AnyRow for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

/// The rows `sql` reads with its `$N` placeholders bound to `binds`, in order.
async fn rows<T: AnyRow>(r: Reader<'_>, sql: &str, binds: &[&str]) -> StoreResult<Vec<T>> {
    Ok(on_pool!(r, |pool| {
        let query = binds.iter().fold(sqlx::query_as(sql), |q, b| q.bind(*b));
        query.fetch_all(pool).await
    })?)
}

/// The row `sql` reads (see [`rows`]), if there is one.
async fn row<T: AnyRow>(r: Reader<'_>, sql: &str, binds: &[&str]) -> StoreResult<Option<T>> {
    Ok(on_pool!(r, |pool| {
        let query = binds.iter().fold(sqlx::query_as(sql), |q, b| q.bind(*b));
        query.fetch_optional(pool).await
    })?)
}

/// The row `sql` reads (see [`rows`]), or that `what` was not found.
async fn found<T: AnyRow>(r: Reader<'_>, sql: &str, binds: &[&str], what: &str) -> StoreResult<T> {
    row(r, sql, binds)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("{what} not found")))
}

/// The number a `SELECT COUNT(*)` reads.
async fn count(r: Reader<'_>, sql: &str) -> StoreResult<i64> {
    let (n,) = found(r, sql, &[], "count").await?;
    Ok(n)
}

/// One `noun` of a tenant, from the table `{noun}s`; another tenant's id is simply not
/// found.
async fn of_tenant<T: AnyRow>(
    r: Reader<'_>,
    noun: &str,
    columns: &str,
    tenant_id: &str,
    id: &str,
) -> StoreResult<T> {
    let sql = format!("SELECT {columns} FROM {noun}s WHERE tenant_id = $1 AND id = $2");
    found(r, &sql, &[tenant_id, id], &format!("{noun} {id}")).await
}

/// One connection of a tenant; another tenant's id is simply not found.
pub(super) async fn connection(
    r: Reader<'_>,
    tenant_id: &str,
    id: &str,
) -> StoreResult<ConnectionRow> {
    of_tenant::<RawConnection>(r, "connection", CONNECTION_COLUMNS, tenant_id, id)
        .await?
        .try_into()
}

/// One tenant by id.
pub(super) async fn tenant(r: Reader<'_>, tenant_id: &str) -> StoreResult<Tenant> {
    let sql = "SELECT id, name, multi_erp FROM tenants WHERE id = $1";
    found(r, sql, &[tenant_id], &format!("tenant {tenant_id}")).await
}

/// One transform of a tenant.
pub(super) async fn transform(
    r: Reader<'_>,
    tenant_id: &str,
    id: &str,
) -> StoreResult<TransformRow> {
    of_tenant(r, "transform", TRANSFORM_COLUMNS, tenant_id, id).await
}

/// Refuses early (before any test delivery) when a new connection would break the
/// one-connection rule; inserting checks again atomically.
pub(super) async fn check_connection_allowed(r: Reader<'_>, tenant_id: &str) -> StoreResult<()> {
    if tenant(r, tenant_id).await?.multi_erp {
        return Ok(());
    }
    let sql =
        "SELECT id FROM connections WHERE tenant_id = $1 AND status != 'disconnected' LIMIT 1";
    match row::<(String,)>(r, sql, &[tenant_id]).await? {
        Some((existing,)) => Err(StoreError::Conflict(one_connection_message(&existing))),
        None => Ok(()),
    }
}

impl Store {
    /// The pool the shared reads run on.
    pub(super) fn reader(&self) -> Reader<'_> {
        match &self.backend {
            Backend::Sqlite(s) => Reader::Sqlite(s.reader()),
            Backend::Postgres(p) => Reader::Postgres(p.pool()),
        }
    }

    /// How many tenants exist; `serve --dev` only creates one on an empty database.
    pub async fn tenant_count(&self) -> StoreResult<i64> {
        count(self.reader(), "SELECT COUNT(*) FROM tenants").await
    }

    /// One tenant by id.
    pub async fn tenant(&self, tenant_id: &str) -> StoreResult<Tenant> {
        tenant(self.reader(), tenant_id).await
    }

    /// Refuses early (before any test delivery) when a new connection would break the
    /// one-connection rule; [`Store::insert_connection`] checks again atomically.
    pub async fn check_connection_allowed(&self, tenant_id: &str) -> StoreResult<()> {
        check_connection_allowed(self.reader(), tenant_id).await
    }

    /// One connection of a tenant; another tenant's id is simply not found.
    pub async fn connection(&self, tenant_id: &str, id: &str) -> StoreResult<ConnectionRow> {
        connection(self.reader(), tenant_id, id).await
    }

    /// A connection by id alone, for the worker (which already holds a tenant-scoped job).
    pub async fn connection_by_id(&self, id: &str) -> StoreResult<ConnectionRow> {
        let sql = format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1");
        found::<RawConnection>(self.reader(), &sql, &[id], &format!("connection {id}"))
            .await?
            .try_into()
    }

    /// Every connection of a tenant, newest first.
    pub async fn list_connections(&self, tenant_id: &str) -> StoreResult<Vec<ConnectionRow>> {
        let sql = format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE tenant_id = $1 ORDER BY created_ms DESC, id DESC"
        );
        let raw: Vec<RawConnection> = rows(self.reader(), &sql, &[tenant_id]).await?;
        raw.into_iter().map(TryInto::try_into).collect()
    }

    /// The ERP record mapped to a local object, if any.
    pub async fn erp_record(
        &self,
        account: &str,
        tenant_id: &str,
        kind: &str,
        local_id: &str,
    ) -> StoreResult<Option<ErpRecord>> {
        let sql = "SELECT remote_id, version FROM erp_records
                   WHERE account = $1 AND tenant_id = $2 AND kind = $3 AND local_id = $4";
        row(self.reader(), sql, &[account, tenant_id, kind, local_id]).await
    }

    /// A document, its versions and its sync state per connection.
    pub async fn document_state(
        &self,
        tenant_id: &str,
        document: &DocumentRef,
    ) -> StoreResult<DocumentState> {
        let r = self.reader();
        let ids = [tenant_id, document.doc_type.as_str(), document.id.as_str()];
        let (version, body): (i64, String) = found(
            r,
            "SELECT d.version, v.body FROM documents d
             JOIN document_versions v ON v.tenant_id = d.tenant_id AND v.doc_type = d.doc_type
              AND v.document_id = d.id AND v.version = d.version
             WHERE d.tenant_id = $1 AND d.doc_type = $2 AND d.id = $3",
            &ids,
            &document.to_string(),
        )
        .await?;
        let versions: Vec<VersionInfo> = rows(
            r,
            "SELECT version, status, content_hash, received_ms FROM document_versions
             WHERE tenant_id = $1 AND doc_type = $2 AND document_id = $3 ORDER BY version",
            &ids,
        )
        .await?;
        Ok(DocumentState {
            document: parse_json("document_versions.body", &body)?,
            version,
            versions,
            sync: self.sync_states(tenant_id, document).await?,
        })
    }

    /// The latest job of a document to each connection: its sync state there.
    async fn sync_states(
        &self,
        tenant_id: &str,
        document: &DocumentRef,
    ) -> StoreResult<Vec<SyncStateRow>> {
        rows(
            self.reader(),
            "SELECT connection_id, id AS job_id, version, event_id, event_type, state, attempts, last_code,
                    last_error, updated_ms
             FROM jobs j WHERE tenant_id = $1 AND doc_type = $2 AND document_id = $3
               AND seq = (SELECT MAX(seq) FROM jobs k WHERE k.connection_id = j.connection_id
                          AND k.document_id = j.document_id AND k.doc_type = j.doc_type)
             ORDER BY connection_id",
            &[tenant_id, document.doc_type.as_str(), document.id.as_str()],
        )
        .await
    }

    /// The documents that apply to `target` (the credit notes, payments and refunds of an
    /// invoice, the refunds of a credit note), each with its status and sync state.
    pub async fn documents_applied_to(
        &self,
        tenant_id: &str,
        target: &DocumentRef,
    ) -> StoreResult<Vec<LinkedDocument>> {
        let found: Vec<(String, String, Option<String>, String)> = rows(
            self.reader(),
            "SELECT l.doc_type, l.document_id, l.amount, d.status
             FROM document_links l JOIN documents d
               ON d.tenant_id = l.tenant_id AND d.doc_type = l.doc_type AND d.id = l.document_id
             WHERE l.tenant_id = $1 AND l.target_type = $2 AND l.target_id = $3
             ORDER BY l.doc_type, l.document_id",
            &[tenant_id, target.doc_type.as_str(), target.id.as_str()],
        )
        .await?;
        let mut linked = Vec::with_capacity(found.len());
        for (doc_type, id, amount, status) in found {
            let document = DocumentRef {
                doc_type: super::rows::doc_type_of(&doc_type)?,
                id,
            };
            let sync = self.sync_states(tenant_id, &document).await?;
            linked.push(LinkedDocument {
                document,
                amount,
                status,
                sync,
            });
        }
        Ok(linked)
    }

    /// Where each of `documents` stands on one connection, in order: whether a delivery
    /// of it succeeded there, FAILED there, or has yet to happen.
    pub async fn prerequisites(
        &self,
        connection_id: &str,
        documents: &[DocumentRef],
    ) -> StoreResult<Vec<Prerequisite>> {
        let mut states = Vec::with_capacity(documents.len());
        for d in documents {
            let binds = [connection_id, d.id.as_str(), d.doc_type.as_str()];
            let (synced, latest): (bool, Option<String>) =
                found(self.reader(), PREREQUISITE_SQL, &binds, "the prerequisite").await?;
            states.push(prerequisite(synced, latest.as_deref()));
        }
        Ok(states)
    }

    /// Jobs waiting or in flight, per state; backs the queue-depth metric.
    pub async fn queue_depth(&self) -> StoreResult<Vec<(String, i64)>> {
        let sql =
            "SELECT state, COUNT(*) FROM jobs WHERE state IN ('pending', 'leased') GROUP BY state";
        rows(self.reader(), sql, &[]).await
    }

    /// Jobs still leased; after a graceful shutdown this must be zero.
    pub async fn leased_count(&self) -> StoreResult<i64> {
        count(
            self.reader(),
            "SELECT COUNT(*) FROM jobs WHERE state = 'leased'",
        )
        .await
    }

    /// A page of a tenant's log, filtered.
    pub async fn query_log(&self, tenant_id: &str, f: &LogFilter) -> StoreResult<LogPage> {
        let entries: Vec<LogRow> = on_pool!(self.reader(), |pool| {
            f.query(tenant_id).build_query_as().fetch_all(pool).await
        })?;
        Ok(LogPage::from_rows(entries, f.limit))
    }

    /// One transform of a tenant.
    pub async fn transform(&self, tenant_id: &str, id: &str) -> StoreResult<TransformRow> {
        transform(self.reader(), tenant_id, id).await
    }

    /// Every transform of a tenant, newest first.
    pub async fn list_transforms(&self, tenant_id: &str) -> StoreResult<Vec<TransformRow>> {
        let sql = format!(
            "SELECT {TRANSFORM_COLUMNS} FROM transforms WHERE tenant_id = $1 ORDER BY created_ms DESC, id DESC"
        );
        rows(self.reader(), &sql, &[tenant_id]).await
    }

    /// A component's bytes by content hash.
    pub async fn wasm_bytes(&self, sha256: &str) -> StoreResult<Vec<u8>> {
        let sql = "SELECT bytes FROM wasm_modules WHERE sha256 = $1";
        let (bytes,) = found(
            self.reader(),
            sql,
            &[sha256],
            &format!("component {sha256}"),
        )
        .await?;
        Ok(bytes)
    }

    /// The tweak transform applied to a customer's invoices, if any.
    pub async fn customer_tweak(
        &self,
        tenant_id: &str,
        customer_id: &str,
    ) -> StoreResult<Option<TransformRow>> {
        let sql =
            "SELECT t.id, t.tenant_id, t.name, t.world, t.export, t.sha256, t.size, t.created_ms
                   FROM customer_tweaks c JOIN transforms t ON t.id = c.transform_id
                   WHERE c.tenant_id = $1 AND c.customer_id = $2";
        row(self.reader(), sql, &[tenant_id, customer_id]).await
    }
}
