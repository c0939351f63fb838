//! `GET /transforms`: the tenant's Wasm components; `POST /transforms` uploads one (the
//! file's bytes go to `POST /v1/transforms` as they are, and a refusal is shown in the
//! API's words); `POST /transforms/{id}/run` dry-runs one on the bundled sample invoice
//! and shows its output, headers and guest logs.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::Value;

use super::api_client::{self, ApiFailure, Payload};
use super::layout::{self, Section};
use super::session::{CheckedForm, Session};
use super::{ConsoleError, ConsoleState};

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or("")
}

/// What to show above the list.
enum Notice<'a> {
    None,
    Uploaded(&'a Value),
    Refused(&'a ApiFailure),
}

fn render(session: &Session, list: &[Value], notice: Notice) -> Markup {
    layout::page(
        "Transforms",
        session,
        Section::Transforms,
        html! {
            h1 { "Transforms" }
            p.lead { "WebAssembly components that shape webhook payloads (webhook-transform) or adjust a customer's invoices (invoice-tweak)." }
            @match notice {
                Notice::Uploaded(t) => (layout::ok_box(&format!("Uploaded {} ({}) as {}.", text(t, "name"), text(t, "world"), text(t, "id")))),
                Notice::Refused(e) => (layout::error_box(&e.to_string(), &e.detail_lines())),
                Notice::None => {}
            }
            @if list.is_empty() {
                p { "No components uploaded yet." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "World" } th scope="col" { "Id" } th scope="col" { "Size" }
                                 th scope="col" { "Uploaded" } th scope="col" { "Try it" } } }
                    tbody { @for t in list { tr {
                        td { (text(t, "name")) }
                        td { (text(t, "world")) br; span.muted { (text(t, "export")) } }
                        td { code { (text(t, "id")) } }
                        td.num { (t["size"].as_i64().unwrap_or(0)) " bytes" }
                        td { (layout::time(text(t, "created_at"))) }
                        td {
                            form method="post" action=(api_client::path(&["transforms", text(t, "id"), "run"])) {
                                (layout::csrf(session))
                                button type="submit" { "Run on sample invoice" }
                            }
                        }
                    } } }
                } }
            }
            section aria-labelledby="upload" {
                h2 #upload { "Upload a component" }
                form.stack method="post" action="/transforms" enctype="multipart/form-data" {
                    (layout::csrf(session))
                    label for="t_name" { "Name" }
                    input #t_name type="text" name="name" maxlength="200";
                    label for="t_world" { "World" }
                    select #t_world name="world" {
                        option value="webhook-transform" { "webhook-transform: invoice → webhook payload" }
                        option value="invoice-tweak" { "invoice-tweak: invoice → adjusted invoice" }
                    }
                    label for="t_file" { "Component (.wasm)" }
                    input #t_file type="file" name="component" accept=".wasm,application/wasm" required;
                    button type="submit" { "Upload" }
                }
            }
        },
    )
}

/// The tenant's transforms, as `GET /v1/transforms` lists them.
pub(super) async fn list(state: &ConsoleState, key: &str) -> Result<Vec<Value>, ApiFailure> {
    Ok(state
        .api
        .get(key, "/v1/transforms")
        .await?
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// `GET /transforms`.
pub async fn page(
    State(state): State<ConsoleState>,
    session: Session,
) -> Result<Markup, ConsoleError> {
    let list = list(&state, &session.key).await?;
    Ok(render(&session, &list, Notice::None))
}

/// `POST /transforms` (multipart: `name`, `world`, `component`).
pub async fn upload(State(state): State<ConsoleState>, form: CheckedForm) -> Response {
    let world = form.get("world").unwrap_or("webhook-transform").to_string();
    let name = form.get("name").map(str::to_string).or_else(|| {
        form.files
            .get("component")
            .map(|f| f.file_name.trim_end_matches(".wasm").to_string())
            .filter(|n| !n.is_empty())
    });
    let bytes = form
        .files
        .get("component")
        .map(|f| f.bytes.clone())
        .unwrap_or_default();
    let uri = format!(
        "/v1/transforms{}",
        api_client::query([
            ("name", name.as_deref().unwrap_or("")),
            ("world", world.as_str())
        ])
    );
    let key = &form.session.key;
    let answer = state
        .api
        .send(
            key,
            Method::POST,
            &uri,
            Payload::Bytes("application/wasm", bytes),
        )
        .await;
    let current = match list(&state, key).await {
        Ok(l) => l,
        Err(e) => return ConsoleError::from(e).into_response(),
    };
    match answer {
        Ok(t) => render(&form.session, &current, Notice::Uploaded(&t)).into_response(),
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => ConsoleError::from(e).into_response(),
        Err(e) => (
            e.status(),
            render(&form.session, &current, Notice::Refused(&e)),
        )
            .into_response(),
    }
}

/// `POST /transforms/{id}/run`: a dry run on the sample invoice.
pub async fn run(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    form: CheckedForm,
) -> Result<Markup, ConsoleError> {
    let key = &form.session.key;
    let transform = state
        .api
        .get(key, &api_client::path(&["v1", "transforms", &id]))
        .await?;
    let run = state
        .api
        .send(
            key,
            Method::POST,
            &api_client::path(&["v1", "transforms", &id, "test"]),
            Payload::None,
        )
        .await?;
    let output = &run["output"];
    let body = match &output["body"] {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_else(|_| s.clone()),
            Err(_) => s.clone(),
        },
        Value::Null => serde_json::to_string_pretty(output).unwrap_or_default(),
        other => other.to_string(),
    };
    let headers: Vec<(String, String)> = match &output["headers"] {
        Value::Array(a) => a
            .iter()
            .map(|h| match h {
                Value::Array(pair) => (
                    pair.first()
                        .map(|v| v.as_str().unwrap_or("").to_string())
                        .unwrap_or_default(),
                    pair.get(1)
                        .map(|v| v.as_str().unwrap_or("").to_string())
                        .unwrap_or_default(),
                ),
                other => (String::new(), other.to_string()),
            })
            .collect(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    let logs = &run["logs"];
    Ok(layout::page(
        "Transform run",
        &form.session,
        Section::Transforms,
        html! {
            h1 { "Run of " (text(&transform, "name")) }
            p { "On the bundled sample invoice; nothing was sent. " a href="/transforms" { "Back to transforms" } }
            dl.facts {
                dt { "Status" } dd { (layout::status(text(&run, "status"))) }
                dt { "Duration" } dd { (run["duration_us"].as_u64().unwrap_or(0)) " µs" }
                dt { "Fuel used" } dd { (run["fuel_used"].as_u64().unwrap_or(0)) }
                @if let Some(ct) = output["content_type"].as_str() { dt { "Content type" } dd { code { (ct) } } }
            }
            @if let Some(e) = run["error"].as_str() { (layout::error_box(e, &[])) }
            @if !headers.is_empty() {
                h2 { "Headers" }
                div.table-wrap { table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Value" } } }
                    tbody { @for (n, v) in &headers { tr { td { code { (n) } } td { code { (v) } } } } }
                } }
            }
            @if !output.is_null() {
                h2 { "Output" }
                pre.output { (body) }
            }
            h2 { "Guest logs" }
            h3 { "stdout" }
            pre.output { (text(logs, "stdout")) }
            h3 { "stderr" }
            pre.output { (text(logs, "stderr")) }
            @if logs["truncated"].as_bool() == Some(true) { p.hint { "The logs were truncated at the host's limit." } }
        },
    ))
}
