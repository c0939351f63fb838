//! Our invoice as a QuickBooks Online Invoice.
//!
//! How an accountant would read the result:
//! - every line with a non-negative amount is a `SalesItemLineDetail` line on the Item
//!   chosen by `item_map` (product id first, then line type) or `default_item_id`;
//!   `Qty` and `UnitPrice` are sent only when they multiply exactly to the amount
//!   (usage tiers often do not), otherwise the line carries its amount alone;
//! - lines with a negative amount (discounts, credits) become one `DiscountLineDetail`
//!   line each, a fixed-amount discount, which is how QuickBooks shows discounts;
//! - tax is the invoice's own tax: lines with tax are marked `TAX`, others `NON`, and
//!   `TxnTaxDetail.TotalTax` carries `tax_total`, so QuickBooks' total equals ours;
//! - `DocNumber` is the invoice number (QuickBooks allows 21 characters);
//!   `metadata.reference` (or `po_number`) goes to the customer memo.

use serde_json::{Value, json};

pub use crate::connectors::lines::{ItemRules, amount};

use crate::domain::Invoice;

/// QuickBooks' limit on DocNumber.
pub const MAX_DOC_NUMBER: usize = 21;

/// The Invoice body (without `Id`/`SyncToken`), or why it cannot be built.
pub fn invoice_body(
    invoice: &Invoice,
    customer_id: &str,
    rules: &ItemRules,
) -> Result<Value, String> {
    if invoice.number.chars().count() > MAX_DOC_NUMBER {
        return Err(format!(
            "invoice number {:?} is longer than the {MAX_DOC_NUMBER} characters QuickBooks allows for DocNumber",
            invoice.number
        ));
    }
    let mut lines = Vec::new();
    for line in &invoice.lines {
        if line.amount.is_sign_negative() {
            lines.push(json!({
                "Amount": amount(-line.amount),
                "DetailType": "DiscountLineDetail",
                "Description": line.description,
                "DiscountLineDetail": {"PercentBased": false},
            }));
            continue;
        }
        let item = rules.item_for(line.product_id.as_deref(), line.line_type.as_str()).ok_or_else(|| {
            format!(
                "line {} has no QuickBooks Item: add {:?} or {:?} to the connection's item_map, or set default_item_id",
                line.id,
                line.product_id.as_deref().unwrap_or("<product id>"),
                line.line_type.as_str()
            )
        })?;
        let taxable = line.tax_amount.is_some_and(|t| !t.is_zero());
        let mut detail = json!({
            "ItemRef": {"value": item},
            "TaxCodeRef": {"value": if taxable { "TAX" } else { "NON" }},
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
        "DocNumber": invoice.number,
        "TxnDate": invoice.issue_date.to_string(),
        "CustomerRef": {"value": customer_id},
        "Line": lines,
        "TxnTaxDetail": {"TotalTax": amount(invoice.tax_total)},
        "PrivateNote": format!("erp-sync invoice {}", invoice.id),
    });
    if let Some(due) = invoice.due_date {
        body["DueDate"] = json!(due.to_string());
    }
    let memo = invoice
        .metadata
        .get("reference")
        .or_else(|| invoice.metadata.get("po_number"))
        .and_then(Value::as_str);
    if let Some(memo) = memo {
        body["CustomerMemo"] = json!({"value": memo});
    }
    Ok(body)
}

/// The Customer body for a new customer.
pub fn customer_body(invoice: &Invoice) -> Value {
    let c = &invoice.customer;
    let mut body = json!({"DisplayName": c.name});
    if let Some(email) = &c.email {
        body["PrimaryEmailAddr"] = json!({"Address": email});
    }
    if let Some(a) = &c.address {
        body["BillAddr"] = json!({
            "Line1": a.line1, "Line2": a.line2, "City": a.city,
            "CountrySubDivisionCode": a.region, "PostalCode": a.postal_code, "Country": a.country,
        });
    }
    body
}

/// A value for a QuickBooks query string literal: `'` and `\` escaped with `\`.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::domain::parse_invoice;

    #[test]
    fn lines_discounts_and_tax_add_up_to_the_total() {
        let invoice = parse_invoice(include_bytes!(
            "../../../../examples/invoices/multi-line-uk.json"
        ))
        .unwrap();
        let rules = ItemRules {
            item_map: HashMap::from([("prod_plan".to_string(), "7".to_string())]),
            default_item_id: Some("1".into()),
        };
        let body = invoice_body(&invoice, "58", &rules).unwrap();
        let lines = body["Line"].as_array().unwrap();
        assert_eq!(lines[0]["SalesItemLineDetail"]["ItemRef"]["value"], "7");
        assert_eq!(lines[0]["SalesItemLineDetail"]["Qty"], json!(1));
        assert_eq!(lines[1]["SalesItemLineDetail"]["ItemRef"]["value"], "1");
        assert_eq!(lines[2]["DetailType"], "DiscountLineDetail");
        assert_eq!(lines[2]["Amount"], json!(15));
        assert_eq!(body["TxnTaxDetail"]["TotalTax"], json!(27));
        assert_eq!(body["CustomerMemo"]["value"], "PO-UK-551");
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
        let e = invoice_body(&invoice, "1", &ItemRules::default()).unwrap_err();
        assert!(e.contains("item_map"), "{e}");
        invoice.number = "INV-THIS-IS-FAR-TOO-LONG".into();
        let e = invoice_body(
            &invoice,
            "1",
            &ItemRules {
                default_item_id: Some("1".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.contains("21 characters"), "{e}");
    }
}
