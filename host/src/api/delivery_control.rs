//! Pause, resume and bulk recovery of a connection's deliveries (docs/contracts.md,
//! "Delivery control").
//!
//! A pause is a status: claims skip a paused connection's jobs, ingests keep queueing
//! them, and resuming lets the queue drain in order. A recovery queues again every
//! document whose delivery FAILED on the connection in a time range, each with its event
//! id, due one after the other at a capped rate so fresh deliveries are not starved.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::AuthTenant;
use super::connections::ConnectionView;
use super::error::ApiError;
use super::{AppState, body, time};
use crate::store::{ConnectionStatus, RecoveryProgress, now_ms};

/// The rate a recovery sends at when the request does not say.
pub const DEFAULT_MAX_PER_SECOND: i64 = 50;
/// The fastest rate a recovery may ask for.
const MOST_PER_SECOND: i64 = 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/connections/{id}/pause", post(pause))
        .route("/v1/connections/{id}/resume", post(resume))
        .route("/v1/connections/{id}/recover", post(recover))
        .route("/v1/recoveries/{id}", get(show_recovery))
}

/// Pauses a connection: documents still queue, nothing is sent, nothing is cancelled.
#[utoipa::path(post, path = "/v1/connections/{id}/pause", tag = "delivery control",
    params(("id" = String, Path)),
    responses((status = 200, body = ConnectionView),
              (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody, description = "Not active (e.g. disconnected)")),
    security(("api_key" = [])))]
pub async fn pause(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    let row = state.store.connection(&tenant.id, &id).await?;
    if row.status == ConnectionStatus::Paused {
        return Ok(Json(row.into()));
    }
    Ok(Json(
        state.store.pause_connection(&tenant.id, &id).await?.into(),
    ))
}

/// Resumes a paused connection; its queue drains in order.
#[utoipa::path(post, path = "/v1/connections/{id}/resume", tag = "delivery control",
    params(("id" = String, Path)),
    responses((status = 200, body = ConnectionView),
              (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody, description = "Not paused")),
    security(("api_key" = [])))]
pub async fn resume(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    let row = state.store.connection(&tenant.id, &id).await?;
    if row.status == ConnectionStatus::Active {
        return Ok(Json(row.into()));
    }
    let row = state.store.resume_connection(&tenant.id, &id).await?;
    state.sync.wake();
    Ok(Json(row.into()))
}

/// Body of `POST /v1/connections/{id}/recover`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// Failures from this time on (RFC 3339).
    pub since: String,
    /// Failures before this time (RFC 3339); absent: now.
    pub until: Option<String>,
    /// Which documents: `FAILED` (the only value).
    pub status: String,
    /// Only count them.
    #[serde(default)]
    pub dry_run: bool,
    /// Documents sent per second at most (default 50, at most 1000).
    pub max_per_second: Option<i64>,
}

/// What a recovery request answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Recovering {
    /// Absent for a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_id: Option<String>,
    /// Documents it sends again (or would, for a dry run).
    pub count: i64,
}

/// Sends again every document of the connection whose delivery FAILED in the range.
#[utoipa::path(post, path = "/v1/connections/{id}/recover", tag = "delivery control",
    params(("id" = String, Path)), request_body = RecoverRequest,
    responses((status = 200, body = Recovering, description = "Dry run: the count"),
              (status = 202, body = Recovering, description = "Started; follow it at GET /v1/recoveries/{recovery_id}"),
              (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody, description = "Disconnected"),
              (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn recover(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Recovering>), ApiError> {
    let raw = body::bytes(raw)?;
    let request: RecoverRequest = body::json(&raw)?;
    let since = parse_time("since", &request.since)?;
    let until = match &request.until {
        Some(u) => parse_time("until", u)?,
        None => now_ms() + 1,
    };
    if until <= since {
        return Err(ApiError::invalid_field("until", "must be later than since"));
    }
    if request.status != "FAILED" {
        return Err(ApiError::invalid_field(
            "status",
            "must be \"FAILED\": only failed documents are recovered",
        ));
    }
    let rate = request.max_per_second.unwrap_or(DEFAULT_MAX_PER_SECOND);
    if !(1..=MOST_PER_SECOND).contains(&rate) {
        return Err(ApiError::invalid_field(
            "max_per_second",
            "must be from 1 to 1000",
        ));
    }
    let connection = state.store.connection(&tenant.id, &id).await?;
    if connection.status == ConnectionStatus::Disconnected {
        return Err(ApiError::conflict(format!(
            "connection {id} is disconnected: nothing can be sent to it; connect again and recover there"
        )));
    }
    if request.dry_run {
        let count = state
            .store
            .count_recoverable(&tenant.id, &id, since, until)
            .await?;
        return Ok((
            StatusCode::OK,
            Json(Recovering {
                recovery_id: None,
                count,
            }),
        ));
    }
    let (recovery_id, count) = state
        .store
        .start_recovery(&tenant.id, &id, (since, until), rate)
        .await?;
    state.sync.wake();
    tracing::info!(recovery = %recovery_id, connection = %id, count, rate, "recovery started");
    Ok((
        StatusCode::ACCEPTED,
        Json(Recovering {
            recovery_id: Some(recovery_id),
            count,
        }),
    ))
}

/// A recovery's progress.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecoveryView {
    pub id: String,
    pub connection_id: String,
    /// Documents it queued again.
    pub queued: i64,
    pub succeeded: i64,
    /// Failed again after their retries (or cancelled by a disconnect).
    pub failed: i64,
    /// Not sent yet, retrying, or in flight.
    pub remaining: i64,
    pub done: bool,
    pub max_per_second: i64,
    pub created_at: String,
    /// When the watcher saw it finish (and raised `recovery.done`).
    pub done_at: Option<String>,
}

impl From<RecoveryProgress> for RecoveryView {
    fn from(p: RecoveryProgress) -> Self {
        RecoveryView {
            done: p.done(),
            id: p.id,
            connection_id: p.connection_id,
            queued: p.queued,
            succeeded: p.succeeded,
            failed: p.failed,
            remaining: p.remaining,
            max_per_second: p.max_per_second,
            created_at: time(p.created_ms),
            done_at: p.done_ms.map(time),
        }
    }
}

/// How far a recovery got.
#[utoipa::path(get, path = "/v1/recoveries/{id}", tag = "delivery control",
    params(("id" = String, Path)),
    responses((status = 200, body = RecoveryView), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn show_recovery(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<Json<RecoveryView>, ApiError> {
    Ok(Json(state.store.recovery(&tenant.id, &id).await?.into()))
}

fn parse_time(field: &str, value: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            ApiError::invalid_field(
                field,
                &format!("must be an RFC 3339 time such as 2026-12-01T00:00:00Z: {e}"),
            )
        })
}
