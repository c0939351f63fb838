//! Tenant isolation on every endpoint, driven by a table so a new endpoint cannot be
//! forgotten: the table must list every path of the OpenAPI document.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestServer, invoice, string};

#[tokio::test]
async fn another_tenants_objects_are_not_found() {
    let (server, receiver, conn) = TestServer::start_with_webhook().await;
    let conn_id = string(&conn["id"]).to_string();
    server.ingest(&invoice("inv_private")).await;
    let transform = server
        .upload_guest(
            erp_sync_guest_artifacts::PO_REFERENCE,
            "world=invoice-tweak&name=tweak-named-confidential",
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    server.set_tweak("cus_42", transform.as_str()).await;
    let other = server.second_tenant().await;
    let receiver_url = receiver.url();

    // ("METHOD path template", body, expected status for the other tenant)
    let rename = json!({"name": "x"});
    let webhook = json!({"provider": "webhook", "config": {"url": receiver.url()}});
    let tweak = json!({"transform_id": "{transform}"});
    let table: Vec<(&str, Option<serde_json::Value>, u16)> = vec![
        ("GET /v1/invoices/{invoice}", None, 404),
        ("POST /v1/invoices/{invoice}/sync", None, 404),
        ("GET /v1/connections/{connection}", None, 404),
        ("PATCH /v1/connections/{connection}", Some(rename), 404),
        ("DELETE /v1/connections/{connection}", None, 404),
        ("POST /v1/connections/{connection}/reauthorize", None, 404),
        ("GET /v1/connections/{connection}/erp/items", None, 404),
        ("POST /v1/connections/{connection}/preview", None, 404),
        ("GET /v1/connections", None, 200),
        ("GET /v1/sync-log", None, 200),
        ("GET /v1/settings", None, 200),
        ("PATCH /v1/settings", Some(json!({"multi_erp": true})), 200),
        ("POST /v1/connections", Some(webhook), 201),
        ("POST /v1/invoices", Some(invoice("inv_theirs")), 202),
        ("GET /v1/transforms/{transform}", None, 404),
        ("POST /v1/transforms/{transform}/test", None, 404),
        ("GET /v1/transforms", None, 200),
        ("POST /v1/transforms", None, 400),
        ("GET /v1/customers/{customer}/tweak", None, 200),
        ("PUT /v1/customers/{customer}/tweak", Some(tweak), 422),
        ("DELETE /v1/customers/{customer}/tweak", None, 200),
    ];
    for (route, body, expected) in &table {
        let (method, template) = route.split_once(' ').unwrap();
        let path = template
            .replace("{invoice}", "inv_private")
            .replace("{connection}", &conn_id)
            .replace("{transform}", &transform)
            .replace("{customer}", "cus_42");
        let body: Option<serde_json::Value> = body.as_ref().map(|b| {
            serde_json::from_str(&b.to_string().replace("{transform}", &transform)).unwrap()
        });
        let (status, answer) = server.call_as(&other, method, &path, body.clone()).await;
        assert!(
            !answer.to_string().contains("tweak-named-confidential"),
            "{method} {path} leaks the transform: {answer}"
        );
        assert_eq!(status.as_u16(), *expected, "{method} {path}: {answer}");
        // Nothing of the owner's data shows: not the invoice's content, not the target.
        for secret in ["INV-inv_private", "Acme Inc", receiver_url.as_str()] {
            if *expected != 201 {
                assert!(
                    !answer.to_string().contains(secret),
                    "{method} {path} leaks {secret}: {answer}"
                );
            }
        }
        let (status, _) = server
            .call_as("esk_not-a-key", method, &path, body.clone())
            .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a valid key"
        );
    }
    // The owner still sees everything untouched.
    let (_, tweak) = server.tweak("cus_42").await;
    assert_eq!(
        tweak["transform_id"],
        json!(transform),
        "the other tenant's DELETE touched nothing"
    );
    let (status, _) = server
        .call("GET", &format!("/v1/connections/{conn_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        server.call("GET", "/v1/settings", None).await.1["multi_erp"],
        false
    );

    // Every /v1 operation of the API description is in the table.
    let (_, doc) = server.call("GET", "/openapi.json", None).await;
    let tested: HashSet<(String, String)> = table
        .iter()
        .map(|(route, _, _)| {
            let (m, p) = route.split_once(' ').unwrap();
            (
                m.to_lowercase(),
                p.replace("{invoice}", "{id}")
                    .replace("{connection}", "{id}")
                    .replace("{transform}", "{id}")
                    .replace("{customer}", "{customer_id}")
                    .replace("/erp/items", "/erp/{list}"),
            )
        })
        .collect();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            if path == "/v1/oauth/callback" {
                continue; // authenticated by its single-use state, not by an API key
            }
            assert!(
                tested.contains(&(method.clone(), path.clone())),
                "{method} {path} is not in the isolation table"
            );
        }
    }
}
