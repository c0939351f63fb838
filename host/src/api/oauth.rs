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
use crate::connectors::{Callback, ConnectError, ConnectionStatus};
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
    if connection.status == ConnectionStatus::Disconnected {
        return Err(ApiError::conflict(format!(
            "connection {} was disconnected meanwhile; create a new connection",
            connection.id
        )));
    }
    let oauth = state.connectors.oauth(pending.provider).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_oauth_state",
            format!("{} does not authorize with OAuth", pending.provider),
        )
    })?;
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
    let callback = Callback {
        code,
        params,
        verifier,
    };
    oauth
        .finish(&connection, &callback)
        .await
        .map_err(|e| match e {
            ConnectError::BadCallback(m) => ApiError::bad_request("invalid_oauth_callback", m),
            ConnectError::NothingAuthorized(m) => ApiError::bad_request("authorization_failed", m),
            ConnectError::Conflict { message, details } => {
                ApiError::conflict(message).with_details(details)
            }
            ConnectError::Upstream(m) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "authorization_failed", m)
            }
        })?;
    let connection = state
        .store
        .connection(&pending.tenant_id, &pending.connection_id)
        .await?;
    let test = connections::run_test(state, &connection, &Value::Null).await?;
    if test.status == crate::store::LogStatus::Success {
        state
            .store
            .set_connection_status(&connection.id, ConnectionStatus::Active)
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
