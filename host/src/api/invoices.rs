//! `POST /v1/invoices`, `GET /v1/invoices/{id}`, `POST /v1/invoices/{id}/sync`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::AuthTenant;
use super::error::ApiError;
use super::{AppState, body};
use crate::documents::AnyDocument;
use crate::domain::{InvoiceError, parse_invoice};
use crate::store::{DocumentRef, QueuedJob};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/invoices", post(ingest))
        .route("/v1/invoices/{id}", get(show))
        .route("/v1/invoices/{id}/sync", post(manual_sync))
}

/// Answer of an ingest.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IngestResponse {
    pub invoice_id: String,
    pub version: i64,
    /// True when the same content was already stored: nothing was queued.
    pub unchanged: bool,
    pub jobs: Vec<QueuedJob>,
}

/// The API error for an invoice that failed validation.
pub(crate) fn invoice_error(e: InvoiceError) -> ApiError {
    match e {
        InvoiceError::Malformed { .. } => ApiError::bad_request("malformed_json", e.to_string()),
        InvoiceError::Draft => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invoice_not_finalized",
            e.to_string(),
        )
        .with_details(vec![
            json!({"field": "status", "message": "DRAFT invoices are not synced"}),
        ]),
        InvoiceError::Invalid(fields) => {
            let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
            let message = format!(
                "the invoice is invalid ({}); nothing was stored",
                names.join(", ")
            );
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_invoice", message)
                .with_details(
                    fields
                        .iter()
                        .map(|f| json!({"field": f.field, "message": f.message}))
                        .collect(),
                )
        }
    }
}

/// Ingests a finalized invoice: stores it and queues one job per routed connection.
#[utoipa::path(post, path = "/v1/invoices", tag = "invoices",
    request_body(content = serde_json::Value, description = "An invoice as the contract defines it (see docs/contracts.md)"),
    responses(
        (status = 202, body = IngestResponse),
        (status = 400, body = super::error::ErrorBody, description = "Malformed JSON"),
        (status = 413, body = super::error::ErrorBody, description = "Body too large"),
        (status = 422, body = super::error::ErrorBody, description = "Invalid or DRAFT invoice; every offending field is in details"),
    ),
    security(("api_key" = [])))]
pub async fn ingest(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<IngestResponse>), ApiError> {
    let raw = body::bytes(raw)?;
    let invoice = parse_invoice(&raw).map_err(invoice_error)?;
    let invoice_id = invoice.id.clone();
    let document = AnyDocument::Invoice(invoice);
    let outcome = super::documents::store_document(&state, &tenant.id, document).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(IngestResponse {
            invoice_id,
            version: outcome.version,
            unchanged: outcome.unchanged,
            jobs: outcome.jobs,
        }),
    ))
}

/// An invoice's current content, its versions, its sync state per connection, and the
/// credit notes and payments applied to it (`applied`).
#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "invoices",
    params(("id" = String, Path, description = "The invoice id")),
    responses((status = 200, body = serde_json::Value), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn show(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    super::documents::show(&state, &tenant.id, DocumentRef::invoice(id)).await
}

/// Job states as the API names them.
pub fn public_state(state: &str) -> &str {
    match state {
        "leased" => "in_progress",
        other => other,
    }
}

/// Optional body of a manual sync.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualSyncRequest {
    /// Only this connection; absent, every active connection the invoice routes to.
    pub connection_id: Option<String>,
}

/// Answer of a manual sync.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ManualSyncResponse {
    pub invoice_id: String,
    pub jobs: Vec<QueuedJob>,
}

/// Queues the invoice's current version again (a failed delivery gets a new round).
#[utoipa::path(post, path = "/v1/invoices/{id}/sync", tag = "invoices",
    params(("id" = String, Path, description = "The invoice id")),
    request_body(content = Option<ManualSyncRequest>),
    responses((status = 202, body = ManualSyncResponse), (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody, description = "The connection is not active")),
    security(("api_key" = [])))]
pub async fn manual_sync(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ManualSyncResponse>), ApiError> {
    let document = DocumentRef::invoice(id);
    let jobs = super::documents::resync(&state, &tenant.id, &document, raw).await?;
    let id = document.id;
    Ok((
        StatusCode::ACCEPTED,
        Json(ManualSyncResponse {
            invoice_id: id,
            jobs,
        }),
    ))
}
