//! The bearer-key extractor: every `/v1` handler takes an [`AuthTenant`] and so can
//! only ever see its own tenant's objects.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::store::Tenant;

/// The tenant named by the request's `Authorization: Bearer <api key>`.
pub struct AuthTenant(pub Tenant);

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

impl FromRequestParts<AppState> for AuthTenant {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing the Authorization: Bearer <api key> header"))?;
        let key = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header must be 'Bearer <api key>'"))?;
        match state.store.tenant_by_api_key(key).await? {
            Some(tenant) => Ok(AuthTenant(tenant)),
            None => Err(unauthorized(
                "the API key is not valid; create one with `erp-sync tenant create <name>`",
            )),
        }
    }
}
