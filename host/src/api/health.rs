//! `/healthz` and `/metrics`, unauthenticated for probes and scrapers.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;
use super::error::ApiError;
use crate::metrics::{ConnectionLabels, StateLabels, StatusLabels};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

/// Liveness: the process serves and its database answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Healthy"), (status = 503, body = super::error::ErrorBody)))]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    state.store.ping().await?;
    Ok(Json(serde_json::json!({"status": "ok"})))
}

/// Prometheus metrics: queue depth, attempts by outcome, delivery latency, connections
/// by status, FAILED documents by connection.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let depth = state.store.queue_depth().await?;
    for name in ["pending", "leased"] {
        let count = depth.iter().find(|(s, _)| s == name).map_or(0, |(_, c)| *c);
        state
            .metrics
            .queue_depth
            .get_or_create(&StateLabels { state: name.into() })
            .set(count);
    }
    // Gauges of the whole store: labels that no longer occur drop out.
    let gauges = state.store.delivery_gauges().await?;
    state.metrics.connections.clear();
    for (status, count) in gauges.connections {
        state
            .metrics
            .connections
            .get_or_create(&StatusLabels { status })
            .set(count);
    }
    state.metrics.failed_documents.clear();
    for (connection_id, count) in gauges.failed_documents {
        let labels = ConnectionLabels { connection_id };
        state
            .metrics
            .failed_documents
            .get_or_create(&labels)
            .set(count);
    }
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    ))
}
