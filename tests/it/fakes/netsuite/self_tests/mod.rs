//! The fake NetSuite's own tests: it must be right before it can judge a connector. Here
//! the client they share, signing like erp-sync's connector with knobs to get it wrong; the
//! tests by concern below.

mod gate;
mod login;
mod records;
mod suiteql;

use chrono::Utc;
use erp_sync::connectors::netsuite::client::{QUERY_PATH, request_url, service_url};
use erp_sync::connectors::netsuite::tba::{self, Credentials};
use serde_json::{Value, json};

use super::suiteql::SUITEQL_PATH;
use super::{ACCOUNT_ID, CONSUMER_KEY, CONSUMER_SECRET, FakeNetSuite, TOKEN_ID, TOKEN_SECRET};

fn credentials() -> Credentials {
    let secrets = json!({
        "consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET,
        "token_id": TOKEN_ID, "token_secret": TOKEN_SECRET,
    });
    Credentials::from_secrets(&secrets).expect("every credential")
}

/// A client signing like erp-sync's connector, with knobs to get it wrong.
struct Client<'a> {
    fake: &'a FakeNetSuite,
    http: reqwest::Client,
}

impl Client<'_> {
    fn new(fake: &FakeNetSuite) -> Client<'_> {
        Client {
            fake,
            http: reqwest::Client::new(),
        }
    }

    async fn send_with(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
        header: String,
    ) -> (u16, Option<String>, Value) {
        let url = request_url(&self.fake.url, path, query).unwrap();
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, url)
            .header("authorization", header);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        let text = response.text().await.unwrap();
        (
            status,
            location,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    fn header(&self, method: &str, path: &str, query: &[(&str, &str)]) -> String {
        let url = request_url(&self.fake.url, path, query).unwrap();
        tba::authorization(
            method,
            &url,
            ACCOUNT_ID,
            &credentials(),
            &tba::nonce(),
            Utc::now().timestamp(),
        )
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Option<String>, Value) {
        let header = self.header(method, path, query);
        self.send_with(method, path, query, body, header).await
    }

    /// An upsert (or any PUT) of `body` at `path`, signed.
    async fn put(&self, path: &str, body: Value) -> (u16, Option<String>, Value) {
        self.send("PUT", path, &[], Some(body)).await
    }

    /// The SuiteQL URL with `query` encoded the RFC 3986 way, as erp-sync builds URLs.
    fn suiteql_url(&self, query: &[(&str, &str)]) -> url::Url {
        let url = service_url(&self.fake.url, QUERY_PATH, "suiteql", query).unwrap();
        assert_eq!(url.path(), SUITEQL_PATH);
        url
    }

    /// A SuiteQL request sent with `query` but signed with `signed`, with `prefer` as
    /// the `Prefer` header.
    async fn suiteql_with(
        &self,
        method: &str,
        query: &[(&str, &str)],
        signed: &[(&str, &str)],
        prefer: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let header = tba::authorization(
            method,
            &self.suiteql_url(signed),
            ACCOUNT_ID,
            &credentials(),
            &tba::nonce(),
            Utc::now().timestamp(),
        );
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, self.suiteql_url(query))
            .header("authorization", header);
        if let Some(prefer) = prefer {
            request = request.header("prefer", prefer);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A SuiteQL query as a connector must send it.
    async fn suiteql(&self, q: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let body = Some(json!({ "q": q }));
        self.suiteql_with("POST", query, query, Some("transient"), body)
            .await
    }
}

/// The smallest valid customer: a company name and a subsidiary.
fn customer_a() -> Value {
    json!({"companyName": "A", "subsidiary": {"id": "1"}})
}

fn rows(body: &Value) -> &Vec<Value> {
    body["items"].as_array().unwrap()
}

fn column(body: &Value, name: &str) -> Vec<String> {
    rows(body)
        .iter()
        .map(|r| r[name].as_str().unwrap_or("<null>").to_string())
        .collect()
}

fn detail(body: &Value) -> &str {
    body["o:errorDetails"][0]["detail"]
        .as_str()
        .unwrap_or_default()
}

fn code(body: &Value) -> &str {
    body["o:errorDetails"][0]["o:errorCode"]
        .as_str()
        .unwrap_or_default()
}

fn id_of(location: &Option<String>) -> String {
    location
        .as_deref()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

fn invoice(customer: &str, lines: Value) -> Value {
    json!({"entity": {"id": customer}, "tranId": "INV-1", "tranDate": "2026-11-01",
           "currency": {"id": "1"}, "item": {"items": lines}})
}
