//! Sales tax: US pseudo codes, the global model's computed tax, and messages per country.

use serde_json::json;

use super::super::{FakeQuickBooks, REALM};
use super::{code_of, connect, detail_of, taxed_invoice};

/// A fake whose company is in `country`, keeping its books in `currency` only.
async fn company_in(country: &str, currency: &str) -> FakeQuickBooks {
    let fake = FakeQuickBooks::start().await;
    fake.set_company_settings(REALM, country, currency, false);
    fake
}

#[tokio::test]
async fn us_lines_take_only_the_pseudo_tax_codes() {
    let fake = FakeQuickBooks::start().await;
    let api = connect(&fake).await;
    let customer = api.create_customer("Acme Inc").await;
    let body = taxed_invoice(&customer, &[(100.0, Some("TAX")), (5.0, Some("NON"))]);
    let (status, res) = api.post("invoice", &[], &body).await;
    assert_eq!(status, 200, "{res}");
    assert!(res["Invoice"].get("GlobalTaxCalculation").is_none());
    let body = taxed_invoice(&customer, &[(100.0, Some("8"))]);
    let (status, res) = api.post("invoice", &[], &body).await;
    assert_eq!((status, code_of(&res)), (400, "6100"));
    assert_eq!(
        res["Fault"]["Error"][0]["Message"],
        "Invalid Line TaxCode in the request"
    );
    assert_eq!(
        detail_of(&res),
        "Valid line TaxCodes for US should be TAX or NON. Supplied value: 8"
    );
    assert_eq!(
        res["Fault"]["Error"][0]["element"],
        "Line.SalesItemLineDetail.TaxCodeRef"
    );
    let (_, res) = api.query("select * from TaxCode").await;
    let codes = res["QueryResponse"]["TaxCode"].as_array().unwrap();
    let ids: Vec<&str> = codes.iter().map(|c| c["Id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["TAX", "NON"]);
    assert_eq!(codes[1]["Taxable"], false);
    let (_, res) = api.query("select * from TaxRate").await;
    assert_eq!(res["QueryResponse"], json!({}));
}

#[tokio::test]
async fn non_us_lines_need_tax_codes_and_qbo_computes_the_tax() {
    let fake = company_in("GB", "GBP").await;
    let api = connect(&fake).await;
    let customer = api.create_customer("Tea Ltd").await;
    assert_eq!(fake.customers(REALM)[0]["CurrencyRef"]["value"], "GBP");

    // The default UK codes, as entities.
    let (_, res) = api
        .query("select * from TaxCode where Name = '20.0% S'")
        .await;
    let standard = &res["QueryResponse"]["TaxCode"][0];
    assert_eq!(standard["Id"], "3");
    assert_eq!(standard["Active"], true);
    assert_eq!(standard["Taxable"], true);
    let rate_ref = &standard["SalesTaxRateList"]["TaxRateDetail"][0]["TaxRateRef"];
    let rate_id = rate_ref["value"].as_str().unwrap().to_string();
    let (_, res) = api
        .query(&format!("select * from TaxRate where Id = '{rate_id}'"))
        .await;
    assert_eq!(res["QueryResponse"]["TaxRate"][0]["RateValue"], json!(20));
    let (_, res) = api.query("select * from TaxCode").await;
    assert_eq!(res["QueryResponse"]["TaxCode"].as_array().unwrap().len(), 5);

    // A line without a usable code: QBO's VAT message.
    for code in [None, Some("TAX"), Some("NON"), Some("20.0% S"), Some("99")] {
        let body = taxed_invoice(&customer, &[(100.0, Some("3")), (50.0, code)]);
        let (status, res) = api.post("invoice", &[], &body).await;
        assert_eq!((status, code_of(&res)), (400, "6000"), "{code:?}");
        assert_eq!(
            detail_of(&res),
            "Business Validation Error: Make sure all your transactions have a VAT rate before you save."
        );
    }

    // TaxExcluded (the default): tax per rate on the lines' amounts; a header-only
    // TotalTax is ignored.
    let mut body = taxed_invoice(
        &customer,
        &[(100.0, Some("3")), (50.0, Some("3")), (30.0, Some("5"))],
    );
    body["TxnTaxDetail"] = json!({ "TotalTax": 99.0 });
    let (status, res) = api.post("invoice", &[], &body).await;
    assert_eq!(status, 200, "{res}");
    let invoice = &res["Invoice"];
    assert_eq!(invoice["GlobalTaxCalculation"], "TaxExcluded");
    assert_eq!(invoice["TxnTaxDetail"]["TotalTax"], json!(30.0));
    let tax_lines = invoice["TxnTaxDetail"]["TaxLine"].as_array().unwrap();
    assert_eq!(tax_lines.len(), 2);
    assert_eq!(tax_lines[0]["Amount"], json!(30.0));
    assert_eq!(tax_lines[0]["DetailType"], "TaxLineDetail");
    let detail = &tax_lines[0]["TaxLineDetail"];
    assert_eq!(detail["TaxRateRef"]["value"], rate_id.as_str());
    assert_eq!(detail["TaxPercent"], json!(20));
    assert_eq!(detail["NetAmountTaxable"], json!(150.0));
    assert_eq!(tax_lines[1]["Amount"], json!(0.0));
    assert_eq!(invoice["TotalAmt"], json!(210.0));
    assert_eq!(invoice["CurrencyRef"]["value"], "GBP");
    let id = invoice["Id"].as_str().unwrap().to_string();

    // A sparse update of the lines has the tax computed again.
    let update = json!({ "Id": id, "SyncToken": "0", "sparse": true,
        "Line": [{ "Amount": 200.0, "DetailType": "SalesItemLineDetail",
                   "SalesItemLineDetail": { "ItemRef": { "value": "1" },
                                            "TaxCodeRef": { "value": "3" } } }] });
    let (status, res) = api.post("invoice", &[], &update).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["Invoice"]["TxnTaxDetail"]["TotalTax"], json!(40.0));
    assert_eq!(res["Invoice"]["TotalAmt"], json!(240.0));

    // An override with one TaxLine per rate is honoured; one missing a rate is not.
    let mut body = taxed_invoice(&customer, &[(100.0, Some("3"))]);
    body["TxnTaxDetail"] = json!({ "TotalTax": 19.99, "TaxLine": [{
        "Amount": 19.99, "DetailType": "TaxLineDetail",
        "TaxLineDetail": { "TaxRateRef": { "value": rate_id }, "PercentBased": true,
                           "TaxPercent": 20, "NetAmountTaxable": 100 } }] });
    let (status, res) = api.post("invoice", &[], &body).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["Invoice"]["TxnTaxDetail"]["TotalTax"], json!(19.99));
    assert_eq!(res["Invoice"]["TotalAmt"], json!(119.99));
    let mut partial = body.clone();
    partial["Line"] =
        taxed_invoice(&customer, &[(100.0, Some("3")), (10.0, Some("4"))])["Line"].clone();
    let (status, res) = api.post("invoice", &[], &partial).await;
    assert_eq!((status, code_of(&res)), (400, "6000"));

    // TaxInclusive: a gross in TaxInclusiveAmt is split per line.
    let mut body = taxed_invoice(&customer, &[(100.0, Some("3"))]);
    body["GlobalTaxCalculation"] = json!("TaxInclusive");
    body["Line"][0]["SalesItemLineDetail"]["TaxInclusiveAmt"] = json!(100.0);
    let (status, res) = api.post("invoice", &[], &body).await;
    assert_eq!(status, 200, "{res}");
    let invoice = &res["Invoice"];
    assert_eq!(invoice["GlobalTaxCalculation"], "TaxInclusive");
    assert_eq!(invoice["Line"][0]["Amount"], json!(83.33));
    assert_eq!(invoice["TxnTaxDetail"]["TotalTax"], json!(16.67));
    assert_eq!(invoice["TotalAmt"], json!(100.0));

    // NotApplicable: no tax, and no TxnTaxDetail allowed.
    let mut body = taxed_invoice(&customer, &[(100.0, None)]);
    body["GlobalTaxCalculation"] = json!("NotApplicable");
    let (status, res) = api.post("invoice", &[], &body).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["Invoice"]["TotalAmt"], json!(100.0));
    body["TxnTaxDetail"] = json!({ "TotalTax": 0 });
    let (status, res) = api.post("invoice", &[], &body).await;
    assert_eq!((status, code_of(&res)), (400, "6170"));
    body["GlobalTaxCalculation"] = json!("TaxIncluded");
    let (status, res) = api.post("invoice", &[], &body).await;
    assert_eq!((status, code_of(&res)), (400, "2170"));

    // An inactive code is refused; codes added later work.
    fake.deactivate_tax_code(REALM, "3");
    let (status, _) = api.post_invoice(&customer, &[(100.0, Some("3"))]).await;
    assert_eq!(status, 400);
    let (_, res) = api.query("select * from TaxCode where Id = '3'").await;
    assert_eq!(res["QueryResponse"], json!({}));
    fake.add_tax_code(REALM, "12", "17.5% S", 17.5);
    let (status, res) = api.post_invoice(&customer, &[(100.0, Some("12"))]).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["Invoice"]["TxnTaxDetail"]["TotalTax"], json!(17.5));
    assert_eq!(res["Invoice"]["TotalAmt"], json!(117.5));
}

#[tokio::test]
async fn tax_messages_follow_the_country() {
    let fake = company_in("CA", "CAD").await;
    let api = connect(&fake).await;
    let customer = api.create_customer("Maple Inc").await;
    let (status, res) = api.post_invoice(&customer, &[(100.0, Some("NON"))]).await;
    assert_eq!((status, code_of(&res)), (400, "6000"));
    assert!(detail_of(&res).contains("a GST/HST rate"));
    let (_, res) = api
        .query("select * from TaxCode where Name = 'HST ON'")
        .await;
    let hst = res["QueryResponse"]["TaxCode"][0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, res) = api.post_invoice(&customer, &[(100.0, Some(&hst))]).await;
    assert_eq!(res["Invoice"]["TotalAmt"], json!(113.0));
    assert_eq!(res["Invoice"]["CurrencyRef"]["name"], "Canadian Dollar");
}
