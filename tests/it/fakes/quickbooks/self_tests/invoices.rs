//! Invoices: create, replay by `requestid`, update, void, validation errors, lost answers.

use serde_json::{Value, json};

use super::super::{FakeQuickBooks, REALM};
use super::{code_of, connect, invoice_body};

#[tokio::test]
async fn invoices_are_created_replayed_updated_and_voided() {
    let fake = FakeQuickBooks::start().await;
    let api = connect(&fake).await;
    let customer = api.create_customer("Acme Inc").await;

    let body = invoice_body(&customer);
    let first = api
        .post_raw("invoice", &[("requestid", "inv_1-v1")], &body)
        .await;
    assert_eq!(first.status(), 200);
    let first = first.text().await.unwrap();
    let created: Value = serde_json::from_str(&first).unwrap();
    let invoice = &created["Invoice"];
    assert_eq!(invoice["SyncToken"], "0");
    assert_eq!(invoice["TotalAmt"], json!(152.49));
    assert_eq!(invoice["CustomerRef"]["name"], "Acme Inc");
    assert_eq!(
        invoice["Line"][0]["SalesItemLineDetail"]["ItemRef"]["name"],
        "Services"
    );
    let lines = invoice["Line"].as_array().unwrap();
    assert_eq!(lines.last().unwrap()["DetailType"], "SubTotalLineDetail");
    assert_eq!(lines.last().unwrap()["Amount"], json!(162.0));
    let id = invoice["Id"].as_str().unwrap().to_string();

    // Same requestid: the same bytes, nothing new stored.
    let again = api
        .post_raw("invoice", &[("requestid", "inv_1-v1")], &body)
        .await;
    assert_eq!(again.text().await.unwrap(), first);
    assert_eq!(fake.invoices(REALM).len(), 1);

    // Stale SyncToken after someone edits it in QBO.
    fake.edit_invoice_elsewhere(REALM, &id);
    let mut update = invoice_body(&customer);
    update["Id"] = json!(id);
    update["SyncToken"] = json!("0");
    update["Line"] = json!([{ "Amount": 175.0, "DetailType": "SalesItemLineDetail",
                              "SalesItemLineDetail": { "ItemRef": { "value": "1" } } }]);
    let (status, body) = api
        .post("invoice", &[("requestid", "inv_1-v2")], &update)
        .await;
    assert_eq!((status, code_of(&body)), (400, "5010"));
    assert_eq!(body["Fault"]["Error"][0]["Message"], "Stale Object Error");

    // With the current token: a full update replaces the lines.
    let (_, current) = api.get(&format!("invoice/{id}"), &[]).await;
    update["SyncToken"] = current["Invoice"]["SyncToken"].clone();
    let (status, body) = api
        .post("invoice", &[("requestid", "inv_1-v3")], &update)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Invoice"]["SyncToken"], "2");
    assert_eq!(body["Invoice"]["TotalAmt"], json!(175.99));
    assert_eq!(body["Invoice"]["Line"].as_array().unwrap().len(), 2);

    // Void, then an update is refused.
    let void = json!({ "Id": id, "SyncToken": "2" });
    let (status, body) = api.post("invoice", &[("operation", "void")], &void).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Invoice"]["TotalAmt"], json!(0.0));
    assert!(
        body["Invoice"]["PrivateNote"]
            .as_str()
            .unwrap()
            .starts_with("Voided")
    );
    update["SyncToken"] = json!("3");
    let (status, body) = api.post("invoice", &[], &update).await;
    assert_eq!((status, code_of(&body)), (400, "6000"));
    let (status, _) = api.get(&format!("invoice/{id}"), &[]).await;
    assert_eq!(status, 200);
    let (status, body) = api.get("invoice/999999", &[]).await;
    assert_eq!((status, code_of(&body)), (400, "610"));

    // Query by DocNumber.
    let query = "select * from Invoice where DocNumber = 'INV-2024-0001'";
    let (_, body) = api.get("query", &[("query", query)]).await;
    assert_eq!(body["QueryResponse"]["Invoice"][0]["Id"], id.as_str());
}

#[tokio::test]
async fn invoice_validation_errors() {
    let fake = FakeQuickBooks::start().await;
    let api = connect(&fake).await;
    let customer = api.create_customer("Acme Inc").await;

    let mut body = invoice_body("12345");
    let (status, res) = api.post("invoice", &[], &body).await;
    assert_eq!((status, code_of(&res)), (400, "2500"));
    assert_eq!(res["Fault"]["Error"][0]["element"], "CustomerRef");

    fake.remove_item(REALM, "Hours");
    body["CustomerRef"]["value"] = json!(customer);
    let (status, res) = api.post("invoice", &[], &body).await;
    assert_eq!((status, code_of(&res)), (400, "2500"));
    assert_eq!(
        res["Fault"]["Error"][0]["element"],
        "Line.SalesItemLineDetail.ItemRef"
    );

    let mut body = invoice_body(&customer);
    body["Line"] = json!([{ "Amount": 10.0, "DetailType": "SalesItemLineDetail",
                            "SalesItemLineDetail": { "ItemRef": { "value": "1" }, "Qty": 3, "UnitPrice": 3.0 } }]);
    let (status, res) = api.post("invoice", &[], &body).await;
    assert_eq!((status, code_of(&res)), (400, "6000"));

    let mut body = invoice_body(&customer);
    body["Line"] = json!([]);
    let (status, res) = api.post("invoice", &[], &body).await;
    assert_eq!((status, code_of(&res)), (400, "2020"));

    let mut body = invoice_body(&customer);
    body["DocNumber"] = json!("X".repeat(22));
    let (status, res) = api.post("invoice", &[], &body).await;
    assert_eq!((status, code_of(&res)), (400, "2050"));

    let mut body = invoice_body(&customer);
    body["DueDat"] = json!("2024-05-31");
    let (status, res) = api.post("invoice", &[], &body).await;
    assert_eq!((status, code_of(&res)), (400, "2010"));

    let (status, res) = api
        .post("invoice", &[], &json!({ "Id": "424242", "SyncToken": "0" }))
        .await;
    assert_eq!((status, code_of(&res)), (400, "610"));
    assert!(fake.invoices(REALM).is_empty());
}

#[tokio::test]
async fn lost_response_is_committed_and_replayed_by_requestid() {
    let fake = FakeQuickBooks::start().await;
    let api = connect(&fake).await;
    let customer = api.create_customer("Acme Inc").await;
    fake.fail_after_commit(1);
    let body = invoice_body(&customer);
    let (status, res) = api.post("invoice", &[("requestid", "r-1")], &body).await;
    assert_eq!((status, code_of(&res)), (500, "10000"));
    assert_eq!(res["Fault"]["type"], "SystemFault");
    assert_eq!(fake.invoices(REALM).len(), 1);
    let (status, res) = api.post("invoice", &[("requestid", "r-1")], &body).await;
    assert_eq!(status, 200);
    assert_eq!(res["Invoice"]["Id"], fake.invoices(REALM)[0]["Id"]);
    assert_eq!(fake.invoices(REALM).len(), 1);
}
