//! The fake ERPs wired into a test server: the settings that point a server's QuickBooks
//! or Xero app at a fake, the NetSuite connection config for the fake NetSuite, and the
//! operator's browser through an OAuth round trip.

use std::collections::HashMap;

use erp_sync::config::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::TestServer;
use crate::fakes::netsuite::{self as ns, FakeNetSuite};
use crate::fakes::quickbooks::{self as qbo, FakeQuickBooks};
use crate::fakes::xero::{self as fx, FakeXero};

/// The public URL OAuth tests configure; the fakes redirect to it, tests swap in the real base.
pub const PUBLIC_URL: &str = "http://erp-sync.test";

/// The NetSuite credentials, which no answer or page may ever show.
pub const NETSUITE_SECRETS: [&str; 4] = [
    ns::CONSUMER_KEY,
    ns::CONSUMER_SECRET,
    ns::TOKEN_ID,
    ns::TOKEN_SECRET,
];

/// The id of the second organisation [`authorize_two_organisations`] adds.
const SECOND_ORGANISATION: &str = "b4c1d8f3-0000-4000-8000-00000000000b";

/// The query parameters of an authorize URL a connection answers, decoded.
pub fn authorize_params(url: &str) -> HashMap<String, String> {
    let url = url::Url::parse(url).unwrap_or_else(|e| panic!("{url} is a URL: {e}"));
    url.query_pairs().into_owned().collect()
}

/// Points a server's QuickBooks app at `fake`, the setting every QuickBooks test needs.
pub fn quickbooks(fake: &FakeQuickBooks) -> impl FnOnce(&mut Config) + use<> {
    let app = fake.app();
    move |c| {
        c.public_url = PUBLIC_URL.into();
        c.quickbooks = app;
    }
}

/// Points a server's Xero app at `fake`, as [`quickbooks`] does for QuickBooks.
pub fn xero(fake: &FakeXero) -> impl FnOnce(&mut Config) + use<> {
    let app = fake.app();
    move |c| {
        c.public_url = PUBLIC_URL.into();
        c.xero = app;
    }
}

/// A fake QuickBooks company in `country` booking in `home`; multicurrency (for `foreign`)
/// is on exactly when `foreign` names currencies.
pub async fn quickbooks_company(country: &str, home: &str, foreign: &[&str]) -> FakeQuickBooks {
    let fake = FakeQuickBooks::start().await;
    fake.set_company_settings(qbo::REALM, country, home, !foreign.is_empty());
    for currency in foreign {
        fake.add_currency(qbo::REALM, currency);
    }
    fake
}

/// A test server whose QuickBooks is `fake`, for tests that need nothing else changed.
pub async fn quickbooks_server(fake: &FakeQuickBooks) -> TestServer {
    TestServer::start_with(quickbooks(fake)).await
}

/// A test server whose Xero is `fake`, for tests that need nothing else changed.
pub async fn xero_server(fake: &FakeXero) -> TestServer {
    TestServer::start_with(xero(fake)).await
}

/// The NetSuite connection config for `fake` (credentials, subsidiary, item, `api_base`).
pub fn netsuite_config(fake: &FakeNetSuite) -> Value {
    json!({
        "account_id": ns::ACCOUNT_ID,
        "consumer_key": ns::CONSUMER_KEY,
        "consumer_secret": ns::CONSUMER_SECRET,
        "token_id": ns::TOKEN_ID,
        "token_secret": ns::TOKEN_SECRET,
        "subsidiary_id": ns::SUBSIDIARY_ID,
        "default_item_id": ns::ITEM_SERVICES,
        "api_base": fake.url,
    })
}

/// Authorizes a second Xero organisation (`name`) beside the first so a connection must choose.
pub fn authorize_two_organisations(fake: &FakeXero, name: &str) -> &'static str {
    fake.add_tenant(SECOND_ORGANISATION, name);
    fake.authorize_tenants(&[fx::TENANT_ID, SECOND_ORGANISATION]);
    SECOND_ORGANISATION
}

/// The callback URL (on `base`) a fake provider sends the browser to, for tests replaying it.
pub async fn callback_url(browser: &reqwest::Client, authorize_url: &str, base: &str) -> String {
    let answer = browser
        .get(authorize_url)
        .send()
        .await
        .expect("the fake provider answers");
    assert_eq!(
        answer.status(),
        StatusCode::FOUND,
        "the fake authorizes {authorize_url}"
    );
    let location = answer.headers()["location"]
        .to_str()
        .expect("a text Location")
        .to_string();
    location.replace(PUBLIC_URL, base)
}

/// Plays the operator's browser through an OAuth round trip to `base` (in-process or child).
pub async fn oauth_round_trip(base: &str, authorize_url: &str) -> (StatusCode, Value) {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let callback = callback_url(&browser, authorize_url, base).await;
    let answer = browser
        .get(callback)
        .send()
        .await
        .expect("the callback answers");
    (answer.status(), answer.json().await.unwrap_or(Value::Null))
}
