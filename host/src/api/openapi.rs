//! `GET /openapi.json`: the API description, generated from the handlers' annotations so
//! it cannot drift from the code.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::AppState;

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A tenant API key from `erp-sync tenant create`"))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document of every endpoint.
#[derive(OpenApi)]
#[openapi(
    info(title = "erp-sync", description = "Pushes finalized invoices, credit notes, payments, refunds and customer updates into ERPs and signed webhooks, with a sync log of every attempt."),
    modifiers(&BearerKey),
    paths(
        super::invoices::ingest, super::invoices::show, super::invoices::manual_sync,
        super::documents::ingest_credit_note, super::documents::show_credit_note, super::documents::sync_credit_note,
        super::documents::ingest_payment, super::documents::show_payment, super::documents::sync_payment,
        super::documents::ingest_refund, super::documents::show_refund, super::documents::sync_refund,
        super::documents::put_customer, super::documents::show_customer, super::documents::sync_customer,
        super::connections::create, super::connections::list, super::connections::show,
        super::connections::update, super::connections::disconnect, super::connections::reauthorize,
        super::rotation::rotate_secret,
        super::delivery_control::pause, super::delivery_control::resume,
        super::delivery_control::recover, super::delivery_control::show_recovery,
        super::alerts::list, super::alerts::close, super::overview::overview,
        super::erp::list, super::erp::preview,
        super::oauth::callback,
        super::sync_log::list,
        super::settings::show, super::settings::update,
        super::transforms::upload, super::transforms::list, super::transforms::show, super::transforms::test,
        super::transforms::set_tweak, super::transforms::show_tweak, super::transforms::remove_tweak,
        super::health::healthz, super::health::metrics, openapi_json,
    )
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_json))
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
