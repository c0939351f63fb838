//! Tenant isolation on every endpoint, driven by a table so a new endpoint cannot be
//! forgotten: the table must list every path of the OpenAPI document.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::json;

use crate::ledger::put_customer;
use crate::support::{TestServer, invoice};

#[tokio::test]
async fn another_tenants_objects_are_not_found() {
    let (server, receiver, conn) = TestServer::start_with_webhook().await;
    let conn_id = conn["id"].as_str().unwrap().to_string();
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
    let other = server.second_tenant().await;
    let receiver_url = receiver.url();

    // (method, path template, body, expected status for the other tenant)
    let table: Vec<(&str, &str, Option<serde_json::Value>, StatusCode)> = vec![
        ("GET", "/v1/invoices/{invoice}", None, StatusCode::NOT_FOUND),
        (
            "POST",
            "/v1/invoices/{invoice}/sync",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "GET",
            "/v1/connections/{connection}",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "PATCH",
            "/v1/connections/{connection}",
            Some(json!({"name": "x"})),
            StatusCode::NOT_FOUND,
        ),
        (
            "DELETE",
            "/v1/connections/{connection}",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "POST",
            "/v1/connections/{connection}/reauthorize",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "GET",
            "/v1/connections/{connection}/erp/items",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "POST",
            "/v1/connections/{connection}/preview",
            None,
            StatusCode::NOT_FOUND,
        ),
        ("GET", "/v1/connections", None, StatusCode::OK),
        ("GET", "/v1/sync-log", None, StatusCode::OK),
        ("GET", "/v1/settings", None, StatusCode::OK),
        (
            "PATCH",
            "/v1/settings",
            Some(json!({"multi_erp": true})),
            StatusCode::OK,
        ),
        (
            "POST",
            "/v1/connections",
            Some(json!({"provider": "webhook", "config": {"url": receiver.url()}})),
            StatusCode::CREATED,
        ),
        (
            "POST",
            "/v1/invoices",
            Some(invoice("inv_theirs")),
            StatusCode::ACCEPTED,
        ),
        // The ledger: the owner's documents are not found; the other tenant's own
        // ingests succeed (a credit note on an invoice id only the owner has is not
        // capped by the owner's invoice).
        (
            "GET",
            "/v1/credit-notes/{credit}",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "POST",
            "/v1/credit-notes/{credit}/sync",
            None,
            StatusCode::NOT_FOUND,
        ),
        ("GET", "/v1/payments/{payment}", None, StatusCode::NOT_FOUND),
        (
            "POST",
            "/v1/payments/{payment}/sync",
            None,
            StatusCode::NOT_FOUND,
        ),
        ("GET", "/v1/refunds/{refund}", None, StatusCode::NOT_FOUND),
        (
            "POST",
            "/v1/refunds/{refund}/sync",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "GET",
            "/v1/customers/{customer}",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "POST",
            "/v1/customers/{customer}/sync",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "POST",
            "/v1/credit-notes",
            Some({
                let mut theirs = credit.clone();
                theirs["total"] = json!("500.00");
                theirs["subtotal"] = json!("500.00");
                theirs["lines"][0]["amount"] = json!("500.00");
                theirs
            }),
            StatusCode::ACCEPTED,
        ),
        (
            "POST",
            "/v1/payments",
            Some(paid.clone()),
            StatusCode::ACCEPTED,
        ),
        (
            "POST",
            "/v1/refunds",
            Some(refunded.clone()),
            StatusCode::ACCEPTED,
        ),
        (
            "PUT",
            "/v1/customers/{customer}",
            Some(json!({"name": "Theirs Ltd"})),
            StatusCode::ACCEPTED,
        ),
        (
            "GET",
            "/v1/transforms/{transform}",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "POST",
            "/v1/transforms/{transform}/test",
            None,
            StatusCode::NOT_FOUND,
        ),
        ("GET", "/v1/transforms", None, StatusCode::OK),
        ("POST", "/v1/transforms", None, StatusCode::BAD_REQUEST),
        (
            "GET",
            "/v1/customers/{customer}/tweak",
            None,
            StatusCode::OK,
        ),
        (
            "PUT",
            "/v1/customers/{customer}/tweak",
            Some(json!({"transform_id": "{transform}"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "DELETE",
            "/v1/customers/{customer}/tweak",
            None,
            StatusCode::OK,
        ),
    ];
    for (method, template, body, expected) in &table {
        let path = template
            .replace("{invoice}", "inv_private")
            .replace("{connection}", &conn_id)
            .replace("{transform}", &transform)
            .replace("{customer}", "cus_42")
            .replace("{credit}", "cn_private")
            .replace("{payment}", "pay_private")
            .replace("{refund}", "re_private");
        let body: Option<serde_json::Value> = body.as_ref().map(|b| {
            serde_json::from_str(&b.to_string().replace("{transform}", &transform)).unwrap()
        });
        let (status, answer) = server.call_as(&other, method, &path, body.clone()).await;
        assert!(
            !answer.to_string().contains("tweak-named-confidential"),
            "{method} {path} leaks the transform: {answer}"
        );
        assert_eq!(status, *expected, "{method} {path}: {answer}");
        // Nothing of the owner's data shows: not the invoice's content, not the target.
        for secret in ["INV-inv_private", "Acme Inc", receiver_url.as_str()] {
            if *expected != StatusCode::CREATED {
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
        .map(|(m, p, _, _)| {
            (
                m.to_lowercase(),
                p.replace("{invoice}", "{id}")
                    .replace("{connection}", "{id}")
                    .replace("{transform}", "{id}")
                    .replace("{credit}", "{id}")
                    .replace("{payment}", "{id}")
                    .replace("{refund}", "{id}")
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
