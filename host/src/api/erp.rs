//! Mapping aids: `GET /v1/connections/{id}/erp/{items|accounts|tax-rates|currencies}`
//! reads one of the connected ERP's lists (read-only, kept a minute), and
//! `POST /v1/connections/{id}/preview` answers the exact request a delivery of a
//! document would send, with every mapping gap, sending nothing.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::AuthTenant;
use super::connections::open_secrets;
use super::error::ApiError;
use super::{AppState, body};
use crate::connectors::mapping_aids::ErpLists;
use crate::connectors::{
    ConnectionStatus, ErpEntry, ErpList, Gap, Outcome, OutcomeKind, PreviewInput, PreviewRequest,
    Provider,
};
use crate::domain::{parse_invoice, sample};
use crate::store::ConnectionRow;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/connections/{id}/erp/{list}", get(list))
        .route("/v1/connections/{id}/preview", post(preview))
}

/// An ERP's failure to answer, as the API's error.
fn erp_error(connection: &ConnectionRow, what: &str, outcome: Outcome) -> ApiError {
    let detail = outcome.detail.unwrap_or_default();
    match outcome.kind {
        OutcomeKind::Held => ApiError::conflict(format!(
            "connection {} cannot reach {} until it is re-authorized: {detail}",
            connection.id, connection.provider
        )),
        OutcomeKind::Permanent => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "erp_refused",
            format!(
                "{} refused {what} for connection {}: {detail}",
                connection.provider, connection.id
            ),
        ),
        _ => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "erp_unavailable",
            format!(
                "{what} from {} failed for connection {}: {detail}; try again shortly",
                connection.provider, connection.id
            ),
        ),
    }
}

/// The connection, if it can read from its ERP now.
async fn erp_connection(
    state: &AppState,
    tenant_id: &str,
    id: &str,
) -> Result<(ConnectionRow, Value), ApiError> {
    let row = state.store.connection(tenant_id, id).await?;
    if row.status != ConnectionStatus::Active {
        return Err(ApiError::conflict(format!(
            "connection {id} is {}: it reaches {} only once it is active",
            row.status, row.provider
        )));
    }
    let secrets = open_secrets(state, &row)?;
    Ok((row, secrets))
}

/// One of the connected ERP's lists, for mapping pages and scripts.
#[utoipa::path(get, path = "/v1/connections/{id}/erp/{list}", tag = "connections",
    params(("id" = String, Path), ("list" = String, Path, description = "items, accounts, tax-rates or currencies")),
    responses(
        (status = 200, body = Vec<ErpEntry>, description = "`id` is the value the connection's maps take"),
        (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody, description = "A webhook, or a connection that is not active"),
        (status = 502, body = super::error::ErrorBody, description = "The ERP did not answer"),
    ),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path((id, list)): Path<(String, String)>,
) -> Result<Json<Vec<ErpEntry>>, ApiError> {
    let kind = ErpList::from_path(&list).ok_or_else(|| {
        ApiError::not_found(format!(
            "no ERP list {list:?}; the lists are items, accounts, tax-rates and currencies"
        ))
    })?;
    let row = state.store.connection(&tenant.id, &id).await?;
    if row.provider == Provider::Webhook {
        return Err(ApiError::conflict(format!(
            "connection {id} is a webhook: it has no ERP lists (they exist for quickbooks, xero and netsuite)"
        )));
    }
    let (row, secrets) = erp_connection(&state, &tenant.id, &id).await?;
    let entries = state
        .connectors
        .lookup(&row, &secrets, kind)
        .await
        .map_err(|o| erp_error(&row, &format!("reading its {list}"), o))?;
    Ok(Json(entries))
}

/// Body of `POST /v1/connections/{id}/preview`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    /// An invoice as `POST /v1/invoices` takes it; absent, the sample invoice.
    #[schema(value_type = Option<Object>)]
    pub invoice: Option<Value>,
}

/// Answer of a preview.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PreviewAnswer {
    pub connection_id: String,
    pub provider: Provider,
    pub document_type: String,
    pub document_id: String,
    /// The request a delivery would send; `null` when it would send nothing.
    pub request: Option<PreviewRequest>,
    /// Every mapping gap: a delivery with any fails at once naming them.
    pub gaps: Vec<Gap>,
    /// What only the delivery settles (a customer looked up or created first, ...).
    pub notes: Vec<String>,
}

/// What a delivery of a document to this connection would send, and every mapping gap;
/// sends nothing.
#[utoipa::path(post, path = "/v1/connections/{id}/preview", tag = "connections",
    params(("id" = String, Path)),
    request_body = PreviewBody,
    responses(
        (status = 200, body = PreviewAnswer),
        (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody, description = "An ERP connection that is not active"),
        (status = 422, body = super::error::ErrorBody, description = "An invalid invoice, or a failing invoice tweak"),
    ),
    security(("api_key" = [])))]
pub async fn preview(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<PreviewAnswer>, ApiError> {
    let raw = body::bytes(raw)?;
    let request: PreviewBody = if raw.iter().all(u8::is_ascii_whitespace) {
        PreviewBody { invoice: None }
    } else {
        body::json(&raw)?
    };
    let invoice = match request.invoice {
        None => sample::sample_invoice(),
        Some(v) => {
            parse_invoice(v.to_string().as_bytes()).map_err(super::invoices::invoice_error)?
        }
    };
    let row = state.store.connection(&tenant.id, &id).await?;
    let secrets = if row.provider == Provider::Webhook {
        open_secrets(&state, &row)?
    } else {
        erp_connection(&state, &tenant.id, &id).await?.1
    };
    // The customer's tweak runs first, as it does before every delivery.
    let invoice = match state
        .store
        .customer_tweak(&tenant.id, &invoice.customer.id)
        .await?
    {
        None => invoice,
        Some(tweak) => {
            let ctx = crate::transform::wasm::GuestContext {
                event_type: "invoice.finalized".into(),
                event_id: "evt_preview".into(),
                tenant_id: tenant.id.clone(),
                connection_id: row.id.clone(),
                config: Vec::new(),
            };
            let text = invoice.canonical_text();
            let run = state
                .transforms
                .tweak(&tenant.id, &tweak.id, &ctx, &invoice, &text)
                .await;
            run.result.map_err(|f| {
                ApiError::invalid(format!(
                    "the customer's invoice tweak {} ({}) failed on this invoice: {f}",
                    tweak.id, tweak.name
                ))
            })?
        }
    };
    let text = invoice.canonical_text();
    let mut lists: ErpLists = HashMap::new();
    if row.provider != Provider::Webhook {
        for kind in ErpList::ALL {
            let read = state.connectors.lookup(&row, &secrets, kind).await;
            lists.insert(kind, read.map_err(|o| o.detail.unwrap_or_default()));
        }
    }
    let event_type = if invoice.is_void() {
        "invoice.voided"
    } else {
        "invoice.finalized"
    };
    let connector = state.connectors.get(row.provider);
    let preview = connector
        .preview(PreviewInput {
            connection: &row,
            secrets: &secrets,
            invoice: &invoice,
            invoice_json: &text,
            event_type,
            lists: &lists,
        })
        .await
        .map_err(|o| erp_error(&row, "preparing the preview", o))?;
    Ok(Json(PreviewAnswer {
        connection_id: row.id,
        provider: row.provider,
        document_type: "invoice".into(),
        document_id: invoice.id,
        request: preview.request,
        gaps: preview.gaps,
        notes: preview.notes,
    }))
}
