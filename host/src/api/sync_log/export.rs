//! The CSV and NDJSON exports of the sync log: every entry matching the filters, newest
//! first, streamed page by page so an export of millions of entries never sits in
//! memory. Pages are read by the same cursor as the JSON API (ids below the last one
//! seen), so entries written or pruned during an export are neither doubled nor skipped
//! among the rest.

use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, VARY};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Serialize;

use super::LogEntryView;
use super::accept::Format;
use crate::store::{LogFilter, LogPage, Store, StoreError};

/// Entries read per page of an export (the JSON API's largest page).
const PAGE: i64 = 1000;

/// The CSV header: the JSON entries' keys, in their order (a unit test holds them equal).
pub const CSV_FIELDS: [&str; 17] = [
    "id",
    "at",
    "invoice_id",
    "document_type",
    "document_id",
    "connection_id",
    "provider",
    "kind",
    "job_id",
    "event_id",
    "attempt",
    "status",
    "response_code",
    "error",
    "erp_record_id",
    "duration_ms",
    "guest_logs",
];

/// Why an export stopped midway; the client sees the body end early, the log says why.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading the next page of the sync log failed: {0}")]
    Store(#[from] StoreError),
    #[error("encoding a sync-log entry as {format} failed: {message}")]
    Encode {
        format: &'static str,
        message: String,
    },
}

/// An export under way: what is left to read and how to write it.
pub struct Export {
    store: Store,
    tenant_id: String,
    /// The filters; its `before_id` moves down page by page.
    filter: LogFilter,
    /// Entries still to send (`limit`), if capped.
    remaining: Option<i64>,
    format: Format,
    /// The first page, read before answering (so a failing database is a 503, not a
    /// cut-off 200); `None` once sent.
    first: Option<LogPage>,
}

impl Export {
    /// Starts an export of `tenant_id`'s entries matching `filter` (from its cursor, if
    /// any), at most `limit` of them when given, and reads the first page.
    pub async fn start(
        store: Store,
        tenant_id: String,
        mut filter: LogFilter,
        limit: Option<i64>,
        format: Format,
    ) -> Result<Export, StoreError> {
        filter.limit = limit.map_or(PAGE, |l| l.min(PAGE));
        let first = store.query_log(&tenant_id, &filter).await?;
        Ok(Export {
            store,
            tenant_id,
            filter,
            remaining: limit,
            format,
            first: Some(first),
        })
    }

    /// The streaming response: its media type, and the body written page by page.
    pub fn into_response(self) -> Response {
        let (content_type, file) = match self.format {
            Format::Csv => ("text/csv; charset=utf-8", "sync-log.csv"),
            Format::Ndjson(media) => (media, "sync-log.ndjson"),
            Format::Json => ("application/json", "sync-log.json"),
        };
        let header = (self.format == Format::Csv).then(csv_header);
        let pages = futures_util::stream::try_unfold(Some(self), |export| async move {
            let Some(export) = export else {
                return Ok(None);
            };
            export.next_chunk().await.inspect_err(|e| {
                tracing::error!(error = %e, "a sync-log export stopped early");
            })
        });
        let body = futures_util::stream::iter(header.map(Ok)).chain(pages);
        (
            [
                (CONTENT_TYPE, content_type.to_string()),
                (
                    CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{file}\""),
                ),
                (VARY, "Accept".to_string()),
            ],
            Body::from_stream(body),
        )
            .into_response()
    }

    /// The next page, encoded, and what remains (`None` after the last page).
    async fn next_chunk(mut self) -> Result<Option<(Bytes, Option<Export>)>, ExportError> {
        let page_size = self.remaining.map_or(PAGE, |r| r.min(PAGE));
        if page_size <= 0 {
            return Ok(None);
        }
        let page = match self.first.take() {
            Some(page) => page,
            None => {
                self.filter.limit = page_size;
                self.store.query_log(&self.tenant_id, &self.filter).await?
            }
        };
        let mut entries = page.entries;
        entries.truncate(page_size as usize);
        let last_id = entries.last().map(|e| e.id);
        let views: Vec<LogEntryView> = entries.into_iter().map(Into::into).collect();
        let chunk = encode(self.format, &views)?;
        self.remaining = self.remaining.map(|r| r - views.len() as i64);
        let more = page.next_before_id.is_some() && self.remaining.is_none_or(|r| r > 0);
        self.filter.before_id = last_id;
        Ok(Some((Bytes::from(chunk), more.then_some(self))))
    }
}

/// The CSV header row.
fn csv_header() -> Bytes {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = w.write_record(CSV_FIELDS);
    Bytes::from(w.into_inner().unwrap_or_default())
}

/// `entries` as CSV records (no header) or NDJSON lines.
fn encode<T: Serialize>(format: Format, entries: &[T]) -> Result<Vec<u8>, ExportError> {
    let failed = |format, e: &dyn std::fmt::Display| ExportError::Encode {
        format,
        message: e.to_string(),
    };
    match format {
        Format::Csv => {
            let mut w = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(Vec::new());
            for entry in entries {
                w.serialize(entry).map_err(|e| failed("CSV", &e))?;
            }
            w.into_inner().map_err(|e| failed("CSV", &e))
        }
        Format::Ndjson(_) | Format::Json => {
            let mut out = Vec::new();
            for entry in entries {
                serde_json::to_writer(&mut out, entry).map_err(|e| failed("NDJSON", &e))?;
                out.push(b'\n');
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{LogKind, LogStatus, Provider};

    /// The CSV header names the JSON keys in the JSON order: serde writes the struct's
    /// fields in declaration order, which a CSV with headers shows.
    #[test]
    fn csv_header_is_the_json_keys_in_order() {
        let entry = LogEntryView {
            id: "1".into(),
            at: "2026-01-01T00:00:00.000Z".into(),
            invoice_id: None,
            document_type: None,
            document_id: None,
            connection_id: "c".into(),
            provider: Provider::ALL[0],
            kind: LogKind::ALL[0],
            job_id: None,
            event_id: None,
            attempt: 1,
            status: LogStatus::ALL[0],
            response_code: None,
            error: Some("a \"quoted\", comma".into()),
            erp_record_id: None,
            duration_ms: 3,
            guest_logs: None,
        };
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(&entry).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let header = String::from_utf8(csv_header().to_vec()).unwrap();
        assert_eq!(text.lines().next(), header.lines().next());
        let body = String::from_utf8(encode(Format::Csv, &[&entry]).unwrap()).unwrap();
        assert_eq!(text.lines().nth(1), body.lines().next());
    }
}
