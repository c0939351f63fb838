//! `GET /invoices/{id}`: one invoice as the API returns it — its content, versions and
//! sync state per connection, and the credit notes and payments applied to it — with its
//! attempts as a timeline (the sync log filtered by the invoice, updating live) and the
//! **Manual sync** form (`POST /invoices/{id}/sync`, all connections or one). The parts
//! every document shares are `pub(super)` here, for `document.rs`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::api_client::{self, Payload};
use super::layout::{self, Section};
use super::session::{CheckedForm, Session};
use super::sync_log::{self, Filters};
use super::{ConsoleError, ConsoleState};

pub(super) fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or("")
}

/// Money and other values the invoice carries as strings or numbers.
pub(super) fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

/// `GET /invoices?id=…`: the "open invoice" box.
pub async fn find(Query(q): Query<HashMap<String, String>>) -> Redirect {
    match q.get("id").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        Some(id) => Redirect::to(&api_client::path(&["invoices", id])),
        None => Redirect::to("/sync-log"),
    }
}

fn summary(invoice: &Value) -> Markup {
    let customer = &invoice["customer"];
    html! {
        dl.facts {
            dt { "Number" } dd { (text(invoice, "number")) }
            dt { "Status" } dd { (text(invoice, "status")) }
            dt { "Customer" } dd { (text(customer, "name")) " " span.muted { "(" (text(customer, "id")) ")" } }
            dt { "Customer email" } dd { (shown(&customer["email"])) }
            dt { "Entity" } dd { (shown(&invoice["entity"])) }
            dt { "Issued / due" } dd { (text(invoice, "issue_date")) " / " (text(invoice, "due_date")) }
            dt { "Total" } dd { (shown(&invoice["total"])) " " (text(invoice, "currency")) }
        }
    }
}

fn lines(invoice: &Value) -> Markup {
    html! {
        @if let Some(lines) = invoice["lines"].as_array() {
            div.table-wrap { table {
                caption { "Lines" }
                thead { tr { th scope="col" { "Description" } th scope="col" { "Type" } th scope="col" { "Quantity" } th scope="col" { "Unit price" } th scope="col" { "Amount" } } }
                tbody { @for l in lines { tr {
                    td { (text(l, "description")) } td { (text(l, "type")) }
                    td.num { (shown(&l["quantity"])) } td.num { (shown(&l["unit_price"])) } td.num { (shown(&l["amount"])) }
                } } }
            } }
        }
    }
}

/// The sync state of a document per connection (`name` names a connection by id).
fn sync_state(sync: &[Value], name: &dyn Fn(&str) -> String, noun: &str) -> Markup {
    html! {
        section aria-labelledby="sync-state" {
            h2 #sync-state { "Sync state per connection" }
            @if sync.is_empty() {
                p { "No delivery was queued for this " (noun) " (no active connection routed it)." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th scope="col" { "Connection" } th scope="col" { "Version" } th scope="col" { "Event" } th scope="col" { "State" }
                                 th scope="col" { "Attempts" } th scope="col" { "Last response" } th scope="col" { "Last error" } th scope="col" { "Updated" } } }
                    tbody { @for s in sync { tr {
                        td { a href=(api_client::path(&["connections", text(s, "connection_id")])) { (name(text(s, "connection_id"))) } }
                        td.num { (shown(&s["version"])) } td { (text(s, "event_type")) }
                        td { (layout::status(text(s, "state"))) } td.num { (shown(&s["attempts"])) }
                        td.num { (shown(&s["last_response_code"])) }
                        td { @if let Some(e) = s["last_error"].as_str() { details { summary { "Error" } pre.wrap { (e) } } } @else { "—" } }
                        td { (layout::time(text(s, "updated_at"))) }
                    } } }
                } }
            }
        }
    }
}

/// The documents applied to this one (an invoice's credit notes and payments, a credit
/// note's refunds), each with its state per connection.
fn applied(applied: &Value, name: &dyn Fn(&str) -> String) -> Markup {
    let applied = applied.as_array().map(Vec::as_slice).unwrap_or(&[]);
    html! {
        @if !applied.is_empty() {
            section aria-labelledby="applied" {
                h2 #applied { "Credit notes, payments and refunds" }
                div.table-wrap { table {
                    thead { tr { th scope="col" { "Document" } th scope="col" { "Type" } th scope="col" { "Status" }
                                 th scope="col" { "Amount" } th scope="col" { "Sync state" } } }
                    tbody { @for d in applied { tr {
                        td { a href=(sync_log::document_link(text(d, "document_type"), text(d, "document_id"))) { (text(d, "document_id")) } }
                        td { (text(d, "document_type").replace('_', " ")) }
                        td { (text(d, "status")) } td.num { (shown(&d["amount"])) }
                        td { @for s in d["sync"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                            span.sync-state { (name(text(s, "connection_id"))) ": " (layout::status(text(s, "state"))) } " "
                        } }
                    } } }
                } }
            }
        }
    }
}

/// The **Manual sync** form posting to `action`, for all routed connections or one.
fn manual_sync_form(session: &Session, action: &str, noun: &str, active: &[&Value]) -> Markup {
    html! {
        section aria-labelledby="manual" {
            h2 #manual { "Manual sync" }
            p { "Queues the " (noun) "'s current version again; a failed delivery gets a new round of attempts." }
            form.inline method="post" action=(action) {
                (layout::csrf(session))
                label for="sync_connection" { "Connection" }
                select #sync_connection name="connection_id" {
                    option value="" { "All its connections" }
                    @for c in active { option value=(text(c, "id")) { (text(c, "name")) " (" (text(c, "provider")) ")" } }
                }
                button type="submit" { "Manual sync" }
            }
        }
    }
}

/// A document's stored versions.
pub(super) fn versions(versions: &Value) -> Markup {
    html! {
        section aria-labelledby="versions" {
            h2 #versions { "Versions" }
            div.table-wrap { table {
                thead { tr { th scope="col" { "Version" } th scope="col" { "Status" } th scope="col" { "Received" } th scope="col" { "Content hash" } } }
                tbody { @for v in versions.as_array().map(Vec::as_slice).unwrap_or(&[]) { tr {
                    td.num { (shown(&v["version"])) } td { (text(v, "status")) }
                    td { (layout::time(text(v, "received_at"))) } td { code.hash { (text(v, "content_hash")) } }
                } } }
            } }
        }
    }
}

/// What every document page shows besides the document itself, read through the API:
/// the API's answer for the document, the connections (to name them) and its attempts.
pub(super) struct DocumentView {
    pub answer: Value,
    connections: Vec<Value>,
    entries: Vec<Value>,
    filters: Filters,
}

impl DocumentView {
    /// Reads `GET <api>` and the attempts `filters` select.
    pub(super) async fn load(
        state: &ConsoleState,
        session: &Session,
        api: &str,
        filters: Filters,
    ) -> Result<Self, ConsoleError> {
        let answer = state.api.get(&session.key, api).await?;
        let connections = sync_log::connection_names(&state.api, &session.key).await?;
        let log = state
            .api
            .get(&session.key, &filters.api_query(&[("limit", "100")]))
            .await?;
        let entries = log["entries"].as_array().cloned().unwrap_or_default();
        Ok(DocumentView {
            answer,
            connections,
            entries,
            filters,
        })
    }

    fn name(&self, id: &str) -> String {
        let found = self
            .connections
            .iter()
            .find(|c| c["id"].as_str() == Some(id));
        found
            .and_then(|c| c["name"].as_str())
            .unwrap_or(id)
            .to_string()
    }

    /// Its sync state per connection, what applies to it, the manual sync form (posting
    /// to `action`) and its attempts; `queued` is how many jobs a manual sync just queued.
    pub(super) fn middle(
        &self,
        session: &Session,
        noun: &str,
        action: &str,
        queued: Option<&String>,
    ) -> Markup {
        let sync = self.answer["sync"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let name = |id: &str| self.name(id);
        let active: Vec<&Value> = self
            .connections
            .iter()
            .filter(|c| c["status"] == "active")
            .collect();
        html! {
            @if let Some(n) = queued { (layout::ok_box(&format!("Manual sync queued: {n} delivery job(s). The attempts appear below."))) }
            (sync_state(sync, &name, noun))
            (applied(&self.answer["applied"], &name))
            (manual_sync_form(session, action, noun, &active))
            section aria-labelledby="timeline" {
                h2 #timeline { "Attempts" }
                (sync_log::table(&self.entries, &self.connections, Some(&self.filters)))
            }
        }
    }
}

/// `GET /invoices/{id}`.
pub async fn page(
    State(state): State<ConsoleState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Markup, ConsoleError> {
    let api = api_client::path(&["v1", "invoices", &id]);
    let view = DocumentView::load(&state, &session, &api, Filters::invoice(&id)).await?;
    let action = api_client::path(&["invoices", &id, "sync"]);
    Ok(layout::page(
        &format!("Invoice {id}"),
        &session,
        Section::SyncLog,
        html! {
            h1 { "Invoice " code { (id) } }
            (summary(&view.answer["invoice"]))
            (view.middle(&session, "invoice", &action, q.get("queued")))
            (lines(&view.answer["invoice"]))
            (versions(&view.answer["versions"]))
        },
    ))
}

/// `POST /invoices/{id}/sync`.
pub async fn manual_sync(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    form: CheckedForm,
) -> Response {
    let api = api_client::path(&["v1", "invoices", &id, "sync"]);
    queue_sync(&state, form, &api, &api_client::path(&["invoices", &id])).await
}

/// Posts a manual sync (to the form's connection, or all) to `api`, then goes back to
/// `page` saying how many deliveries were queued.
pub(super) async fn queue_sync(
    state: &ConsoleState,
    form: CheckedForm,
    api: &str,
    page: &str,
) -> Response {
    let body = match form.get("connection_id") {
        Some(c) => json!({"connection_id": c}),
        None => json!({}),
    };
    let answer = state
        .api
        .send(&form.session.key, Method::POST, api, Payload::Json(body))
        .await;
    match answer {
        Ok(v) => {
            let n = v["jobs"].as_array().map(Vec::len).unwrap_or(0).to_string();
            Redirect::to(&format!(
                "{page}{}",
                api_client::query([("queued", n.as_str())])
            ))
            .into_response()
        }
        Err(e) if e.status() == axum::http::StatusCode::UNAUTHORIZED => {
            ConsoleError::from(e).into_response()
        }
        Err(e) => layout::error_page(e.status(), "Manual sync refused", &e.to_string()),
    }
}
