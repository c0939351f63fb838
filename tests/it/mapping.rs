//! Mapping aids through the public API: the connected ERP's lists
//! (`GET /v1/connections/{id}/erp/{list}`) and previews of the exact request a delivery
//! would send, with every mapping gap (`POST /v1/connections/{id}/preview`), for every
//! provider; a preview sends nothing.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fakes::netsuite::{self as ns, FakeNetSuite};
use crate::fakes::quickbooks as qbo;
use crate::fakes::xero::{self as fx, FakeXero};
use crate::support::erp::{netsuite_config, quickbooks_company, quickbooks_server, xero_server};
use crate::support::{TestServer, array, invoice, string, uk_invoice};

fn ids(entries: &Value) -> Vec<String> {
    entries
        .as_array()
        .unwrap_or_else(|| panic!("a list: {entries}"))
        .iter()
        .map(|e| string(&e["id"]).to_string())
        .collect()
}

/// The fields a preview names as mapping gaps, in order.
fn gap_fields(preview: &Value) -> Vec<&str> {
    array(&preview["gaps"])
        .iter()
        .map(|g| string(&g["field"]))
        .collect()
}

fn writes(methods: impl Iterator<Item = String>) -> usize {
    methods.filter(|m| m != "GET").count()
}

#[tokio::test]
async fn quickbooks_lists_and_previews_send_nothing() {
    let fake = quickbooks_company("US", "USD", &["EUR"]).await;
    let server = quickbooks_server(&fake).await;
    let (id, _) = server
        .connect_oauth(
            json!({"provider": "quickbooks", "config": {"item_map": {"prod_api": "99"}}}),
        )
        .await;
    let (status, items) = server.erp_list(&id, "items").await;
    assert_eq!(status, StatusCode::OK, "{items}");
    assert!(ids(&items).contains(&"1".to_string()), "Services: {items}");
    assert!(items[0]["name"].is_string());
    let (_, accounts) = server.erp_list(&id, "accounts").await;
    assert!(
        array(&accounts).iter().any(|a| a["type"] == "Bank"),
        "{accounts}"
    );
    let (_, taxes) = server.erp_list(&id, "tax-rates").await;
    assert_eq!(ids(&taxes), vec!["TAX", "NON"], "a US company's tax codes");
    let (_, currencies) = server.erp_list(&id, "currencies").await;
    assert_eq!(ids(&currencies), vec!["USD", "EUR"], "{currencies}");
    // Read once a minute at most: a second read is answered from what was kept.
    let item_queries = || {
        fake.requests()
            .iter()
            .filter(|r| r.query.contains("from%20Item") || r.query.contains("from+Item"))
            .count()
    };
    let before = item_queries();
    assert!(before >= 1, "the items were read from QuickBooks");
    server.erp_list(&id, "items").await;
    assert_eq!(item_queries(), before, "kept, not read again");
    let (status, missing) = server.erp_list(&id, "vendors").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");

    let sent_before = writes(fake.requests().into_iter().map(|r| r.method));
    let mut inv = invoice("inv_preview");
    inv["currency"] = json!("EUR");
    let (status, preview) = server.preview(&id, inv).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let request = &preview["request"];
    assert_eq!(request["method"], "POST");
    assert!(string(&request["url"]).contains("/invoice?"), "{request}");
    assert_eq!(request["body"]["CurrencyRef"]["value"], "EUR");
    assert!(
        request["body"]["CustomerRef"]["value"].is_null(),
        "not created yet"
    );
    assert!(!array(&preview["notes"]).is_empty());
    let gaps = array(&preview["gaps"]);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(
        gaps[0]["field"], "Line[0].ItemRef",
        "item 99 does not exist: {gaps:?}"
    );
    assert_eq!(
        writes(fake.requests().into_iter().map(|r| r.method)),
        sent_before,
        "a preview writes nothing"
    );
    assert!(fake.customers(qbo::REALM).is_empty());
    assert!(
        server
            .log("limit=1000")
            .await
            .iter()
            .all(|e| e["kind"] == "test"),
        "nothing logged as a delivery"
    );

    // A UK company: tax_code_map is a gap until it names the invoice's tax code.
    let uk = quickbooks_company("GB", "GBP", &[]).await;
    let server = quickbooks_server(&uk).await;
    let (id, _) = server
        .connect_oauth(json!({"provider": "quickbooks"}))
        .await;
    let (_, preview) = server.preview(&id, uk_invoice()).await;
    assert_eq!(
        gap_fields(&preview),
        vec!["lines[0].tax_code", "lines[1].tax_code"],
        "{preview}"
    );
}

#[tokio::test]
async fn xero_lists_and_previews_check_the_mapping_against_the_organisation() {
    let fake = FakeXero::start().await;
    let server = xero_server(&fake).await;
    let (id, _) = server
        .connect_oauth(json!({"provider": "xero", "config": {"account_map": {"USAGE_FEE": "999"}}}))
        .await;
    let (status, accounts) = server.erp_list(&id, "accounts").await;
    assert_eq!(status, StatusCode::OK, "{accounts}");
    assert!(ids(&accounts).contains(&"200".to_string()), "{accounts}");
    let (_, taxes) = server.erp_list(&id, "tax-rates").await;
    assert!(ids(&taxes).contains(&"OUTPUT2".to_string()), "{taxes}");
    let (_, currencies) = server.erp_list(&id, "currencies").await;
    assert_eq!(ids(&currencies), vec!["GBP"]);
    let (_, items) = server.erp_list(&id, "items").await;
    assert!(!ids(&items).is_empty(), "{items}");

    let requests_before = fake.requests().len();
    let (status, preview) = server.preview(&id, invoice("inv_x")).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["request"]["method"], "PUT");
    assert_eq!(
        preview["request"]["headers"]["xero-tenant-id"],
        fx::TENANT_ID
    );
    let element = &preview["request"]["body"]["Invoices"][0];
    assert_eq!(element["InvoiceNumber"], "INV-inv_x");
    assert_eq!(element["LineItems"][0]["AccountCode"], "999");
    assert_eq!(
        gap_fields(&preview),
        vec!["currency", "lines[0].account"],
        "USD is not subscribed; 999 is no account: {preview}"
    );
    assert!(
        fake.requests()[requests_before..]
            .iter()
            .all(|r| r.method == "GET"),
        "a preview only reads"
    );
    assert!(fake.invoices(fx::TENANT_ID).is_empty());
    assert!(fake.contacts(fx::TENANT_ID).is_empty());
}

#[tokio::test]
async fn netsuite_lists_come_from_suiteql_and_previews_name_missing_items() {
    let fake = FakeNetSuite::start().await;
    let server = TestServer::start().await;
    let created = server
        .create_connection(json!({"provider": "netsuite", "config": netsuite_config(&fake)}))
        .await;
    let id = string(&created["id"]);
    let (status, items) = server.erp_list(id, "items").await;
    assert_eq!(status, StatusCode::OK, "{items}");
    assert!(
        ids(&items).contains(&ns::ITEM_SERVICES.to_string()),
        "{items}"
    );
    let (_, accounts) = server.erp_list(id, "accounts").await;
    assert!(
        ids(&accounts).contains(&ns::ACCOUNT_REVENUE.to_string()),
        "{accounts}"
    );
    let (_, taxes) = server.erp_list(id, "tax-rates").await;
    let ca = array(&taxes)
        .iter()
        .find(|t| t["id"] == ns::TAX_CA)
        .unwrap();
    assert_eq!(ca["rate"], "7.25", "{ca}");
    let (_, currencies) = server.erp_list(id, "currencies").await;
    assert!(
        array(&currencies).iter().any(|c| c["name"] == "USD"),
        "{currencies}"
    );
    assert!(!fake.suiteql_queries().is_empty());

    let (status, preview) = server.preview(id, invoice("inv_ns")).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["request"]["method"], "PUT");
    assert!(
        string(&preview["request"]["url"]).ends_with("?replace=item"),
        "{preview}"
    );
    let gaps = array(&preview["gaps"]);
    assert_eq!(gaps.len(), 1, "the invoice's tax has no item: {gaps:?}");
    assert!(string(&gaps[0]["message"]).contains("TAX"));
    assert!(
        fake.invoices().is_empty() && fake.customers().is_empty(),
        "nothing sent"
    );
}

#[tokio::test]
async fn a_webhook_preview_is_the_signed_request_and_sends_nothing() {
    let (server, receiver, created) = TestServer::start_with_webhook().await;
    let id = string(&created["id"]);
    let secret = string(&created["secret"]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let received = receiver.received().len();
    let (status, preview) = server.preview(id, invoice("inv_w")).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let request = &preview["request"];
    assert_eq!(request["method"], "POST");
    assert_eq!(request["url"], receiver.url());
    assert_eq!(request["body"]["data"]["id"], "inv_w");
    assert_eq!(request["body"]["type"], "invoice.finalized");
    let raw = string(&request["raw_body"]);
    let signature = string(&request["headers"]["X-Aforo-Signature"]);
    let t: i64 = string(&request["headers"]["X-Aforo-Timestamp"])
        .parse()
        .unwrap();
    assert!(
        erp_sync::crypto::signature::verify(signature, raw.as_bytes(), secret.as_bytes(), t, 300)
            .is_ok(),
        "the preview's signature verifies with the connection's secret"
    );
    assert!(array(&preview["gaps"]).is_empty());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.received().len(), received, "nothing was sent");

    let (status, body) = server.erp_list(id, "items").await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a webhook has no ERP lists: {body}"
    );
    let (status, body) = server.preview(id, json!({"id": "x"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_invoice");
}
