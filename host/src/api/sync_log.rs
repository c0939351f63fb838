//! `GET /v1/sync-log`: the audit trail, filtered and paged newest first; with
//! `Accept: text/csv` or NDJSON, an export of every matching entry ([`export`]).

mod accept;
mod export;

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::VARY;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::auth::AuthTenant;
use super::error::ApiError;
use super::{AppState, time};
use crate::domain::DocumentType;
use crate::store::{LogFilter, LogKind, LogRow, LogStatus, Provider};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/sync-log", get(list))
}

/// One attempt, test or cancellation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LogEntryView {
    pub id: String,
    /// When the attempt ended (RFC 3339, UTC).
    pub at: String,
    /// The invoice's id, for entries about an invoice.
    pub invoice_id: Option<String>,
    /// `invoice`, `credit_note`, `payment`, `refund` or `customer`; none for a test sync.
    pub document_type: Option<String>,
    pub document_id: Option<String>,
    pub connection_id: String,
    pub provider: Provider,
    /// `sync`, `test` or `manual`.
    pub kind: LogKind,
    pub job_id: Option<String>,
    pub event_id: Option<String>,
    pub attempt: i64,
    /// `SUCCESS` or `FAILED`.
    pub status: LogStatus,
    pub response_code: Option<i64>,
    pub error: Option<String>,
    pub erp_record_id: Option<String>,
    pub duration_ms: i64,
    /// What a Wasm transform printed during the attempt (bounded), if one ran.
    pub guest_logs: Option<String>,
}

impl From<LogRow> for LogEntryView {
    fn from(r: LogRow) -> Self {
        LogEntryView {
            id: r.id.to_string(),
            at: time(r.at_ms),
            invoice_id: r.invoice_id,
            document_type: r.document_type,
            document_id: r.document_id,
            connection_id: r.connection_id,
            provider: r.provider,
            kind: r.kind,
            job_id: r.job_id,
            event_id: r.event_id,
            attempt: r.attempt,
            status: r.status,
            response_code: r.response_code,
            error: r.error,
            erp_record_id: r.erp_record_id,
            duration_ms: r.duration_ms,
            guest_logs: r.guest_logs,
        }
    }
}

/// A page of the sync log.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LogPageView {
    pub entries: Vec<LogEntryView>,
    /// Pass as `cursor` to get the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

fn bad_param(name: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(
        "invalid_parameter",
        format!("query parameter {name}: {message}"),
    )
    .with_details(vec![
        serde_json::json!({"field": name, "message": message.to_string()}),
    ])
}

fn parse_time(name: &str, value: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            bad_param(
                name,
                format!("must be an RFC 3339 time such as 2026-11-01T00:00:00Z ({e})"),
            )
        })
}

/// Parses the query string; unknown parameters are refused so a typo cannot silently
/// return everything. `limit` may be at most `max_limit`; it is also answered on its own
/// (`None` when absent), since an export without one has no cap.
fn parse_filter(
    params: HashMap<String, String>,
    max_limit: i64,
) -> Result<(LogFilter, Option<i64>), ApiError> {
    let mut limit = None;
    let mut f = LogFilter {
        limit: DEFAULT_LIMIT,
        ..LogFilter::default()
    };
    for (name, value) in params {
        match name.as_str() {
            "from" => f.from_ms = Some(parse_time("from", &value)?),
            "to" => f.to_ms = Some(parse_time("to", &value)?),
            "status" => {
                let status = LogStatus::parse(&value.to_ascii_uppercase())
                    .ok_or_else(|| bad_param("status", "must be SUCCESS or FAILED"))?;
                f.status = Some(status);
            }
            "invoice_id" => f.invoice_id = Some(value),
            "document_type" => {
                let t = DocumentType::from_code(&value).ok_or_else(|| {
                    bad_param(
                        "document_type",
                        "must be invoice, credit_note, payment, refund or customer",
                    )
                })?;
                f.document_type = Some(t);
            }
            "document_id" => f.document_id = Some(value),
            "connection_id" => f.connection_id = Some(value),
            "limit" => {
                let l = value
                    .parse::<i64>()
                    .ok()
                    .filter(|l| (1..=max_limit).contains(l))
                    .ok_or_else(|| {
                        bad_param(
                            "limit",
                            format!("must be a whole number from 1 to {max_limit}"),
                        )
                    })?;
                f.limit = l;
                limit = Some(l);
            }
            "cursor" => {
                f.before_id = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| bad_param("cursor", "is not a cursor this API returned"))?,
                );
            }
            other => {
                return Err(bad_param(
                    other,
                    "is not a filter (known: from, to, status, invoice_id, document_type, document_id, connection_id, limit, cursor)",
                ));
            }
        }
    }
    if let (Some(from), Some(to)) = (f.from_ms, f.to_ms)
        && from > to
    {
        return Err(bad_param("from", "must not be after `to`"));
    }
    Ok((f, limit))
}

/// Lists sync-log entries newest first. `from` is inclusive, `to` exclusive.
///
/// The `Accept` header chooses the answer: a JSON page (`application/json`, `*/*` or no
/// header), or an export of every entry matching the filters, newest first, streamed:
/// CSV (`text/csv`, a header row of the entry fields) or NDJSON (`application/x-ndjson`
/// or `application/ndjson`, one entry per line). An export starts at `cursor` if given
/// and stops after `limit` entries if given (no upper bound). Other types: 406.
#[utoipa::path(get, path = "/v1/sync-log", tag = "sync-log",
    params(
        ("from" = Option<String>, Query, description = "RFC 3339; entries at or after"),
        ("to" = Option<String>, Query, description = "RFC 3339; entries before"),
        ("status" = Option<String>, Query, description = "SUCCESS or FAILED"),
        ("invoice_id" = Option<String>, Query),
        ("document_type" = Option<String>, Query, description = "invoice, credit_note, payment, refund or customer"),
        ("document_id" = Option<String>, Query),
        ("connection_id" = Option<String>, Query),
        ("limit" = Option<i64>, Query, description = "JSON: 1..1000, default 100. Export: caps the entries exported (default: all)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "A JSON page, or a CSV or NDJSON export of every matching entry, as `Accept` asks",
            content(
                (LogPageView = "application/json"),
                (String = "text/csv", example = "id,at,invoice_id,document_type,document_id,connection_id,provider,kind,job_id,event_id,attempt,status,response_code,error,erp_record_id,duration_ms,guest_logs\n"),
                (LogEntryView = "application/x-ndjson"),
                (LogEntryView = "application/ndjson"),
            )),
        (status = 400, body = super::error::ErrorBody),
        (status = 406, description = "`Accept` names none of the supported types", body = super::error::ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let format = accept::negotiate(&headers)?;
    if format != accept::Format::Json {
        let (filter, limit) = parse_filter(params, i64::MAX)?;
        let export = export::Export::start(state.store, tenant.id, filter, limit, format).await?;
        return Ok(export.into_response());
    }
    let (filter, _) = parse_filter(params, MAX_LIMIT)?;
    let page = state.store.query_log(&tenant.id, &filter).await?;
    let view = LogPageView {
        entries: page.entries.into_iter().map(Into::into).collect(),
        next_cursor: page.next_before_id.map(|id| id.to_string()),
    };
    Ok(([(VARY, "Accept")], Json(view)).into_response())
}
