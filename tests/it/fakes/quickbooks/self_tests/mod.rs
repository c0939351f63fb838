//! The fake QuickBooks Online's own tests, driven with plain HTTP: it must be right before
//! it can judge a connector. Here the well-behaved client they share; the tests by concern
//! below.

mod currencies;
mod customers;
mod invoices;
mod limits;
mod oauth;
mod query;
mod tax;

use std::collections::HashMap;

use axum::http::header;
use serde_json::{Value, json};

use super::super::harness::testing::http;

use super::{CLIENT_ID, CLIENT_SECRET, FakeQuickBooks};

const REDIRECT: &str = "https://app.example/cb";

/// Runs the authorize redirect and returns (code, realmId).
async fn authorize_code(fake: &FakeQuickBooks) -> (String, String) {
    let response = http()
        .get(fake.auth_url())
        .query(&[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT),
            ("scope", "com.intuit.quickbooks.accounting openid"),
            ("state", "csrf-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    let location = url::Url::parse(location).unwrap();
    assert!(location.as_str().starts_with(REDIRECT));
    let params: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(params["state"], "csrf-1");
    (params["code"].clone(), params["realmId"].clone())
}

async fn token_request(fake: &FakeQuickBooks, form: &[(&str, &str)]) -> (u16, Value) {
    let response = http()
        .post(fake.token_url())
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .header(header::ACCEPT, "application/json")
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Authorizes and exchanges the code: an API client for the company picked.
async fn connect(fake: &FakeQuickBooks) -> Api<'_> {
    let (code, realm) = authorize_code(fake).await;
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let (status, body) = token_request(fake, &exchange).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    Api { fake, token, realm }
}

/// A well-behaved API client.
struct Api<'a> {
    fake: &'a FakeQuickBooks,
    token: String,
    realm: String,
}

impl Api<'_> {
    fn url(&self, path: &str) -> String {
        let (base, realm) = (self.fake.api_base(), &self.realm);
        format!("{base}/v3/company/{realm}/{path}")
    }

    /// A well-formed GET of `path`, not yet sent.
    fn get_request(&self, path: &str) -> reqwest::RequestBuilder {
        self.well_formed(http().get(self.url(path)))
    }

    /// Adds what every API call carries: `minorversion`, the token and `Accept`.
    fn well_formed(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = self.authorized(request);
        request.header(header::ACCEPT, "application/json")
    }

    /// Adds `minorversion` and the token, but no `Accept`.
    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = request.query(&[("minorversion", "75")]);
        request.bearer_auth(&self.token)
    }

    async fn get_raw(&self, path: &str) -> reqwest::Response {
        self.get_request(path).send().await.unwrap()
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let response = self.get_request(path).query(query).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// A GET of `path` that must answer 200: its body.
    async fn read(&self, path: &str) -> Value {
        let (status, body) = self.get(path, &[]).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn post_raw(
        &self,
        path: &str,
        query: &[(&str, &str)],
        body: &Value,
    ) -> reqwest::Response {
        let request = self.well_formed(http().post(self.url(path)));
        request.query(query).json(body).send().await.unwrap()
    }

    async fn post(&self, path: &str, query: &[(&str, &str)], body: &Value) -> (u16, Value) {
        let response = self.post_raw(path, query, body).await;
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn create_customer(&self, name: &str) -> String {
        let body = json!({ "DisplayName": name });
        let (status, body) = self.post("customer", &[], &body).await;
        assert_eq!(status, 200, "{body}");
        body["Customer"]["Id"].as_str().unwrap().to_string()
    }

    /// POSTs a [`taxed_invoice`] for `customer`.
    async fn post_invoice(&self, customer: &str, lines: &[(f64, Option<&str>)]) -> (u16, Value) {
        self.post("invoice", &[], &taxed_invoice(customer, lines))
            .await
    }

    async fn query(&self, query: &str) -> (u16, Value) {
        self.get("query", &[("query", query)]).await
    }
}

fn detail_of(body: &Value) -> &str {
    body["Fault"]["Error"][0]["Detail"]
        .as_str()
        .unwrap_or_default()
}

/// An invoice with one sales line per (amount, TaxCodeRef) on item 1.
fn taxed_invoice(customer: &str, lines: &[(f64, Option<&str>)]) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(amount, code)| {
            let mut detail = json!({ "ItemRef": { "value": "1" } });
            if let Some(code) = code {
                detail["TaxCodeRef"] = json!({ "value": code });
            }
            json!({ "Amount": amount, "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": detail })
        })
        .collect();
    json!({ "CustomerRef": { "value": customer }, "Line": lines })
}

/// The string `key` of every element of the array `list`.
fn strings<'a>(list: &'a Value, key: &str) -> Vec<&'a str> {
    let list = list.as_array().unwrap().iter();
    list.map(|e| e[key].as_str().unwrap()).collect()
}

fn code_of(body: &Value) -> &str {
    body["Fault"]["Error"][0]["code"]
        .as_str()
        .unwrap_or_default()
}

fn invoice_body(customer: &str) -> Value {
    json!({
        "CustomerRef": { "value": customer },
        "DocNumber": "INV-2024-0001", "TxnDate": "2024-05-01", "DueDate": "2024-05-31",
        "Line": [
            { "Amount": 150.00, "DetailType": "SalesItemLineDetail", "Description": "Pro plan May",
              "SalesItemLineDetail": { "ItemRef": { "value": "1" }, "Qty": 1, "UnitPrice": 150.00 } },
            { "Amount": 12.0, "DetailType": "SalesItemLineDetail",
              "SalesItemLineDetail": { "ItemRef": { "value": "2" }, "Qty": 12000, "UnitPrice": 0.001 } },
            { "Amount": 10.5, "DetailType": "DiscountLineDetail", "DiscountLineDetail": { "PercentBased": false } },
        ],
        "TxnTaxDetail": { "TotalTax": 0.99 },
    })
}
