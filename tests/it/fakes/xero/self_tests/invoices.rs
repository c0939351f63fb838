//! Invoices: create, replay, update, void, batches with `summarizeErrors`, lost answers,
//! currencies and item codes, and lookups by number.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use super::super::elements::ZERO_GUID;
use super::super::invoices::PAYMENT_ALLOCATED;
use super::super::{FakeXero, TENANT_ID};
use super::{connect, first_error, invoice, line, rejects};

#[tokio::test]
async fn invoices_are_created_replayed_updated_and_voided() {
    let fake = FakeXero::start().await;
    let api = connect(&fake).await;
    let contact = fake.add_contact(TENANT_ID, "Acme Ltd");
    let mut two_lines = json!([
        line("Pro plan", 2.0, 20.0, "200"),
        line("Hours", 1.5, 10.25, "260")
    ]);
    two_lines[0]["TaxType"] = json!("OUTPUT2");
    two_lines[1]["TaxType"] = json!("NONE");
    let body = json!({ "Invoices": [invoice(&contact, "INV-100", two_lines)] });

    let (status, first) = api
        .write_raw(reqwest::Method::PUT, "Invoices", &[], Some("k-1"), &body)
        .await;
    assert_eq!(status, 200, "{first}");
    let created: Value = serde_json::from_str(&first).unwrap();
    let inv = &created["Invoices"][0];
    assert_eq!(inv["StatusAttributeString"], "OK");
    assert_eq!(inv["HasErrors"], false);
    assert_eq!(inv["Status"], "AUTHORISED");
    assert_eq!(inv["DateString"], "2024-05-01T00:00:00");
    assert_eq!(inv["Date"], "/Date(1714521600000+0000)/");
    assert_eq!(inv["Contact"]["Name"], "Acme Ltd");
    assert_eq!(inv["LineItems"][1]["LineAmount"], json!(15.38));
    assert_eq!(inv["LineItems"][0]["TaxAmount"], json!(8.0));
    assert_eq!(
        (
            &inv["SubTotal"],
            &inv["TotalTax"],
            &inv["Total"],
            &inv["AmountDue"]
        ),
        (&json!(55.38), &json!(8.0), &json!(63.38), &json!(63.38))
    );
    let id = inv["InvoiceID"].as_str().unwrap().to_string();
    let first_line = inv["LineItems"][0]["LineItemID"]
        .as_str()
        .unwrap()
        .to_string();

    // Same key: the same bytes, nothing new. Same key, other body: 400.
    let (_, again) = api
        .write_raw(reqwest::Method::PUT, "Invoices", &[], Some("k-1"), &body)
        .await;
    assert_eq!(again, first);
    assert_eq!(fake.invoices(TENANT_ID).len(), 1);
    let mut other = body.clone();
    other["Invoices"][0]["Reference"] = json!("changed");
    let (status, text) = api
        .write_raw(reqwest::Method::PUT, "Invoices", &[], Some("k-1"), &other)
        .await;
    assert_eq!(status, 400);
    assert!(text.contains("is used with a different request"), "{text}");
    let put = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT" && r.path == "/api.xro/2.0/Invoices")
        .unwrap();
    assert_eq!(put.idempotency_key.as_deref(), Some("k-1"));
    assert_eq!(put.tenant.as_deref(), Some(TENANT_ID));
    assert!(put.body.contains("INV-100") && put.authorization && put.query.is_empty());

    // PUT never updates: the number is taken.
    let (status, body) = api.put("Invoices", &[], &body).await;
    assert_eq!((status, body["ErrorNumber"].as_i64()), (400, Some(10)));
    assert_eq!(first_error(&body), "Invoice # must be unique.");
    assert_eq!(body["Elements"][0]["HasErrors"], true);

    // POST Invoices/{id}: the line with its LineItemID is updated, the one left out is
    // deleted, the one without an id is new.
    let update = json!({ "Invoices": [{
        "Status": "AUTHORISED",
        "LineItems": [{ "LineItemID": first_line, "Quantity": 3 }, line("Setup", 1.0, 5.0, "200")],
    }] });
    let (status, body) = api.post(&format!("Invoices/{id}"), &[], &update).await;
    assert_eq!(status, 200, "{body}");
    let inv = &body["Invoices"][0];
    assert_eq!(inv["LineItems"].as_array().unwrap().len(), 2);
    assert_eq!(inv["LineItems"][0]["LineItemID"], first_line.as_str());
    assert_eq!(inv["LineItems"][0]["Description"], "Pro plan");
    assert_eq!(
        (&inv["SubTotal"], &inv["TotalTax"], &inv["Total"]),
        (&json!(65.0), &json!(13.0), &json!(78.0))
    );

    // POST Invoices with the InvoiceNumber updates too; lines are left alone.
    let by_number = json!({ "Invoices": [{ "Type": "ACCREC", "InvoiceNumber": "INV-100", "Reference": "R2" }] });
    let (status, body) = api.post("Invoices", &[], &by_number).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Invoices"][0]["InvoiceID"], id.as_str());
    assert_eq!(body["Invoices"][0]["Total"], json!(78.0));
    assert_eq!(fake.invoices(TENANT_ID).len(), 1);

    // Lookups: the list has no lines unless paged.
    let (_, body) = api
        .get("Invoices", &[("InvoiceNumbers", "INV-100,INV-999")])
        .await;
    assert_eq!(body["Invoices"].as_array().unwrap().len(), 1);
    let get = fake
        .requests()
        .into_iter()
        .rfind(|r| r.method == "GET")
        .unwrap();
    assert_eq!(get.query, "InvoiceNumbers=INV-100%2CINV-999");
    assert_eq!(body["Invoices"][0]["Reference"], "R2");
    assert_eq!(body["Invoices"][0]["LineItems"], json!([]));
    let (_, body) = api
        .get("Invoices", &[("InvoiceNumbers", "INV-100"), ("page", "1")])
        .await;
    assert_eq!(
        body["Invoices"][0]["LineItems"].as_array().unwrap().len(),
        2
    );
    assert_eq!(body["pagination"]["itemCount"], 1);
    let (_, body) = api.get("Invoices/INV-100", &[]).await;
    assert_eq!(body["Invoices"][0]["InvoiceID"], id.as_str());
    let (_, body) = api
        .get(
            "Invoices",
            &[(
                "where",
                r#"Contact.ContactID==Guid("CONTACT") AND Status=="AUTHORISED""#
                    .replace("CONTACT", &contact)
                    .as_str(),
            )],
        )
        .await;
    assert_eq!(body["Invoices"].as_array().unwrap().len(), 1, "{body}");

    // Void; a voided invoice can no longer be changed.
    let void = json!({ "Invoices": [{ "Status": "VOIDED" }] });
    let (status, body) = api.post(&format!("Invoices/{id}"), &[], &void).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Invoices"][0]["Status"], "VOIDED");
    assert_eq!(body["Invoices"][0]["AmountDue"], json!(0.0));
    let (status, body) = api.post(&format!("Invoices/{id}"), &[], &by_number).await;
    assert_eq!(status, 400);
    assert_eq!(
        first_error(&body),
        "Invoice not of valid status for modification"
    );

    // A DRAFT is deleted, not voided; numbers are generated when missing.
    let mut draft = invoice(&contact, "", json!([line("Draft", 1.0, 1.0, "200")]));
    draft["Status"] = json!("DRAFT");
    draft.as_object_mut().unwrap().remove("InvoiceNumber");
    let (status, body) = api.put_invoices(&[], vec![draft]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Invoices"][0]["InvoiceNumber"], "INV-0001");
    let draft_id = body["Invoices"][0]["InvoiceID"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = api.post(&format!("Invoices/{draft_id}"), &[], &void).await;
    assert_eq!(status, 400, "{body}");
    let delete = json!({ "Invoices": [{ "Status": "DELETED" }] });
    let (status, body) = api
        .post(&format!("Invoices/{draft_id}"), &[], &delete)
        .await;
    assert_eq!(
        (status, &body["Invoices"][0]["Status"]),
        (200, &json!("DELETED"))
    );

    // A payment locks an invoice.
    let body = json!({ "Invoices": [invoice(&contact, "INV-200", json!([line("A", 1.0, 100.0, "200")]))] });
    let (_, body) = api.put("Invoices", &[], &body).await;
    let paid_id = body["Invoices"][0]["InvoiceID"]
        .as_str()
        .unwrap()
        .to_string();
    fake.add_payment(TENANT_ID, &paid_id, "50.00");
    let change = json!({ "Invoices": [{ "Reference": "late change" }] });
    let (status, body) = api.post(&format!("Invoices/{paid_id}"), &[], &change).await;
    assert_eq!(status, 400);
    assert_eq!(first_error(&body), PAYMENT_ALLOCATED);
    let stored = &fake.invoices(TENANT_ID)[2];
    assert_eq!(
        (&stored["AmountPaid"], &stored["AmountDue"]),
        (&json!(50.0), &json!(70.0))
    );
    assert_eq!(
        api.post(&format!("Invoices/{}", Uuid::new_v4()), &[], &change)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn multi_invoice_writes_and_summarize_errors() {
    let fake = FakeXero::start().await;
    let api = connect(&fake).await;
    let contact = fake.add_contact(TENANT_ID, "Acme Ltd");
    let mut bad_line = line("x", 1.0, 1.0, "999");
    bad_line["Description"] = json!("");
    let batch = |prefix: &str| {
        json!({ "Invoices": [
            invoice(&contact, &format!("{prefix}-1"), json!([line("A", 1.0, 10.0, "200")])),
            invoice(&contact, &format!("{prefix}-2"), json!([bad_line.clone()])),
            invoice(&contact, &format!("{prefix}-3"), json!([line("C", 3.0, 0.5, "260")])),
        ] })
    };

    // summarizeErrors=false: 200, the good ones stored, the bad one carries its errors.
    let (status, body) = api
        .post("Invoices", &[("summarizeErrors", "false")], &batch("A"))
        .await;
    assert_eq!(status, 200, "{body}");
    let results = body["Invoices"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["HasErrors"], false);
    assert_eq!(results[1]["HasErrors"], true);
    assert_eq!(results[1]["StatusAttributeString"], "ERROR");
    assert_eq!(results[1]["InvoiceID"], ZERO_GUID);
    let messages: Vec<&str> = results[1]["ValidationErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "Description needs to be at least 1 char long",
            "Account code '999' is not a valid code for this document."
        ]
    );
    assert_eq!(results[2]["Total"], json!(1.8));
    assert_eq!(fake.invoices(TENANT_ID).len(), 2);

    // The default: one bad element rejects the request.
    let (status, body) = api.post("Invoices", &[], &batch("B")).await;
    assert_eq!(status, 400);
    assert_eq!(body["Message"], "A validation exception occurred");
    assert_eq!(body["Elements"].as_array().unwrap().len(), 1);
    assert_eq!(fake.invoices(TENANT_ID).len(), 2);

    // Element rules.
    rejects(
        &api,
        &contact,
        |i| i["LineItems"][0]["LineAmount"] = json!(25),
        "The line total 25.00 does not match the expected line total 20.00",
    )
    .await;
    rejects(
        &api,
        &contact,
        |i| {
            i.as_object_mut().unwrap().remove("DueDate");
        },
        "Due Date must be specified.",
    )
    .await;
    rejects(
        &api,
        &contact,
        |i| i["Contact"]["ContactID"] = json!(ZERO_GUID),
        "The contact with ContactID 00000000-0000-0000-0000-000000000000 could not be found.",
    )
    .await;
    rejects(
        &api,
        &contact,
        |i| i["LineItems"][0]["TaxType"] = json!("OUTPUT9"),
        "The TaxType code OUTPUT9 does not exist or cannot be used for this type of transaction.",
    )
    .await;
    rejects(
        &api,
        &contact,
        |i| i["CurrencyCode"] = json!("USD"),
        "Organisation is not subscribed to currency USD",
    )
    .await;

    // Type errors reject the whole request; so does a body without Invoices.
    let mut typed = invoice(&contact, "D-1", json!([line("A", 1.0, 1.0, "200")]));
    typed["LineItems"][0]["Quantity"] = json!("1");
    let (status, body) = api.put_invoices(&[], vec![typed]).await;
    assert_eq!((status, body["ErrorNumber"].as_i64()), (400, Some(14)));
    assert_eq!(body["Type"], "PostDataInvalidException");
    let (status, body) = api.put("Invoices", &[], &json!({})).await;
    assert_eq!(
        (status, &body["Type"]),
        (400, &json!("NoDataProcessedException"))
    );

    // Inclusive amounts and discounts; unitdp=4 keeps four places.
    let mut inclusive = invoice(
        &contact,
        "E-1",
        json!([
            line("Gross", 1.0, 120.0, "200"),
            line("Tiny", 1000.0, 0.0125, "200")
        ]),
    );
    inclusive["LineAmountTypes"] = json!("Inclusive");
    inclusive["LineItems"][0]["DiscountRate"] = json!(10);
    let (status, body) = api.put_invoices(&[("unitdp", "4")], vec![inclusive]).await;
    assert_eq!(status, 200, "{body}");
    let inv = &body["Invoices"][0];
    assert_eq!(inv["LineItems"][0]["LineAmount"], json!(108.0));
    assert_eq!(inv["LineItems"][1]["UnitAmount"], json!(0.0125));
    assert_eq!(inv["LineItems"][1]["LineAmount"], json!(12.5));
    // Tax per line: 108 / 6 = 18.00, 12.5 / 6 = 2.0833 -> 2.08.
    assert_eq!(
        (&inv["Total"], &inv["TotalTax"], &inv["SubTotal"]),
        (&json!(120.5), &json!(20.08), &json!(100.42))
    );
    assert_eq!(inv["TotalDiscount"], json!(12.0));
}

#[tokio::test]
async fn a_lost_response_is_committed_and_replayed_by_idempotency_key() {
    let fake = FakeXero::start().await;
    let api = connect(&fake).await;
    let contact = fake.add_contact(TENANT_ID, "Acme Ltd");
    let body =
        json!({ "Invoices": [invoice(&contact, "INV-1", json!([line("A", 1.0, 10.0, "200")]))] });
    fake.fail_after_commit(1);
    let (status, text) = api
        .write_raw(reqwest::Method::POST, "Invoices", &[], Some("run-1"), &body)
        .await;
    assert_eq!(status, 500);
    assert!(text.contains("An error occurred in Xero"), "{text}");
    assert_eq!(fake.invoices(TENANT_ID).len(), 1);
    let (status, text) = api
        .write_raw(reqwest::Method::POST, "Invoices", &[], Some("run-1"), &body)
        .await;
    assert_eq!(status, 200);
    let replay: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        replay["Invoices"][0]["InvoiceID"],
        fake.invoices(TENANT_ID)[0]["InvoiceID"]
    );
    assert_eq!(fake.invoices(TENANT_ID).len(), 1);

    // Outside the window the key is forgotten: a POST by number updates, not duplicates.
    fake.set_idempotency_window(Duration::ZERO);
    let (status, _) = api
        .write_raw(reqwest::Method::POST, "Invoices", &[], Some("run-1"), &body)
        .await;
    assert_eq!(status, 200);
    assert_eq!(fake.invoices(TENANT_ID).len(), 1);
    let (status, _) = api
        .write_raw(
            reqwest::Method::PUT,
            "Invoices",
            &[],
            Some(&"k".repeat(129)),
            &body,
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn invoices_take_subscribed_currencies_and_item_codes() {
    let fake = FakeXero::start().await;
    let api = connect(&fake).await;
    let contact = fake.add_contact(TENANT_ID, "Acme Ltd");
    let one = |number: &str| invoice(&contact, number, json!([line("A", 1.0, 10.0, "200")]));

    // Not subscribed: refused, nothing stored; subscribed: stored in that currency.
    let mut usd = one("USD-1");
    usd["CurrencyCode"] = json!("USD");
    let (status, body) = api.put_invoices(&[], vec![usd.clone()]).await;
    assert_eq!(status, 400);
    assert_eq!(
        first_error(&body),
        "Organisation is not subscribed to currency USD"
    );
    fake.add_currency(TENANT_ID, "USD");
    usd["CurrencyRate"] = json!(1.25);
    let (status, body) = api.put_invoices(&[], vec![usd]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Invoices"][0]["CurrencyCode"], "USD");
    assert_eq!(body["Invoices"][0]["CurrencyRate"], json!(1.25));
    let mut gbp = one("GBP-1");
    gbp["CurrencyCode"] = json!("gbp");
    let (status, body) = api.put_invoices(&[], vec![gbp]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            &body["Invoices"][0]["CurrencyCode"],
            &body["Invoices"][0]["CurrencyRate"]
        ),
        (&json!("GBP"), &json!(1.0))
    );
    let mut eur = one("EUR-1");
    eur["CurrencyCode"] = json!("EUR");
    let (_, body) = api
        .put_invoices(&[("summarizeErrors", "false")], vec![eur])
        .await;
    assert_eq!(
        body["Invoices"][0]["ValidationErrors"][0]["Message"],
        "Organisation is not subscribed to currency EUR"
    );
    assert_eq!(fake.invoices(TENANT_ID).len(), 2);

    // A line naming an item takes what it leaves out from the item; an unknown code
    // is an error.
    let by_item = json!({ "ItemCode": "hours", "Quantity": 2 });
    let (status, body) = api
        .put_invoices(&[], vec![invoice(&contact, "ITEM-1", json!([by_item]))])
        .await;
    assert_eq!(status, 200, "{body}");
    let stored = &body["Invoices"][0]["LineItems"][0];
    assert_eq!(
        (
            &stored["ItemCode"],
            &stored["Description"],
            &stored["UnitAmount"],
            &stored["AccountCode"],
            &stored["LineAmount"],
        ),
        (
            &json!("HOURS"),
            &json!("Consulting, per hour"),
            &json!(10.25),
            &json!("260"),
            &json!(20.5),
        )
    );
    let mut unknown = line("A", 1.0, 1.0, "200");
    unknown["ItemCode"] = json!("NOPE");
    let (status, body) = api
        .put_invoices(&[], vec![invoice(&contact, "ITEM-2", json!([unknown]))])
        .await;
    assert_eq!(status, 400);
    assert_eq!(first_error(&body), "Item code 'NOPE' is not valid.");
}

#[tokio::test]
async fn invoice_numbers_find_sales_invoices_and_bills() {
    let fake = FakeXero::start().await;
    let api = connect(&fake).await;
    let contact = fake.add_contact(TENANT_ID, "Acme Ltd");
    let supplier = fake.add_contact(TENANT_ID, "Supplier Ltd");
    let batch: Vec<Value> = ["INV-1", "INV-2", "INV-3", "INV-4"]
        .iter()
        .map(|n| invoice(&contact, n, json!([line("A", 1.0, 10.0, "200")])))
        .collect();
    let (status, _) = api
        .put("Invoices", &[], &json!({ "Invoices": batch }))
        .await;
    assert_eq!(status, 200);
    let bill = fake.add_bill(TENANT_ID, &supplier, "INV-2", "99.50");
    fake.add_bill(TENANT_ID, &supplier, "BILL-9", "5");

    let (status, body) = api
        .get(
            "Invoices",
            &[("InvoiceNumbers", "INV-1,inv-2,INV-4,INV-404")],
        )
        .await;
    assert_eq!(status, 200);
    let mut found: Vec<(&str, &str)> = body["Invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["InvoiceNumber"].as_str().unwrap(),
                i["Type"].as_str().unwrap(),
            )
        })
        .collect();
    found.sort_unstable();
    assert_eq!(
        found,
        [
            ("INV-1", "ACCREC"),
            ("INV-2", "ACCPAY"),
            ("INV-2", "ACCREC"),
            ("INV-4", "ACCREC")
        ]
    );
    let the_bill = body["Invoices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["Type"] == "ACCPAY")
        .unwrap();
    assert_eq!(the_bill["InvoiceID"], bill.as_str());
    assert_eq!(the_bill["Total"], json!(99.5));
    assert_eq!(the_bill["Contact"]["Name"], "Supplier Ltd");
    // Quoted items and spaces; the key is case-insensitive; with paging, lines too.
    let (_, body) = api
        .get(
            "Invoices",
            &[("invoicenumbers", r#""INV-3", "BILL-9""#), ("page", "1")],
        )
        .await;
    assert_eq!(body["Invoices"].as_array().unwrap().len(), 2);
    assert_eq!(
        body["Invoices"][0]["LineItems"].as_array().unwrap().len(),
        1
    );
    // Bills don't make a sales invoice number unique-violating, nor the reverse.
    let (status, body) = api
        .put_invoices(
            &[],
            vec![invoice(
                &contact,
                "BILL-9",
                json!([line("A", 1.0, 1.0, "200")]),
            )],
        )
        .await;
    assert_eq!(status, 200, "{body}");
}
