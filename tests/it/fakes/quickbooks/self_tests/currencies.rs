//! Company settings, and the currency rules of customers and invoices.

use serde_json::json;

use super::super::{FakeQuickBooks, REALM};
use super::{code_of, connect, detail_of, taxed_invoice};

#[tokio::test]
async fn company_settings_show_in_company_info_and_preferences() {
    let fake = FakeQuickBooks::start().await;
    let api = connect(&fake).await;
    let body = api.read("preferences").await;
    let prefs = &body["Preferences"];
    assert_eq!(prefs["CurrencyPrefs"]["MultiCurrencyEnabled"], false);
    assert_eq!(
        prefs["CurrencyPrefs"]["HomeCurrency"],
        json!({ "value": "USD" })
    );
    assert_eq!(prefs["TaxPrefs"]["UsingSalesTax"], true);
    assert_eq!(prefs["TaxPrefs"]["PartnerTaxEnabled"], true);
    assert!(body["time"].is_string());
    let (_, body) = api.get(&format!("companyinfo/{REALM}"), &[]).await;
    assert_eq!(body["CompanyInfo"]["Country"], "US");

    fake.set_company_settings(REALM, "GB", "GBP", true);
    let (_, body) = api.get(&format!("companyinfo/{REALM}"), &[]).await;
    assert_eq!(body["CompanyInfo"]["Country"], "GB");
    assert_eq!(body["CompanyInfo"]["CompanyAddr"]["Country"], "GB");
    let (_, body) = api.query("select * from Preferences").await;
    let prefs = &body["QueryResponse"]["Preferences"][0];
    assert_eq!(prefs["CurrencyPrefs"]["MultiCurrencyEnabled"], true);
    assert_eq!(prefs["CurrencyPrefs"]["HomeCurrency"]["value"], "GBP");
    assert_eq!(prefs["TaxPrefs"]["PartnerTaxEnabled"], false);
    let (_, body) = api.query("select * from CompanyInfo").await;
    assert_eq!(body["QueryResponse"]["CompanyInfo"][0]["Country"], "GB");
}

#[tokio::test]
async fn currencies_follow_the_customer_and_need_multicurrency() {
    let fake = FakeQuickBooks::start().await;
    let api = connect(&fake).await;

    // Multicurrency off: only the home currency.
    let home = api.create_customer("Home Co").await;
    assert_eq!(
        fake.customers(REALM)[0]["CurrencyRef"],
        json!({ "value": "USD", "name": "United States Dollar" })
    );
    let euro = json!({ "DisplayName": "Euro GmbH", "CurrencyRef": { "value": "EUR" } });
    let (status, body) = api.post("customer", &[], &euro).await;
    assert_eq!((status, code_of(&body)), (400, "6000"));
    assert!(detail_of(&body).starts_with("Business Validation Error: Multicurrency"));
    let mut invoice = taxed_invoice(&home, &[(100.0, None)]);
    invoice["CurrencyRef"] = json!({ "value": "EUR" });
    let (status, body) = api.post("invoice", &[], &invoice).await;
    assert_eq!((status, code_of(&body)), (400, "6000"));
    let (status, body) = api.query("select * from CompanyCurrency").await;
    assert_eq!((status, &body["QueryResponse"]), (200, &json!({})));
    // Without multicurrency an invoice has no exchange rate.
    let (status, body) = api.post_invoice(&home, &[(10.0, None)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Invoice"]["CurrencyRef"]["value"], "USD");
    assert!(body["Invoice"].get("ExchangeRate").is_none());
    assert!(body["Invoice"].get("HomeTotalAmt").is_none());

    // Multicurrency on: EUR is in the list; GBP is added by the customer naming it.
    fake.set_company_settings(REALM, "US", "USD", true);
    fake.add_currency(REALM, "EUR");
    fake.set_exchange_rate(REALM, "EUR", "1.1");
    let (status, body) = api.post("customer", &[], &euro).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["Customer"]["CurrencyRef"],
        json!({ "value": "EUR", "name": "Euro" })
    );
    let euro_id = body["Customer"]["Id"].as_str().unwrap().to_string();
    let pound = json!({ "DisplayName": "Pound Ltd", "CurrencyRef": { "value": "GBP" } });
    let (status, _) = api.post("customer", &[], &pound).await;
    assert_eq!(status, 200);
    let (_, body) = api.query("select * from CompanyCurrency").await;
    let listed = body["QueryResponse"]["CompanyCurrency"].as_array().unwrap();
    let codes: Vec<&str> = listed.iter().map(|c| c["Code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["EUR", "GBP"]);
    assert_eq!(listed[1]["Name"], "British Pound Sterling");
    assert_eq!(listed[1]["Active"], true);
    let (_, body) = api
        .query("select * from CompanyCurrency where Code = 'EUR'")
        .await;
    assert_eq!(body["QueryResponse"]["CompanyCurrency"][0]["Id"], "1");
    let bogus = json!({ "DisplayName": "Bogus", "CurrencyRef": { "value": "XYZ" } });
    let (status, body) = api.post("customer", &[], &bogus).await;
    assert_eq!((status, code_of(&body)), (400, "2220"));

    // The invoice takes the customer's currency and the exchange rate set.
    let (status, body) = api.post_invoice(&euro_id, &[(100.0, None)]).await;
    assert_eq!(status, 200, "{body}");
    let created = &body["Invoice"];
    assert_eq!(
        created["CurrencyRef"],
        json!({ "value": "EUR", "name": "Euro" })
    );
    assert_eq!(created["ExchangeRate"], json!(1.1));
    assert_eq!(created["TotalAmt"], json!(100.0));
    assert_eq!(created["HomeTotalAmt"], json!(110.0));
    assert_eq!(fake.invoices(REALM)[1]["CurrencyRef"]["value"], "EUR");
    // An explicit rate wins; the home currency is 1.
    let mut explicit = taxed_invoice(&euro_id, &[(100.0, None)]);
    explicit["CurrencyRef"] = json!({ "value": "EUR", "name": "Euro" });
    explicit["ExchangeRate"] = json!(1.25);
    let (_, body) = api.post("invoice", &[], &explicit).await;
    assert_eq!(body["Invoice"]["HomeTotalAmt"], json!(125.0));
    let (_, body) = api.post_invoice(&home, &[(10.0, None)]).await;
    assert_eq!(body["Invoice"]["ExchangeRate"], json!(1));
    assert_eq!(body["Invoice"]["HomeTotalAmt"], json!(10.0));

    // An invoice in another currency than its customer's is refused.
    let mut mixed = taxed_invoice(&euro_id, &[(100.0, None)]);
    mixed["CurrencyRef"] = json!({ "value": "USD" });
    let (status, body) = api.post("invoice", &[], &mixed).await;
    assert_eq!((status, code_of(&body)), (400, "6000"));
    assert_eq!(
        detail_of(&body),
        "Business Validation Error: You can only use one foreign currency per transaction."
    );

    // A customer's currency cannot change; a sparse update without it keeps it.
    let (_, current) = api.get(&format!("customer/{euro_id}"), &[]).await;
    let token = current["Customer"]["SyncToken"].clone();
    let change = json!({ "Id": euro_id, "SyncToken": token, "sparse": true,
                         "CurrencyRef": { "value": "USD" } });
    let (status, body) = api.post("customer", &[], &change).await;
    assert_eq!((status, code_of(&body)), (400, "6000"));
    let keep = json!({ "Id": euro_id, "SyncToken": token, "sparse": true,
                       "CompanyName": "Euro GmbH" });
    let (status, body) = api.post("customer", &[], &keep).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Customer"]["CurrencyRef"]["value"], "EUR");

    // An inactive currency is refused on invoices and customers.
    fake.deactivate_currency(REALM, "EUR");
    let (status, body) = api.post_invoice(&euro_id, &[(100.0, None)]).await;
    assert_eq!((status, code_of(&body)), (400, "6000"));
    let again = json!({ "DisplayName": "Euro 2", "CurrencyRef": { "value": "EUR" } });
    let (status, _) = api.post("customer", &[], &again).await;
    assert_eq!(status, 400);
    let (_, body) = api.query("select * from CompanyCurrency").await;
    assert_eq!(
        body["QueryResponse"]["CompanyCurrency"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (_, body) = api
        .query("select * from CompanyCurrency where Active = false")
        .await;
    assert_eq!(body["QueryResponse"]["CompanyCurrency"][0]["Code"], "EUR");
}
