//! `GET /v1/overview`: every connection's health over the last day, open alerts, queue depth.

use axum::Router;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
