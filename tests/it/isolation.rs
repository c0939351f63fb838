//! Tenant isolation on every endpoint, driven by a table so a new endpoint cannot be
//! forgotten: the table must list every path of the OpenAPI document.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::json;

use crate::ledger::put_customer;
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
    let credit = json!({"id": "cn_private", "number": "CN-1", "status": "ISSUED",
        "invoice_id": "inv_private", "currency": "USD", "issue_date": "2026-11-20",
        "customer": {"id": "cus_42", "name": "Acme Inc"},
        "lines": [{"id": "l1", "type": "USAGE_FEE", "amount": "1.00"}],
        "subtotal": "1.00", "tax_total": "0", "total": "1.00"});
    let paid = json!({"id": "pay_private", "status": "SUCCEEDED", "currency": "USD",
        "amount": "12.99", "received_at": "2026-11-21T09:00:00Z",
        "customer": {"id": "cus_42", "name": "Acme Inc"},
        "applied_to": [{"invoice_id": "inv_private", "amount": "12.99"}]});
    let refunded = json!({"id": "re_private", "status": "SUCCEEDED", "currency": "USD",
        "amount": "1.00", "refunded_at": "2026-11-22T09:00:00Z", "credit_note_id": "cn_private",
        "customer": {"id": "cus_42", "name": "Acme Inc"}});
    for (path, body) in [
        ("/v1/credit-notes", &credit),
        ("/v1/payments", &paid),
        ("/v1/refunds", &refunded),
    ] {
        let (status, answer) = server.call("POST", path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{path}: {answer}");
    }
    let (status, _) = put_customer(&server, "cus_42", json!({"name": "Acme Inc"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, recovery) = server
        .call(
            "POST",
            &format!("/v1/connections/{conn_id}/recover"),
            Some(json!({"since": "2026-01-01T00:00:00Z", "status": "FAILED"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{recovery}");
    let recovery = string(&recovery["recovery_id"]).to_string();
    let owner = server.call("GET", "/v1/settings", None).await;
    assert_eq!(owner.0, StatusCode::OK);
    let tenant_id = server
        .store()
        .tenant_by_api_key(&server.key)
        .await
        .unwrap()
        .expect("the owner's tenant")
        .id;
    let alert = server
        .store()
        .raise_alert(
            &tenant_id,
            erp_sync::store::AlertKind::SyncFailed,
            Some(&conn_id),
            json!({"document_id": "inv_private", "error": "Acme Inc"}),
        )
        .await
        .unwrap();
    let other = server.second_tenant().await;
    let receiver_url = receiver.url();

    // ("METHOD path template", body, expected status for the other tenant)
    let rename = json!({"name": "x"});
    let mut big_credit = credit.clone();
    for field in ["/total", "/subtotal", "/lines/0/amount"] {
        *big_credit.pointer_mut(field).unwrap() = json!("500.00");
    }
    let webhook = json!({"provider": "webhook", "config": {"url": receiver.url()}});
    let tweak = json!({"transform_id": "{transform}"});
    let table: Vec<(&str, Option<serde_json::Value>, u16)> = vec![
        ("GET /v1/invoices/{invoice}", None, 404),
        ("POST /v1/invoices/{invoice}/sync", None, 404),
        ("GET /v1/connections/{connection}", None, 404),
        ("PATCH /v1/connections/{connection}", Some(rename), 404),
        ("DELETE /v1/connections/{connection}", None, 404),
        ("POST /v1/connections/{connection}/reauthorize", None, 404),
        ("POST /v1/connections/{connection}/rotate-secret", None, 404),
        ("POST /v1/connections/{connection}/pause", None, 404),
        ("POST /v1/connections/{connection}/resume", None, 404),
        (
            "POST /v1/connections/{connection}/recover",
            Some(json!({"since": "2026-01-01T00:00:00Z", "status": "FAILED", "dry_run": true})),
            404,
        ),
        ("GET /v1/recoveries/{recovery}", None, 404),
        ("GET /v1/alerts", None, 200),
        ("GET /v1/overview", None, 200),
        ("POST /v1/alerts/{alert}/close", None, 404),
        ("GET /v1/connections/{connection}/erp/items", None, 404),
        ("POST /v1/connections/{connection}/preview", None, 404),
        ("GET /v1/connections", None, 200),
        ("GET /v1/sync-log", None, 200),
        ("GET /v1/settings", None, 200),
        ("PATCH /v1/settings", Some(json!({"multi_erp": true})), 200),
        ("POST /v1/connections", Some(webhook), 201),
        ("POST /v1/invoices", Some(invoice("inv_theirs")), 202),
        // The ledger: the owner's documents are not found; the other tenant's own ingests
        // succeed (its credit note on an invoice id only the owner has is not capped by
        // the owner's invoice).
        ("GET /v1/credit-notes/{credit}", None, 404),
        ("POST /v1/credit-notes/{credit}/sync", None, 404),
        ("GET /v1/payments/{payment}", None, 404),
        ("POST /v1/payments/{payment}/sync", None, 404),
        ("GET /v1/refunds/{refund}", None, 404),
        ("POST /v1/refunds/{refund}/sync", None, 404),
        ("GET /v1/customers/{customer}", None, 404),
        ("POST /v1/customers/{customer}/sync", None, 404),
        ("POST /v1/credit-notes", Some(big_credit), 202),
        ("POST /v1/payments", Some(paid.clone()), 202),
        ("POST /v1/refunds", Some(refunded.clone()), 202),
        (
            "PUT /v1/customers/{customer}",
            Some(json!({"name": "Theirs Ltd"})),
            202,
        ),
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
            .replace("{customer}", "cus_42")
            .replace("{credit}", "cn_private")
            .replace("{payment}", "pay_private")
            .replace("{refund}", "re_private")
            .replace("{recovery}", &recovery)
            .replace("{alert}", &alert);
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
    let (_, connection) = server
        .call("GET", &format!("/v1/connections/{conn_id}"), None)
        .await;
    assert_eq!(
        connection["status"], "active",
        "the other tenant's pause touched nothing"
    );
    let (_, alerts) = server.call("GET", "/v1/alerts?open=true", None).await;
    let mut still_open = alerts["alerts"].as_array().unwrap().iter();
    assert!(
        still_open.any(|a| a["id"] == alert.as_str()),
        "the other tenant's close touched nothing: {alerts}"
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
                    .replace("{credit}", "{id}")
                    .replace("{payment}", "{id}")
                    .replace("{refund}", "{id}")
                    .replace("{recovery}", "{id}")
                    .replace("{alert}", "{id}")
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
