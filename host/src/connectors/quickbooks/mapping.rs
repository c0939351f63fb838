//! Our invoice as a QuickBooks Online Invoice.
//!
//! How an accountant would read the result:
//! - every line with a non-negative amount is a `SalesItemLineDetail` line on the Item
//!   chosen by `item_map` (product id first, then line type) or `default_item_id` (the
//!   company's `Services` Item when it is absent); `Qty` and `UnitPrice` are sent only
//!   when they multiply exactly to the amount (usage tiers often do not), otherwise the
//!   line carries its amount alone;
//! - lines with a negative amount (discounts, credits) become one `DiscountLineDetail`
//!   line each, a fixed-amount discount, which is how QuickBooks shows discounts;
//! - **tax, US companies**: the invoice's own tax. Lines with tax are marked `TAX`,
//!   others `NON`, and `TxnTaxDetail.TotalTax` carries `tax_total`, so QuickBooks' total
//!   equals ours;
//! - **tax, other companies** (UK, CA, AU, ...): each line names its TaxCode, from
//!   `tax_code_map` keyed by our line's `tax_code` (`NONE` for a line without one), and
//!   QuickBooks computes the tax on the net amounts (`GlobalTaxCalculation`
//!   `TaxExcluded`), after discounts as ours is (`ApplyTaxAfterDiscount`);
//! - **currency**: an invoice in the company's home currency carries no `CurrencyRef`;
//!   one in another currency carries it, which needs multicurrency on in the company;
//! - `DocNumber` is the invoice number (QuickBooks allows 21 characters);
//!   `metadata.reference` (or `po_number`) goes to the customer memo.
//!
//! A missing map entry is a [`Gap`]: the body is still built (for previews), with an
//! empty reference where the mapping is missing.

use std::collections::HashMap;

use serde_json::{Value, json};

pub use crate::connectors::lines::{ItemRules, amount};

use crate::connectors::Gap;
use crate::connectors::lines::reference;
use crate::domain::{Address, Customer, Invoice, Line};

/// QuickBooks' limit on DocNumber.
pub const MAX_DOC_NUMBER: usize = 21;

/// The `tax_code_map` key of lines without a tax code.
pub const NO_TAX_CODE: &str = "NONE";

/// What the mapping needs to know of the company (read from its Preferences).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Company {
    /// The company's name, for messages.
    pub name: String,
    /// ISO country of the company (`US`, `GB`, `CA`, `AU`, ...).
    pub country: String,
    pub home_currency: String,
    pub multicurrency: bool,
}

impl Company {
    /// US companies book tax with `TAX`/`NON` and a total; others with TaxCodes.
    pub fn is_us(&self) -> bool {
        self.country.eq_ignore_ascii_case("US") || self.country.is_empty()
    }

    /// Whether a document in `currency` needs a `CurrencyRef` (it is not the home currency).
    pub fn is_foreign(&self, currency: &str) -> bool {
        !currency.eq_ignore_ascii_case(&self.home_currency)
    }

    /// The gap of a document in `currency`, if the company cannot book it.
    pub fn currency_gap(&self, currency: &str) -> Option<Gap> {
        (self.is_foreign(currency) && !self.multicurrency).then(|| {
            Gap::new(
                "currency",
                format!(
                    "the document is in {currency}, the QuickBooks company books in {} and has multicurrency off: turn Multicurrency on in QuickBooks (Settings > Account and settings > Advanced > Currency), or route {currency} documents to another connection",
                    self.home_currency
                ),
            )
        })
    }
}

/// `tax_code_map`: our tax codes to QuickBooks TaxCode ids (companies outside the US).
#[derive(Debug, Clone, Default)]
pub struct TaxCodes(pub HashMap<String, String>);

impl TaxCodes {
    /// Reads `tax_code_map` from a connection config.
    pub fn from_config(config: &Value) -> Self {
        TaxCodes(
            config
                .get("tax_code_map")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
        )
    }
}

/// A request body and the gaps found while building it.
#[derive(Debug, Clone)]
pub struct Mapped {
    pub body: Value,
    pub gaps: Vec<Gap>,
}

/// The Invoice body (without `Id`/`SyncToken`).
pub fn invoice_body(
    invoice: &Invoice,
    customer_id: &str,
    items: &ItemRules,
    tax_codes: &TaxCodes,
    company: &Company,
) -> Mapped {
    let sale = Sale {
        noun: "invoice",
        id: &invoice.id,
        number: &invoice.number,
        date: invoice.issue_date,
        lines: &invoice.lines,
        tax_total: invoice.tax_total,
        currency: &invoice.currency,
    };
    let mut mapped = sale_body(&sale, customer_id, items, tax_codes, company);
    if let Some(due) = invoice.due_date {
        mapped.body["DueDate"] = json!(due.to_string());
    }
    if let Some(memo) = reference(invoice, ["reference", "po_number"]) {
        mapped.body["CustomerMemo"] = json!({"value": memo});
    }
    mapped
}

/// What an Invoice and a CreditMemo share: a numbered document of item lines, with tax,
/// in a currency.
pub struct Sale<'a> {
    /// `invoice` or `credit note`, for messages and the private note.
    pub noun: &'a str,
    pub id: &'a str,
    pub number: &'a str,
    pub date: chrono::NaiveDate,
    pub lines: &'a [Line],
    pub tax_total: rust_decimal::Decimal,
    pub currency: &'a str,
}

/// The body of an Invoice or CreditMemo (without `Id`/`SyncToken`): lines, tax and
/// currency as the module docs say.
pub fn sale_body(
    sale: &Sale<'_>,
    customer_id: &str,
    items: &ItemRules,
    tax_codes: &TaxCodes,
    company: &Company,
) -> Mapped {
    let mut gaps = Vec::new();
    if sale.number.chars().count() > MAX_DOC_NUMBER {
        gaps.push(Gap::new(
            "number",
            format!(
                "{} number {:?} is longer than the {MAX_DOC_NUMBER} characters QuickBooks allows for DocNumber",
                sale.noun, sale.number
            ),
        ));
    }
    let mut lines = Vec::new();
    for (i, line) in sale.lines.iter().enumerate() {
        if line.amount.is_sign_negative() {
            lines.push(json!({
                "Amount": amount(-line.amount),
                "DetailType": "DiscountLineDetail",
                "Description": line.description,
                "DiscountLineDetail": {"PercentBased": false},
            }));
            continue;
        }
        let item = items.item_or_gap(i, line, "QuickBooks Item", &mut gaps);
        let tax_code = if company.is_us() {
            let taxable = line.tax_amount.is_some_and(|t| !t.is_zero());
            Some(if taxable { "TAX" } else { "NON" }.to_string())
        } else {
            let key = line.tax_code.as_deref().unwrap_or(NO_TAX_CODE);
            let code = tax_codes.0.get(key).cloned();
            if code.is_none() {
                gaps.push(Gap::new(
                    format!("lines[{i}].tax_code"),
                    format!(
                        "line {} has tax code {key:?}, which the connection's tax_code_map does not map to a QuickBooks TaxCode (a company in {} needs one on every line)",
                        line.id, company.country
                    ),
                ));
            }
            code
        };
        let mut detail = json!({
            "ItemRef": {"value": item.cloned().unwrap_or_default()},
            "TaxCodeRef": {"value": tax_code.unwrap_or_default()},
        });
        if let (Some(qty), Some(price)) = (line.quantity, line.unit_price)
            && qty.checked_mul(price) == Some(line.amount)
        {
            detail["Qty"] = amount(qty);
            detail["UnitPrice"] = amount(price);
        }
        lines.push(json!({
            "Amount": amount(line.amount),
            "DetailType": "SalesItemLineDetail",
            "Description": line.description,
            "SalesItemLineDetail": detail,
        }));
    }
    let mut body = json!({
        "DocNumber": sale.number,
        "TxnDate": sale.date.to_string(),
        "CustomerRef": {"value": customer_id},
        "Line": lines,
        "PrivateNote": format!("erp-sync {} {}", sale.noun, sale.id),
    });
    if company.is_us() {
        body["TxnTaxDetail"] = json!({"TotalTax": amount(sale.tax_total)});
    } else {
        body["GlobalTaxCalculation"] = json!("TaxExcluded");
        // Our lines' tax is on the amounts after discount; QuickBooks taxes before the
        // discount unless told otherwise.
        if sale.lines.iter().any(|l| l.amount.is_sign_negative()) {
            body["ApplyTaxAfterDiscount"] = json!(true);
        }
    }
    if company.is_foreign(sale.currency) {
        body["CurrencyRef"] = json!({"value": sale.currency});
    }
    gaps.extend(company.currency_gap(sale.currency));
    Mapped { body, gaps }
}

/// The Customer body for a new customer, named `display_name`, in `currency` when that
/// is not the company's home currency.
pub fn customer_body(c: &Customer, display_name: &str, currency: Option<&str>) -> Value {
    let mut body = json!({"DisplayName": display_name});
    contact_fields(&mut body, c.email.as_deref(), c.address.as_ref());
    if let Some(currency) = currency {
        body["CurrencyRef"] = json!({"value": currency});
    }
    body
}

/// Sets a Customer's `PrimaryEmailAddr` and `BillAddr` from what is given.
pub fn contact_fields(body: &mut Value, email: Option<&str>, address: Option<&Address>) {
    if let Some(email) = email {
        body["PrimaryEmailAddr"] = json!({"Address": email});
    }
    if let Some(a) = address {
        body["BillAddr"] = json!({
            "Line1": a.line1, "Line2": a.line2, "City": a.city,
            "CountrySubDivisionCode": a.region, "PostalCode": a.postal_code, "Country": a.country,
        });
    }
}

/// A value for a QuickBooks query string literal: `'` and `\` escaped with `\`.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_invoice;

    fn us() -> Company {
        Company {
            name: "Test Co".into(),
            country: "US".into(),
            home_currency: "USD".into(),
            multicurrency: false,
        }
    }

    fn uk() -> Invoice {
        parse_invoice(include_bytes!(
            "../../../../examples/invoices/multi-line-uk.json"
        ))
        .unwrap()
    }

    #[test]
    fn lines_discounts_and_tax_add_up_to_the_total() {
        let invoice = uk();
        let rules = ItemRules {
            item_map: HashMap::from([("prod_plan".to_string(), "7".to_string())]),
            default_item_id: Some("1".into()),
        };
        let company = Company {
            home_currency: "GBP".into(),
            ..us()
        };
        let mapped = invoice_body(&invoice, "58", &rules, &TaxCodes::default(), &company);
        assert!(mapped.gaps.is_empty(), "{:?}", mapped.gaps);
        let body = mapped.body;
        let lines = body["Line"].as_array().unwrap();
        assert_eq!(lines[0]["SalesItemLineDetail"]["ItemRef"]["value"], "7");
        assert_eq!(lines[0]["SalesItemLineDetail"]["Qty"], json!(1));
        assert_eq!(lines[1]["SalesItemLineDetail"]["ItemRef"]["value"], "1");
        assert_eq!(lines[2]["DetailType"], "DiscountLineDetail");
        assert_eq!(lines[2]["Amount"], json!(15));
        assert_eq!(body["TxnTaxDetail"]["TotalTax"], json!(27));
        assert_eq!(body["CustomerMemo"]["value"], "PO-UK-551");
        assert!(body.get("CurrencyRef").is_none(), "home currency");
    }

    #[test]
    fn companies_outside_the_us_get_a_tax_code_per_line_and_foreign_currencies_a_currency_ref() {
        let invoice = uk();
        let rules = ItemRules {
            default_item_id: Some("1".into()),
            ..Default::default()
        };
        let uk = Company {
            name: "UK Co".into(),
            country: "GB".into(),
            home_currency: "EUR".into(),
            multicurrency: true,
        };
        let none = invoice_body(&invoice, "58", &rules, &TaxCodes::default(), &uk);
        assert_eq!(
            none.gaps.len(),
            2,
            "both taxed lines lack a code: {:?}",
            none.gaps
        );
        assert_eq!(none.gaps[0].field, "lines[0].tax_code");
        let codes = TaxCodes(HashMap::from([("UK-VAT-20".to_string(), "3".to_string())]));
        let mapped = invoice_body(&invoice, "58", &rules, &codes, &uk);
        assert!(mapped.gaps.is_empty(), "{:?}", mapped.gaps);
        let body = &mapped.body;
        assert_eq!(
            body["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"]["value"],
            "3"
        );
        assert_eq!(body["GlobalTaxCalculation"], "TaxExcluded");
        assert!(body.get("TxnTaxDetail").is_none());
        assert_eq!(body["CurrencyRef"]["value"], "GBP");
        let off = Company {
            multicurrency: false,
            ..uk
        };
        let refused = invoice_body(&invoice, "58", &rules, &codes, &off);
        assert_eq!(refused.gaps.len(), 1);
        assert!(
            refused.gaps[0].message.contains("multicurrency"),
            "{:?}",
            refused.gaps
        );
    }

    #[test]
    fn quotes_are_escaped_in_queries() {
        assert_eq!(quote("O'Brien & Sons"), r"'O\'Brien & Sons'");
        assert_eq!(quote(r"a\b"), r"'a\\b'");
    }

    #[test]
    fn long_numbers_and_missing_items_are_explained() {
        let mut invoice =
            parse_invoice(include_bytes!("../../../../examples/invoices/basic.json")).unwrap();
        invoice.number = "INV-THIS-IS-FAR-TOO-LONG".into();
        let mapped = invoice_body(
            &invoice,
            "1",
            &ItemRules::default(),
            &TaxCodes::default(),
            &us(),
        );
        let text = format!("{:?}", mapped.gaps);
        assert!(text.contains("item_map"), "{text}");
        assert!(text.contains("21 characters"), "{text}");
    }
}
