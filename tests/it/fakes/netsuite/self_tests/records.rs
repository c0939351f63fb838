//! The record service: upserts by external id, the duplicate-lines trap, validation
//! errors, and crediting an invoice by transform.

use serde_json::json;

use super::super::{FakeNetSuite, ITEM_SERVICES, ITEM_TAX, ITEM_USAGE};
use super::{Client, code, customer_a, id_of, invoice};

#[tokio::test]
async fn upserts_by_external_id_and_the_duplicate_lines_trap() {
    let fake = FakeNetSuite::start().await;
    let client = Client::new(&fake);
    let customer =
        json!({"companyName": "Acme Inc", "email": "ap@acme.test", "subsidiary": {"id": "1"}});
    let (status, location, _) = client.put("customer/eid:cus-1", customer.clone()).await;
    assert_eq!(status, 204);
    let customer_id = id_of(&location);
    let (status, location, _) = client.put("customer/eid:cus-1", customer).await;
    assert_eq!(
        (status, location),
        (204, None),
        "an update does not name the record"
    );
    assert_eq!(fake.customers().len(), 1);
    let (_, _, found) = client.send("GET", "customer/eid:cus-1", &[], None).await;
    assert_eq!(found["id"], customer_id.as_str());

    let lines = json!([{"item": {"id": ITEM_SERVICES}, "quantity": 2, "rate": 5.5, "amount": 11.0},
                       {"item": {"id": ITEM_TAX}, "amount": 0.99}]);
    let body = invoice(&customer_id, lines);
    let replace = || {
        client.send(
            "PUT",
            "invoice/eid:inv-1",
            &[("replace", "item")],
            Some(body.clone()),
        )
    };
    let (status, location, res) = replace().await;
    assert_eq!(status, 204, "{res}");
    let invoice_id = id_of(&location);
    assert_eq!(fake.invoices()[0]["total"], json!(11.99));

    // The trap: without `replace=item`, the re-sent lines are appended.
    let (status, _, _) = client.put("invoice/eid:inv-1", body.clone()).await;
    assert_eq!(status, 204);
    let stored = &fake.invoices()[0];
    assert_eq!(stored["item"]["items"].as_array().unwrap().len(), 4);
    assert_eq!(stored["total"], json!(23.98));

    // With it, the sent lines are the lines.
    let (status, _, _) = replace().await;
    assert_eq!(status, 204);
    let stored = &fake.invoices()[0];
    assert_eq!(stored["item"]["items"].as_array().unwrap().len(), 2);
    assert_eq!(stored["total"], json!(11.99));
    assert_eq!(fake.invoices().len(), 1);

    // PATCH by internal id, updating a line by its `line` key.
    let line = stored["item"]["items"][0]["line"].as_u64().unwrap();
    let patch = json!({"item": {"items": [{"line": line, "quantity": 3, "amount": 16.5}]}});
    let (status, location, res) = client
        .send("PATCH", &format!("invoice/{invoice_id}"), &[], Some(patch))
        .await;
    assert_eq!(status, 204, "{res}");
    assert_eq!(id_of(&location), invoice_id);
    assert_eq!(fake.invoices()[0]["total"], json!(17.49));

    // POST with a taken external id; an upsert by internal id; a bad external id.
    let mut dup = body.clone();
    dup["externalId"] = json!("inv-1");
    let (status, _, res) = client.send("POST", "invoice", &[], Some(dup)).await;
    assert_eq!((status, code(&res)), (400, "USER_ERROR"));
    let (status, _, _) = client
        .put(&format!("invoice/{invoice_id}"), body.clone())
        .await;
    assert_eq!(status, 400);
    let (status, _, res) = client.put("invoice/eid:INV%2F1", body).await;
    assert_eq!((status, code(&res)), (400, "USER_ERROR"));
    assert_eq!(fake.invoices().len(), 1);

    // Lookups: by external id, by query, and a miss.
    let (status, _, res) = client.send("GET", "invoice/eid:nope", &[], None).await;
    assert_eq!((status, code(&res)), (404, "NONEXISTENT_ID"));
    let (_, _, res) = client
        .send(
            "GET",
            "currency",
            &[("q", "symbol IS \"GBP\""), ("limit", "1")],
            None,
        )
        .await;
    assert_eq!(res["items"][0]["id"], "2");
    assert_eq!(res["count"], 1);
}

#[tokio::test]
async fn validation_errors_name_fields_in_the_envelope() {
    let fake = FakeNetSuite::start().await;
    let client = Client::new(&fake);
    let (status, _, res) = client
        .put(
            "customer/eid:c",
            json!({"email": "a@b.c", "subsidiary": {"id": "1"}}),
        )
        .await;
    assert_eq!((status, code(&res)), (400, "USER_ERROR"));
    assert_eq!(res["o:errorDetails"][0]["o:errorPath"], "companyName");
    assert!(
        res["o:errorDetails"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("Company Name")
    );
    let (status, _, res) = client
        .put("customer/eid:c", json!({"companyName": "A"}))
        .await;
    assert_eq!(
        (status, res["o:errorDetails"][0]["o:errorPath"].as_str()),
        (400, Some("subsidiary"))
    );
    let (status, _, res) = client
        .put(
            "customer/eid:c",
            json!({"COMPANYNAME": "A", "Subsidiary": {"id": "1"}}),
        )
        .await;
    assert_eq!(status, 204, "field names are case-insensitive: {res}");
    let customer = fake.customers()[0]["id"].as_str().unwrap().to_string();
    let (status, _, res) = client
        .put("customer/eid:c", json!({"companyNmae": "typo"}))
        .await;
    assert_eq!((status, code(&res)), (400, "USER_ERROR"));

    let cases = [
        (json!([]), "item"),
        (
            json!([{"item": {"id": "999"}, "amount": 1}]),
            "item.items[0].item",
        ),
        (
            json!([{"item": {"id": ITEM_SERVICES}}]),
            "item.items[0].amount",
        ),
        (
            json!([{"item": {"id": ITEM_SERVICES}, "quantity": 3, "rate": 3, "amount": 10}]),
            "item.items[0].amount",
        ),
        (
            json!([{"item": {"id": ITEM_SERVICES}, "amount": 1, "price": 2}]),
            "item.items[0].price",
        ),
    ];
    for (lines, path) in cases {
        let (status, _, res) = client.put("invoice/eid:i", invoice(&customer, lines)).await;
        assert_eq!(status, 400, "{res}");
        assert_eq!(res["o:errorDetails"][0]["o:errorPath"], path, "{res}");
    }
    let mut body = invoice(
        &customer,
        json!([{"item": {"id": ITEM_SERVICES}, "amount": 1}]),
    );
    body["entity"] = json!({"id": "424242"});
    let (_, _, res) = client.put("invoice/eid:i", body).await;
    assert_eq!(
        (code(&res), res["o:errorDetails"][0]["o:errorPath"].as_str()),
        ("INVALID_KEY_OR_REF", Some("entity"))
    );
    fake.remove_item(ITEM_USAGE);
    let body = invoice(
        &customer,
        json!([{"item": {"id": ITEM_USAGE}, "amount": 1}]),
    );
    let (status, _, _) = client.put("invoice/eid:i", body).await;
    assert_eq!(status, 400);
    let (status, _, res) = client.send("GET", "customer", &[("sort", "x")], None).await;
    assert_eq!((status, code(&res)), (400, "INVALID_PARAMETER"));
    assert!(fake.invoices().is_empty());
}

#[tokio::test]
async fn invoices_are_credited_once_by_transform() {
    let fake = FakeNetSuite::start().await;
    let client = Client::new(&fake);
    let (_, location, _) = client.put("customer/eid:c", customer_a()).await;
    let customer = id_of(&location);
    let body = invoice(
        &customer,
        json!([{"item": {"id": ITEM_SERVICES}, "amount": 12.5}]),
    );
    let (_, location, _) = client.put("invoice/eid:i", body).await;
    let invoice_id = id_of(&location);
    let path = format!("invoice/{invoice_id}/!transform/creditMemo");
    let (status, location, res) = client
        .send(
            "POST",
            &path,
            &[],
            Some(json!({"externalId": "void-i", "memo": "voided"})),
        )
        .await;
    assert_eq!(status, 204, "{res}");
    let memo = id_of(&location);
    let memos = fake.credit_memos();
    assert_eq!(memos.len(), 1);
    assert_eq!(memos[0]["id"], memo.as_str());
    assert_eq!(memos[0]["total"], json!(12.5));
    assert_eq!(memos[0]["createdFrom"]["id"], invoice_id.as_str());
    assert_eq!(fake.invoices()[0]["amountRemaining"], json!(0));
    let (status, _, res) = client.send("GET", "creditMemo/eid:void-i", &[], None).await;
    assert_eq!((status, res["id"].as_str()), (200, Some(memo.as_str())));
    let (status, _, res) = client
        .send("POST", &path, &[], Some(json!({"externalId": "void-j"})))
        .await;
    assert_eq!((status, code(&res)), (400, "USER_ERROR"));
    assert_eq!(fake.credit_memos().len(), 1);
}
