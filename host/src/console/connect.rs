//! **+ Connect ERP**: one page with a form per provider, and what its submission does.
//!
//! * QuickBooks and Xero: the connection is created through the API (`pending_auth`) and
//!   the answer is a 303 to the provider's `authorize_url`; the CSP's `form-action` names
//!   the providers' origins for this. The provider returns the browser to
//!   `/v1/oauth/callback`, which sends it on to the connection's page (see
//!   [`super::connections`]).
//! * NetSuite: the Token-Based Authentication credentials are sent once; a refusal shows
//!   the form again without them, and no page ever shows them.
//! * Webhook: URL, optional secret, a template (JSON) or a transform; the answer page
//!   shows the test sync and, once, the generated secret with a copy button.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::api_client::{self, ApiFailure, Payload};
use super::connections::test_result;
use super::layout::{self, Section};
use super::session::{CheckedForm, Session};
use super::{ConsoleError, ConsoleState};

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or("")
}

/// What the connect page shows again after a refusal: the provider, the API's error,
/// and the non-secret values typed.
#[derive(Default)]
struct Refusal<'a> {
    provider: &'a str,
    error: Option<&'a ApiFailure>,
    values: HashMap<String, String>,
}

fn connect_page(session: &Session, transforms: &[Value], r: &Refusal) -> Markup {
    let value = |name: &str| r.values.get(name).cloned().unwrap_or_default();
    let error_for = |p: &str| -> Markup {
        html! { @if r.provider == p { @if let Some(e) = r.error { (layout::error_box(&e.to_string(), &e.detail_lines())) } } }
    };
    let common = |p: &str| -> Markup {
        html! {
            input type="hidden" name="provider" value=(p);
            label for={ (p) "_name" } { "Name" }
            input id={ (p) "_name" } type="text" name="name" maxlength="200" value=(if r.provider == p { value("name") } else { String::new() });
            label for={ (p) "_entity" } { "Entity (optional; in Multi-ERP mode only invoices of this entity come here)" }
            input id={ (p) "_entity" } type="text" name="entity" maxlength="200" value=(if r.provider == p { value("entity") } else { String::new() });
        }
    };
    // QuickBooks and Xero connect the same way: a name, then the provider's sign-in.
    let oauth_section = |p: &str, title: &str, at: &str, pick: &str, button: &str| -> Markup {
        html! {
            section id=(p) .card aria-labelledby={ "h_" (p) } {
                h2 id={ "h_" (p) } { (title) }
                p { "You will sign in at " (at) " and pick the " (pick) "; then a test sync checks the connection." }
                (error_for(p))
                form.stack method="post" action="/connections" {
                    (layout::csrf(session)) (common(p))
                    button type="submit" { "Continue to " (button) }
                }
            }
        }
    };
    layout::page(
        "Connect ERP",
        session,
        Section::Connections,
        html! {
            h1 { "Connect ERP" }
            nav.choices aria-label="Providers" {
                a href="#quickbooks" { "QuickBooks Online" } a href="#xero" { "Xero" }
                a href="#netsuite" { "NetSuite" } a href="#webhook" { "Webhook" }
            }
            (oauth_section("quickbooks", "QuickBooks Online", "Intuit", "company", "QuickBooks"))
            (oauth_section("xero", "Xero", "Xero", "organisation", "Xero"))
            section #netsuite .card aria-labelledby="h_netsuite" {
                h2 #h_netsuite { "NetSuite" }
                p { "Token-Based Authentication credentials. They are sealed at rest and never shown again." }
                (error_for("netsuite"))
                form.stack method="post" action="/connections" autocomplete="off" {
                    (layout::csrf(session)) (common("netsuite"))
                    label for="ns_account" { "Account id (e.g. 1234567 or 1234567_SB1)" }
                    input #ns_account type="text" name="account_id" required value=(value("account_id")) spellcheck="false";
                    label for="ns_ck" { "Consumer key" }
                    input #ns_ck type="password" name="consumer_key" required autocomplete="off";
                    label for="ns_cs" { "Consumer secret" }
                    input #ns_cs type="password" name="consumer_secret" required autocomplete="off";
                    label for="ns_ti" { "Token id" }
                    input #ns_ti type="password" name="token_id" required autocomplete="off";
                    label for="ns_ts" { "Token secret" }
                    input #ns_ts type="password" name="token_secret" required autocomplete="off";
                    label for="ns_item" { "Default item id (optional)" }
                    input #ns_item type="text" name="default_item_id" value=(value("default_item_id"));
                    label for="ns_sub" { "Subsidiary id (optional)" }
                    input #ns_sub type="text" name="subsidiary_id" value=(value("subsidiary_id"));
                    button type="submit" { "Connect NetSuite" }
                }
            }
            section #webhook .card aria-labelledby="h_webhook" {
                h2 #h_webhook { "Webhook" }
                p { "Signed HTTPS POSTs to your endpoint. Shape the payload with a JSONPath template or a transform, or leave both empty for the standard envelope." }
                (error_for("webhook"))
                form.stack method="post" action="/connections" {
                    (layout::csrf(session)) (common("webhook"))
                    label for="wh_url" { "URL" }
                    input #wh_url type="url" name="url" required value=(value("url")) spellcheck="false";
                    label for="wh_secret" { "Signing secret (optional, at least 16 characters; empty: one is generated and shown once)" }
                    input #wh_secret type="password" name="secret" minlength="16" autocomplete="off";
                    label for="wh_template" { "Payload template (optional, JSON)" }
                    textarea #wh_template name="template" rows="6" spellcheck="false" { (value("template")) }
                    label for="wh_transform" { "Transform (optional)" }
                    select #wh_transform name="transform_id" {
                        option value="" { "None" }
                        @for t in transforms.iter().filter(|t| t["world"] == "webhook-transform") {
                            option value=(text(t, "id")) selected[value("transform_id") == text(t, "id")] { (text(t, "name")) " (" (text(t, "id")) ")" }
                        }
                    }
                    button type="submit" { "Connect webhook" }
                }
            }
        },
    )
}

/// `GET /connections/new`.
pub async fn new(
    State(state): State<ConsoleState>,
    session: Session,
) -> Result<Markup, ConsoleError> {
    let transforms = super::transforms::list(&state, &session.key).await?;
    Ok(connect_page(&session, &transforms, &Refusal::default()))
}

/// The API body for a create form.
fn create_body(form: &CheckedForm, provider: &str) -> Result<Value, String> {
    let mut config = Map::new();
    let mut put = |key: &str| {
        if let Some(v) = form.get(key) {
            config.insert(key.to_string(), json!(v));
        }
    };
    match provider {
        "webhook" => {
            put("url");
            put("secret");
            put("transform_id");
        }
        "netsuite" => {
            for key in [
                "account_id",
                "consumer_key",
                "consumer_secret",
                "token_id",
                "token_secret",
                "default_item_id",
                "subsidiary_id",
            ] {
                put(key);
            }
        }
        _ => {}
    }
    if provider == "webhook"
        && let Some(t) = form.get("template")
    {
        let template: Value = serde_json::from_str(t)
            .map_err(|e| format!("the payload template is not valid JSON: {e}"))?;
        config.insert("template".into(), template);
    }
    let mut body = json!({"provider": provider, "config": config});
    for key in ["name", "entity"] {
        if let Some(v) = form.get(key) {
            body[key] = json!(v);
        }
    }
    Ok(body)
}

/// The connect page again, with the API's refusal above the provider's form.
async fn refuse_create(
    state: &ConsoleState,
    form: &CheckedForm,
    provider: &str,
    failure: ApiFailure,
) -> Response {
    if failure.status() == StatusCode::UNAUTHORIZED {
        return ConsoleError::from(failure).into_response();
    }
    let mut values = form.fields.clone();
    for secret in [
        "secret",
        "consumer_key",
        "consumer_secret",
        "token_id",
        "token_secret",
        "csrf",
    ] {
        values.remove(secret);
    }
    let transforms = super::transforms::list(state, &form.session.key)
        .await
        .unwrap_or_default();
    let refusal = Refusal {
        provider,
        error: Some(&failure),
        values,
    };
    (
        failure.status(),
        connect_page(&form.session, &transforms, &refusal),
    )
        .into_response()
}

/// `POST /connections`.
pub async fn create(State(state): State<ConsoleState>, form: CheckedForm) -> Response {
    let provider = form.get("provider").unwrap_or("").to_string();
    let body = match create_body(&form, &provider) {
        Ok(b) => b,
        Err(message) => {
            let failure = ApiFailure::Refused {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "invalid_template".into(),
                message,
                details: Vec::new(),
            };
            return refuse_create(&state, &form, &provider, failure).await;
        }
    };
    let created = match state
        .api
        .send(
            &form.session.key,
            Method::POST,
            "/v1/connections",
            Payload::Json(body),
        )
        .await
    {
        Ok(c) => c,
        Err(e) => return refuse_create(&state, &form, &provider, e).await,
    };
    if let Some(url) = created["authorize_url"].as_str() {
        return Redirect::to(url).into_response();
    }
    if created["provider"] == "webhook" {
        return created_page(&form.session, &created).into_response();
    }
    Redirect::to(&format!(
        "{}?created=1",
        api_client::path(&["connections", text(&created, "id")])
    ))
    .into_response()
}

/// The answer to a new webhook: its test sync and, once, its generated secret.
fn created_page(session: &Session, created: &Value) -> Markup {
    let test = &created["test_sync"];
    layout::page(
        "Connection created",
        session,
        Section::Connections,
        html! {
            h1 { "Connected: " (text(created, "name")) }
            h2 { "Test sync" }
            p { (test_result(test)) }
            @if let Some(secret) = created["secret"].as_str() {
                section.card.secret aria-labelledby="h_secret" {
                    h2 #h_secret { "Signing secret" }
                    p { strong { "Copy it now: it is shown this once and never again." } " Your endpoint verifies "
                        code { "X-Aforo-Signature" } " with it." }
                    p.copy-row {
                        code #secret { (secret) }
                        button type="button" data-copy="secret" { "Copy" }
                        span.copied role="status" aria-live="polite" {}
                    }
                }
            }
            p { a href=(api_client::path(&["connections", text(created, "id")])) { "Go to the connection" } " · " a href="/connections" { "All connections" } }
        },
    )
}
