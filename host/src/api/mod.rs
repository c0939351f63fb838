//! The HTTP API: one router per resource, typed errors, bearer-key auth.
//!
//! Handlers validate input, call the [`crate::store`], and wake the worker; they never
//! deliver anything themselves, except a connection's test sync, which the contract
//! answers inline.

pub mod alerts;
pub mod auth;
pub mod body;
pub mod connections;
pub mod delivery_control;
pub mod documents;
pub mod erp;
pub mod error;
pub mod health;
pub mod invoices;
pub mod oauth;
pub mod openapi;
pub mod overview;
pub mod rotation;
pub mod settings;
pub mod sync_log;
pub mod transforms;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::trace::TraceLayer;

use crate::connectors::Connectors;
use crate::crypto::seal::Sealer;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::sync::SyncHandle;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub sealer: Sealer,
    pub connectors: Arc<Connectors>,
    pub transforms: Arc<crate::transform::Transforms>,
    pub metrics: Arc<Metrics>,
    pub sync: SyncHandle,
    pub allow_private_targets: bool,
    pub max_component_bytes: usize,
}

/// The whole API.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .merge(invoices::router())
        .merge(documents::router())
        .merge(connections::router())
        .merge(rotation::router())
        .merge(delivery_control::router())
        .merge(alerts::router())
        .merge(overview::router())
        .merge(erp::router())
        .merge(oauth::router())
        .merge(sync_log::router())
        .merge(settings::router())
        .merge(transforms::router(state.max_component_bytes))
        .merge(transforms::customers_router())
        .merge(health::router())
        .merge(openapi::router())
        .fallback(|| async {
            error::ApiError::not_found("no such endpoint; see GET /openapi.json")
        })
        .method_not_allowed_fallback(|| async {
            error::ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method; see GET /openapi.json",
            )
        })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Formats unix milliseconds for API answers.
pub(crate) fn time(ms: i64) -> String {
    crate::store::format_ms(ms)
}
