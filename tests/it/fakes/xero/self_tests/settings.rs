//! The organisation's settings: items, currencies, accounts and tax rates.

use serde_json::json;

use super::super::{FakeXero, TENANT_ID};
use super::{connect, connect_with, is_uuid};

#[tokio::test]
async fn items_currencies_accounts_and_tax_rates_are_settings() {
    let fake = FakeXero::start().await;
    let api = connect(&fake).await;

    // Items: the defaults, in the spec's shape, 2 dp unless unitdp=4.
    let (status, body) = api.get("Items", &[]).await;
    assert_eq!(status, 200, "{body}");
    let items = body["Items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let pro = &items[0];
    assert!(is_uuid(pro["ItemID"].as_str().unwrap()));
    assert_eq!(
        (&pro["Code"], &pro["Name"], &pro["Description"]),
        (
            &json!("PRO-PLAN"),
            &json!("Pro plan"),
            &json!("Pro plan, one month")
        )
    );
    assert_eq!(
        pro["SalesDetails"],
        json!({ "UnitPrice": 20.0, "AccountCode": "200", "TaxType": "OUTPUT2" })
    );
    assert_eq!(pro["PurchaseDetails"], json!({}));
    assert_eq!(
        (
            &pro["IsSold"],
            &pro["IsPurchased"],
            &pro["IsTrackedAsInventory"]
        ),
        (&json!(true), &json!(false), &json!(false))
    );
    assert!(
        pro["UpdatedDateUTC"]
            .as_str()
            .unwrap()
            .starts_with("/Date(")
    );
    let (_, body) = api.get("Items", &[("unitdp", "4")]).await;
    assert_eq!(body["Items"][1]["SalesDetails"]["UnitPrice"], json!(10.25));
    let id = fake.add_item(TENANT_ID, "SUPPORT", "Support");
    assert_eq!(fake.items(TENANT_ID).len(), 3);
    let (_, body) = api.get("Items", &[("where", r#"Code=="support""#)]).await;
    assert_eq!(body["Items"].as_array().unwrap().len(), 1);
    assert_eq!(body["Items"][0]["ItemID"], id.as_str());
    assert_eq!(
        body["Items"][0]["SalesDetails"],
        json!({ "AccountCode": "200", "TaxType": "OUTPUT2" })
    );
    let (_, body) = api.get("Items", &[("where", "IsSold==true")]).await;
    assert_eq!(body["Items"].as_array().unwrap().len(), 3);
    let (status, body) = api.get("Items", &[("where", r#"Nope=="x""#)]).await;
    assert_eq!(
        (status, &body["Type"]),
        (400, &json!("QueryParseException"))
    );
    let (status, body) = api.get(&format!("Items/{id}"), &[]).await;
    assert_eq!(
        (status, &body["Items"][0]["Code"]),
        (200, &json!("SUPPORT"))
    );
    let (_, body) = api.get("Items/HOURS", &[]).await;
    assert_eq!(body["Items"][0]["Name"], "Consulting hours");
    assert_eq!(api.get("Items/NOPE", &[]).await.0, 404);

    // Currencies: the base currency, then the ones added.
    let (status, body) = api.get("Currencies", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["Currencies"],
        json!([{ "Code": "GBP", "Description": "British Pound" }])
    );
    fake.add_currency(TENANT_ID, "usd");
    fake.add_currency(TENANT_ID, "USD");
    let (_, body) = api.get("Currencies", &[]).await;
    assert_eq!(
        body["Currencies"],
        json!([
            { "Code": "GBP", "Description": "British Pound" },
            { "Code": "USD", "Description": "United States Dollar" },
        ])
    );
    let (_, body) = api.get("Currencies", &[("where", r#"Code=="USD""#)]).await;
    assert_eq!(body["Currencies"].as_array().unwrap().len(), 1);

    // Accounts and tax rates in Xero's shapes, filtered by `where`.
    let (_, body) = api.get("Accounts", &[]).await;
    let sales = &body["Accounts"][0];
    for field in [
        "AccountID",
        "Class",
        "Code",
        "Description",
        "EnablePaymentsToAccount",
        "Name",
        "Status",
        "TaxType",
        "Type",
        "UpdatedDateUTC",
    ] {
        assert!(!sales[field].is_null(), "{field} in {sales}");
    }
    assert_eq!(
        (&sales["Code"], &sales["Type"], &sales["TaxType"]),
        (&json!("200"), &json!("REVENUE"), &json!("OUTPUT2"))
    );
    let (_, body) = api.get("Accounts", &[("where", r#"Code=="260""#)]).await;
    assert_eq!(body["Accounts"].as_array().unwrap().len(), 1);
    let (_, body) = api.get("TaxRates", &[]).await;
    let rate = &body["TaxRates"][0];
    assert_eq!(
        (
            &rate["Name"],
            &rate["TaxType"],
            &rate["EffectiveRate"],
            &rate["DisplayTaxRate"],
            &rate["Status"],
            &rate["CanApplyToRevenue"],
            &rate["ReportTaxType"],
        ),
        (
            &json!("20% (VAT on Income)"),
            &json!("OUTPUT2"),
            &json!(20.0),
            &json!(20.0),
            &json!("ACTIVE"),
            &json!(true),
            &json!("OUTPUT"),
        )
    );
    assert_eq!(rate["TaxComponents"][0]["Rate"], json!(20.0));
    let (_, body) = api
        .get("TaxRates", &[("where", r#"TaxType=="NONE""#)])
        .await;
    assert_eq!(body["TaxRates"][0]["Name"], "No VAT");

    // All of these need a settings scope.
    let narrow = connect_with(
        &fake,
        "offline_access accounting.invoices accounting.contacts",
    )
    .await;
    for path in ["Items", "Currencies", "Accounts", "TaxRates"] {
        let response = narrow
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path}");
        assert!(response.headers().contains_key("x-minlimit-remaining"));
    }
    let read_only = connect_with(
        &fake,
        "offline_access accounting.invoices accounting.contacts accounting.settings.read",
    )
    .await;
    assert_eq!(read_only.get("Items", &[]).await.0, 200);
}
