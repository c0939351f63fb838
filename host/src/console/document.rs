//! `GET /documents/{kind}/{id}`: a credit note, payment, refund or customer as the API
//! returns it — its content, what it applies to, its sync state per connection, the
//! documents applied to it, its attempts as a live timeline and its versions — with the
//! **Manual sync** form (`POST /documents/{kind}/{id}/sync`). `kind` is the API's path
//! segment (`credit-notes`, `payments`, `refunds`, `customers`); invoices have their own
//! page (`invoice.rs`), whose parts this one reuses.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::Value;

use super::api_client;
use super::invoice::{DocumentView, queue_sync, shown, text, versions};
use super::layout::{self, Section};
use super::session::{CheckedForm, Session};
use super::sync_log::{Filters, document_link};
use super::{ConsoleError, ConsoleState};
use crate::documents::api_path;
use crate::domain::DocumentType;

/// The document type a path segment names, other than invoices.
fn kind_of(kind: &str) -> Option<DocumentType> {
    DocumentType::ALL
        .into_iter()
        .filter(|t| *t != DocumentType::Invoice)
        .find(|t| api_path(*t) == kind)
}

/// The facts worth a glance, per type; the whole document is below them.
fn summary(doc_type: DocumentType, d: &Value) -> Markup {
    let money = |amount: &str| format!("{} {}", shown(&d[amount]), text(d, "currency"));
    let link = |t: &str, id: &str| {
        html! { @if id.is_empty() { "—" } @else { a href=(document_link(t, id)) { (id) } } }
    };
    html! {
        dl.facts {
            @match doc_type {
                DocumentType::CreditNote => {
                    dt { "Number" } dd { (text(d, "number")) }
                    dt { "Status" } dd { (text(d, "status")) }
                    dt { "Invoice" } dd { (link("invoice", text(d, "invoice_id"))) }
                    dt { "Reason" } dd { (shown(&d["reason"])) }
                    dt { "Total" } dd { (money("total")) }
                }
                DocumentType::Payment => {
                    dt { "Status" } dd { (text(d, "status")) }
                    dt { "Amount" } dd { (money("amount")) }
                    dt { "Received" } dd { (layout::time(text(d, "received_at"))) }
                    dt { "Reference" } dd { (shown(&d["reference"])) }
                    dt { "Applied to" } dd {
                        @for a in d["applied_to"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                            (link("invoice", text(a, "invoice_id"))) " " (shown(&a["amount"])) "; "
                        }
                    }
                }
                DocumentType::Refund => {
                    dt { "Status" } dd { (text(d, "status")) }
                    dt { "Amount" } dd { (money("amount")) }
                    dt { "Refunded" } dd { (layout::time(text(d, "refunded_at"))) }
                    dt { "Credit note" } dd { (link("credit_note", text(d, "credit_note_id"))) }
                    dt { "Payment" } dd { (link("payment", text(d, "payment_id"))) }
                }
                DocumentType::Customer | DocumentType::Invoice => {
                    dt { "Name" } dd { (text(d, "name")) }
                    dt { "Email" } dd { (shown(&d["email"])) }
                    dt { "Currency" } dd { (shown(&d["currency"])) }
                    dt { "Tax number" } dd { (shown(&d["tax_number"])) }
                }
            }
            @if doc_type != DocumentType::Customer {
                dt { "Customer" } dd { (text(&d["customer"], "name")) " " span.muted { "(" (text(&d["customer"], "id")) ")" } }
            }
            dt { "Entity" } dd { (shown(&d["entity"])) }
        }
        details {
            summary { "The whole document" }
            pre.wrap { (serde_json::to_string_pretty(d).unwrap_or_default()) }
        }
    }
}

/// `GET /documents/{kind}/{id}`.
pub async fn page(
    State(state): State<ConsoleState>,
    session: Session,
    Path((kind, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ConsoleError> {
    let Some(doc_type) = kind_of(&kind) else {
        return Ok(layout::error_page(
            StatusCode::NOT_FOUND,
            "No such page",
            &format!(
                "{kind} is not a kind of document (credit-notes, payments, refunds, customers)"
            ),
        ));
    };
    let api = api_client::path(&["v1", &kind, &id]);
    let filters = Filters::document(doc_type.as_str(), &id);
    let view = DocumentView::load(&state, &session, &api, filters).await?;
    let noun = doc_type.noun();
    let title = format!("{}{} {id}", noun[..1].to_uppercase(), &noun[1..]);
    let action = api_client::path(&["documents", &kind, &id, "sync"]);
    let body = html! {
        h1 { (title) }
        (summary(doc_type, &view.answer[doc_type.as_str()]))
        (view.middle(&session, noun, &action, q.get("queued")))
        (versions(&view.answer["versions"]))
    };
    Ok(layout::page(&title, &session, Section::SyncLog, body).into_response())
}

/// `POST /documents/{kind}/{id}/sync`.
pub async fn manual_sync(
    State(state): State<ConsoleState>,
    Path((kind, id)): Path<(String, String)>,
    form: CheckedForm,
) -> Response {
    if kind_of(&kind).is_none() {
        return layout::error_page(
            StatusCode::NOT_FOUND,
            "No such page",
            &format!("{kind} is not a kind of document"),
        );
    }
    let api = api_client::path(&["v1", &kind, &id, "sync"]);
    queue_sync(
        &state,
        form,
        &api,
        &api_client::path(&["documents", &kind, &id]),
    )
    .await
}
