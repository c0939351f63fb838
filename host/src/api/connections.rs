//! Connections: create (with a test sync), list, show, change, disconnect, re-authorize.
//!
//! What a provider's config holds, which of it is secret, and how its connections come
//! to life are the provider's own business (`connectors/<provider>/config.rs`, behind
//! [`Connector::check_config`] and [`Connector::onboarding`]); these handlers only run
//! the steps every provider shares: check, store, test, answer.

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
use crate::connectors::{
    Attempted, CheckedConfig, ConfigContext, ConfigError, ConnectionStatus, Connector, Onboarding,
    Outcome, Provider,
};
use crate::domain::ids::{new_id, prefix};
use crate::store::{ConnectionRow, LogKind, LogStatus, NewConnection, now_ms};

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
    pub provider: Provider,
    pub name: String,
    pub entity: Option<String>,
    pub status: ConnectionStatus,
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
    pub status: LogStatus,
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

impl From<ConfigError> for ApiError {
    fn from(e: ConfigError) -> Self {
        field_error(&e.field, e.message)
    }
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

/// How long an authorization link stays usable.
const OAUTH_STATE_TTL_MS: i64 = 15 * 60 * 1000;

/// What the config checks may consult.
fn config_context<'a>(state: &'a AppState, tenant_id: &'a str) -> ConfigContext<'a> {
    ConfigContext {
        store: &state.store,
        tenant_id,
        allow_private_targets: state.allow_private_targets,
    }
}

/// A fresh authorization at the provider's OAuth server.
fn authorize(state: &AppState, provider: Provider) -> Result<Authorization, ApiError> {
    let oauth = state.connectors.oauth(provider).ok_or_else(|| {
        ApiError::conflict(format!(
            "{provider} does not authorize with OAuth; nothing to authorize"
        ))
    })?;
    oauth.authorize().map_err(|m| {
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
    provider: Provider,
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

fn test_result(outcome: &Outcome) -> TestSync {
    TestSync {
        status: LogStatus::of(outcome.is_success()),
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
    let started = std::time::Instant::now();
    let outcome = state
        .connectors
        .get(connection.provider)
        .test(connection, secrets)
        .await;
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
    let about = Attempted {
        connection,
        kind: LogKind::Test,
        job: None,
        attempt: 1,
        at_ms: now,
        took,
    };
    let entry = outcome.log_entry(about, result.error.clone());
    let mut shown = serde_json::to_value(&result).expect("a TestSync always serializes");
    shown["at"] = json!(time(now));
    state.store.record_test(&shown, &entry).await?;
    Ok(result)
}

/// Creates a connection the way its provider's connections come to life.
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
    let provider = Provider::parse(&request.provider).ok_or_else(|| {
        let known: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
        field_error(
            "provider",
            format!(
                "unknown provider {:?}; choose one of {}",
                request.provider,
                known.join(", ")
            ),
        )
    })?;
    let connector = state.connectors.get(provider);
    let checked = connector
        .check_config(&config_context(&state, &tenant.id), request.config, None)
        .await?;
    let new = |id: String, status: ConnectionStatus, checked: &CheckedConfig| NewConnection {
        secrets: checked
            .secrets
            .as_ref()
            .map(|s| state.sealer.seal(s.to_string().as_bytes(), id.as_bytes())),
        id,
        tenant_id: tenant.id.clone(),
        name: name
            .clone()
            .unwrap_or_else(|| provider.as_str().to_string()),
        provider,
        entity: entity.clone(),
        status,
        config: checked.config.clone(),
    };
    let id = new_id(prefix::CONNECTION);
    let (connection, test_sync, authorize_url) = match connector.onboarding() {
        Onboarding::OAuth => {
            let authorization = authorize(&state, provider)?;
            state.store.check_connection_allowed(&tenant.id).await?;
            let row = state
                .store
                .insert_connection(&new(id, ConnectionStatus::PendingAuth, &checked))
                .await?;
            remember_state(&state, &authorization, &tenant.id, &row.id, provider).await?;
            (row, None, Some(authorization.url))
        }
        Onboarding::Immediate => {
            state.store.check_connection_allowed(&tenant.id).await?;
            let row = state
                .store
                .insert_connection(&new(id, ConnectionStatus::Active, &checked))
                .await?;
            let secrets = checked.secrets.clone().unwrap_or(Value::Null);
            let test = run_test(&state, &row, &secrets).await?;
            (row, Some(test), None)
        }
        Onboarding::TestFirst => {
            state.store.check_connection_allowed(&tenant.id).await?;
            let new = new(id, ConnectionStatus::Active, &checked);
            let secrets = checked.secrets.clone().unwrap_or(Value::Null);
            let test = test_before_storing(connector, &new, &secrets).await?;
            let row = state.store.insert_connection(&new).await?;
            let test = record_test(&state, &row, &test.0, test.1).await?;
            (row, Some(test), None)
        }
    };
    let connection = state.store.connection(&tenant.id, &connection.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedConnection {
            connection: connection.into(),
            test_sync,
            secret: checked.generated_secret,
            authorize_url,
        }),
    ))
}

/// The test sync of a connection not stored yet: only a pass stores it.
async fn test_before_storing(
    connector: &dyn Connector,
    new: &NewConnection,
    secrets: &Value,
) -> Result<(Outcome, std::time::Duration), ApiError> {
    let draft = ConnectionRow {
        id: new.id.clone(),
        tenant_id: new.tenant_id.clone(),
        provider: new.provider,
        name: new.name.clone(),
        entity: new.entity.clone(),
        status: new.status,
        config: new.config.clone(),
        secrets: new.secrets.clone(),
        last_test: None,
        created_ms: now_ms(),
        updated_ms: now_ms(),
    };
    let started = std::time::Instant::now();
    let outcome = connector.test(&draft, secrets).await;
    if !outcome.is_success() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "connection_test_failed",
            format!(
                "the {} test sync failed, so nothing was saved: {}",
                new.provider.label(),
                outcome.detail.unwrap_or_default()
            ),
        )
        .with_details(vec![
            json!({"field": "config", "response_code": outcome.response_code}),
        ]));
    }
    Ok((outcome, started.elapsed()))
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
    if row.status == ConnectionStatus::Disconnected {
        return Err(ApiError::conflict(format!(
            "connection {id} is disconnected and can no longer change; create a new connection"
        )));
    }
    let connector = state.connectors.get(row.provider);
    let mut target_changed = false;
    for (key, value) in changes {
        match (key.as_str(), value) {
            ("name", Value::String(n)) => {
                row.name = optional_text("name", Some(n))?.unwrap_or_default()
            }
            ("entity", Value::Null) => row.entity = None,
            ("entity", Value::String(e)) => row.entity = optional_text("entity", Some(e))?,
            ("config", Value::Object(patch)) => {
                let mut merged = row.config.as_object().cloned().unwrap_or_default();
                for (k, v) in patch {
                    merged.insert(k, v);
                }
                let config = connector
                    .check_config(&config_context(&state, &tenant.id), merged, Some(&row))
                    .await?
                    .config;
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
    let completes = target_changed && connector.completes_on_change(&row);
    let test_sync = if target_changed && (row.status == ConnectionStatus::Active || completes) {
        let secrets = open_secrets(&state, &row)?;
        let test = run_test(&state, &row, &secrets).await?;
        if completes && test.status == LogStatus::Success {
            // The pending connection is complete and answers: it is ready.
            state
                .store
                .set_connection_status(&row.id, ConnectionStatus::Active)
                .await?;
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

/// A connection's opened secrets (`null` when it has none yet).
pub(crate) fn open_secrets(state: &AppState, row: &ConnectionRow) -> Result<Value, ApiError> {
    let Some(sealed) = &row.secrets else {
        return Ok(Value::Null);
    };
    let unreadable = |e: String| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "sealed_secret_unreadable",
            format!("connection {}: {e}", row.id),
        )
    };
    let opened = state
        .sealer
        .open(sealed, row.id.as_bytes())
        .map_err(|e| unreadable(e.to_string()))?;
    serde_json::from_slice(&opened).map_err(|e| unreadable(e.to_string()))
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
    if state.connectors.oauth(row.provider).is_none() {
        return Err(ApiError::conflict(format!(
            "connection {} uses provider {}, which does not authorize with OAuth; nothing to re-authorize",
            row.id, row.provider
        )));
    }
    if row.status == ConnectionStatus::Disconnected {
        return Err(ApiError::conflict(format!(
            "connection {id} is disconnected; create a new connection to connect again"
        )));
    }
    let authorization = authorize(&state, row.provider)?;
    remember_state(&state, &authorization, &tenant.id, &row.id, row.provider).await?;
    Ok(Json(
        json!({"connection_id": row.id, "status": row.status, "authorize_url": authorization.url}),
    ))
}
