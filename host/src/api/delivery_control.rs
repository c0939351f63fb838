//! Pause, resume and bulk recovery of a connection's deliveries.

use axum::Router;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
