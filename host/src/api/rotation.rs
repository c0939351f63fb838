//! `POST /v1/connections/{id}/rotate-secret`: a new signing secret with a grace period.

use axum::Router;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
