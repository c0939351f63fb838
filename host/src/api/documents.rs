//! The ledger beyond invoices: `POST /v1/credit-notes`, `POST /v1/payments`,
//! `POST /v1/refunds`, `PUT /v1/customers/{customer_id}`, and for each document `GET` and
//! a manual `…/sync`, answered like their invoice counterparts. The generic halves
//! (ingest, show, manual sync of any document) are here too; `invoices.rs` uses them.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};

use super::auth::AuthTenant;
use super::error::{ApiError, ErrorBody};
use super::invoices::{ManualSyncRequest, public_state};
use super::{AppState, body, time};
use crate::documents::AnyDocument;
use crate::domain::{
    DocumentError, DocumentType, parse_credit_note, parse_customer_update, parse_payment,
    parse_refund,
};
use crate::metrics::IngestLabels;
use crate::store::{DocumentRef, IngestOutcome, QueuedJob, SyncStateRow};

pub fn router() -> Router<AppState> {
    let (credit, payment, refund) = ("/v1/credit-notes", "/v1/payments", "/v1/refunds");
    Router::new()
        .route(credit, post(ingest_credit_note))
        .route(&format!("{credit}/{{id}}"), get(show_credit_note))
        .route(&format!("{credit}/{{id}}/sync"), post(sync_credit_note))
        .route(payment, post(ingest_payment))
        .route(&format!("{payment}/{{id}}"), get(show_payment))
        .route(&format!("{payment}/{{id}}/sync"), post(sync_payment))
        .route(refund, post(ingest_refund))
        .route(&format!("{refund}/{{id}}"), get(show_refund))
        .route(&format!("{refund}/{{id}}/sync"), post(sync_refund))
        // `{customer_id}`, as the tweak routes beside them name the segment.
        .route(
            "/v1/customers/{customer_id}",
            get(show_customer).put(put_customer),
        )
        .route("/v1/customers/{customer_id}/sync", post(sync_customer))
}

/// The answer of an ingest.
pub type Ingested = Result<(StatusCode, Json<DocumentIngestResponse>), ApiError>;

/// The jobs a manual sync queued, or why it could not.
pub(super) type Jobs = Result<Vec<QueuedJob>, ApiError>;

/// Answer of an ingest of a credit note, payment, refund or customer update.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DocumentIngestResponse {
    /// `credit_note`, `payment`, `refund` or `customer`.
    pub document_type: String,
    pub document_id: String,
    pub version: i64,
    /// True when the same content was already stored: nothing was queued.
    pub unchanged: bool,
    pub jobs: Vec<QueuedJob>,
}

/// Answer of a manual sync of a credit note, payment, refund or customer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DocumentSyncResponse {
    pub document_type: String,
    pub document_id: String,
    pub jobs: Vec<QueuedJob>,
}

/// The API error for a document that failed validation: 400 for a malformed body, 422
/// naming every bad field.
fn document_error(e: DocumentError) -> ApiError {
    match &e {
        DocumentError::Malformed { .. } => ApiError::bad_request("malformed_json", e.to_string()),
        DocumentError::Invalid { document, problems } => {
            let code = match document {
                DocumentType::Invoice => "invalid_invoice",
                DocumentType::CreditNote => "invalid_credit_note",
                DocumentType::Payment => "invalid_payment",
                DocumentType::Refund => "invalid_refund",
                DocumentType::Customer => "invalid_customer",
            };
            let names: Vec<&str> = problems.iter().map(|f| f.field.as_str()).collect();
            let message = format!(
                "the {} is invalid ({}); nothing was stored",
                document.noun(),
                names.join(", ")
            );
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).with_details(
                problems
                    .iter()
                    .map(|f| json!({"field": f.field, "message": f.message}))
                    .collect(),
            )
        }
    }
}

/// Stores a checked document and queues its deliveries; counts the ingest.
pub(super) async fn store_document(
    state: &AppState,
    tenant_id: &str,
    document: AnyDocument,
) -> Result<IngestOutcome, ApiError> {
    let outcome = state.store.ingest_document(tenant_id, document).await?;
    let result = if outcome.unchanged {
        "unchanged"
    } else {
        "new_version"
    };
    state
        .metrics
        .ingested
        .get_or_create(&IngestLabels {
            result: result.into(),
        })
        .inc();
    if !outcome.jobs.is_empty() {
        state.sync.wake();
    }
    Ok(outcome)
}

/// Parses, stores and answers 202, for any document but an invoice.
async fn ingest(
    state: &AppState,
    tenant_id: &str,
    parsed: Result<AnyDocument, DocumentError>,
) -> Result<(StatusCode, Json<DocumentIngestResponse>), ApiError> {
    let document = parsed.map_err(document_error)?;
    let (document_type, document_id) = (document.doc_type(), document.id().to_string());
    let outcome = store_document(state, tenant_id, document).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(DocumentIngestResponse {
            document_type: document_type.to_string(),
            document_id,
            version: outcome.version,
            unchanged: outcome.unchanged,
            jobs: outcome.jobs,
        }),
    ))
}

/// A document's current content, versions, sync state per connection, and the
/// documents that apply to it, under the keys `<type>_id` and `<type>` (as
/// `GET /v1/invoices/{id}` answers with `invoice_id` and `invoice`).
pub(super) async fn show(
    state: &AppState,
    tenant_id: &str,
    document: DocumentRef,
) -> Result<Json<Value>, ApiError> {
    let s = state.store.document_state(tenant_id, &document).await?;
    let versions: Vec<Value> = s
        .versions
        .iter()
        .map(|v| json!({"version": v.version, "status": v.status, "content_hash": v.content_hash, "received_at": time(v.received_ms)}))
        .collect();
    let applied = state
        .store
        .documents_applied_to(tenant_id, &document)
        .await?;
    let applied: Vec<Value> = applied
        .into_iter()
        .map(|d| {
            json!({
                "document_type": d.document.doc_type,
                "document_id": d.document.id,
                "status": d.status,
                "amount": d.amount,
                "sync": sync_view(&d.sync),
            })
        })
        .collect();
    let t = document.doc_type.as_str();
    let mut answer = serde_json::Map::new();
    answer.insert(format!("{t}_id"), json!(document.id));
    answer.insert("document_type".into(), json!(t));
    answer.insert("version".into(), json!(s.version));
    answer.insert(t.to_string(), s.document);
    answer.insert("versions".into(), json!(versions));
    answer.insert("sync".into(), sync_view(&s.sync));
    answer.insert("applied".into(), json!(applied));
    Ok(Json(Value::Object(answer)))
}

/// The sync state per connection, as the API shows it.
fn sync_view(sync: &[SyncStateRow]) -> Value {
    sync.iter()
        .map(|j| {
            json!({
                "connection_id": j.connection_id,
                "job_id": j.job_id,
                "version": j.version,
                "event_id": j.event_id,
                "event_type": j.event_type,
                "state": public_state(&j.state),
                "attempts": j.attempts,
                "last_response_code": j.last_code,
                "last_error": j.last_error,
                "updated_at": time(j.updated_ms),
            })
        })
        .collect()
}

/// A request body as axum hands it over.
pub(super) type RawBody = Result<Bytes, BytesRejection>;

/// Queues a document's current version again; the optional body names one connection.
pub(super) async fn resync(app: &AppState, tenant: &str, doc: &DocumentRef, raw: RawBody) -> Jobs {
    let request: ManualSyncRequest = body::json_or_default(&body::bytes(raw)?)?;
    let connection = request.connection_id.as_deref();
    let jobs = app.store.manual_sync(tenant, doc, connection).await?;
    if !jobs.is_empty() {
        app.sync.wake();
    }
    Ok(jobs)
}

/// [`manual_sync`] answered 202, for any document but an invoice.
async fn sync_answer(
    state: &AppState,
    tenant_id: &str,
    doc_type: DocumentType,
    id: String,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<DocumentSyncResponse>), ApiError> {
    let document = DocumentRef { doc_type, id };
    let jobs = resync(state, tenant_id, &document, raw).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(DocumentSyncResponse {
            document_type: doc_type.to_string(),
            document_id: document.id,
            jobs,
        }),
    ))
}

/// Writes `POST <path>` for one document type: parse the body with `$parse`, store it,
/// answer 202. `$about` is its OpenAPI summary.
macro_rules! ingest_endpoint {
    ($name:ident, $path:literal, $parse:expr, $about:literal) => {
        #[doc = $about]
        #[utoipa::path(post, path = $path, tag = "ledger", description = $about,
            request_body(content = serde_json::Value, description = "As the contract defines it (docs/contracts.md)"),
            responses((status = 202, body = DocumentIngestResponse), (status = 400, body = ErrorBody, description = "Malformed JSON"),
                (status = 413, body = ErrorBody, description = "Body too large"), (status = 422, body = ErrorBody, description = "Invalid; every offending field is in details")),
            security(("api_key" = [])))]
        pub async fn $name(
            State(state): State<AppState>,
            AuthTenant(tenant): AuthTenant,
            raw: Result<Bytes, BytesRejection>,
        ) -> Result<(StatusCode, Json<DocumentIngestResponse>), ApiError> {
            let raw = body::bytes(raw)?;
            ingest(&state, &tenant.id, ($parse)(&raw)).await
        }
    };
}

/// Writes `GET <path>/{id}` and `POST <path>/{id}/sync` for one document type.
macro_rules! read_and_resync {
    ($doc_type:expr, $show:ident = $get:literal, $sync:ident = $post:literal, $noun:literal, $param:literal) => {
        #[doc = concat!("A ", $noun, "'s content, versions, sync state per connection, and what applies to it.")]
        #[utoipa::path(get, path = $get, tag = "ledger", params(($param = String, Path)),
            responses((status = 200, body = serde_json::Value), (status = 404, body = ErrorBody)),
            security(("api_key" = [])))]
        pub async fn $show(
            State(state): State<AppState>,
            AuthTenant(tenant): AuthTenant,
            Path(id): Path<String>,
        ) -> Result<Json<Value>, ApiError> {
            let doc_type = $doc_type;
            show(&state, &tenant.id, DocumentRef { doc_type, id }).await
        }

        #[doc = concat!("Queues a ", $noun, "'s current version again, to one connection or all.")]
        #[utoipa::path(post, path = $post, tag = "ledger", params(($param = String, Path)),
            request_body(content = Option<ManualSyncRequest>),
            responses((status = 202, body = DocumentSyncResponse), (status = 404, body = ErrorBody),
                      (status = 409, body = ErrorBody, description = "The connection is not active")),
            security(("api_key" = [])))]
        pub async fn $sync(
            State(state): State<AppState>,
            AuthTenant(tenant): AuthTenant,
            Path(id): Path<String>,
            raw: Result<Bytes, BytesRejection>,
        ) -> Result<(StatusCode, Json<DocumentSyncResponse>), ApiError> {
            sync_answer(&state, &tenant.id, $doc_type, id, raw).await
        }
    };
}

ingest_endpoint!(
    ingest_credit_note,
    "/v1/credit-notes",
    |raw: &[u8]| parse_credit_note(raw).map(AnyDocument::CreditNote),
    "Ingests a credit note. An ISSUED one on an invoice of this tenant may not take the credit notes on it above the invoice's total (422 `refused_by_ledger`)."
);
ingest_endpoint!(
    ingest_payment,
    "/v1/payments",
    |raw: &[u8]| parse_payment(raw).map(AnyDocument::Payment),
    "Ingests a payment received from a customer, applied to some of their invoices."
);
ingest_endpoint!(
    ingest_refund,
    "/v1/refunds",
    |raw: &[u8]| parse_refund(raw).map(AnyDocument::Refund),
    "Ingests a refund: money paid back to a customer, usually against a credit note."
);
read_and_resync!(
    DocumentType::CreditNote,
    show_credit_note = "/v1/credit-notes/{id}",
    sync_credit_note = "/v1/credit-notes/{id}/sync",
    "credit note",
    "id"
);
read_and_resync!(
    DocumentType::Payment,
    show_payment = "/v1/payments/{id}",
    sync_payment = "/v1/payments/{id}/sync",
    "payment",
    "id"
);
read_and_resync!(
    DocumentType::Refund,
    show_refund = "/v1/refunds/{id}",
    sync_refund = "/v1/refunds/{id}/sync",
    "refund",
    "id"
);
read_and_resync!(
    DocumentType::Customer,
    show_customer = "/v1/customers/{customer_id}",
    sync_customer = "/v1/customers/{customer_id}/sync",
    "customer",
    "customer_id"
);

/// Stores a customer's current details and pushes them to every routed connection.
#[utoipa::path(put, path = "/v1/customers/{customer_id}", tag = "ledger",
    params(("customer_id" = String, Path, description = "The platform's customer id")),
    request_body(content = serde_json::Value, description = "The customer's details as the contract defines them (docs/contracts.md)"),
    responses((status = 202, body = DocumentIngestResponse), (status = 400, body = ErrorBody, description = "Malformed JSON"),
        (status = 422, body = ErrorBody, description = "Invalid details; every offending field is in details")),
    security(("api_key" = [])))]
pub async fn put_customer(
    app: State<AppState>,
    who: AuthTenant,
    id: Path<String>,
    raw: RawBody,
) -> Ingested {
    let raw = body::bytes(raw)?;
    let parsed = parse_customer_update(&id, &raw).map(AnyDocument::Customer);
    ingest(&app, &who.0.id, parsed).await
}
