//! `POST /v1/connections/{id}/rotate-secret`: a new signing secret with a grace period.
//!
//! A leaked or aging webhook secret can be replaced without a failed delivery: the new
//! secret signs first and the replaced one keeps signing beside it (`v1=new,v1=old`;
//! `v1,<new> v1,<old>`) until `previous_expires_at`, so the receiver switches when it is
//! ready. `{"expire_previous_now": true}` ends the grace at once. The worker keeps opened
//! secrets per sealed value, and every seal differs, so the next delivery signs with what
//! is saved here.

use std::sync::LazyLock;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::auth::AuthTenant;
use super::error::ApiError;
use super::{AppState, body, time};
use crate::connectors::locks::KeyedLocks;
use crate::connectors::webhook::WebhookSecrets;
use crate::connectors::webhook::secrets::{DEFAULT_GRACE_SECONDS, MAX_GRACE_SECONDS};
use crate::connectors::{ConnectionStatus, Provider};
use crate::crypto::api_key::generate_webhook_secret;
use crate::store::{ConnectionRow, now_ms};

/// The keys the body may have.
const KNOWN: [&str; 3] = ["secret", "grace_seconds", "expire_previous_now"];
/// The shortest secret accepted, as at connection create.
const MIN_SECRET_LEN: usize = 16;

/// One rotation of a connection at a time in this process, so two rotations at once
/// cannot both answer a new secret while only one of them is saved.
static ROTATING: LazyLock<KeyedLocks> = LazyLock::new(KeyedLocks::default);

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/connections/{id}/rotate-secret", post(rotate_secret))
}

/// Body of `POST /v1/connections/{id}/rotate-secret` (every key optional; an empty body
/// rotates to a generated secret with a day's grace).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// The new signing secret, 16 characters at least; without it a `whsec_…` secret is
    /// generated.
    pub secret: Option<String>,
    /// How long the replaced secret keeps signing beside the new one: 0 to 604800
    /// seconds, 86400 when absent.
    #[schema(minimum = 0, maximum = 604800)]
    pub grace_seconds: Option<u64>,
    /// `true` rotates nothing and ends every grace period now: from the next request on,
    /// only the current secret signs. Cannot be combined with the other keys.
    pub expire_previous_now: Option<bool>,
}

/// Answer of `POST /v1/connections/{id}/rotate-secret`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    pub connection_id: String,
    /// The new signing secret, shown this once (`null` for `expire_previous_now`).
    pub secret: Option<String>,
    /// When the replaced secret stops signing (now for no grace or `expire_previous_now`).
    pub previous_expires_at: String,
}

fn field_error(field: &str, message: impl Into<String>) -> ApiError {
    let message = message.into();
    ApiError::invalid(format!("{field}: {message}"))
        .with_details(vec![json!({"field": field, "message": message})])
}

/// What the request asks for, validated.
enum Asked {
    Rotate {
        secret: Option<String>,
        grace_seconds: u64,
    },
    ExpirePrevious,
}

/// Reads the body: every unknown key is named, each bad value names its key.
fn asked(raw: &[u8]) -> Result<Asked, ApiError> {
    let keys: Map<String, Value> = body::json_or_default(raw)?;
    let unknown: Vec<&String> = keys
        .keys()
        .filter(|k| !KNOWN.contains(&k.as_str()))
        .collect();
    if !unknown.is_empty() {
        let names: Vec<String> = unknown.iter().map(|k| format!("{k:?}")).collect();
        return Err(ApiError::invalid(format!(
            "unknown keys {}; this endpoint takes {}",
            names.join(", "),
            KNOWN.join(", ")
        ))
        .with_details(
            unknown
                .iter()
                .map(|k| json!({"field": k, "message": "unknown key"}))
                .collect(),
        ));
    }
    let request: RotateSecret = body::json(&serde_json::to_vec(&keys).expect("JSON"))?;
    if request.expire_previous_now == Some(true) {
        if let Some(key) = ["secret", "grace_seconds"]
            .into_iter()
            .find(|k| keys.get(*k).is_some_and(|v| !v.is_null()))
        {
            return Err(field_error(
                key,
                "cannot be combined with expire_previous_now, which ends the grace of the secrets already replaced; rotate first, then end the grace",
            ));
        }
        return Ok(Asked::ExpirePrevious);
    }
    if let Some(secret) = &request.secret
        && secret.len() < MIN_SECRET_LEN
    {
        return Err(field_error(
            "secret",
            format!("must be at least {MIN_SECRET_LEN} characters"),
        ));
    }
    let grace_seconds = request.grace_seconds.unwrap_or(DEFAULT_GRACE_SECONDS);
    if grace_seconds > MAX_GRACE_SECONDS {
        return Err(field_error(
            "grace_seconds",
            format!("must be from 0 to {MAX_GRACE_SECONDS} (7 days)"),
        ));
    }
    Ok(Asked::Rotate {
        secret: request.secret,
        grace_seconds,
    })
}

/// The connection, if it is a live webhook: only webhooks have a signing secret.
async fn webhook_connection(
    state: &AppState,
    tenant_id: &str,
    id: &str,
) -> Result<ConnectionRow, ApiError> {
    let row = state.store.connection(tenant_id, id).await?;
    if row.provider != Provider::Webhook {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_signing_secret",
            format!(
                "connection {id} uses provider {}, which has no signing secret to rotate; only webhook connections sign their requests",
                row.provider
            ),
        ));
    }
    if row.status == ConnectionStatus::Disconnected {
        return Err(ApiError::conflict(format!(
            "connection {id} is disconnected and sends nothing; create a new connection instead"
        )));
    }
    Ok(row)
}

/// Rotates a webhook connection's signing secret, or ends the grace of replaced ones.
#[utoipa::path(post, path = "/v1/connections/{id}/rotate-secret", tag = "connections",
    params(("id" = String, Path)),
    request_body(content = RotateSecret, description = "Every key optional: {secret?, grace_seconds? (86400), expire_previous_now?}"),
    responses(
        (status = 200, body = RotatedSecret),
        (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody, description = "Not a webhook connection, or disconnected"),
        (status = 422, body = super::error::ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<RotatedSecret>, ApiError> {
    let raw = body::bytes(raw)?;
    let asked = asked(&raw)?;
    let _rotating = ROTATING.lock(&id).await;
    let row = webhook_connection(&state, &tenant.id, &id).await?;
    let opened = super::connections::open_secrets(&state, &row)?;
    let mut secrets = WebhookSecrets::deserialize(&opened).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "sealed_secret_unreadable",
            format!("connection {id}: webhook secrets are unreadable: {e}"),
        )
    })?;
    let now = now_ms();
    let (secret, previous_expires_ms) = match asked {
        Asked::ExpirePrevious => {
            secrets.expire_previous();
            (None, now)
        }
        Asked::Rotate {
            secret,
            grace_seconds,
        } => {
            if secret
                .as_deref()
                .is_some_and(|s| secrets.is_signing(s, now))
            {
                return Err(field_error(
                    "secret",
                    "is already signing this connection's requests; choose a new one",
                ));
            }
            let new = secret.unwrap_or_else(generate_webhook_secret);
            let grace_ms = i64::try_from(grace_seconds * 1000).expect("at most 7 days");
            let expires = secrets.rotate(new.clone(), grace_ms, now);
            (Some(new), expires)
        }
    };
    let plain = serde_json::to_vec(&secrets).expect("webhook secrets serialize");
    let sealed = state.sealer.seal(&plain, row.id.as_bytes());
    state
        .store
        .save_connection_credentials(&row.id, None, &sealed)
        .await?;
    tracing::info!(
        connection_id = %row.id,
        rotated = secret.is_some(),
        signing = secrets.signing_at(now).len(),
        "webhook signing secrets changed"
    );
    Ok(Json(RotatedSecret {
        connection_id: row.id,
        secret,
        previous_expires_at: time(previous_expires_ms),
    }))
}
