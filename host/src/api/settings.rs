//! `GET/PATCH /v1/settings`: the tenant's Multi-ERP switch.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::AuthTenant;
use super::error::ApiError;
use super::{AppState, body};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/settings", get(show).patch(update))
}

/// The tenant's settings.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Several connections at once, each receiving the invoices of its `entity`.
    pub multi_erp: bool,
}

/// The tenant's settings.
#[utoipa::path(get, path = "/v1/settings", tag = "settings",
    responses((status = 200, body = Settings)), security(("api_key" = [])))]
pub async fn show(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
) -> Result<Json<Settings>, ApiError> {
    // Read fresh: the tenant the key names may be a remembered copy.
    let tenant = state.store.tenant(&tenant.id).await?;
    Ok(Json(Settings {
        multi_erp: tenant.multi_erp,
    }))
}

/// Changes settings; turning Multi-ERP off is refused while several connections exist.
#[utoipa::path(patch, path = "/v1/settings", tag = "settings",
    request_body = Settings,
    responses((status = 200, body = Settings), (status = 409, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn update(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Settings>, ApiError> {
    let raw = body::bytes(raw)?;
    let wanted: Settings = body::json(&raw)?;
    let tenant = state
        .store
        .set_multi_erp(&tenant.id, wanted.multi_erp)
        .await?;
    Ok(Json(Settings {
        multi_erp: tenant.multi_erp,
    }))
}
