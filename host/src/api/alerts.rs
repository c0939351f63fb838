//! `GET /v1/alerts`: the tenant's operational alerts.

use axum::Router;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
