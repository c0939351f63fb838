//! The **Overview**, the console's first page: is everything flowing? Per connection,
//! its delivery attempts over the last 24 hours as a bar chart drawn on the server
//! ([`super::chart`]), the deliveries waiting and the documents left FAILED; and the
//! open alerts, each with a **Dismiss** button.
//!
//! Everything comes from `GET /v1/overview` and `GET /v1/alerts?open=true`. When the
//! alerts cannot be listed, the page still shows the connections, with the API's reason
//! where the alerts would be.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::Value;

use super::api_client::{self, ApiFailure, Payload};
use super::chart;
use super::connections::provider_label;
use super::layout::{self, Section};
use super::session::{CheckedForm, Session};
use super::sync_log;
use super::{ConsoleError, ConsoleState};

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or("")
}

fn number(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or(0)
}

fn items<'a>(v: &'a Value, field: &str) -> &'a [Value] {
    v[field].as_array().map(Vec::as_slice).unwrap_or_default()
}

/// What an alert type means, in words.
fn alert_label(kind: &str) -> &str {
    match kind {
        "connection.needs_reauth" => "Connection needs re-authorization",
        "connection.paused" => "Connection paused",
        "sync.failed" => "A delivery FAILED",
        "recovery.done" => "Recovery finished",
        other => other,
    }
}

/// The totals line above the connections.
fn totals(overview: &Value) -> Markup {
    let connections = items(overview, "connections");
    let waiting: i64 = connections.iter().map(|c| number(c, "queue_depth")).sum();
    let failed: i64 = connections
        .iter()
        .map(|c| number(c, "failed_documents"))
        .sum();
    html! {
        dl.totals {
            div { dt { "Connections" } dd { (connections.len()) } }
            div { dt { "Deliveries waiting" } dd #total-queue { (waiting) } }
            div { dt { "Documents FAILED" } dd #total-failed { (failed) } }
            div { dt { "Open alerts" } dd #total-alerts { (number(overview, "open_alerts")) } }
        }
    }
}

/// One connection's card: name, provider, status, the chart, what waits and what FAILED.
fn connection_card(c: &Value) -> Markup {
    let id = text(c, "id");
    let summary_id = format!("summary-{id}");
    let heading_id = format!("h-{id}");
    let failed = number(c, "failed_documents");
    html! {
        section.card.health aria-labelledby=(heading_id) data-connection=(id) {
            div.title-row {
                h2 #(heading_id) { a href=(api_client::path(&["connections", id])) { (text(c, "name")) } }
                span { (provider_label(text(c, "provider"))) " " (layout::status(text(c, "status"))) }
            }
            div.health-body {
                figure.chart {
                    (chart::hours_chart(items(c, "hours"), &summary_id))
                    figcaption #(summary_id) { (chart::summary(items(c, "hours"))) }
                }
                dl.facts {
                    dt { "Deliveries waiting" } dd.queue { (number(c, "queue_depth")) }
                    dt { "Documents FAILED" } dd.failed {
                        (failed)
                        @if failed > 0 {
                            " · " a href={ "/sync-log" (api_client::query([("connection_id", id), ("status", "FAILED")])) } { "see the failures" }
                        }
                    }
                }
            }
            p { a href=(api_client::path(&["connections", id])) { "Open the connection" } " (pause, recover failed deliveries)" }
        }
    }
}

/// The open alerts, or why they could not be listed.
fn alerts_section(
    session: &Session,
    alerts: &Result<Value, ApiFailure>,
    names: &HashMap<&str, &str>,
) -> Markup {
    html! {
        section aria-labelledby="h_alerts" {
            h2 #h_alerts { "Open alerts" }
            @match alerts {
                Err(e) => (layout::error_box(&format!("The alerts could not be listed: {e}"), &e.detail_lines())),
                Ok(list) if items(list, "alerts").is_empty() => p.muted #no-alerts { "No open alert." },
                Ok(list) => ul.alerts {
                    @for a in items(list, "alerts") {
                        @let connection = text(a, "connection_id");
                        li.alert {
                            strong { (alert_label(text(a, "type"))) }
                            @if !connection.is_empty() {
                                " · " a href=(api_client::path(&["connections", connection])) {
                                    (names.get(connection).copied().unwrap_or(connection))
                                }
                            }
                            @let data = &a["data"];
                            @if let Some(document) = data["document_id"].as_str() {
                                @let kind = text(data, "document_type");
                                " · " a href=(sync_log::document_link(kind, document)) { (kind.replace('_', " ")) " " (document) }
                            }
                            " · " span.muted { (layout::time(text(a, "created_at"))) }
                            @if let Some(error) = data["error"].as_str() { p.hint { (error) } }
                            @if !a["data"].is_null() {
                                details { summary { "Details" } pre.wrap { (serde_json::to_string_pretty(&a["data"]).unwrap_or_default()) } }
                            }
                            form.inline method="post" action=(api_client::path(&["alerts", text(a, "id"), "close"])) {
                                (layout::csrf(session))
                                button type="submit" aria-label={ "Dismiss: " (alert_label(text(a, "type"))) } { "Dismiss" }
                            }
                        }
                    }
                },
            }
        }
    }
}

/// `GET /overview` (`?dismissed=1` after a dismissal).
pub async fn page(
    State(state): State<ConsoleState>,
    session: Session,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Markup, ConsoleError> {
    let overview = state.api.get(&session.key, "/v1/overview").await?;
    let alerts = match state.api.get(&session.key, "/v1/alerts?open=true").await {
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => return Err(e.into()),
        other => other,
    };
    let connections = items(&overview, "connections");
    let names: HashMap<&str, &str> = connections
        .iter()
        .map(|c| (text(c, "id"), text(c, "name")))
        .collect();
    let (live, gone): (Vec<&Value>, Vec<&Value>) = connections
        .iter()
        .partition(|c| text(c, "status") != "disconnected");
    Ok(layout::page(
        "Overview",
        &session,
        Section::Overview,
        html! {
            h1 { "Overview" }
            p.lead { "Deliveries per hour since " (layout::time(text(&overview, "since"))) "." }
            @if q.contains_key("dismissed") { (layout::ok_box("Alert dismissed.")) }
            (totals(&overview))
            (alerts_section(&session, &alerts, &names))
            h2 { "Connections" }
            @if connections.is_empty() {
                p { "No connection yet. " a href="/connections/new" { "Connect an ERP or a webhook" } " to start syncing." }
            }
            @for c in &live { (connection_card(c)) }
            @if !gone.is_empty() {
                details {
                    summary { "Disconnected connections (" (gone.len()) ")" }
                    @for c in &gone { (connection_card(c)) }
                }
            }
        },
    ))
}

/// `POST /alerts/{id}/close`: dismisses an alert, back to the Overview.
pub async fn dismiss(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    form: CheckedForm,
) -> Response {
    let answer = state
        .api
        .send(
            &form.session.key,
            Method::POST,
            &api_client::path(&["v1", "alerts", &id, "close"]),
            Payload::None,
        )
        .await;
    match answer {
        Ok(_) => Redirect::to("/overview?dismissed=1").into_response(),
        Err(e) => ConsoleError::from(e).into_response(),
    }
}
