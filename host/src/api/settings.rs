//! `GET/PATCH /v1/settings`: the tenant's Multi-ERP switch and its alert endpoint.
//!
//! The PATCH that first sets `alert_url` answers the tenant's alert signing secret
//! (`whsec_…`) this once; alerts are signed with it exactly as webhook deliveries are
//! signed with a connection's secret.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::AuthTenant;
use super::error::ApiError;
use super::{AppState, body};
use crate::connectors::egress;
use crate::crypto::api_key::generate_webhook_secret;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/settings", get(show).patch(update))
}

/// The tenant's settings.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Settings {
    /// Several connections at once, each receiving the invoices of its `entity`.
    pub multi_erp: bool,
    /// Where operational alerts are sent (signed like webhook deliveries); absent: none.
    pub alert_url: Option<String>,
    /// The alert signing secret: only in the answer of the PATCH that first set
    /// `alert_url`, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_secret: Option<String>,
}

/// Body of `PATCH /v1/settings`: the keys to change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    pub multi_erp: Option<bool>,
    /// An http(s) URL for alerts, or `null` to stop sending them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub alert_url: Option<Option<String>>,
}

/// Tells a key given as `null` (`Some(None)`) from an absent key (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The tenant's settings.
#[utoipa::path(get, path = "/v1/settings", tag = "settings",
    responses((status = 200, body = Settings)), security(("api_key" = [])))]
pub async fn show(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
) -> Result<Json<Settings>, ApiError> {
    // Read fresh: the tenant the key names may be a remembered copy.
    let tenant = state.store.tenant(&tenant.id).await?;
    let alerts = state.store.alert_endpoint(&tenant.id).await?;
    Ok(Json(Settings {
        multi_erp: tenant.multi_erp,
        alert_url: alerts.alert_url,
        alert_secret: None,
    }))
}

/// Changes settings; turning Multi-ERP off is refused while several connections exist.
#[utoipa::path(patch, path = "/v1/settings", tag = "settings",
    request_body = SettingsChange,
    responses((status = 200, body = Settings), (status = 409, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn update(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Settings>, ApiError> {
    let raw = body::bytes(raw)?;
    let wanted: SettingsChange = body::json(&raw)?;
    let mut alert_secret = None;
    if let Some(url) = &wanted.alert_url {
        if let Some(url) = url {
            let parsed = url::Url::parse(url).map_err(|e| {
                ApiError::invalid_field("alert_url", &format!("is not a valid URL: {e}"))
            })?;
            egress::check_target(&parsed, state.allow_private_targets)
                .await
                .map_err(|m| ApiError::invalid_field("alert_url", &m))?;
        }
        let has_secret = state
            .store
            .alert_endpoint(&tenant.id)
            .await?
            .alert_secret
            .is_some();
        let new_secret = (url.is_some() && !has_secret).then(generate_webhook_secret);
        let sealed = new_secret.as_ref().map(|s| {
            state
                .sealer
                .seal(s.as_bytes(), alert_secret_aad(&tenant.id).as_bytes())
        });
        let stored = state
            .store
            .set_alert_url(&tenant.id, url.as_deref(), sealed)
            .await?;
        alert_secret = new_secret.filter(|_| stored);
    }
    if let Some(on) = wanted.multi_erp {
        state.store.set_multi_erp(&tenant.id, on).await?;
    }
    let mut settings = show(State(state), AuthTenant(tenant)).await?.0;
    settings.alert_secret = alert_secret;
    Ok(Json(settings))
}

/// What a tenant's sealed alert secret is bound to, so it opens for that tenant only.
pub fn alert_secret_aad(tenant_id: &str) -> String {
    format!("{tenant_id}/alert_secret")
}
