//! The fake Xero's own tests, driven with plain HTTP: it must be right before it can judge
//! a connector. Here the well-behaved client they share; the tests by concern below.

mod contacts;
mod filters;
mod invoices;
mod limits;
mod oauth;
mod settings;

use std::collections::HashMap;

use axum::http::header;
use serde_json::{Value, json};
use uuid::Uuid;

use super::super::harness::testing::http;

use super::{CLIENT_ID, CLIENT_SECRET, FakeXero, TENANT_ID};

const REDIRECT: &str = "https://app.example/cb";
/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const SCOPES: &str = "openid profile email offline_access accounting.transactions accounting.contacts accounting.settings.read";
const OTHER: &str = "5d1c8a3e-7b2f-4e6a-9c0d-2f4b6a8c0e1f";

fn is_uuid(s: &str) -> bool {
    Uuid::parse_str(s).is_ok()
}

/// JSON, or the text as a JSON string (404s are plain text).
fn parse_lenient(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

async fn status_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, parse_lenient(response.text().await.unwrap()))
}

fn authorize_params(scope: &str) -> Vec<(&'static str, String)> {
    [
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", "csrf-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

/// The query of the redirect to `REDIRECT`.
fn callback(response: &reqwest::Response) -> HashMap<String, String> {
    assert_eq!(response.status(), 302);
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    let location = url::Url::parse(location).unwrap();
    location.query_pairs().into_owned().collect()
}

async fn authorize_raw(fake: &FakeXero, params: &[(&str, String)]) -> reqwest::Response {
    http()
        .get(fake.auth_url())
        .query(params)
        .send()
        .await
        .unwrap()
}

/// Runs the authorize redirect; the code and the whole callback query.
async fn authorize_code(fake: &FakeXero, scope: &str) -> (String, HashMap<String, String>) {
    let response = authorize_raw(fake, &authorize_params(scope)).await;
    let params = callback(&response);
    assert!(!params.contains_key("error"), "{params:?}");
    (params["code"].clone(), params)
}

async fn token_request(fake: &FakeXero, form: &[(&str, &str)], basic: bool) -> (u16, Value) {
    let mut request = http().post(fake.token_url()).form(form);
    if basic {
        request = request.basic_auth(CLIENT_ID, Some(CLIENT_SECRET));
    }
    status_json(request.send().await.unwrap()).await
}

async fn exchange(fake: &FakeXero, code: &str, verifier: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    token_request(fake, &form, true).await
}

async fn refresh(fake: &FakeXero, refresh_token: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    token_request(fake, &form, true).await
}

/// Authorizes with `scope` and exchanges the code: a client for [`TENANT_ID`].
async fn connect_with<'a>(fake: &'a FakeXero, scope: &str) -> Api<'a> {
    let (code, _) = authorize_code(fake, scope).await;
    let (status, body) = exchange(fake, &code, VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    Api {
        fake,
        token: body["access_token"].as_str().unwrap().to_string(),
        tenant: TENANT_ID.to_string(),
    }
}

async fn connect(fake: &FakeXero) -> Api<'_> {
    connect_with(fake, SCOPES).await
}

/// A well-behaved accounting client.
struct Api<'a> {
    fake: &'a FakeXero,
    token: String,
    tenant: String,
}

impl<'a> Api<'a> {
    /// The same grant, calling for another organisation.
    fn for_tenant(&self, tenant: &str) -> Api<'a> {
        let (fake, token) = (self.fake, self.token.clone());
        Api {
            fake,
            token,
            tenant: tenant.to_string(),
        }
    }

    /// A GET of `path`, sent; the raw answer.
    async fn send_get(&self, path: &str) -> reqwest::Response {
        let request = self.request(reqwest::Method::GET, path);
        request.send().await.unwrap()
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}/api.xro/2.0/{path}", self.fake.api_base());
        http()
            .request(method, url)
            .bearer_auth(&self.token)
            .header("xero-tenant-id", &self.tenant)
            .header(header::ACCEPT, "application/json")
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let response = self
            .request(reqwest::Method::GET, path)
            .query(query)
            .send()
            .await
            .unwrap();
        status_json(response).await
    }

    async fn write_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        key: Option<&str>,
        body: &Value,
    ) -> (u16, String) {
        let mut request = self.request(method, path).query(query).json(body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn put(&self, path: &str, query: &[(&str, &str)], body: &Value) -> (u16, Value) {
        let (status, text) = self
            .write_raw(reqwest::Method::PUT, path, query, None, body)
            .await;
        (status, parse_lenient(text))
    }

    /// `PUT Invoices` of these invoices.
    async fn put_invoices(&self, query: &[(&str, &str)], invoices: Vec<Value>) -> (u16, Value) {
        self.put("Invoices", query, &json!({ "Invoices": invoices }))
            .await
    }

    async fn post(&self, path: &str, query: &[(&str, &str)], body: &Value) -> (u16, Value) {
        let (status, text) = self
            .write_raw(reqwest::Method::POST, path, query, None, body)
            .await;
        (status, parse_lenient(text))
    }
}

/// The seconds of a 429's `Retry-After`.
fn retry_after(response: &reqwest::Response) -> u64 {
    let value = response.headers()[header::RETRY_AFTER].to_str();
    value.unwrap().parse().unwrap()
}

async fn connections(fake: &FakeXero, token: &str) -> (u16, Value) {
    let response = http()
        .get(format!("{}/connections", fake.api_base()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    status_json(response).await
}

/// PUTs one invoice changed by `mutate` and expects its first validation message.
async fn rejects(api: &Api<'_>, contact: &str, mutate: fn(&mut Value), expected: &str) {
    let mut one = invoice(contact, "C-1", json!([line("A", 2.0, 10.0, "200")]));
    mutate(&mut one);
    let (status, body) = api.put_invoices(&[], vec![one]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(first_error(&body), expected);
}

fn first_error(body: &Value) -> &str {
    body["Elements"][0]["ValidationErrors"][0]["Message"]
        .as_str()
        .unwrap_or_default()
}

fn line(description: &str, quantity: f64, unit: f64, account: &str) -> Value {
    json!({ "Description": description, "Quantity": quantity, "UnitAmount": unit, "AccountCode": account })
}

fn invoice(contact: &str, number: &str, lines: Value) -> Value {
    json!({
        "Type": "ACCREC", "Contact": { "ContactID": contact }, "InvoiceNumber": number,
        "Date": "2024-05-01", "DueDate": "2024-05-31", "Status": "AUTHORISED",
        "LineAmountTypes": "Exclusive", "LineItems": lines,
    })
}
