//! `GET /sync-log`: the audit trail as a table, filtered through the URL (so a view can
//! be shared), paged with the API's cursor; and `GET /sync-log/rows`, the fragment of
//! rows newer than a given entry that `console.js` fetches every two seconds so new
//! attempts appear without a reload. The fragment is HTML rendered (and escaped) here,
//! the same way as the page's rows.
//!
//! The invoice page reuses [`table`] for its attempts timeline.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::Value;

use super::api_client::{self, ApiClient, ApiFailure};
use super::layout::{self, Section};
use super::session::Session;
use super::{ConsoleError, ConsoleState};

/// The filters the page keeps in its URL.
#[derive(Default, Clone)]
pub struct Filters {
    pub from: String,
    pub to: String,
    pub status: String,
    pub invoice_id: String,
    /// `invoice`, `credit_note`, `payment`, `refund` or `customer`; empty for any.
    pub document_type: String,
    pub document_id: String,
    pub connection_id: String,
}

impl Filters {
    fn from_query(q: &HashMap<String, String>) -> Self {
        let get = |n: &str| q.get(n).map(|v| v.trim().to_string()).unwrap_or_default();
        Filters {
            from: get("from"),
            to: get("to"),
            status: get("status"),
            invoice_id: get("invoice_id"),
            document_type: get("document_type"),
            document_id: get("document_id"),
            connection_id: get("connection_id"),
        }
    }

    /// Only this document's entries (a document page's timeline).
    pub fn document(doc_type: &str, id: &str) -> Self {
        Filters {
            document_type: doc_type.to_string(),
            document_id: id.to_string(),
            ..Filters::default()
        }
    }

    /// Only this invoice's entries (the invoice page's timeline).
    pub fn invoice(id: &str) -> Self {
        Filters {
            invoice_id: id.to_string(),
            ..Filters::default()
        }
    }

    /// The console's own query string (dates as the date inputs give them).
    fn console_pairs(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("from", &self.from),
            ("to", &self.to),
            ("status", &self.status),
            ("invoice_id", &self.invoice_id),
            ("document_type", &self.document_type),
            ("document_id", &self.document_id),
            ("connection_id", &self.connection_id),
        ]
    }

    /// The API's query: a day `from` starts at 00:00 UTC, a day `to` includes that day.
    /// Anything not a plain date goes to the API as typed, for its own error words.
    pub(super) fn api_query(&self, extra: &[(&str, &str)]) -> String {
        let day = |v: &str, next: bool| {
            chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .and_then(|d| if next { d.succ_opt() } else { Some(d) })
                .map(|d| format!("{d}T00:00:00Z"))
                .unwrap_or_else(|| v.to_string())
        };
        let from = day(&self.from, false);
        let to = day(&self.to, true);
        let mut pairs: Vec<(&str, &str)> = vec![
            ("from", &from),
            ("to", &to),
            ("status", &self.status),
            ("invoice_id", &self.invoice_id),
            ("document_type", &self.document_type),
            ("document_id", &self.document_id),
            ("connection_id", &self.connection_id),
        ];
        pairs.extend_from_slice(extra);
        format!("/v1/sync-log{}", api_client::query(pairs))
    }
}

/// Connection ids to names, for showing names instead of ids.
pub async fn connection_names(api: &ApiClient, key: &str) -> Result<Vec<Value>, ApiFailure> {
    let list = api.get(key, "/v1/connections").await?;
    Ok(list.as_array().cloned().unwrap_or_default())
}

fn name_of<'a>(connections: &'a [Value], id: &'a str) -> &'a str {
    connections
        .iter()
        .find(|c| c["id"].as_str() == Some(id))
        .and_then(|c| c["name"].as_str())
        .unwrap_or(id)
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or("")
}

fn entry_id(v: &Value) -> i64 {
    text(v, "id").parse().unwrap_or(0)
}

/// The console page of a document: `/invoices/{id}`, or `/documents/{path}/{id}` for
/// the other types.
pub fn document_link(doc_type: &str, id: &str) -> String {
    match crate::domain::DocumentType::from_code(doc_type) {
        Some(crate::domain::DocumentType::Invoice) | None => api_client::path(&["invoices", id]),
        Some(t) => api_client::path(&["documents", crate::documents::api_path(t), id]),
    }
}

/// One table row.
fn row(entry: &Value, connections: &[Value]) -> Markup {
    let doc_type = text(entry, "document_type");
    let document = text(entry, "document_id");
    let connection = text(entry, "connection_id");
    let error = entry["error"].as_str();
    let record = entry["erp_record_id"].as_str();
    let logs = entry["guest_logs"].as_str().filter(|l| !l.is_empty());
    html! {
        tr data-id=(text(entry, "id")) {
            td data-label="Time" { (layout::time(text(entry, "at"))) }
            td data-label="Document" {
                @if document.is_empty() { "—" } @else {
                    a href=(document_link(doc_type, document)) { (document) }
                    @if doc_type != "invoice" { " " span.muted { "(" (doc_type.replace('_', " ")) ")" } }
                }
            }
            td data-label="Connection" {
                a href=(api_client::path(&["connections", connection])) { (name_of(connections, connection)) }
                " " span.muted { "(" (text(entry, "provider")) ")" }
            }
            td.num data-label="Attempt" { (entry["attempt"].as_i64().unwrap_or(0)) }
            td data-label="Kind" { (text(entry, "kind")) }
            td data-label="Status" { (layout::status(text(entry, "status"))) }
            td.num data-label="Response" { @match entry["response_code"].as_i64() { Some(c) => (c), None => "—" } }
            td.num data-label="Duration" { (entry["duration_ms"].as_i64().unwrap_or(0)) " ms" }
            td data-label="Details" {
                @if error.is_some() || record.is_some() || logs.is_some() {
                    details {
                        summary { @if error.is_some() { "Error" } @else { "Details" } }
                        @if let Some(e) = error { pre.wrap { (e) } }
                        @if let Some(r) = record { p { "ERP record: " code { (r) } } }
                        @if let Some(l) = logs { p { "Guest logs:" } pre.wrap { (l) } }
                    }
                } @else { "—" }
            }
        }
    }
}

/// The rows of `entries`, or one "nothing yet" row.
fn body_rows(entries: &[Value], connections: &[Value]) -> Markup {
    html! {
        @for e in entries { (row(e, connections)) }
        @if entries.is_empty() {
            tr.empty { td colspan="9" { "No attempts match yet." } }
        }
    }
}

/// The attempts table; with `poll`, new rows matching it are fetched every 2 s.
pub fn table(entries: &[Value], connections: &[Value], poll: Option<&Filters>) -> Markup {
    let newest = entries.iter().map(entry_id).max().unwrap_or(0);
    let poll_url = poll.map(|f| format!("/sync-log/rows{}", api_client::query(f.console_pairs())));
    html! {
        div.table-wrap {
            table.log {
                caption.visually-hidden { "Sync attempts, newest first" }
                thead { tr {
                    th scope="col" { "Time" } th scope="col" { "Document" } th scope="col" { "Connection" }
                    th scope="col" { "Attempt" } th scope="col" { "Kind" } th scope="col" { "Status" }
                    th scope="col" { "Response" } th scope="col" { "Duration" } th scope="col" { "Details" }
                } }
                @if let Some(url) = poll_url {
                    tbody #log-rows data-poll=(url) data-newest=(newest) aria-live="polite" {
                        (body_rows(entries, connections))
                    }
                } @else {
                    tbody #log-rows { (body_rows(entries, connections)) }
                }
            }
        }
    }
}

fn filter_form(f: &Filters, connections: &[Value]) -> Markup {
    html! {
        form.filters method="get" action="/sync-log" {
            div.field { label for="from" { "From (date, UTC)" } input #from type="date" name="from" value=(f.from); }
            div.field { label for="to" { "To (date, UTC)" } input #to type="date" name="to" value=(f.to); }
            div.field {
                label for="status" { "Status" }
                select #status name="status" {
                    option value="" selected[f.status.is_empty()] { "Any" }
                    option value="SUCCESS" selected[f.status == "SUCCESS"] { "SUCCESS" }
                    option value="FAILED" selected[f.status == "FAILED"] { "FAILED" }
                }
            }
            div.field { label for="invoice_id" { "Invoice id" } input #invoice_id type="text" name="invoice_id" value=(f.invoice_id) spellcheck="false"; }
            div.field {
                label for="document_type" { "Document type" }
                select #document_type name="document_type" {
                    option value="" selected[f.document_type.is_empty()] { "Any" }
                    @for t in crate::domain::DocumentType::ALL {
                        option value=(t.as_str()) selected[f.document_type == t.as_str()] { (t.noun()) }
                    }
                }
            }
            div.field {
                label for="connection_id" { "Connection" }
                select #connection_id name="connection_id" {
                    option value="" selected[f.connection_id.is_empty()] { "Any" }
                    @for c in connections {
                        @let id = text(c, "id");
                        option value=(id) selected[f.connection_id == id] { (text(c, "name")) " (" (text(c, "provider")) ")" }
                    }
                }
            }
            div.actions {
                button type="submit" { "Apply filters" }
                a href="/sync-log" { "Clear" }
            }
        }
    }
}

/// `GET /sync-log`.
pub async fn page(
    State(state): State<ConsoleState>,
    session: Session,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Markup, ConsoleError> {
    let filters = Filters::from_query(&q);
    let cursor = q.get("cursor").map(String::as_str).unwrap_or("");
    // The page size (default 50) is the API's `limit`, kept in the URL like the filters.
    let limit = q.get("limit").map(String::as_str).unwrap_or("");
    let api_limit = if limit.is_empty() { "50" } else { limit };
    let connections = connection_names(&state.api, &session.key).await?;
    let answer = state
        .api
        .get(
            &session.key,
            &filters.api_query(&[("limit", api_limit), ("cursor", cursor)]),
        )
        .await;
    let (entries, next, error) = match answer {
        Ok(page) => (
            page["entries"].as_array().cloned().unwrap_or_default(),
            page["next_cursor"].as_str().map(str::to_string),
            None,
        ),
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => return Err(e.into()),
        Err(e) => (Vec::new(), None, Some(e)),
    };
    let mut newest_page = filters.console_pairs();
    newest_page.push(("limit", limit));
    let mut older = newest_page.clone();
    if let Some(n) = &next {
        older.push(("cursor", n));
    }
    Ok(layout::page(
        "Sync log",
        &session,
        Section::SyncLog,
        html! {
            h1 { "Sync log" }
            p.lead { "Every delivery attempt, test sync and cancellation, newest first. New attempts appear here as they happen." }
            (filter_form(&filters, &connections))
            form.inline method="get" action="/invoices" {
                label for="open_invoice" { "Open invoice" }
                input #open_invoice type="text" name="id" required spellcheck="false";
                button type="submit" { "Open" }
            }
            @if let Some(e) = &error { (layout::error_box(&e.to_string(), &e.detail_lines())) }
            (table(&entries, &connections, if cursor.is_empty() && error.is_none() { Some(&filters) } else { None }))
            nav.pager aria-label="Pages" {
                @if !cursor.is_empty() {
                    a href={ "/sync-log" (api_client::query(newest_page)) } { "Newest" }
                }
                @if next.is_some() {
                    a rel="next" href={ "/sync-log" (api_client::query(older)) } { "Older" }
                }
            }
        },
    ))
}

/// `GET /sync-log/rows?<filters>&after=<id>`: rows newer than `after`, newest first;
/// `X-Newest-Id` says the newest id now shown.
pub async fn rows_fragment(
    state: &ConsoleState,
    session: &Session,
    q: &HashMap<String, String>,
) -> Result<Response, ConsoleError> {
    let filters = Filters::from_query(q);
    let after: i64 = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
    let connections = connection_names(&state.api, &session.key).await?;
    let page = state
        .api
        .get(&session.key, &filters.api_query(&[("limit", "100")]))
        .await?;
    let fresh: Vec<Value> = page["entries"]
        .as_array()
        .map(|a| a.iter().filter(|e| entry_id(e) > after).cloned().collect())
        .unwrap_or_default();
    let newest = fresh.iter().map(entry_id).max().unwrap_or(after).max(after);
    let body = html! { @for e in &fresh { (row(e, &connections)) } };
    let mut response = body.into_response();
    if let Ok(v) = HeaderValue::from_str(&newest.to_string()) {
        response.headers_mut().insert("x-newest-id", v);
    }
    Ok(response)
}

/// `GET /sync-log/rows`.
pub async fn rows(
    State(state): State<ConsoleState>,
    session: Session,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ConsoleError> {
    rows_fragment(&state, &session, &q).await
}
