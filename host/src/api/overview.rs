//! `GET /v1/overview`: every connection's health over the last day, open alerts, queue depth.
//!
//! One answer for a dashboard: per connection, its delivery attempts in 24 hourly
//! buckets (from the sync log), the jobs waiting, and the documents left FAILED; and
//! how many of the tenant's alerts are open. The console's Overview page draws it.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::auth::AuthTenant;
use super::error::ApiError;
use super::{AppState, time};
use crate::store::{ConnectionStatus, Provider};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/overview", get(overview))
}

/// An hour in unix milliseconds: the buckets are whole UTC hours.
const HOUR_MS: i64 = 3_600_000;

/// How many hourly buckets the overview shows: the last 24, this hour included.
pub const HOURS: i64 = 24;

/// Delivery attempts that ended in one hour.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HourView {
    /// The hour's start (RFC 3339, UTC).
    pub start: String,
    /// Attempts that succeeded (kinds `sync` and `manual`; test syncs are not counted).
    pub succeeded: i64,
    /// Attempts that FAILED, retried ones included.
    pub failed: i64,
}

/// One connection's health.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConnectionHealthView {
    pub id: String,
    pub name: String,
    pub provider: Provider,
    pub status: ConnectionStatus,
    /// Deliveries waiting or in flight (jobs pending or leased).
    pub queue_depth: i64,
    /// Documents whose latest delivery to this connection FAILED (a recovery's input).
    pub failed_documents: i64,
    /// 24 hourly buckets, oldest first; the last is the current hour.
    pub hours: Vec<HourView>,
}

/// The tenant's overview.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OverviewView {
    /// The start of the oldest bucket (RFC 3339, UTC).
    pub since: String,
    /// Every connection of the tenant, newest first, disconnected ones included.
    pub connections: Vec<ConnectionHealthView>,
    /// Alerts not closed yet (see `GET /v1/alerts?open=true`).
    pub open_alerts: i64,
}

/// Each connection's delivery health over the last 24 hours, open alerts, queue depth.
#[utoipa::path(get, path = "/v1/overview", tag = "overview",
    responses((status = 200, body = OverviewView), (status = 401, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn overview(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
) -> Result<Json<OverviewView>, ApiError> {
    let first_hour = crate::store::now_ms() / HOUR_MS - (HOURS - 1);
    let connections = state.store.list_connections(&tenant.id).await?;
    let health = state.store.health(&tenant.id, first_hour * HOUR_MS).await?;
    let connections = connections
        .into_iter()
        .map(|c| ConnectionHealthView {
            hours: (first_hour..first_hour + HOURS)
                .map(|hour| {
                    let (succeeded, failed) = health.attempts_in(&c.id, hour);
                    HourView {
                        start: time(hour * HOUR_MS),
                        succeeded,
                        failed,
                    }
                })
                .collect(),
            queue_depth: health.queue_depth_of(&c.id),
            failed_documents: health.failed_documents_of(&c.id),
            id: c.id,
            name: c.name,
            provider: c.provider,
            status: c.status,
        })
        .collect();
    Ok(Json(OverviewView {
        since: time(first_hour * HOUR_MS),
        connections,
        open_alerts: health.open_alerts,
    }))
}
