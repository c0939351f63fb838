//! A real erp-sync server in this process, on an ephemeral port with its own data dir
//! (and its own PostgreSQL schema when the suite runs against PostgreSQL).

use std::time::Duration;

use erp_sync::config::Config;
use erp_sync::server::RunningServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::Receiver;

/// A running server with one tenant, and an HTTP client speaking for that tenant.
pub struct TestServer {
    pub server: Option<RunningServer>,
    pub base: String,
    pub key: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    /// The PostgreSQL store this server uses, if the suite runs against PostgreSQL.
    pub database_url: Option<String>,
}

/// Settings used by most tests: private targets allowed (the receiver is on loopback),
/// and retries fast enough not to slow the suite.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config::for_data_dir(dir);
    config.allow_private_targets = true;
    config.retry.base = Duration::from_millis(50);
    config.request_timeout = Duration::from_secs(2);
    config.worker.idle_poll = Duration::from_millis(200);
    // A small sandbox pool: each reserves address space per slot, and tests run many
    // servers side by side.
    config.wasm.concurrency = 8;
    // One compiled-component cache for every test server of the run: a 12 MB JS guest
    // is compiled once, not once per server.
    config.wasm_cache_dir = Some(std::env::temp_dir().join("erp-sync-test-wasm-cache"));
    config
}

impl TestServer {
    /// A server with the test configuration.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server whose configuration `tweak` may change first.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut config = test_config(dir.path());
        if let Some(admin) = super::postgres::admin_url() {
            config.database_url = Some(super::postgres::fresh_schema(&admin).await);
            config.secret_key = Some(super::postgres::TEST_SECRET_KEY.into());
        }
        tweak(&mut config);
        let database_url = config.database_url.clone();
        let server = erp_sync::server::start(config)
            .await
            .expect("the server starts");
        let (_, key) = server.store.create_tenant("test").await.expect("a tenant");
        TestServer {
            base: format!("http://{}", server.addr),
            server: Some(server),
            key,
            http: reqwest::Client::new(),
            dir,
            database_url,
        }
    }

    /// A server with a webhook connection to a fresh receiver, where most delivery tests start.
    pub async fn start_with_webhook() -> (Self, Receiver, Value) {
        let server = Self::start().await;
        let receiver = Receiver::start().await;
        let connection = server.connect_webhook(&receiver, None).await;
        (server, receiver, connection)
    }

    /// A second host on this server's PostgreSQL store, configured by `tweak` and
    /// speaking for the same tenant. Only on PostgreSQL.
    pub async fn another_host(&self, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let url = self
            .database_url
            .clone()
            .expect("another host shares a PostgreSQL store");
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut config = test_config(dir.path());
        config.database_url = Some(url.clone());
        config.secret_key = Some(super::postgres::TEST_SECRET_KEY.into());
        tweak(&mut config);
        let server = erp_sync::server::start(config)
            .await
            .expect("the second host starts");
        TestServer {
            base: format!("http://{}", server.addr),
            server: Some(server),
            key: self.key.clone(),
            http: reqwest::Client::new(),
            dir,
            database_url: Some(url),
        }
    }

    /// Another tenant on the same server, with its key.
    pub async fn second_tenant(&self) -> String {
        let (_, key) = self.store().create_tenant("other").await.expect("a tenant");
        key
    }

    /// The server's store, for the few checks no API offers (e.g. leased jobs).
    pub fn store(&self) -> &erp_sync::store::Store {
        &self.server.as_ref().expect("the server is running").store
    }

    /// Sends a request with this tenant's key; answers the status and the JSON body
    /// (`Value::Null` when the body is not JSON).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(&self.key, method, path, body).await
    }

    /// Like [`TestServer::call`] with another API key.
    pub async fn call_as(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a valid method");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `GET /metrics`: the Prometheus text.
    pub async fn metrics(&self) -> String {
        let response = self.http.get(format!("{}/metrics", self.base)).send().await;
        response
            .expect("the server answers")
            .text()
            .await
            .expect("a body")
    }

    /// Posts raw bytes (for malformed bodies).
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        self.post_bytes(path, "application/json", body).await
    }

    /// Posts raw bytes of any content type (JSON or not, Wasm), answering as [`Self::call`].
    pub async fn post_bytes(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Creates a webhook connection to `receiver` and teaches the receiver its secret.
    pub async fn connect_webhook(&self, receiver: &Receiver, entity: Option<&str>) -> Value {
        let mut body =
            json!({"provider": "webhook", "name": "hook", "config": {"url": receiver.url()}});
        if let Some(entity) = entity {
            body["entity"] = json!(entity);
        }
        let created = self.create_connection(body).await;
        receiver.set_secret(created["secret"].as_str().expect("a generated secret"));
        created
    }

    /// Posts an invoice and expects it accepted.
    pub async fn ingest(&self, invoice: &Value) -> Value {
        let (status, body) = self
            .call("POST", "/v1/invoices", Some(invoice.clone()))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        body
    }

    /// Creates an OAuth connection (`body` as for `POST /v1/connections`) and completes
    /// its authorization at the fake provider; answers the connection's id and the
    /// callback's answer.
    pub async fn connect_oauth(&self, body: Value) -> (String, Value) {
        let created = self.create_connection(body).await;
        let (status, done) = self
            .authorize(created["authorize_url"].as_str().unwrap())
            .await;
        assert_eq!(status, StatusCode::OK, "{done}");
        (created["id"].as_str().unwrap().to_string(), done)
    }

    /// Plays the operator's browser through an OAuth round trip to this server (see
    /// [`super::erp::oauth_round_trip`]).
    pub async fn authorize(&self, authorize_url: &str) -> (StatusCode, Value) {
        super::erp::oauth_round_trip(&self.base, authorize_url).await
    }

    /// Stops the server gracefully.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}
