//! The Mapping page of an ERP connection: its item, account and tax maps, each value
//! chosen from a drop-down filled with the ERP's own list
//! (`GET /v1/connections/{id}/erp/{list}`), and a preview of the sample invoice, or a
//! pasted one, with every mapping gap marked (`POST /v1/connections/{id}/preview`).
//!
//! The rows shown are the keys the invoice needs (its products, line types and tax
//! codes) and the keys the connection already maps; saving sends the changed maps with
//! `PATCH /v1/connections/{id}`, so the API's checks apply.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::api_client::{self, ApiFailure, Payload};
use super::layout::{self, Section};
use super::session::{CheckedForm, Session};
use super::{ConsoleError, ConsoleState};

/// Which of the invoice's values a map is keyed by.
#[derive(Clone, Copy, PartialEq)]
enum Keys {
    /// Product ids, then line types.
    Lines,
    /// Tax codes (and `NONE`, for lines without one, where the provider reads it).
    TaxCodes,
    /// Both (NetSuite books tax on items too).
    LinesAndTax,
}

/// One map of a provider's config.
struct MapSpec {
    config_key: &'static str,
    title: &'static str,
    list: &'static str,
    keys: Keys,
    hint: &'static str,
}

/// One default of a provider's config (used where no map key matches).
struct DefaultSpec {
    config_key: &'static str,
    title: &'static str,
    list: &'static str,
}

fn specs(provider: &str) -> (Vec<MapSpec>, Vec<DefaultSpec>) {
    match provider {
        "quickbooks" => (
            vec![
                MapSpec {
                    config_key: "item_map",
                    title: "Items",
                    list: "items",
                    keys: Keys::Lines,
                    hint: "The Item each line books to, by product id first, then line type.",
                },
                MapSpec {
                    config_key: "tax_code_map",
                    title: "Tax codes (companies outside the US)",
                    list: "tax-rates",
                    keys: Keys::TaxCodes,
                    hint: "The TaxCode of each line, by our tax code; NONE for lines without one. US companies book tax as TAX/NON and need none.",
                },
            ],
            vec![DefaultSpec {
                config_key: "default_item_id",
                title: "Default Item (unset: the company's Services Item)",
                list: "items",
            }],
        ),
        "xero" => (
            vec![
                MapSpec {
                    config_key: "account_map",
                    title: "Accounts",
                    list: "accounts",
                    keys: Keys::Lines,
                    hint: "The sales account of each line, by product id first, then line type.",
                },
                MapSpec {
                    config_key: "tax_map",
                    title: "Tax rates",
                    list: "tax-rates",
                    keys: Keys::TaxCodes,
                    hint: "The Xero tax type of each line, by our tax code.",
                },
                MapSpec {
                    config_key: "item_map",
                    title: "Items",
                    list: "items",
                    keys: Keys::Lines,
                    hint: "An optional Xero item code on each line, by product id, then line type.",
                },
            ],
            vec![
                DefaultSpec {
                    config_key: "account_code",
                    title: "Default account (unset: 200)",
                    list: "accounts",
                },
                DefaultSpec {
                    config_key: "tax_type",
                    title: "Default tax rate (unset: the account's own)",
                    list: "tax-rates",
                },
            ],
        ),
        "netsuite" => (
            vec![MapSpec {
                config_key: "item_map",
                title: "Items",
                list: "items",
                keys: Keys::LinesAndTax,
                hint: "The item of each line, by product id, then line type; tax lines by tax code, then TAX.",
            }],
            vec![DefaultSpec {
                config_key: "default_item_id",
                title: "Default item",
                list: "items",
            }],
        ),
        _ => (Vec::new(), Vec::new()),
    }
}

/// The keys a map needs for this invoice, in the invoice's order, then the keys the
/// connection maps already.
fn keys_for(
    invoice: &Value,
    keys: Keys,
    provider: &str,
    current: &Map<String, Value>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |k: &str| {
        if !k.is_empty() && !out.iter().any(|o| o == k) {
            out.push(k.to_string());
        }
    };
    let lines = invoice["lines"].as_array().cloned().unwrap_or_default();
    if matches!(keys, Keys::Lines | Keys::LinesAndTax) {
        for line in &lines {
            if let Some(p) = line["product_id"].as_str() {
                push(p);
            }
            push(line["type"].as_str().unwrap_or_default());
        }
    }
    if matches!(keys, Keys::TaxCodes | Keys::LinesAndTax) {
        for line in &lines {
            match line["tax_code"].as_str() {
                Some(code) => push(code),
                None if provider == "quickbooks" => push("NONE"),
                None => {}
            }
        }
        if keys == Keys::LinesAndTax {
            push("TAX");
        }
    }
    for k in current.keys() {
        push(k);
    }
    out
}

/// The page's state: the connection, its lists, the invoice and its preview.
struct View {
    connection: Value,
    lists: BTreeMap<&'static str, Result<Vec<Value>, String>>,
    invoice_text: String,
    preview: Result<Value, ApiFailure>,
}

async fn gather(
    state: &ConsoleState,
    key: &str,
    id: &str,
    pasted: Option<&str>,
) -> Result<View, ConsoleError> {
    let connection = state
        .api
        .get(key, &api_client::path(&["v1", "connections", id]))
        .await?;
    let provider = connection["provider"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut lists = BTreeMap::new();
    let (maps, defaults) = specs(&provider);
    let wanted: BTreeSet<&'static str> = maps
        .iter()
        .map(|m| m.list)
        .chain(defaults.iter().map(|d| d.list))
        .collect();
    for list in wanted {
        let read = state
            .api
            .get(
                key,
                &api_client::path(&["v1", "connections", id, "erp", list]),
            )
            .await;
        lists.insert(
            list,
            read.map(|v| v.as_array().cloned().unwrap_or_default())
                .map_err(|e| e.to_string()),
        );
    }
    let (invoice_text, body) = match pasted {
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(v) => (text.to_string(), json!({"invoice": v})),
            Err(e) => {
                let failure = ApiFailure::Refused {
                    status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    code: "malformed_json".into(),
                    message: format!("the pasted invoice is not JSON: {e}"),
                    details: Vec::new(),
                };
                return Ok(View {
                    connection,
                    lists,
                    invoice_text: text.to_string(),
                    preview: Err(failure),
                });
            }
        },
        None => {
            let sample = serde_json::to_string_pretty(&crate::domain::sample::sample_invoice())
                .unwrap_or_default();
            (sample, json!({}))
        }
    };
    let preview = state
        .api
        .send(
            key,
            Method::POST,
            &api_client::path(&["v1", "connections", id, "preview"]),
            Payload::Json(body),
        )
        .await;
    Ok(View {
        connection,
        lists,
        invoice_text,
        preview,
    })
}

/// The invoice keys that the preview's gaps point at: a line's product and line type for
/// a missing item or account, its tax code for a missing tax mapping.
fn keys_with_gaps(invoice: &Value, preview: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let lines = invoice["lines"].as_array().cloned().unwrap_or_default();
    for gap in preview["gaps"].as_array().into_iter().flatten() {
        let field = gap["field"].as_str().unwrap_or_default();
        let index = field
            .split_once('[')
            .and_then(|(_, rest)| rest.split_once(']'))
            .and_then(|(n, _)| n.parse::<usize>().ok());
        let keys: &[&str] = if field.ends_with("tax_code") || field.ends_with("TaxCodeRef") {
            &["tax_code"]
        } else {
            &["product_id", "type"]
        };
        if let Some(line) = index.and_then(|i| lines.get(i)) {
            for k in keys {
                if let Some(v) = line[*k].as_str() {
                    out.insert(v.to_string());
                }
            }
        }
        if field == "tax_total" {
            out.insert("TAX".into());
        }
    }
    out
}

fn options(list: &Result<Vec<Value>, String>, chosen: Option<&str>, none_label: &str) -> Markup {
    html! {
        option value="" selected[chosen.is_none()] { (none_label) }
        @if let Ok(entries) = list {
            @for e in entries {
                @let id = e["id"].as_str().unwrap_or_default();
                option value=(id) selected[chosen == Some(id)] { (e["name"].as_str().unwrap_or_default()) " (" (id) ")" }
            }
            // A value mapped earlier that the ERP no longer lists stays visible.
            @if let Some(c) = chosen.filter(|c| !entries.iter().any(|e| e["id"] == *c)) {
                option value=(c) selected { (c) " (not in the ERP's list)" }
            }
        }
    }
}

fn render(session: &Session, view: &View, notice: Option<Result<String, &ApiFailure>>) -> Markup {
    let c = &view.connection;
    let id = c["id"].as_str().unwrap_or_default();
    let provider = c["provider"].as_str().unwrap_or_default();
    let config = c["config"].as_object().cloned().unwrap_or_default();
    let (maps, defaults) = specs(provider);
    let invoice: Value = serde_json::from_str(&view.invoice_text).unwrap_or(Value::Null);
    let marked = view
        .preview
        .as_ref()
        .map(|p| keys_with_gaps(&invoice, p))
        .unwrap_or_default();
    let mut row = 0usize;
    layout::page(
        &format!("Mapping of {}", c["name"].as_str().unwrap_or_default()),
        session,
        Section::Connections,
        html! {
            h1 { "Mapping of " (c["name"].as_str().unwrap_or_default()) }
            p.lead { "What the accountant maps is what lands: each value comes from the ERP's own lists. "
                a href=(api_client::path(&["connections", id])) { "Back to the connection" } }
            @match notice {
                Some(Ok(m)) => (layout::ok_box(&m)),
                Some(Err(e)) => (layout::error_box(&e.to_string(), &e.detail_lines())),
                None => {}
            }
            @if maps.is_empty() {
                p { "A webhook has no ERP lists to map to; its body is shaped by a template or a transform." }
            } @else {
                form method="post" action=(api_client::path(&["connections", id, "mapping"])) {
                    (layout::csrf(session))
                    @for spec in &maps {
                        @let current = config.get(spec.config_key).and_then(Value::as_object).cloned().unwrap_or_default();
                        @let list = view.lists.get(spec.list).cloned().unwrap_or(Ok(Vec::new()));
                        section.card aria-labelledby={ "h_" (spec.config_key) } {
                            h2 id={ "h_" (spec.config_key) } { (spec.title) " " code { (spec.config_key) } }
                            p.hint { (spec.hint) }
                            @if let Err(e) = &list { p.error { "The list could not be read: " (e) } }
                            div.table-wrap { table {
                                thead { tr { th scope="col" { "Key" } th scope="col" { "Maps to" } th scope="col" { "Preview" } } }
                                tbody {
                                    @for key in keys_for(&invoice, spec.keys, provider, &current) {
                                        @let n = { row += 1; row };
                                        @let chosen = current.get(&key).and_then(Value::as_str);
                                        tr {
                                            td { label for={ "v" (n) } { code { (key) } } }
                                            td {
                                                input type="hidden" name={ "m" (n) } value=(spec.config_key);
                                                input type="hidden" name={ "k" (n) } value=(key);
                                                select id={ "v" (n) } name={ "v" (n) } { (options(&list, chosen, "(not mapped)")) }
                                            }
                                            td { @if marked.contains(&key) && chosen.is_none() { span.status.bad { "gap" } } @else if chosen.is_some() { span.status.good { "mapped" } } }
                                        }
                                    }
                                }
                            } }
                        }
                    }
                    section.card aria-labelledby="h_defaults" {
                        h2 #h_defaults { "Defaults" }
                        @for spec in &defaults {
                            @let list = view.lists.get(spec.list).cloned().unwrap_or(Ok(Vec::new()));
                            @let chosen = config.get(spec.config_key).and_then(Value::as_str);
                            p {
                                label for={ "d_" (spec.config_key) } { (spec.title) " " code { (spec.config_key) } } br;
                                select id={ "d_" (spec.config_key) } name={ "d." (spec.config_key) } { (options(&list, chosen, "(unset)")) }
                            }
                        }
                    }
                    button type="submit" { "Save the mapping" }
                }
            }
            h2 { "Preview" }
            p.hint { "The exact request a delivery of this invoice would send, and every gap. Nothing is sent." }
            form.stack method="post" action=(api_client::path(&["connections", id, "mapping", "preview"])) {
                (layout::csrf(session))
                label for="invoice" { "Invoice (the sample, or paste one)" }
                textarea #invoice name="invoice" rows="12" spellcheck="false" { (view.invoice_text) }
                button type="submit" { "Preview" }
            }
            @match &view.preview {
                Err(e) => (layout::error_box(&e.to_string(), &e.detail_lines())),
                Ok(p) => {
                    @let gaps = p["gaps"].as_array().cloned().unwrap_or_default();
                    @if gaps.is_empty() {
                        (layout::ok_box("No mapping gap: this invoice would book as shown."))
                    } @else {
                        div.notice.error role="alert" {
                            p { strong { (gaps.len()) " mapping gap(s): " } "a delivery of this invoice would fail at once, naming them." }
                            ul.gaps { @for g in &gaps { li { code { (g["field"].as_str().unwrap_or_default()) } ": " (g["message"].as_str().unwrap_or_default()) } } }
                        }
                    }
                    @if let Some(notes) = p["notes"].as_array().filter(|n| !n.is_empty()) {
                        ul.hint { @for n in notes { li { (n.as_str().unwrap_or_default()) } } }
                    }
                    @if p["request"].is_null() {
                        p { "This delivery would send nothing." }
                    } @else {
                        p { code { (p["request"]["method"].as_str().unwrap_or_default()) " " (p["request"]["url"].as_str().unwrap_or_default()) } }
                        pre.output { (serde_json::to_string_pretty(&p["request"]["body"]).unwrap_or_default()) }
                    }
                }
            }
        },
    )
}

/// `GET /connections/{id}/mapping`.
pub async fn page(
    State(state): State<ConsoleState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let view = gather(&state, &session.key, &id, None).await?;
    Ok(render(&session, &view, None).into_response())
}

/// `POST /connections/{id}/mapping/preview`: the preview of a pasted invoice.
pub async fn preview(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    form: CheckedForm,
) -> Result<Response, ConsoleError> {
    let pasted = form.get("invoice").map(str::to_string);
    let view = gather(&state, &form.session.key, &id, pasted.as_deref()).await?;
    Ok(render(&form.session, &view, None).into_response())
}

/// `POST /connections/{id}/mapping`: saves the maps and defaults as chosen.
pub async fn save(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    form: CheckedForm,
) -> Result<Response, ConsoleError> {
    let connection = state
        .api
        .get(
            &form.session.key,
            &api_client::path(&["v1", "connections", &id]),
        )
        .await?;
    let provider = connection["provider"].as_str().unwrap_or_default();
    let config = connection["config"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let (maps, defaults) = specs(provider);
    let mut patch = Map::new();
    for spec in &maps {
        let mut map = config
            .get(spec.config_key)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        // Rows are `k<n>` (the key), `m<n>` (its map) and `v<n>` (the value).
        let rows = form
            .fields
            .iter()
            .filter_map(|(name, key)| Some((name.strip_prefix('k')?.parse::<usize>().ok()?, key)));
        for (n, key) in rows {
            if form.fields.get(&format!("m{n}")).map(String::as_str) != Some(spec.config_key) {
                continue;
            }
            match form.get(&format!("v{n}")) {
                Some(v) => map.insert(key.clone(), json!(v)),
                None => map.remove(key),
            };
        }
        patch.insert(spec.config_key.into(), Value::Object(map));
    }
    for spec in &defaults {
        let value = form
            .get(&format!("d.{}", spec.config_key))
            .map_or(Value::Null, |v| json!(v));
        patch.insert(spec.config_key.into(), value);
    }
    let saved = state
        .api
        .send(
            &form.session.key,
            Method::PATCH,
            &api_client::path(&["v1", "connections", &id]),
            Payload::Json(json!({"config": patch})),
        )
        .await;
    let view = gather(&state, &form.session.key, &id, None).await?;
    Ok(match saved {
        Ok(_) => render(&form.session, &view, Some(Ok("Mapping saved.".into()))).into_response(),
        Err(e) => (e.status(), render(&form.session, &view, Some(Err(&e)))).into_response(),
    })
}
