//! One method per API endpoint the tests call again and again, so that a test says what
//! it does ("disconnect", "preview") and still asserts the answer itself: each answers
//! the status and JSON body, except `create_connection`, which expects a 201.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::TestServer;

/// The bytes of a built guest component (`erp_sync_guest_artifacts`' paths).
pub fn built_guest(path: &str) -> Vec<u8> {
    std::fs::read(path).expect("a built guest")
}

impl TestServer {
    /// `POST /v1/connections` whatever the answer, for the tests of refusals.
    pub async fn post_connection(&self, body: Value) -> (StatusCode, Value) {
        self.call("POST", "/v1/connections", Some(body)).await
    }

    /// `POST /v1/connections`, expecting it created; answers the new connection.
    pub async fn create_connection(&self, body: Value) -> Value {
        let (status, created) = self.post_connection(body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created
    }

    /// `GET /v1/connections`: the tenant's connections.
    pub async fn connections(&self) -> (StatusCode, Value) {
        self.call("GET", "/v1/connections", None).await
    }

    /// `GET /v1/connections/{id}`.
    pub async fn connection(&self, id: &str) -> (StatusCode, Value) {
        self.connection_as(&self.key, id).await
    }

    /// `GET /v1/connections/{id}` with another API key (another tenant's, or none valid).
    pub async fn connection_as(&self, key: &str, id: &str) -> (StatusCode, Value) {
        self.call_as(key, "GET", &format!("/v1/connections/{id}"), None)
            .await
    }

    /// `PATCH /v1/connections/{id}` with `body` (a new name, or config changes).
    pub async fn patch_connection(&self, id: &str, body: Value) -> (StatusCode, Value) {
        self.call("PATCH", &format!("/v1/connections/{id}"), Some(body))
            .await
    }

    /// `DELETE /v1/connections/{id}`: disconnects.
    pub async fn disconnect(&self, id: &str) -> (StatusCode, Value) {
        self.call("DELETE", &format!("/v1/connections/{id}"), None)
            .await
    }

    /// `POST /v1/connections/{id}/reauthorize`: a new authorize URL.
    pub async fn reauthorize(&self, id: &str) -> (StatusCode, Value) {
        self.call("POST", &format!("/v1/connections/{id}/reauthorize"), None)
            .await
    }

    /// `GET /v1/connections/{id}/erp/{list}`: one of the connected ERP's lists.
    pub async fn erp_list(&self, id: &str, list: &str) -> (StatusCode, Value) {
        self.call("GET", &format!("/v1/connections/{id}/erp/{list}"), None)
            .await
    }

    /// `POST /v1/connections/{id}/preview` of `invoice`: the request a delivery would send.
    pub async fn preview(&self, id: &str, invoice: Value) -> (StatusCode, Value) {
        self.call(
            "POST",
            &format!("/v1/connections/{id}/preview"),
            Some(json!({ "invoice": invoice })),
        )
        .await
    }

    /// `GET /v1/invoices/{id}`: the invoice and its sync states.
    pub async fn invoice_state(&self, id: &str) -> (StatusCode, Value) {
        self.call("GET", &format!("/v1/invoices/{id}"), None).await
    }

    /// `POST /v1/invoices/{id}/sync`: a manual sync, to every connection or to one.
    pub async fn resync(
        &self,
        invoice_id: &str,
        connection_id: Option<&str>,
    ) -> (StatusCode, Value) {
        let body = connection_id.map(|id| json!({ "connection_id": id }));
        self.call("POST", &format!("/v1/invoices/{invoice_id}/sync"), body)
            .await
    }

    /// `PATCH /v1/settings` turning Multi-ERP on or off.
    pub async fn set_multi_erp(&self, on: bool) -> (StatusCode, Value) {
        self.call("PATCH", "/v1/settings", Some(json!({ "multi_erp": on })))
            .await
    }

    /// `GET /v1/customers/{customer}/tweak`: which transform tweaks the customer's invoices.
    pub async fn tweak(&self, customer: &str) -> (StatusCode, Value) {
        self.call("GET", &format!("/v1/customers/{customer}/tweak"), None)
            .await
    }

    /// `PUT /v1/customers/{customer}/tweak`: the transform to tweak the customer's invoices.
    pub async fn set_tweak(
        &self,
        customer: &str,
        transform_id: impl Into<Value>,
    ) -> (StatusCode, Value) {
        let body = json!({ "transform_id": transform_id.into() });
        self.call(
            "PUT",
            &format!("/v1/customers/{customer}/tweak"),
            Some(body),
        )
        .await
    }

    /// Uploads a built guest component (`query`: world, name), expecting a new transform (201).
    pub async fn upload_guest(&self, path: &str, query: &str) -> Value {
        let (status, body) = self.upload_transform(built_guest(path), query).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// `POST /v1/transforms?{query}` with a component's bytes.
    pub async fn upload_transform(&self, bytes: Vec<u8>, query: &str) -> (StatusCode, Value) {
        let path = format!("/v1/transforms?{query}");
        self.post_bytes(&path, "application/wasm", bytes).await
    }
}
