//! Our invoice as a Xero `ACCREC` invoice.
//!
//! - `InvoiceNumber` is the invoice number; `Reference` carries `metadata.reference`
//!   (or `po_number`); `CurrencyCode`, `Date`, `DueDate`; `Status` from the connection
//!   (`AUTHORISED` by default, or `DRAFT`); amounts are tax-exclusive (`Exclusive`).
//! - Each line keeps its quantity and unit price when they multiply exactly to its
//!   amount and the price has at most 4 decimals (Xero's limit, requested with
//!   `unitdp=4`), else it is sent as quantity 1 at its amount (usage tiers, sub-cent
//!   prices). Discounts and
//!   credits are lines with a negative amount, which Xero shows as such.
//! - Each line's account code comes from `account_map` (product id, then line type),
//!   else `account_code` (default `200`, Xero's default sales account); its `TaxType`
//!   from `tax_map` (our tax code to Xero's), else `tax_type` when set; its `TaxAmount`
//!   is our line tax, so Xero's `Total` equals ours; its `ItemCode` from `item_map`
//!   (product id, then line type) when one is mapped.

use serde_json::{Value, json};

use crate::connectors::lines::{amount, reference};
use crate::domain::{CreditNote, Customer, Invoice, Line};

/// Per-connection mapping settings.
#[derive(Debug, Clone)]
pub struct LineRules {
    pub account_code: String,
    pub account_map: serde_json::Map<String, Value>,
    pub tax_type: Option<String>,
    pub tax_map: serde_json::Map<String, Value>,
    pub item_map: serde_json::Map<String, Value>,
    pub status: String,
}

impl LineRules {
    /// Reads the settings from a connection config.
    pub fn from_config(config: &Value) -> Self {
        let text = |k: &str| config.get(k).and_then(Value::as_str).map(str::to_string);
        let map = |k: &str| {
            config
                .get(k)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        LineRules {
            account_code: text("account_code").unwrap_or_else(|| "200".into()),
            account_map: map("account_map"),
            tax_type: text("tax_type"),
            tax_map: map("tax_map"),
            item_map: map("item_map"),
            status: text("status").unwrap_or_else(|| "AUTHORISED".into()),
        }
    }
}

/// The `LineItems` of an invoice's or a credit note's lines.
pub fn line_items(lines: &[Line], rules: &LineRules) -> Vec<Value> {
    lines
        .iter()
        .map(|line| {
            let (qty, unit) = match (line.quantity, line.unit_price) {
                                // Xero keeps at most 4 decimals of a unit price (with `unitdp=4`).
                (Some(q), Some(p)) if p.normalize().scale() <= 4 && q.checked_mul(p) == Some(line.amount) => (q, p),
                _ => (rust_decimal::Decimal::ONE, line.amount),
            };
            let account = line
                .product_id
                .as_deref()
                .and_then(|p| rules.account_map.get(p))
                .or_else(|| rules.account_map.get(line.line_type.as_str()))
                .and_then(Value::as_str)
                .unwrap_or(&rules.account_code);
            let mut item = json!({
                "Description": if line.description.is_empty() { line.line_type.as_str() } else { &line.description },
                "Quantity": amount(qty),
                "UnitAmount": amount(unit),
                "LineAmount": amount(line.amount),
                "AccountCode": account,
                "TaxAmount": amount(line.tax_amount.unwrap_or_default()),
            });
            let tax_type = line
                .tax_code
                .as_deref()
                .and_then(|c| rules.tax_map.get(c))
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| rules.tax_type.clone());
            if let Some(t) = tax_type {
                item["TaxType"] = json!(t);
            }
            let item_code = line
                .product_id
                .as_deref()
                .and_then(|p| rules.item_map.get(p))
                .or_else(|| rules.item_map.get(line.line_type.as_str()))
                .and_then(Value::as_str);
            if let Some(code) = item_code {
                item["ItemCode"] = json!(code);
            }
            item
        })
        .collect()
}

/// The invoice element (without `InvoiceID`).
pub fn invoice_element(invoice: &Invoice, contact_id: &str, rules: &LineRules) -> Value {
    let lines = line_items(&invoice.lines, rules);
    let mut element = json!({
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "InvoiceNumber": invoice.number,
        "Date": invoice.issue_date.to_string(),
        "DueDate": invoice.due_date.unwrap_or(invoice.issue_date).to_string(),
        "CurrencyCode": invoice.currency,
        "LineAmountTypes": "Exclusive",
        "Status": rules.status,
        "LineItems": lines,
    });
    if let Some(r) = reference(invoice, ["reference", "po_number"]) {
        element["Reference"] = json!(r);
    }
    element
}

/// An `ACCRECCREDIT` credit note (without `CreditNoteID`): numbered with our number,
/// `Reference` the reason, always `AUTHORISED` (only an authorised credit note can be
/// allocated to its invoice), lines mapped as an invoice's.
pub fn credit_note_element(note: &CreditNote, contact_id: &str, rules: &LineRules) -> Value {
    let mut element = json!({
        "Type": "ACCRECCREDIT",
        "Contact": {"ContactID": contact_id},
        "CreditNoteNumber": note.number,
        "Date": note.issue_date.to_string(),
        "CurrencyCode": note.currency,
        "LineAmountTypes": "Exclusive",
        "Status": "AUTHORISED",
        "LineItems": line_items(&note.lines, rules),
    });
    if let Some(reason) = &note.reason {
        element["Reference"] = json!(reason);
    }
    element
}

/// A new contact, keyed by our customer id in `ContactNumber`.
pub fn contact_element(c: &Customer) -> Value {
    let mut contact = json!({"Name": c.name, "ContactNumber": c.id});
    if let Some(email) = &c.email {
        contact["EmailAddress"] = json!(email);
    }
    if let Some(a) = &c.address {
        contact["Addresses"] = json!([{
            "AddressType": "POBOX", "AddressLine1": a.line1, "AddressLine2": a.line2, "City": a.city,
            "Region": a.region, "PostalCode": a.postal_code, "Country": a.country,
        }]);
    }
    contact
}

/// A string literal for Xero's `where` filter.
pub fn where_literal(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_invoice;

    #[test]
    fn lines_keep_their_amounts_and_tax() {
        let invoice = parse_invoice(include_bytes!(
            "../../../../examples/invoices/multi-line-uk.json"
        ))
        .unwrap();
        let config =
            json!({"account_map": {"USAGE_FEE": "260"}, "tax_map": {"UK-VAT-20": "OUTPUT2"}});
        let element = invoice_element(&invoice, "c1", &LineRules::from_config(&config));
        let lines = element["LineItems"].as_array().unwrap();
        assert_eq!(lines[0]["AccountCode"], "200");
        assert_eq!(lines[1]["AccountCode"], "260");
        assert_eq!(lines[1]["Quantity"], json!(250000));
        assert_eq!(lines[2]["UnitAmount"], json!(-15));
        assert_eq!(lines[2]["TaxType"], "OUTPUT2");
        assert_eq!(element["Status"], "AUTHORISED");
        assert_eq!(element["Reference"], "PO-UK-551");
    }
}
