//! `GET /v1/alerts` and `POST /v1/alerts/{id}/close`: the tenant's operational alerts
//! (`connection.needs_reauth`, `connection.paused`, `sync.failed`, `recovery.done`).
//!
//! An alert is open until its condition clears (the connection is re-authorized or
//! resumed) or an operator closes it; each is also delivered, signed, to the tenant's
//! `alert_url` when one is set (`PATCH /v1/settings`).

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::AuthTenant;
use super::error::ApiError;
use super::{AppState, time};
use crate::store::{AlertKind, AlertRow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/alerts", get(list))
        .route("/v1/alerts/{id}/close", post(close))
}

/// Filters of `GET /v1/alerts`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// Only open alerts.
    #[serde(default)]
    pub open: bool,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// An operational alert.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AlertView {
    /// The event id (`webhook-id` of its delivery).
    pub id: String,
    #[serde(rename = "type")]
    pub kind: AlertKind,
    pub connection_id: Option<String>,
    pub created_at: String,
    /// When it was closed; absent while open.
    pub closed_at: Option<String>,
    /// What the event says (the `data` of the delivered event).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// Delivery to the tenant's `alert_url`: when it succeeded, attempts, last error.
    pub delivered_at: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
}

impl From<AlertRow> for AlertView {
    fn from(a: AlertRow) -> Self {
        AlertView {
            data: a.body.get("data").cloned().unwrap_or_default(),
            id: a.id,
            kind: a.kind,
            connection_id: a.connection_id,
            created_at: time(a.created_ms),
            closed_at: a.closed_ms.map(time),
            delivered_at: a.delivered_ms.map(time),
            attempts: a.attempts,
            last_error: a.last_error,
        }
    }
}

/// The list answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AlertList {
    pub alerts: Vec<AlertView>,
}

/// The tenant's alerts, newest first.
#[utoipa::path(get, path = "/v1/alerts", tag = "delivery control", params(AlertQuery),
    responses((status = 200, body = AlertList)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Query(q): Query<AlertQuery>,
) -> Result<Json<AlertList>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit must be from 1 to 1000"));
    }
    let alerts = state.store.alerts(&tenant.id, q.open, limit).await?;
    Ok(Json(AlertList {
        alerts: alerts.into_iter().map(Into::into).collect(),
    }))
}

/// Closes an alert (the operator has seen to it).
#[utoipa::path(post, path = "/v1/alerts/{id}/close", tag = "delivery control",
    params(("id" = String, Path)),
    responses((status = 200, body = AlertView), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn close(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<Json<AlertView>, ApiError> {
    Ok(Json(state.store.close_alert(&tenant.id, &id).await?.into()))
}
