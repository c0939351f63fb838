//! `POST /v1/transforms` (upload), `GET /v1/transforms[/{id}]`, `POST /v1/transforms/{id}/test`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::AuthTenant;
use super::error::ApiError;
use super::{AppState, body, time};
use crate::domain::{parse_invoice, sample};
use crate::store::{NewTransform, TransformRow};
use crate::transform::wasm::{GuestContext, Invocation, World};

pub fn router(_max_component_bytes: usize) -> Router<AppState> {
    Router::new()
        // The upload streams its body to a temp file and enforces
        // `max_component_bytes` itself (see `spool`); `http::guarded` refuses a larger
        // declared Content-Length before anything is read.
        .route("/v1/transforms", post(upload).get(list))
        .route("/v1/transforms/{id}", get(show))
        .route("/v1/transforms/{id}/test", post(test))
}

/// A stored component.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TransformView {
    pub id: String,
    pub name: String,
    /// `webhook-transform` or `invoice-tweak`.
    pub world: String,
    /// The exported interface with its WIT version, e.g. `erp-sync:transform/webhook@1.0.0`.
    pub export: String,
    pub sha256: String,
    pub size: i64,
    pub created_at: String,
}

impl From<TransformRow> for TransformView {
    fn from(r: TransformRow) -> Self {
        TransformView {
            id: r.id,
            name: r.name,
            world: r.world,
            export: r.export,
            sha256: r.sha256,
            size: r.size,
            created_at: time(r.created_ms),
        }
    }
}

fn world_param(params: &HashMap<String, String>) -> Result<World, ApiError> {
    let name = params.get("world").ok_or_else(|| {
        ApiError::bad_request(
            "invalid_parameter",
            "query parameter world is required: webhook-transform or invoice-tweak",
        )
    })?;
    World::parse(name).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_parameter",
            format!("query parameter world: {name:?} is not a world (webhook-transform or invoice-tweak)"),
        )
    })
}

/// Uploads a component (the raw `.wasm` bytes); it is validated against the named world
/// before anything is stored. The same bytes again answer the existing transform (200).
#[utoipa::path(post, path = "/v1/transforms", tag = "transforms",
    params(("name" = Option<String>, Query, description = "A name for people"),
           ("world" = String, Query, description = "webhook-transform or invoice-tweak")),
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, body = TransformView), (status = 200, body = TransformView, description = "Already uploaded"),
              (status = 413, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody, description = "Not a valid component for the world")),
    security(("api_key" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Query(params): Query<HashMap<String, String>>,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<TransformView>), ApiError> {
    let world = world_param(&params)?;
    let name = params
        .get("name")
        .cloned()
        .unwrap_or_else(|| world.as_str().to_string());
    if name.trim().is_empty() || name.len() > 200 {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "query parameter name must be 1 to 200 characters",
        ));
    }
    let spooled = spool(body, state.max_component_bytes).await?;
    let wasm = &state.transforms.wasm;
    // One upload at a time is read back into memory and compiled (on a blocking thread,
    // under the host's compile slots): many concurrent uploads cost disk, not memory,
    // and leave the other cores to deliveries.
    let _slot = wasm.upload_slot().await;
    let raw = spooled.read().await?;
    let checked = wasm.check(&raw, Some(world)).await.map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_component",
            e.to_string(),
        )
    })?;
    let (row, created) = state
        .store
        .insert_transform(&NewTransform {
            tenant_id: &tenant.id,
            name: &name,
            world: world.as_str(),
            export: &checked.export,
            sha256: &checked.sha256,
            bytes: &raw,
        })
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(row.into())))
}

/// An upload written to an anonymous temp file as it streams in, its size capped.
struct Spooled {
    file: tokio::fs::File,
    len: usize,
}

/// Streams the request body to a temp file (deleted when dropped), refusing it with 413
/// as soon as it passes `max` bytes; no more than one chunk is held in memory.
async fn spool(body: axum::body::Body, max: usize) -> Result<Spooled, ApiError> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let temp = |e: std::io::Error| {
        tracing::error!(error = %e, "spooling an upload to a temp file");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the upload could not be written to a temporary file",
        )
    };
    let file = tokio::task::spawn_blocking(tempfile::tempfile)
        .await
        .map_err(|e| temp(std::io::Error::other(e)))?
        .map_err(temp)?;
    let mut file = tokio::fs::File::from_std(file);
    let mut len = 0usize;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(
                "unreadable_body",
                format!("the request body could not be read: {e}"),
            )
        })?;
        len += chunk.len();
        if len > max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "the component is larger than {max} bytes (--max-component-bytes); build it with opt-level \"s\" and lto"
                ),
            ));
        }
        file.write_all(&chunk).await.map_err(temp)?;
    }
    file.flush().await.map_err(temp)?;
    Ok(Spooled { file, len })
}

impl Spooled {
    /// The whole upload, read back from the temp file.
    async fn read(mut self) -> Result<Vec<u8>, ApiError> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let mut bytes = Vec::with_capacity(self.len);
        let read = async {
            self.file.seek(std::io::SeekFrom::Start(0)).await?;
            self.file.read_to_end(&mut bytes).await
        };
        read.await.map_err(|e| {
            tracing::error!(error = %e, "reading a spooled upload back");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the upload could not be read back from its temporary file",
            )
        })?;
        Ok(bytes)
    }
}

/// The tenant's components, newest first.
#[utoipa::path(get, path = "/v1/transforms", tag = "transforms",
    responses((status = 200, body = Vec<TransformView>)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
) -> Result<Json<Vec<TransformView>>, ApiError> {
    Ok(Json(
        state
            .store
            .list_transforms(&tenant.id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// One component.
#[utoipa::path(get, path = "/v1/transforms/{id}", tag = "transforms",
    params(("id" = String, Path)),
    responses((status = 200, body = TransformView), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn show(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<Json<TransformView>, ApiError> {
    Ok(Json(state.store.transform(&tenant.id, &id).await?.into()))
}

/// Body of a dry run.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// An invoice as the contract defines it; absent, the bundled sample invoice.
    #[schema(value_type = Option<Object>)]
    pub invoice: Option<Value>,
    /// The event type the guest sees (default `invoice.finalized`).
    pub event_type: Option<String>,
    /// The guest's `config` entries.
    #[serde(default)]
    pub config: HashMap<String, String>,
}

/// What a dry run did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TestResponse {
    /// `SUCCESS` or `FAILED`.
    pub status: String,
    /// Webhook transforms: `{content_type, headers, body}` (body as text, or base64 when
    /// not UTF-8); tweaks: the adjusted invoice.
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    pub error: Option<String>,
    #[schema(value_type = Object)]
    pub logs: Value,
    pub duration_us: u128,
    pub fuel_used: u64,
    pub peak_memory_bytes: usize,
}

fn response<T>(run: Invocation<T>, output: impl FnOnce(T) -> Value) -> TestResponse {
    let logs = json!({"stdout": run.stdout, "stderr": run.stderr, "truncated": run.logs_truncated});
    let (status, output, error) = match run.result {
        Ok(v) => ("SUCCESS", Some(output(v)), None),
        Err(f) => ("FAILED", None, Some(f.to_string())),
    };
    TestResponse {
        status: status.into(),
        output,
        error,
        logs,
        duration_us: run.duration.as_micros(),
        fuel_used: run.fuel_used,
        peak_memory_bytes: run.peak_memory_bytes,
    }
}

/// Runs a component on an invoice without sending anything, showing output and logs.
#[utoipa::path(post, path = "/v1/transforms/{id}/test", tag = "transforms",
    params(("id" = String, Path)),
    request_body(content = Option<TestRequest>),
    responses((status = 200, body = TestResponse, description = "The run, successful or not"),
              (status = 404, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody, description = "The invoice given is invalid")),
    security(("api_key" = [])))]
pub async fn test(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<TestResponse>, ApiError> {
    let raw = body::bytes(raw)?;
    let request: TestRequest = body::json_or_default(&raw)?;
    let row = state.store.transform(&tenant.id, &id).await?;
    let invoice = match request.invoice {
        None => sample::sample_invoice(),
        Some(v) => {
            parse_invoice(v.to_string().as_bytes()).map_err(super::invoices::invoice_error)?
        }
    };
    let ctx = GuestContext {
        event_type: request
            .event_type
            .unwrap_or_else(|| "invoice.finalized".into()),
        event_id: "evt_dry_run".into(),
        tenant_id: tenant.id.clone(),
        connection_id: "conn_dry_run".into(),
        config: request.config.into_iter().collect(),
    };
    let answer = if row.world == World::InvoiceTweak.as_str() {
        let run = state
            .transforms
            .tweak(&tenant.id, &id, &ctx, &invoice, &invoice.canonical_text())
            .await;
        response(run, |i| i.canonical_json())
    } else {
        let run = state
            .transforms
            .webhook(&tenant.id, &id, &ctx, &invoice.canonical_text())
            .await;
        response(run, |out| {
            let body = match String::from_utf8(out.body) {
                Ok(text) => json!(text),
                Err(e) => {
                    use base64::Engine;
                    json!({"base64": base64::engine::general_purpose::STANDARD.encode(e.as_bytes())})
                }
            };
            json!({"content_type": out.content_type, "headers": out.headers, "body": body})
        })
    };
    Ok(Json(answer))
}

/// Body of `PUT /v1/customers/{customer_id}/tweak`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTweak {
    pub transform_id: String,
}

/// A customer's tweak.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TweakView {
    pub customer_id: String,
    pub transform_id: Option<String>,
}

pub fn customers_router() -> Router<AppState> {
    Router::new().route(
        "/v1/customers/{customer_id}/tweak",
        get(show_tweak).put(set_tweak).delete(remove_tweak),
    )
}

/// Applies an invoice-tweak component to this customer's invoices before every connector.
#[utoipa::path(put, path = "/v1/customers/{customer_id}/tweak", tag = "transforms",
    params(("customer_id" = String, Path)),
    request_body = SetTweak,
    responses((status = 200, body = TweakView), (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn set_tweak(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(customer_id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<TweakView>, ApiError> {
    let raw = body::bytes(raw)?;
    let request: SetTweak = body::json(&raw)?;
    let row = state
        .store
        .transform(&tenant.id, &request.transform_id)
        .await
        .map_err(|_| {
            ApiError::invalid(format!(
                "transform_id: transform {} not found",
                request.transform_id
            ))
        })?;
    if row.world != World::InvoiceTweak.as_str() {
        return Err(ApiError::invalid(format!(
            "transform_id: transform {} is a {} component; a customer tweak needs an invoice-tweak",
            row.id, row.world
        )));
    }
    state
        .store
        .set_customer_tweak(&tenant.id, &customer_id, Some(&row.id))
        .await?;
    Ok(Json(TweakView {
        customer_id,
        transform_id: Some(row.id),
    }))
}

/// The customer's tweak, if any.
#[utoipa::path(get, path = "/v1/customers/{customer_id}/tweak", tag = "transforms",
    params(("customer_id" = String, Path)),
    responses((status = 200, body = TweakView)), security(("api_key" = [])))]
pub async fn show_tweak(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(customer_id): Path<String>,
) -> Result<Json<TweakView>, ApiError> {
    let row = state.store.customer_tweak(&tenant.id, &customer_id).await?;
    Ok(Json(TweakView {
        customer_id,
        transform_id: row.map(|r| r.id),
    }))
}

/// Stops tweaking this customer's invoices.
#[utoipa::path(delete, path = "/v1/customers/{customer_id}/tweak", tag = "transforms",
    params(("customer_id" = String, Path)),
    responses((status = 200, body = TweakView)), security(("api_key" = [])))]
pub async fn remove_tweak(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(customer_id): Path<String>,
) -> Result<Json<TweakView>, ApiError> {
    state
        .store
        .set_customer_tweak(&tenant.id, &customer_id, None)
        .await?;
    Ok(Json(TweakView {
        customer_id,
        transform_id: None,
    }))
}
