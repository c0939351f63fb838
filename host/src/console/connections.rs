//! Connections: the list, one connection's page with its last test sync,
//! **Re-authorize**, choosing the Xero organisation, and **Disconnect** behind a
//! confirmation page. Creating one is [`super::connect`]; pausing, rotating a secret and
//! recovering FAILED deliveries are [`super::control`], whose forms this page shows.
//!
//! After an OAuth round trip, `/v1/oauth/callback` sends the browser (303) to
//! `/connections/{id}?oauth=done|failed&message=…`, and this page shows the outcome next
//! to the connection's real status, which it reads again from the API.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::api_client::{self, ApiFailure, Payload};
use super::layout::{self, Section};
use super::session::{CheckedForm, Session};
use super::{ConsoleError, ConsoleState};

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or("")
}

/// A provider's name as operators know it.
pub(super) fn provider_label(p: &str) -> &str {
    match p {
        "quickbooks" => "QuickBooks Online",
        "xero" => "Xero",
        "netsuite" => "NetSuite",
        "webhook" => "Webhook",
        other => other,
    }
}

/// A test sync result (`{status, response_code, error, at}`), or "none yet".
pub(super) fn test_result(test: &Value) -> Markup {
    html! {
        @if test.is_null() { span.muted { "not run yet" } } @else {
            (layout::status(text(test, "status")))
            @if let Some(code) = test["response_code"].as_i64() { " " span.muted { "HTTP " (code) } }
            @if let Some(at) = test["at"].as_str() { " " span.muted { (layout::time(at)) } }
            @if let Some(e) = test["error"].as_str() { details { summary { "Error" } pre.wrap { (e) } } }
        }
    }
}

/// `GET /connections`.
pub async fn list(
    State(state): State<ConsoleState>,
    session: Session,
) -> Result<Markup, ConsoleError> {
    let list = state.api.get(&session.key, "/v1/connections").await?;
    let list = list.as_array().cloned().unwrap_or_default();
    Ok(layout::page(
        "Connections",
        &session,
        Section::Connections,
        html! {
            div.title-row {
                h1 { "Connections" }
                a.button href="/connections/new" { "+ Connect ERP" }
            }
            @if list.is_empty() {
                p { "No connection yet. Connect an ERP or a webhook to start syncing finalized invoices." }
            } @else {
                div.table-wrap { table {
                    caption.visually-hidden { "Connections, newest first" }
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Provider" } th scope="col" { "Entity" }
                                 th scope="col" { "Status" } th scope="col" { "Last test" } } }
                    tbody { @for c in &list { tr {
                        td { a href=(api_client::path(&["connections", text(c, "id")])) { (text(c, "name")) } }
                        td { (provider_label(text(c, "provider"))) }
                        td { @match c["entity"].as_str() { Some(e) => (e), None => span.muted { "all" } } }
                        td { (layout::status(text(c, "status"))) }
                        td { (test_result(&c["last_test"])) }
                    } } }
                } }
            }
        },
    ))
}

/// What the connection page says above its facts.
enum Notice<'a> {
    None,
    Ok(String),
    Refused(&'a ApiFailure),
}

fn show_page(session: &Session, c: &Value, notice: Notice) -> Markup {
    let id = text(c, "id");
    let status = text(c, "status");
    let provider = text(c, "provider");
    let oauth = provider == "quickbooks" || provider == "xero";
    layout::page(
        &format!("Connection {}", text(c, "name")),
        session,
        Section::Connections,
        html! {
            h1 { (text(c, "name")) }
            @match notice {
                Notice::Ok(m) => (layout::ok_box(&m)),
                Notice::Refused(e) => (layout::error_box(&e.to_string(), &e.detail_lines())),
                Notice::None => {}
            }
            dl.facts {
                dt { "Provider" } dd { (provider_label(provider)) }
                dt { "Status" } dd { (layout::status(status)) }
                dt { "Entity" } dd { @match c["entity"].as_str() { Some(e) => (e), None => "all (no entity filter)" } }
                dt { "Last test sync" } dd { (test_result(&c["last_test"])) }
                dt { "Id" } dd { code { (id) } }
                dt { "Created" } dd { (layout::time(text(c, "created_at"))) }
            }
            h2 { "Settings" }
            pre.output { (serde_json::to_string_pretty(&c["config"]).unwrap_or_default()) }
            p {
                a href={ "/sync-log" (api_client::query([("connection_id", id)])) } { "Sync log of this connection" }
                @if provider != "webhook" && status == "active" {
                    " · " a href=(api_client::path(&["connections", id, "mapping"])) { "Mapping and preview" }
                }
            }
            @if oauth && (status == "needs_reauth" || status == "pending_auth") {
                section.card aria-labelledby="h_reauth" {
                    h2 #h_reauth { "Re-authorize" }
                    p { "Sign in at " (provider_label(provider)) " again; deliveries held meanwhile are sent once the connection is active." }
                    form method="post" action=(api_client::path(&["connections", id, "reauthorize"])) {
                        (layout::csrf(session))
                        button type="submit" { "Re-authorize" }
                    }
                }
            }
            @if provider == "xero" && status == "pending_auth" {
                section.card aria-labelledby="h_org" {
                    h2 #h_org { "Choose the Xero organisation" }
                    p { "When several organisations were authorized, choose the one this connection books into; a test sync then checks it." }
                    form.inline method="post" action=(api_client::path(&["connections", id, "organisation"])) {
                        (layout::csrf(session))
                        label for="tenant_id" { "Xero organisation" }
                        @if let Some(orgs) = c["config"]["available_tenants"].as_array().filter(|a| !a.is_empty()) {
                            select #tenant_id name="tenant_id" required {
                                @for o in orgs {
                                    option value=(text(o, "tenant_id")) { (text(o, "name")) " (" (text(o, "tenant_id")) ")" }
                                }
                            }
                        } @else {
                            input #tenant_id type="text" name="tenant_id" required spellcheck="false";
                        }
                        button type="submit" { "Use this organisation" }
                    }
                }
            }
            (super::control::sections(session, c))
            @if status != "disconnected" {
                p { a.button.danger href=(api_client::path(&["connections", id, "disconnect"])) { "Disconnect…" } }
            }
        },
    )
}

/// The connection `id` as the API shows it.
pub(super) async fn fetch(state: &ConsoleState, key: &str, id: &str) -> Result<Value, ApiFailure> {
    state
        .api
        .get(key, &api_client::path(&["v1", "connections", id]))
        .await
}

/// `GET /connections/{id}` (`?oauth=done|failed&message=…` after an OAuth round trip).
pub async fn show(
    State(state): State<ConsoleState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Markup, ConsoleError> {
    let c = fetch(&state, &session.key, &id).await?;
    let oauth_failure;
    let notice = match (
        q.get("oauth").map(String::as_str),
        q.get("created"),
        q.get("disconnected"),
    ) {
        (Some("done"), _, _) => Notice::Ok(format!(
            "Authorized at {}. Status: {}.",
            provider_label(text(&c, "provider")),
            text(&c, "status")
        )),
        (Some("failed"), _, _) => {
            oauth_failure = ApiFailure::Refused {
                status: StatusCode::BAD_REQUEST,
                code: "authorization_failed".into(),
                message: format!(
                    "The authorization did not complete: {}",
                    q.get("message")
                        .map(String::as_str)
                        .unwrap_or("no reason given")
                ),
                details: Vec::new(),
            };
            Notice::Refused(&oauth_failure)
        }
        (_, Some(_), _) => Notice::Ok("Connection created.".into()),
        (_, _, Some(n)) => Notice::Ok(format!(
            "Disconnected. {} waiting deliveries were cancelled; nothing was deleted in the ERP.",
            n.parse::<u64>().unwrap_or(0)
        )),
        _ => match q.get("notice").map(String::as_str) {
            Some("paused") => Notice::Ok(
                "Deliveries paused: documents keep queueing, nothing is sent until you resume."
                    .into(),
            ),
            Some("resumed") => Notice::Ok("Deliveries resumed: the queue is sent in order.".into()),
            _ => Notice::None,
        },
    };
    Ok(show_page(&session, &c, notice))
}

/// The connection page with an API refusal shown, or the sign-in page for a 401.
pub(super) async fn refused(
    state: &ConsoleState,
    session: &Session,
    id: &str,
    failure: ApiFailure,
) -> Response {
    if failure.status() == StatusCode::UNAUTHORIZED {
        return ConsoleError::from(failure).into_response();
    }
    match fetch(state, &session.key, id).await {
        Ok(c) => (
            failure.status(),
            show_page(session, &c, Notice::Refused(&failure)),
        )
            .into_response(),
        Err(e) => ConsoleError::from(e).into_response(),
    }
}

/// `POST /connections/{id}/reauthorize`: to the provider's authorization page.
pub async fn reauthorize(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    form: CheckedForm,
) -> Response {
    let answer = state
        .api
        .send(
            &form.session.key,
            Method::POST,
            &api_client::path(&["v1", "connections", &id, "reauthorize"]),
            Payload::None,
        )
        .await;
    match answer {
        Ok(v) => match v["authorize_url"].as_str() {
            Some(url) => Redirect::to(url).into_response(),
            None => layout::error_page(
                StatusCode::BAD_GATEWAY,
                "No authorization page",
                "The API gave no authorize_url.",
            ),
        },
        Err(e) => refused(&state, &form.session, &id, e).await,
    }
}

/// `POST /connections/{id}/organisation`: binds a Xero connection to one organisation.
pub async fn choose_organisation(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    form: CheckedForm,
) -> Response {
    let tenant_id = form.get("tenant_id").unwrap_or("").to_string();
    let answer = state
        .api
        .send(
            &form.session.key,
            Method::PATCH,
            &api_client::path(&["v1", "connections", &id]),
            Payload::Json(json!({"config": {"tenant_id": tenant_id}})),
        )
        .await;
    match answer {
        Ok(c) => {
            let message = match c["test_sync"]["status"].as_str() {
                Some(s) => format!("Organisation chosen; test sync {s}."),
                None => "Organisation chosen.".to_string(),
            };
            show_page(&form.session, &c, Notice::Ok(message)).into_response()
        }
        Err(e) => refused(&state, &form.session, &id, e).await,
    }
}

/// `GET /connections/{id}/disconnect`: the confirmation page.
pub async fn confirm_disconnect(
    State(state): State<ConsoleState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Markup, ConsoleError> {
    let c = fetch(&state, &session.key, &id).await?;
    let provider = provider_label(text(&c, "provider"));
    Ok(layout::page(
        "Disconnect",
        &session,
        Section::Connections,
        html! {
            h1 { "Disconnect " (text(&c, "name")) "?" }
            p { "No further invoices will be sent to this " (provider) " connection, starting now. "
                "Deliveries still waiting are cancelled, and each cancellation is written to the sync log." }
            @if c["provider"] == "webhook" {
                p { strong { "Nothing is recalled: " } "the receiver keeps every event it was already sent." }
            } @else {
                p { strong { "Nothing is deleted in " (provider) ": " } "invoices already synced stay there. "
                    "Connecting the same account again later resumes updating the same records." }
            }
            form.inline method="post" action=(api_client::path(&["connections", &id, "disconnect"])) {
                (layout::csrf(&session))
                button.danger type="submit" { "Disconnect" }
                a href=(api_client::path(&["connections", &id])) { "Cancel" }
            }
        },
    ))
}

/// `POST /connections/{id}/disconnect`.
pub async fn disconnect(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    form: CheckedForm,
) -> Response {
    let answer = state
        .api
        .send(
            &form.session.key,
            Method::DELETE,
            &api_client::path(&["v1", "connections", &id]),
            Payload::None,
        )
        .await;
    match answer {
        Ok(v) => {
            let n = v["cancelled_jobs"].as_u64().unwrap_or(0).to_string();
            Redirect::to(&format!(
                "{}{}",
                api_client::path(&["connections", &id]),
                api_client::query([("disconnected", n.as_str())])
            ))
            .into_response()
        }
        Err(e) => refused(&state, &form.session, &id, e).await,
    }
}
