//! `GET /v1/oauth/callback`: where the provider sends the operator back after they
//! authorized erp-sync. No API key here: the single-use, expiring `state` created with
//! the connection is what binds this request to a tenant and a connection.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::error::ApiError;
use super::{AppState, connections};
use crate::store::StoreError;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/oauth/callback", get(callback))
}

/// Completes an OAuth connect: exchanges the code, stores the tokens sealed, runs the
/// test sync, and activates the connection (releasing deliveries that were held).
///
/// API clients get JSON; a browser (its `Accept` names `text/html`) is sent (303) to
/// the console's page of the connection, which shows the outcome.
#[utoipa::path(get, path = "/v1/oauth/callback", tag = "connections",
    params(("code" = String, Query), ("state" = String, Query),
           ("realmId" = Option<String>, Query, description = "QuickBooks: the company authorized"),
           ("error" = Option<String>, Query, description = "Set by the provider when the operator declined")),
    responses((status = 200, description = "{connection, test_sync}"),
              (status = 303, description = "A browser (Accept: text/html) is sent to the console page of the connection"),
              (status = 400, body = super::error::ErrorBody, description = "Unknown, used or expired state; declined")))]
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let outcome = complete(&state, &params).await;
    if !wants_html(&headers) {
        return match outcome {
            Ok(answer) => Json(answer).into_response(),
            Err((_, error)) => error.into_response(),
        };
    }
    // An operator's browser: back to the console's page of the connection, with the
    // outcome for the page to show (it re-reads the connection itself).
    let (path, query) = match &outcome {
        Ok(answer) => (
            connection_page(answer["connection"]["id"].as_str()),
            vec![("oauth", "done".to_string())],
        ),
        Err((connection_id, error)) => (
            connection_page(connection_id.as_deref()),
            vec![
                ("oauth", "failed".to_string()),
                ("message", error.message.clone()),
            ],
        ),
    };
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    Redirect::to(&format!("{path}?{query}")).into_response()
}

/// Whether the caller is a browser (it accepts HTML) rather than an API client.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

/// The console page of a connection, or the list when the connection is unknown.
fn connection_page(connection_id: Option<&str>) -> String {
    match connection_id {
        Some(id)
            if id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
        {
            format!("/connections/{id}")
        }
        _ => "/connections".to_string(),
    }
}

/// The callback's work; an error carries the connection it concerns, once known.
async fn complete(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<Value, (Option<String>, ApiError)> {
    let param = |name: &str| params.get(name).filter(|v| !v.is_empty());
    let oauth_state = param("state").ok_or_else(|| {
        (
            None,
            ApiError::bad_request(
                "invalid_oauth_callback",
                "the callback has no state parameter",
            ),
        )
    })?;
    let pending = state
        .store
        .take_oauth_state(oauth_state)
        .await
        .map_err(|e| match e {
            StoreError::NotFound(m) => (None, ApiError::bad_request("invalid_oauth_state", m)),
            other => (None, other.into()),
        })?;
    finish(state, &pending, params)
        .await
        .map_err(|e| (Some(pending.connection_id.clone()), e))
}

/// Completes the connection `pending` names: exchange, test sync, activation.
async fn finish(
    state: &AppState,
    pending: &crate::store::OAuthState,
    params: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    let param = |name: &str| params.get(name).filter(|v| !v.is_empty());
    if let Some(error) = param("error") {
        return Err(ApiError::bad_request(
            "authorization_declined",
            format!(
                "the provider reported {error:?}: the connection was not authorized; try again with POST /v1/connections/{}/reauthorize",
                pending.connection_id
            ),
        ));
    }
    let code = param("code").ok_or_else(|| {
        ApiError::bad_request(
            "invalid_oauth_callback",
            "the callback has no code parameter",
        )
    })?;
    let connection = state
        .store
        .connection(&pending.tenant_id, &pending.connection_id)
        .await?;
    if connection.status == "disconnected" {
        return Err(ApiError::conflict(format!(
            "connection {} was disconnected meanwhile; create a new connection",
            connection.id
        )));
    }
    match pending.provider.as_str() {
        "quickbooks" => {
            let realm = param("realmId").ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_oauth_callback",
                    "QuickBooks did not say which company was authorized (no realmId)",
                )
            })?;
            if let Some(previous) = connection.config.get("realm_id").and_then(Value::as_str)
                && previous != realm
            {
                return Err(ApiError::conflict(format!(
                    "connection {} is bound to QuickBooks company {previous}, but company {realm} was authorized; \
                     re-authorize the same company, or create a new connection for the other one",
                    connection.id
                )));
            }
            state
                .connectors
                .quickbooks
                .complete_authorization(&connection, code, realm)
                .await
                .map_err(|m| ApiError::new(StatusCode::BAD_GATEWAY, "authorization_failed", m))?;
        }
        "xero" => complete_xero(state, pending, &connection, code).await?,
        other => {
            return Err(ApiError::bad_request(
                "invalid_oauth_state",
                format!("{other} does not authorize with OAuth"),
            ));
        }
    }
    let connection = state
        .store
        .connection(&pending.tenant_id, &pending.connection_id)
        .await?;
    let test = connections::run_test(state, &connection, &Value::Null).await?;
    if test.status == crate::store::SUCCESS {
        state
            .store
            .set_connection_status(&connection.id, "active")
            .await?;
        state.sync.wake();
    }
    let connection = state
        .store
        .connection(&pending.tenant_id, &pending.connection_id)
        .await?;
    Ok(json!({
        "connection": connections::ConnectionView::from(connection),
        "test_sync": test,
    }))
}

/// Xero: exchange with the PKCE verifier, then bind the connection to the one
/// organisation authorized (or the one it is already bound to); with several and no
/// choice yet, answer 409 listing them, for `PATCH /v1/connections/{id}`.
async fn complete_xero(
    state: &AppState,
    pending: &crate::store::OAuthState,
    connection: &crate::store::ConnectionRow,
    code: &str,
) -> Result<(), ApiError> {
    let verifier = match &pending.verifier {
        Some(sealed) => Some(
            state
                .sealer
                .open(sealed, pending.state.as_bytes())
                .ok()
                .and_then(|v| String::from_utf8(v).ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_oauth_state",
                        "the PKCE verifier could not be read; start again",
                    )
                })?,
        ),
        None => None,
    };
    let tenants = state
        .connectors
        .xero
        .complete_authorization(connection, code, verifier)
        .await
        .map_err(|m| ApiError::new(StatusCode::BAD_GATEWAY, "authorization_failed", m))?;
    let mut row = state
        .store
        .connection(&pending.tenant_id, &pending.connection_id)
        .await?;
    let chosen = row
        .config
        .get("tenant_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    let listed = |id: &str| tenants.iter().any(|t| t.tenant_id == id);
    let choice = match chosen {
        Some(id) if listed(&id) => id,
        Some(id) => {
            return Err(ApiError::conflict(format!(
                "connection {} is bound to Xero organisation {id}, which this authorization does not include; \
                 authorize that organisation, or create a new connection",
                connection.id
            )));
        }
        None if tenants.len() == 1 => tenants[0].tenant_id.clone(),
        None if tenants.is_empty() => {
            return Err(ApiError::bad_request(
                "authorization_failed",
                "no Xero organisation was authorized; authorize again and select one",
            ));
        }
        None => {
            let names: Vec<String> = tenants
                .iter()
                .map(|t| format!("{} ({})", t.tenant_id, t.name))
                .collect();
            return Err(ApiError::conflict(format!(
                "several Xero organisations were authorized: choose one with PATCH /v1/connections/{} \
                 {{\"config\": {{\"tenant_id\": \"...\"}}}}; authorized: {}",
                connection.id,
                names.join(", ")
            ))
            .with_details(
                tenants
                    .iter()
                    .map(|t| json!({"tenant_id": t.tenant_id, "name": t.name}))
                    .collect(),
            ));
        }
    };
    row.config["tenant_id"] = json!(choice);
    state.store.update_connection(&row).await?;
    Ok(())
}
