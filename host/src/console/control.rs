//! Delivery control on a connection's page: **Pause**/**Resume**, **Rotate secret** (a
//! webhook's; the new secret is shown once), and **Recover FAILED deliveries**: a dry run
//! says how many documents would be sent again, a confirmation starts the recovery, and
//! its page shows a `<progress>` bar that refreshes itself (an HTML refresh, no script)
//! until the recovery is done.
//!
//! Every action is a CSRF-checked POST that calls the API (`/v1/connections/{id}/pause`,
//! `/resume`, `/rotate-secret`, `/recover`, `GET /v1/recoveries/{id}`); a refusal is
//! shown on the connection page in the API's words.

use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::api_client::{self, Payload};
use super::connections::{fetch, provider_label, refused};
use super::layout::{self, Section};
use super::session::{CheckedForm, Session};
use super::{ConsoleError, ConsoleState};

/// Seconds between refreshes of a running recovery's page.
const REFRESH_SECONDS: u32 = 2;

/// How `datetime-local` fields are shown and read: minutes, UTC.
const FIELD_FORMAT: &str = "%Y-%m-%dT%H:%M";

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or("")
}

fn number(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or(0)
}

/// A `datetime-local` value (UTC) as the RFC 3339 time the API takes; anything else is
/// passed on as typed, for the API to refuse in its own words.
fn rfc3339(field: &str) -> String {
    match NaiveDateTime::parse_from_str(field, FIELD_FORMAT) {
        Ok(t) => t
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        Err(_) => field.to_string(),
    }
}

fn field_value(t: DateTime<Utc>) -> String {
    t.format(FIELD_FORMAT).to_string()
}

/// The delivery-control sections of a connection's page, by its status and provider.
pub fn sections(session: &Session, c: &Value) -> Markup {
    let id = text(c, "id");
    let status = text(c, "status");
    let now = Utc::now();
    html! {
        @if status == "active" || status == "paused" {
            section.card aria-labelledby="h_pause" {
                h2 #h_pause { "Deliveries" }
                @if status == "active" {
                    p { "Pausing stops sending to this connection. Documents keep queueing and nothing is cancelled; resuming sends them in order." }
                    form.inline method="post" action=(api_client::path(&["connections", id, "pause"])) {
                        (layout::csrf(session))
                        button #pause type="submit" { "Pause deliveries" }
                    }
                } @else {
                    p { "Deliveries are paused: documents are queueing, nothing is sent." }
                    form.inline method="post" action=(api_client::path(&["connections", id, "resume"])) {
                        (layout::csrf(session))
                        button #resume type="submit" { "Resume deliveries" }
                    }
                }
            }
        }
        @if text(c, "provider") == "webhook" && status != "disconnected" {
            section.card aria-labelledby="h_rotate" {
                h2 #h_rotate { "Rotate the signing secret" }
                p { "A new secret is generated and shown once. During the grace period every request is signed with both secrets, so the receiver can switch without missing one." }
                form.inline method="post" action=(api_client::path(&["connections", id, "rotate-secret"])) {
                    (layout::csrf(session))
                    label for="grace_hours" { "Keep the old secret valid for (hours)" }
                    input #grace_hours type="number" name="grace_hours" value="24" min="0" max="168" step="1" required;
                    button #rotate type="submit" { "Rotate secret" }
                }
            }
        }
        @if status != "disconnected" {
            section.card aria-labelledby="h_recover" {
                h2 #h_recover { "Recover FAILED deliveries" }
                p { "Sends again every document whose latest delivery here FAILED in this period, each with its original event id. You see how many first." }
                form.inline method="post" action=(api_client::path(&["connections", id, "recover"])) {
                    (layout::csrf(session))
                    label for="since" { "From (UTC)" }
                    input #since type="datetime-local" name="since" required value=(field_value(now - chrono::Duration::hours(24)));
                    label for="until" { "Until (UTC)" }
                    input #until type="datetime-local" name="until" value=(field_value(now + chrono::Duration::minutes(1)));
                    button #recover type="submit" { "Count FAILED documents…" }
                }
            }
        }
    }
}

/// Sends `POST /v1/connections/{id}/{action}` with `body`.
async fn post(
    state: &ConsoleState,
    form: &CheckedForm,
    id: &str,
    action: &str,
    body: Payload,
) -> Result<Value, super::api_client::ApiFailure> {
    let uri = api_client::path(&["v1", "connections", id, action]);
    state
        .api
        .send(&form.session.key, Method::POST, &uri, body)
        .await
}

/// Back to the connection page with `notice=…` for it to show.
fn back_to(id: &str, notice: &str) -> Response {
    let to = format!(
        "{}{}",
        api_client::path(&["connections", id]),
        api_client::query([("notice", notice)])
    );
    Redirect::to(&to).into_response()
}

/// `POST /connections/{id}/pause`.
pub async fn pause(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    form: CheckedForm,
) -> Response {
    match post(&state, &form, &id, "pause", Payload::None).await {
        Ok(_) => back_to(&id, "paused"),
        Err(e) => refused(&state, &form.session, &id, e).await,
    }
}

/// `POST /connections/{id}/resume`.
pub async fn resume(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    form: CheckedForm,
) -> Response {
    match post(&state, &form, &id, "resume", Payload::None).await {
        Ok(_) => back_to(&id, "resumed"),
        Err(e) => refused(&state, &form.session, &id, e).await,
    }
}

/// `POST /connections/{id}/rotate-secret`: the new secret, shown this once.
pub async fn rotate_secret(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    form: CheckedForm,
) -> Response {
    // A non-number is passed on as typed: the API names the field in its refusal.
    let grace = match form.get("grace_hours").map(|h| (h, h.parse::<i64>())) {
        Some((_, Ok(hours))) => json!(hours.saturating_mul(3600)),
        Some((typed, Err(_))) => json!(typed),
        None => json!(86_400),
    };
    let body = Payload::Json(json!({"grace_seconds": grace}));
    let rotated = match post(&state, &form, &id, "rotate-secret", body).await {
        Ok(v) => v,
        Err(e) => return refused(&state, &form.session, &id, e).await,
    };
    let name = match fetch(&state, &form.session.key, &id).await {
        Ok(c) => text(&c, "name").to_string(),
        Err(_) => id.clone(),
    };
    layout::page(
        "Secret rotated",
        &form.session,
        Section::Connections,
        html! {
            h1 { "New signing secret for " (name) }
            section.card.secret aria-labelledby="h_secret" {
                h2 #h_secret { "Signing secret" }
                p { strong { "Copy it now: it is shown this once and never again." } }
                p.copy-row {
                    code #secret { (text(&rotated, "secret")) }
                    button type="button" data-copy="secret" { "Copy" }
                    span.copied role="status" aria-live="polite" {}
                }
                @if let Some(until) = rotated["previous_expires_at"].as_str() {
                    p #grace { "The previous secret keeps signing requests too until " (layout::time(until)) "." }
                }
            }
            p { a href=(api_client::path(&["connections", &id])) { "Back to the connection" } }
        },
    )
    .into_response()
}

/// `POST /connections/{id}/recover`: without `confirm`, a dry run and a confirmation
/// page; with it, starts the recovery and goes to its progress page.
pub async fn recover(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    form: CheckedForm,
) -> Response {
    let since = rfc3339(form.get("since").unwrap_or(""));
    let until = form.get("until").map(rfc3339);
    let confirmed = form.get("confirm").is_some();
    let mut body = json!({"since": since, "status": "FAILED", "dry_run": !confirmed});
    if let Some(until) = &until {
        body["until"] = json!(until);
    }
    match post(&state, &form, &id, "recover", Payload::Json(body)).await {
        Err(e) => refused(&state, &form.session, &id, e).await,
        Ok(started) if confirmed => {
            let recovery = text(&started, "recovery_id");
            Redirect::to(&api_client::path(&["recoveries", recovery])).into_response()
        }
        Ok(dry_run) => confirm_page(
            &form.session,
            &id,
            &since,
            until.as_deref(),
            number(&dry_run, "count"),
        )
        .into_response(),
    }
}

/// What a recovery would send again, and the button that starts it.
fn confirm_page(
    session: &Session,
    id: &str,
    since: &str,
    until: Option<&str>,
    count: i64,
) -> Markup {
    layout::page(
        "Recover FAILED deliveries",
        session,
        Section::Connections,
        html! {
            h1 { "Recover FAILED deliveries" }
            p #dry-run {
                strong #recover-count { (count) } " documents whose latest delivery FAILED between "
                (layout::time(since)) " and " @match until { Some(u) => (layout::time(u)), None => "now" }
                " would be sent again."
            }
            @if count > 0 {
                form.inline method="post" action=(api_client::path(&["connections", id, "recover"])) {
                    (layout::csrf(session))
                    input type="hidden" name="since" value=(since);
                    @if let Some(u) = until { input type="hidden" name="until" value=(u); }
                    input type="hidden" name="confirm" value="1";
                    button #confirm-recover type="submit" { "Recover " (count) " documents" }
                    a href=(api_client::path(&["connections", id])) { "Cancel" }
                }
            } @else {
                p { "Nothing to recover. " a href=(api_client::path(&["connections", id])) { "Back to the connection" } }
            }
        },
    )
}

/// `GET /recoveries/{id}`: a recovery's progress, refreshing itself until done.
pub async fn progress(
    State(state): State<ConsoleState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let r = state
        .api
        .get(&session.key, &api_client::path(&["v1", "recoveries", &id]))
        .await?;
    let connection = text(&r, "connection_id");
    let name = match fetch(&state, &session.key, connection).await {
        Ok(c) => format!(
            "{} ({})",
            text(&c, "name"),
            provider_label(text(&c, "provider"))
        ),
        Err(_) => connection.to_string(),
    };
    let (queued, succeeded, failed) = (
        number(&r, "queued"),
        number(&r, "succeeded"),
        number(&r, "failed"),
    );
    let done = r["done"].as_bool().unwrap_or(false);
    let content = html! {
        h1 { "Recovery of " (name) }
        p.lead { "Started " (layout::time(text(&r, "created_at"))) "." }
        @if done { (layout::ok_box("Recovery done.")) }
        div.progress-row {
            label for="recovery-progress" { (succeeded + failed) " of " (queued) " sent" }
            progress #recovery-progress max=(queued.max(1)) value=(if queued == 0 { 1 } else { succeeded + failed }) {
                (succeeded + failed) " of " (queued)
            }
        }
        dl.facts #recovery-figures {
            dt { "Queued" } dd #queued { (queued) }
            dt { "Succeeded" } dd #succeeded { (succeeded) }
            dt { "FAILED" } dd #failed { (failed) }
            dt { "Remaining" } dd #remaining { (number(&r, "remaining")) }
            dt { "Status" } dd #recovery-status { @if done { "done" } @else { "running (this page refreshes itself)" } }
        }
        p {
            a href=(api_client::path(&["connections", connection])) { "Back to the connection" } " · "
            a href={ "/sync-log" (api_client::query([("connection_id", connection)])) } { "Its sync log" }
        }
    };
    let refresh = (!done).then_some(REFRESH_SECONDS);
    Ok(
        layout::page_refreshing("Recovery", &session, Section::Connections, refresh, content)
            .into_response(),
    )
}
