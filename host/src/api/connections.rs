//! Connections: create (with a test sync), list, show, change, disconnect.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::AuthTenant;
use super::error::ApiError;
use super::{AppState, body, time};
use crate::connectors::oauth::Authorization;
use crate::connectors::{Connector, Outcome, PROVIDERS, egress};
use crate::crypto::api_key::generate_webhook_secret;
use crate::domain::ids::{new_id, prefix};
use crate::store::{ConnectionRow, FAILED, LogEntry, NewConnection, SUCCESS, now_ms};
use crate::transform::template::Template;
use crate::transform::wasm::World;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/connections", post(create).get(list))
        .route(
            "/v1/connections/{id}",
            get(show).patch(update).delete(disconnect),
        )
        .route("/v1/connections/{id}/reauthorize", post(reauthorize))
}

/// Body of `POST /v1/connections`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    /// `webhook`, `quickbooks`, `xero` or `netsuite`.
    pub provider: String,
    pub name: Option<String>,
    /// Only invoices of this legal entity are routed here (Multi-ERP mode).
    pub entity: Option<String>,
    /// Provider settings; for `webhook`: `url` (required), `secret`, and either
    /// `template` (a JSONPath payload template) or `transform_id` (with
    /// `transform_config`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: serde_json::Map<String, Value>,
}

/// A connection as the API shows it: never its secrets.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    pub id: String,
    pub provider: String,
    pub name: String,
    pub entity: Option<String>,
    /// `active`, `pending_auth`, `needs_reauth` or `disconnected`.
    pub status: String,
    #[schema(value_type = Object)]
    pub config: Value,
    /// The last test sync: `{status, response_code, error, at}`.
    #[schema(value_type = Option<Object>)]
    pub last_test: Option<Value>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<ConnectionRow> for ConnectionView {
    fn from(c: ConnectionRow) -> Self {
        ConnectionView {
            id: c.id,
            provider: c.provider,
            name: c.name,
            entity: c.entity,
            status: c.status,
            config: c.config,
            last_test: c.last_test,
            created_at: time(c.created_ms),
            updated_at: time(c.updated_ms),
        }
    }
}

/// The result of a test sync.
#[derive(Serialize, Clone, utoipa::ToSchema)]
pub struct TestSync {
    /// `SUCCESS` or `FAILED`.
    pub status: String,
    pub response_code: Option<u16>,
    pub error: Option<String>,
}

/// Answer of `POST /v1/connections`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedConnection {
    #[serde(flatten)]
    pub connection: ConnectionView,
    pub test_sync: Option<TestSync>,
    /// The webhook signing secret, shown this once and never again.
    pub secret: Option<String>,
    /// OAuth providers: where to send the operator to authorize erp-sync.
    pub authorize_url: Option<String>,
}

fn field_error(field: &str, message: impl Into<String>) -> ApiError {
    let message = message.into();
    ApiError::invalid(format!("{field}: {message}"))
        .with_details(vec![json!({"field": field, "message": message})])
}

fn optional_text(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.trim().is_empty() => {
            Err(field_error(field, "must not be empty; omit it instead"))
        }
        Some(v) if v.len() > 200 => Err(field_error(field, "must be at most 200 characters")),
        other => Ok(other),
    }
}

/// Checks a webhook config and splits off its secret: the URL and its target, and a
/// template (compiled now, so a bad path is refused with its location) or a transform
/// (which must be this tenant's webhook-transform component).
async fn webhook_config(
    state: &AppState,
    tenant_id: &str,
    mut config: serde_json::Map<String, Value>,
) -> Result<(Value, Option<String>), ApiError> {
    let secret = match config.remove("secret") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() >= 16 => Some(s),
        Some(Value::String(_)) => {
            return Err(field_error(
                "config.secret",
                "must be at least 16 characters",
            ));
        }
        Some(_) => return Err(field_error("config.secret", "must be a string")),
    };
    config.retain(|_, v| !v.is_null());
    const KNOWN: [&str; 4] = ["url", "template", "transform_id", "transform_config"];
    if let Some(key) = config.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(field_error(
            &format!("config.{key}"),
            "is not a webhook setting (known: url, secret, template, transform_id, transform_config)",
        ));
    }
    let url = match config.get("url") {
        Some(Value::String(u)) => u.clone(),
        Some(_) => return Err(field_error("config.url", "must be a string")),
        None => {
            return Err(field_error(
                "config.url",
                "is required: the https URL that receives the events",
            ));
        }
    };
    let parsed = url::Url::parse(&url)
        .map_err(|e| field_error("config.url", format!("is not a valid URL: {e}")))?;
    egress::check_target(&parsed, state.allow_private_targets)
        .await
        .map_err(|m| field_error("config.url", m))?;
    if config.contains_key("template") && config.contains_key("transform_id") {
        return Err(field_error(
            "config.transform_id",
            "cannot be combined with config.template: choose one way to shape the payload",
        ));
    }
    if let Some(doc) = config.get("template") {
        Template::compile(doc).map_err(|e| {
            field_error(
                "config.template",
                format!("at {}: {}", e.location, e.message),
            )
        })?;
    }
    match config.get("transform_id") {
        None => {}
        Some(Value::String(id)) => {
            let row = state.store.transform(tenant_id, id).await.map_err(|_| {
                field_error(
                    "config.transform_id",
                    format!("transform {id} not found; upload it with POST /v1/transforms"),
                )
            })?;
            if row.world != World::WebhookTransform.as_str() {
                return Err(field_error(
                    "config.transform_id",
                    format!(
                        "transform {id} is an {} component; a webhook needs a webhook-transform",
                        row.world
                    ),
                ));
            }
        }
        Some(_) => return Err(field_error("config.transform_id", "must be a string")),
    }
    match config.get("transform_config") {
        None => {}
        Some(Value::Object(map)) if map.values().all(Value::is_string) => {}
        Some(_) => {
            return Err(field_error(
                "config.transform_config",
                "must be an object of string values, handed to the transform as its config",
            ));
        }
    }
    Ok((Value::Object(config), secret))
}

/// Checks a QuickBooks config (`item_map`, `default_item_id`, `tax_code_map`);
/// `realm_id` is learnt at
/// the OAuth callback and kept from `current`.
fn quickbooks_config(
    mut config: serde_json::Map<String, Value>,
    current: &serde_json::Map<String, Value>,
) -> Result<Value, ApiError> {
    config.retain(|_, v| !v.is_null());
    for (key, value) in &config {
        match (key.as_str(), value) {
            ("item_map", Value::Object(m)) if m.values().all(Value::is_string) => {}
            ("item_map", _) => {
                return Err(field_error(
                    "config.item_map",
                    "must map product ids or line types to QuickBooks Item ids, e.g. {\"prod_api\": \"1\", \"SETUP_FEE\": \"3\"}",
                ));
            }
            ("default_item_id", Value::String(_)) => {}
            ("default_item_id", _) => {
                return Err(field_error(
                    "config.default_item_id",
                    "must be a string Item id",
                ));
            }
            ("tax_code_map", Value::Object(m)) if m.values().all(Value::is_string) => {}
            ("tax_code_map", _) => {
                return Err(field_error(
                    "config.tax_code_map",
                    "must map our tax codes (and NONE for untaxed lines) to QuickBooks TaxCode ids, e.g. {\"UK-VAT-20\": \"3\", \"NONE\": \"7\"}",
                ));
            }
            ("realm_id", _) => {
                return Err(field_error(
                    "config.realm_id",
                    "is set when the company is authorized; connect another company with a new connection",
                ));
            }
            (other, _) => {
                return Err(field_error(
                    &format!("config.{other}"),
                    "is not a QuickBooks setting (known: item_map, default_item_id, tax_code_map)",
                ));
            }
        }
    }
    if let Some(realm) = current.get("realm_id") {
        config.insert("realm_id".into(), realm.clone());
    }
    Ok(Value::Object(config))
}

/// A new OAuth connection: `pending_auth`, with a single-use `state` bound to this
/// tenant and connection, and the URL to authorize at.
async fn create_oauth(
    state: &AppState,
    tenant_id: &str,
    provider: &str,
    name: Option<String>,
    entity: Option<String>,
    config: Value,
) -> Result<(StatusCode, Json<CreatedConnection>), ApiError> {
    let authorization = authorize(state, provider)?;
    state.store.check_connection_allowed(tenant_id).await?;
    let connection = state
        .store
        .insert_connection(&NewConnection {
            id: new_id(prefix::CONNECTION),
            tenant_id: tenant_id.to_string(),
            name: name.unwrap_or_else(|| provider.to_string()),
            provider: provider.to_string(),
            entity,
            status: "pending_auth".into(),
            config,
            secrets: None,
        })
        .await?;
    remember_state(state, &authorization, tenant_id, &connection.id, provider).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedConnection {
            connection: connection.into(),
            test_sync: None,
            secret: None,
            authorize_url: Some(authorization.url),
        }),
    ))
}

/// The NetSuite credentials, which are sealed; everything else stays in the config.
const NETSUITE_SECRETS: [&str; 4] = [
    "consumer_key",
    "consumer_secret",
    "token_id",
    "token_secret",
];

/// Checks a NetSuite config and splits off its credentials (all required on create).
async fn netsuite_config(
    state: &AppState,
    mut config: serde_json::Map<String, Value>,
    require_credentials: bool,
) -> Result<(Value, serde_json::Map<String, Value>), ApiError> {
    config.retain(|_, v| !v.is_null());
    let mut secrets = serde_json::Map::new();
    for key in NETSUITE_SECRETS {
        match config.remove(key) {
            Some(Value::String(v)) if !v.trim().is_empty() => {
                secrets.insert(key.into(), Value::String(v));
            }
            Some(_) => {
                return Err(field_error(
                    &format!("config.{key}"),
                    "must be a non-empty string",
                ));
            }
            None if require_credentials => {
                return Err(field_error(
                    &format!("config.{key}"),
                    "is required: NetSuite Token-Based Authentication needs consumer_key, consumer_secret, token_id and token_secret",
                ));
            }
            None => {}
        }
    }
    match config.get("account_id") {
        Some(Value::String(a))
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') => {}
        Some(_) => {
            return Err(field_error(
                "config.account_id",
                "must be the NetSuite account id, e.g. 1234567 or 1234567_SB1",
            ));
        }
        None => {
            return Err(field_error(
                "config.account_id",
                "is required, e.g. 1234567 or 1234567_SB1",
            ));
        }
    }
    for (key, value) in &config {
        match (key.as_str(), value) {
            ("account_id", _) => {}
            ("item_map", Value::Object(m)) if m.values().all(Value::is_string) => {}
            ("default_item_id" | "subsidiary_id", Value::String(_)) => {}
            ("api_base", Value::String(u)) => {
                let parsed = url::Url::parse(u).map_err(|e| {
                    field_error("config.api_base", format!("is not a valid URL: {e}"))
                })?;
                egress::check_target(&parsed, state.allow_private_targets)
                    .await
                    .map_err(|m| field_error("config.api_base", m))?;
            }
            ("item_map" | "default_item_id" | "subsidiary_id" | "api_base", _) => {
                return Err(field_error(&format!("config.{key}"), "has the wrong type"));
            }
            (other, _) => {
                return Err(field_error(
                    &format!("config.{other}"),
                    "is not a NetSuite setting (known: account_id, consumer_key, consumer_secret, token_id, token_secret, item_map, default_item_id, subsidiary_id, api_base)",
                ));
            }
        }
    }
    Ok((Value::Object(config), secrets))
}

/// A NetSuite connection: the test sync runs on the credentials first, and only a
/// passing test stores anything.
async fn create_netsuite(
    state: &AppState,
    tenant_id: &str,
    name: Option<String>,
    entity: Option<String>,
    config: serde_json::Map<String, Value>,
) -> Result<(StatusCode, Json<CreatedConnection>), ApiError> {
    let (config, secrets) = netsuite_config(state, config, true).await?;
    state.store.check_connection_allowed(tenant_id).await?;
    let id = new_id(prefix::CONNECTION);
    let secrets = Value::Object(secrets);
    let sealed = state
        .sealer
        .seal(secrets.to_string().as_bytes(), id.as_bytes());
    let new = NewConnection {
        id,
        tenant_id: tenant_id.to_string(),
        name: name.unwrap_or_else(|| "netsuite".to_string()),
        provider: "netsuite".into(),
        entity,
        status: "active".into(),
        config,
        secrets: Some(sealed),
    };
    let draft = ConnectionRow {
        id: new.id.clone(),
        tenant_id: new.tenant_id.clone(),
        provider: new.provider.clone(),
        name: new.name.clone(),
        entity: new.entity.clone(),
        status: new.status.clone(),
        config: new.config.clone(),
        secrets: new.secrets.clone(),
        last_test: None,
        created_ms: now_ms(),
        updated_ms: now_ms(),
    };
    let started = std::time::Instant::now();
    let outcome = state.connectors.netsuite.test(&draft, &secrets).await;
    if !outcome.is_success() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "connection_test_failed",
            format!(
                "the NetSuite test sync failed, so nothing was saved: {}",
                outcome.detail.unwrap_or_default()
            ),
        )
        .with_details(vec![
            json!({"field": "config", "response_code": outcome.response_code}),
        ]));
    }
    let connection = state.store.insert_connection(&new).await?;
    let test = record_test(state, &connection, &outcome, started.elapsed()).await?;
    let connection = state.store.connection(tenant_id, &connection.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedConnection {
            connection: connection.into(),
            test_sync: Some(test),
            secret: None,
            authorize_url: None,
        }),
    ))
}

/// A fresh authorization at the provider's OAuth server.
fn authorize(state: &AppState, provider: &str) -> Result<Authorization, ApiError> {
    let result = match provider {
        "quickbooks" => state.connectors.quickbooks.authorize(),
        "xero" => state.connectors.xero.authorize(),
        other => Err(format!("{other} does not authorize with OAuth")),
    };
    result.map_err(|m| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "provider_not_configured",
            m,
        )
    })
}

/// Keeps the `state` (and the sealed PKCE verifier, bound to the state) for the callback.
async fn remember_state(
    state: &AppState,
    authorization: &Authorization,
    tenant_id: &str,
    connection_id: &str,
    provider: &str,
) -> Result<(), ApiError> {
    let verifier = authorization.verifier.as_ref().map(|v| {
        state
            .sealer
            .seal(v.as_bytes(), authorization.state.as_bytes())
    });
    state
        .store
        .create_oauth_state(
            &authorization.state,
            tenant_id,
            connection_id,
            provider,
            verifier.as_deref(),
            OAUTH_STATE_TTL_MS,
        )
        .await?;
    Ok(())
}

/// Checks a Xero config; `tenant_id` must be one of the organisations authorized (kept
/// in `available_tenants`), which only the callback writes.
fn xero_config(
    mut config: serde_json::Map<String, Value>,
    current: &serde_json::Map<String, Value>,
) -> Result<Value, ApiError> {
    config.retain(|_, v| !v.is_null());
    config.remove("available_tenants");
    for (key, value) in &config {
        match (key.as_str(), value) {
            ("tenant_id", Value::String(t)) => {
                if let Some(list) = current.get("available_tenants").and_then(Value::as_array)
                    && !list.iter().any(|x| x["tenant_id"] == *t)
                {
                    let names: Vec<String> = list
                        .iter()
                        .map(|x| {
                            format!(
                                "{} ({})",
                                x["tenant_id"].as_str().unwrap_or(""),
                                x["name"].as_str().unwrap_or("")
                            )
                        })
                        .collect();
                    return Err(field_error(
                        "config.tenant_id",
                        format!(
                            "is not an organisation this connection authorized; choose one of {}",
                            names.join(", ")
                        ),
                    ));
                }
            }
            ("account_code" | "tax_type", Value::String(_)) => {}
            ("status", Value::String(s)) if s == "AUTHORISED" || s == "DRAFT" => {}
            ("status", _) => {
                return Err(field_error("config.status", "must be AUTHORISED or DRAFT"));
            }
            ("account_map" | "tax_map" | "item_map", Value::Object(m))
                if m.values().all(Value::is_string) => {}
            (
                other @ ("tenant_id" | "account_code" | "tax_type" | "account_map" | "tax_map"
                | "item_map"),
                _,
            ) => {
                return Err(field_error(
                    &format!("config.{other}"),
                    "has the wrong type",
                ));
            }
            (other, _) => {
                return Err(field_error(
                    &format!("config.{other}"),
                    "is not a Xero setting (known: tenant_id, account_code, tax_type, status, account_map, tax_map, item_map)",
                ));
            }
        }
    }
    if let Some(list) = current.get("available_tenants") {
        config.insert("available_tenants".into(), list.clone());
    }
    Ok(Value::Object(config))
}

/// How long an authorization link stays usable.
const OAUTH_STATE_TTL_MS: i64 = 15 * 60 * 1000;

fn test_result(outcome: &Outcome) -> TestSync {
    TestSync {
        status: if outcome.is_success() {
            SUCCESS
        } else {
            FAILED
        }
        .into(),
        response_code: outcome.response_code,
        error: if outcome.is_success() {
            None
        } else {
            outcome.detail.clone()
        },
    }
}

/// Runs a connection's test sync and records it in the sync log and on the connection.
pub(crate) async fn run_test(
    state: &AppState,
    connection: &ConnectionRow,
    secrets: &Value,
) -> Result<TestSync, ApiError> {
    let connector = state.connectors.get(&connection.provider).ok_or_else(|| {
        ApiError::invalid(format!("provider {} has no connector", connection.provider))
    })?;
    let started = std::time::Instant::now();
    let outcome = connector.test(connection, secrets).await;
    record_test(state, connection, &outcome, started.elapsed()).await
}

/// Writes a test sync's result to the sync log and onto the connection.
async fn record_test(
    state: &AppState,
    connection: &ConnectionRow,
    outcome: &Outcome,
    took: std::time::Duration,
) -> Result<TestSync, ApiError> {
    let result = test_result(outcome);
    let now = now_ms();
    let entry = LogEntry {
        tenant_id: connection.tenant_id.clone(),
        at_ms: now,
        invoice_id: None,
        connection_id: connection.id.clone(),
        provider: connection.provider.clone(),
        kind: "test".into(),
        job_id: None,
        event_id: None,
        attempt: 1,
        status: if outcome.is_success() {
            SUCCESS
        } else {
            FAILED
        },
        response_code: outcome.response_code.map(i64::from),
        error: result.error.clone(),
        erp_record_id: outcome.erp_record_id.clone(),
        duration_ms: took.as_millis() as i64,
        guest_logs: outcome.guest_logs.clone(),
    };
    let mut shown = serde_json::to_value(&result).expect("a TestSync always serializes");
    shown["at"] = json!(time(now));
    state
        .store
        .record_test(&connection.id, &shown, &entry)
        .await?;
    Ok(result)
}

/// Creates a connection and runs its test sync.
#[utoipa::path(post, path = "/v1/connections", tag = "connections",
    request_body = CreateConnection,
    responses(
        (status = 201, body = CreatedConnection),
        (status = 409, body = super::error::ErrorBody, description = "A connection exists and Multi-ERP mode is off"),
        (status = 422, body = super::error::ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<CreatedConnection>), ApiError> {
    let raw = body::bytes(raw)?;
    let request: CreateConnection = body::json(&raw)?;
    let name = optional_text("name", request.name)?;
    let entity = optional_text("entity", request.entity)?;
    if !PROVIDERS.contains(&request.provider.as_str()) {
        return Err(field_error(
            "provider",
            format!(
                "unknown provider {:?}; choose one of {}",
                request.provider,
                PROVIDERS.join(", ")
            ),
        ));
    }
    match request.provider.as_str() {
        "webhook" => {}
        "quickbooks" => {
            let config = quickbooks_config(request.config, &serde_json::Map::new())?;
            return create_oauth(&state, &tenant.id, "quickbooks", name, entity, config).await;
        }
        "netsuite" => {
            return create_netsuite(&state, &tenant.id, name, entity, request.config).await;
        }
        "xero" => {
            let config = xero_config(request.config, &serde_json::Map::new())?;
            return create_oauth(&state, &tenant.id, "xero", name, entity, config).await;
        }
        other => {
            return Err(field_error(
                "provider",
                format!(
                    "unknown provider {other:?}; choose one of webhook, quickbooks, xero, netsuite"
                ),
            ));
        }
    }
    let (config, secret) = webhook_config(&state, &tenant.id, request.config).await?;
    state.store.check_connection_allowed(&tenant.id).await?;

    let id = new_id(prefix::CONNECTION);
    let generated = secret.is_none();
    let secret = secret.unwrap_or_else(generate_webhook_secret);
    let secrets = json!({"secret": secret, "previous": []});
    let sealed = state
        .sealer
        .seal(secrets.to_string().as_bytes(), id.as_bytes());
    let connection = state
        .store
        .insert_connection(&NewConnection {
            id,
            tenant_id: tenant.id.clone(),
            name: name.unwrap_or_else(|| request.provider.clone()),
            provider: request.provider,
            entity,
            status: "active".into(),
            config,
            secrets: Some(sealed),
        })
        .await?;
    let test = run_test(&state, &connection, &secrets).await?;
    let connection = state.store.connection(&tenant.id, &connection.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedConnection {
            connection: connection.into(),
            test_sync: Some(test),
            secret: generated.then_some(secret),
            authorize_url: None,
        }),
    ))
}

/// Every connection of the tenant, newest first.
#[utoipa::path(get, path = "/v1/connections", tag = "connections",
    responses((status = 200, body = Vec<ConnectionView>)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
) -> Result<Json<Vec<ConnectionView>>, ApiError> {
    let rows = state.store.list_connections(&tenant.id).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// One connection.
#[utoipa::path(get, path = "/v1/connections/{id}", tag = "connections",
    params(("id" = String, Path)),
    responses((status = 200, body = ConnectionView), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn show(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    Ok(Json(state.store.connection(&tenant.id, &id).await?.into()))
}

/// Answer of `PATCH /v1/connections/{id}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UpdatedConnection {
    #[serde(flatten)]
    pub connection: ConnectionView,
    /// Present when the change re-ran the test sync (a changed target).
    pub test_sync: Option<TestSync>,
}

/// Changes `name`, `entity` (null clears it) or non-secret `config` keys; a changed
/// target re-runs the test sync.
#[utoipa::path(patch, path = "/v1/connections/{id}", tag = "connections",
    params(("id" = String, Path)),
    request_body(content = Object, description = "Any of name, entity, config"),
    responses((status = 200, body = UpdatedConnection), (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn update(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<UpdatedConnection>, ApiError> {
    let raw = body::bytes(raw)?;
    let changes: serde_json::Map<String, Value> = body::json(&raw)?;
    let mut row = state.store.connection(&tenant.id, &id).await?;
    if row.status == "disconnected" {
        return Err(ApiError::conflict(format!(
            "connection {id} is disconnected and can no longer change; create a new connection"
        )));
    }
    let mut target_changed = false;
    for (key, value) in changes {
        match (key.as_str(), value) {
            ("name", Value::String(n)) => {
                row.name = optional_text("name", Some(n))?.unwrap_or_default()
            }
            ("entity", Value::Null) => row.entity = None,
            ("entity", Value::String(e)) => row.entity = optional_text("entity", Some(e))?,
            ("config", Value::Object(patch)) => {
                if patch.contains_key("secret") {
                    return Err(field_error(
                        "config.secret",
                        "secrets cannot be changed by PATCH; create a new connection to use another secret",
                    ));
                }
                let mut merged = row.config.as_object().cloned().unwrap_or_default();
                for (k, v) in patch {
                    merged.insert(k, v);
                }
                let config = match row.provider.as_str() {
                    "webhook" => webhook_config(&state, &tenant.id, merged).await?.0,
                    "xero" => {
                        let current = row.config.as_object().cloned().unwrap_or_default();
                        xero_config(merged, &current)?
                    }
                    "netsuite" => {
                        if let Some(key) =
                            NETSUITE_SECRETS.iter().find(|k| merged.contains_key(**k))
                        {
                            return Err(field_error(
                                &format!("config.{key}"),
                                "credentials cannot be changed by PATCH; create a new connection with the new token",
                            ));
                        }
                        netsuite_config(&state, merged, false).await?.0
                    }
                    _ => {
                        let current = row.config.as_object().cloned().unwrap_or_default();
                        merged.remove("realm_id");
                        quickbooks_config(merged, &current)?
                    }
                };
                target_changed |= config != row.config;
                row.config = config;
            }
            ("name" | "entity" | "config", _) => {
                return Err(field_error(
                    &key,
                    "has the wrong type (name: string, entity: string or null, config: object)",
                ));
            }
            _ => {
                return Err(field_error(
                    &key,
                    "cannot be changed (changeable: name, entity, config)",
                ));
            }
        }
    }
    let row = state.store.update_connection(&row).await?;
    let choosing = row.provider == "xero"
        && row.status == "pending_auth"
        && row.secrets.is_some()
        && target_changed;
    let test_sync = if target_changed && (row.status == "active" || choosing) {
        let secrets = open_secrets(&state, &row)?;
        let test = run_test(&state, &row, &secrets).await?;
        if choosing && test.status == SUCCESS {
            // The Xero organisation is chosen and answers: the connection is ready.
            state.store.set_connection_status(&row.id, "active").await?;
            state.sync.wake();
        }
        Some(test)
    } else {
        None
    };
    let row = state.store.connection(&tenant.id, &id).await?;
    Ok(Json(UpdatedConnection {
        connection: row.into(),
        test_sync,
    }))
}

pub(crate) fn open_secrets(state: &AppState, row: &ConnectionRow) -> Result<Value, ApiError> {
    let Some(sealed) = &row.secrets else {
        return Ok(Value::Null);
    };
    let opened = state.sealer.open(sealed, row.id.as_bytes()).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "sealed_secret_unreadable",
            format!("connection {}: {e}", row.id),
        )
    })?;
    serde_json::from_slice(&opened).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "sealed_secret_unreadable",
            format!("connection {}: {e}", row.id),
        )
    })
}

/// Answer of a disconnect.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Disconnected {
    #[serde(flatten)]
    pub connection: ConnectionView,
    /// Deliveries that were still waiting and are now cancelled (each is in the sync log).
    pub cancelled_jobs: u64,
}

/// Disconnects: no further deliveries; nothing is deleted here or in the ERP.
#[utoipa::path(delete, path = "/v1/connections/{id}", tag = "connections",
    params(("id" = String, Path)),
    responses((status = 200, body = Disconnected), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn disconnect(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<Json<Disconnected>, ApiError> {
    // The tenant's own connection (another tenant's id is simply not found).
    state.store.connection(&tenant.id, &id).await?;
    // Attempts still waiting for the ERP's limits send nothing from now on: stopped
    // before the disconnect commits, so none slips out between the two.
    state.connectors.stops.stop(&id);
    let (row, cancelled_jobs) = match state.store.disconnect(&tenant.id, &id).await {
        Ok(done) => done,
        Err(e) => {
            state.connectors.stops.reset(&id);
            return Err(e.into());
        }
    };
    Ok(Json(Disconnected {
        connection: row.into(),
        cancelled_jobs,
    }))
}

/// A fresh `authorize_url` for an OAuth connection that needs (re-)authorization.
#[utoipa::path(post, path = "/v1/connections/{id}/reauthorize", tag = "connections",
    params(("id" = String, Path)),
    responses((status = 200, description = "{connection_id, status, authorize_url}"),
              (status = 409, body = super::error::ErrorBody, description = "Not an OAuth connection"),
              (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn reauthorize(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let row = state.store.connection(&tenant.id, &id).await?;
    if row.provider != "quickbooks" && row.provider != "xero" {
        return Err(ApiError::conflict(format!(
            "connection {} uses provider {}, which does not authorize with OAuth; nothing to re-authorize",
            row.id, row.provider
        )));
    }
    if row.status == "disconnected" {
        return Err(ApiError::conflict(format!(
            "connection {id} is disconnected; create a new connection to connect again"
        )));
    }
    let authorization = authorize(&state, &row.provider)?;
    remember_state(&state, &authorization, &tenant.id, &row.id, &row.provider).await?;
    Ok(Json(
        json!({"connection_id": row.id, "status": row.status, "authorize_url": authorization.url}),
    ))
}
