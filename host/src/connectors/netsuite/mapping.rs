//! Our invoice as NetSuite records: external ids, the customer, the invoice and its lines.
//!
//! **External ids.** NetSuite allows letters, digits, `_` and `-` in an external id, and
//! one integration owns the external ids of a record type. Ours are
//! `es_<kind>_<32 hex digits>`, the hex being the first 128 bits of
//! SHA-256(`tenant id` NUL `kind` NUL `our id`): stable (every retry, re-sync and
//! reconnection of the same tenant lands on the same record), always in the allowed
//! alphabet whatever our ids contain (`INV/2024/001`, spaces, non-ASCII), never
//! colliding across tenants that share a NetSuite account, and 39 characters long. People
//! find the records by `tranId` (the invoice number) and the memo, which names our id.
//! Kinds: `cus` (customer), `inv` (invoice), `void` (the credit memo of a void), `cn`
//! (the credit memo of a credit note), `pay` (customer payment), `ref` (customer refund).
//!
//! **Lines.** Every invoice line is one line of the invoice's `item` sublist, on the item
//! found in `item_map` by the line's `product_id`, else by its type (`CHARGE`,
//! `DISCOUNT`, ...), else `default_item_id`; no item is a permanent error naming these
//! settings. `quantity` and `rate` are sent only when they multiply exactly to the amount
//! (tiered usage often does not), and `amount` always, so NetSuite books our amounts.
//! Discounts and credits stay negative lines on their mapped item (map `DISCOUNT` and
//! `CREDIT` to NetSuite Discount items for the usual accounting).
//!
//! **Tax.** REST web services only compute tax with SuiteTax, whose codes and nexuses are
//! the account's own business; the billing platform has already computed the tax. So the
//! tax is booked as it was invoiced: one line per tax code, with the sum of the lines' tax
//! amounts, on the item `item_map[<tax code>]`, else `item_map["TAX"]` (typically an
//! Other Charge item posting to the sales tax payable account). Without such an item a
//! taxed invoice fails with an error naming the setting, rather than booking tax as
//! revenue. Lines carry no tax code, so NetSuite's total equals ours: the subtotal plus
//! the tax lines.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::connectors::Gap;
use crate::connectors::lines::reference;
pub use crate::connectors::lines::{ItemRules, amount};
use crate::domain::Invoice;

/// The `item_map` key of tax lines without their own tax-code entry.
pub const TAX_KEY: &str = "TAX";

/// Our stable external id for one of our objects (see the module docs).
pub fn external_id(kind: &str, tenant_id: &str, local_id: &str) -> String {
    let mut hash = Sha256::new();
    for part in [tenant_id, kind, local_id] {
        hash.update(part.as_bytes());
        hash.update([0u8]);
    }
    let digest = hex::encode(hash.finalize());
    format!("es_{kind}_{}", &digest[..32])
}

/// The item a tax line books to: `item_map[<tax code>]`, else `item_map["TAX"]`; never
/// `default_item_id`, so tax is never booked as revenue.
fn tax_item_for<'a>(rules: &'a ItemRules, tax_code: Option<&str>) -> Option<&'a String> {
    tax_code
        .and_then(|c| rules.item_map.get(c))
        .or_else(|| rules.item_map.get(TAX_KEY))
}

/// The lines of the invoice's `item` sublist (charges, discounts, then tax), or why an
/// item is missing (every missing item, in one message). Their amounts add up to the
/// invoice's total.
pub fn item_lines(invoice: &Invoice, rules: &ItemRules) -> Result<Vec<Value>, String> {
    let (lines, gaps) = item_lines_with_gaps(invoice, rules);
    if gaps.is_empty() {
        Ok(lines)
    } else {
        Err(gaps
            .iter()
            .map(|g| g.message.as_str())
            .collect::<Vec<_>>()
            .join("; "))
    }
}

/// The lines of the invoice's `item` sublist, with an empty item where the maps give
/// none, and a [`Gap`] for each such line.
pub fn item_lines_with_gaps(invoice: &Invoice, rules: &ItemRules) -> (Vec<Value>, Vec<Gap>) {
    let mut lines = Vec::new();
    let mut gaps = Vec::new();
    for (i, line) in invoice.lines.iter().enumerate() {
        let item = rules.item_or_gap(i, line, "NetSuite item", &mut gaps);
        let mut out = json!({
            "item": {"id": item.cloned().unwrap_or_default()},
            "description": line.description,
            "amount": amount(line.amount),
        });
        if let (Some(qty), Some(rate)) = (line.quantity, line.unit_price)
            && !qty.is_zero()
            && qty.checked_mul(rate) == Some(line.amount)
        {
            out["quantity"] = amount(qty);
            out["rate"] = amount(rate);
        }
        lines.push(out);
    }
    // Tax, one line per tax code, in the order the codes first appear.
    let mut taxes: Vec<(Option<String>, Decimal)> = Vec::new();
    for line in &invoice.lines {
        let Some(tax) = line.tax_amount else { continue };
        match taxes.iter_mut().find(|(c, _)| *c == line.tax_code) {
            Some((_, sum)) => *sum += tax,
            None => taxes.push((line.tax_code.clone(), tax)),
        }
    }
    if taxes.is_empty() && !invoice.tax_total.is_zero() {
        taxes.push((None, invoice.tax_total));
    }
    for (code, sum) in taxes.into_iter().filter(|(_, s)| !s.is_zero()) {
        let item = tax_item_for(rules, code.as_deref());
        if item.is_none() {
            let key = code
                .as_deref()
                .map(|c| format!("{c:?} or {TAX_KEY:?}"))
                .unwrap_or_else(|| format!("{TAX_KEY:?}"));
            gaps.push(Gap::new(
                "tax_total",
                format!(
                    "the invoice has tax but no NetSuite item to book it to: add {key} to the connection's item_map (e.g. an Other Charge item posting to sales tax payable)"
                ),
            ));
        }
        let description = match &code {
            Some(c) => format!("Tax {c}"),
            None => "Tax".to_string(),
        };
        lines.push(json!({
            "item": {"id": item.cloned().unwrap_or_default()},
            "description": description,
            "amount": amount(sum),
        }));
    }
    (lines, gaps)
}

/// The invoice body for `PUT /invoice/eid:<id>?replace=item`.
pub fn invoice_body(
    invoice: &Invoice,
    customer_id: &str,
    currency_id: &str,
    subsidiary_id: Option<&str>,
    lines: Vec<Value>,
) -> Value {
    let mut body = json!({
        "entity": {"id": customer_id},
        "tranId": invoice.number,
        "tranDate": invoice.issue_date.to_string(),
        "currency": {"id": currency_id},
        "memo": format!("erp-sync invoice {}", invoice.id),
        "item": {"items": lines},
    });
    if let Some(due) = invoice.due_date {
        body["dueDate"] = json!(due.to_string());
    }
    if let Some(subsidiary) = subsidiary_id {
        body["subsidiary"] = json!({"id": subsidiary});
    }
    if let Some(reference) = reference(invoice, ["po_number", "reference"]) {
        body["otherRefNum"] = json!(reference);
    }
    body
}

/// The customer body for `PUT /customer/eid:<id>`: a company with its e-mail, in the
/// configured subsidiary. NetSuite's address book stays the accountant's.
pub fn customer_body(invoice: &Invoice, subsidiary_id: Option<&str>) -> Value {
    customer_body_of(&invoice.customer, subsidiary_id)
}

/// [`customer_body`] of any document's customer (a payment's, a customer update's): the
/// same shape, so the same details give the same fingerprint whichever document sent them.
pub fn customer_body_of(c: &crate::domain::Customer, subsidiary_id: Option<&str>) -> Value {
    let mut body = json!({"companyName": c.name, "isPerson": false});
    if let Some(email) = &c.email {
        body["email"] = json!(email);
    }
    if let Some(subsidiary) = subsidiary_id {
        body["subsidiary"] = json!({"id": subsidiary});
    }
    body
}

/// A short fingerprint of a body, to skip re-sending an unchanged customer.
pub fn fingerprint(body: &Value) -> String {
    hex::encode(&Sha256::digest(body.to_string().as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::str::FromStr;

    use super::*;
    use crate::domain::parse_invoice;

    fn uk() -> Invoice {
        parse_invoice(include_bytes!(
            "../../../../examples/invoices/multi-line-uk.json"
        ))
        .unwrap()
    }

    fn sum(lines: &[Value]) -> Decimal {
        lines
            .iter()
            .map(|l| Decimal::from_str(&l["amount"].to_string()).unwrap())
            .sum()
    }

    #[test]
    fn external_ids_are_stable_safe_and_per_tenant() {
        let a = external_id("inv", "ten_1", "INV/2024/001 ü");
        assert_eq!(a, external_id("inv", "ten_1", "INV/2024/001 ü"));
        assert!(a.starts_with("es_inv_"));
        assert_eq!(a.len(), 39);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        );
        assert_ne!(a, external_id("inv", "ten_2", "INV/2024/001 ü"));
        assert_ne!(a, external_id("cus", "ten_1", "INV/2024/001 ü"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(external_id("inv", "ab", "c"), external_id("inv", "a", "bc"));
    }

    #[test]
    fn lines_discounts_and_tax_add_up_to_the_total() {
        let invoice = uk();
        let rules = ItemRules {
            item_map: HashMap::from([
                ("prod_plan".to_string(), "7".to_string()),
                ("DISCOUNT".to_string(), "9".to_string()),
                ("UK-VAT-20".to_string(), "12".to_string()),
            ]),
            default_item_id: Some("1".into()),
        };
        let lines = item_lines(&invoice, &rules).unwrap();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0]["item"]["id"], "7");
        assert_eq!(lines[0]["quantity"], json!(1));
        assert_eq!(lines[0]["rate"], json!(100));
        assert_eq!(lines[1]["item"]["id"], "1");
        assert_eq!(lines[1]["quantity"], json!(250000));
        assert_eq!(lines[2]["item"]["id"], "9");
        assert_eq!(lines[2]["amount"], json!(-15));
        assert!(lines[2].get("quantity").is_none());
        assert_eq!(lines[3]["item"]["id"], "12");
        assert_eq!(lines[3]["amount"], json!(27));
        assert_eq!(lines[3]["description"], "Tax UK-VAT-20");
        assert_eq!(sum(&lines), invoice.total);

        let body = invoice_body(&invoice, "58", "2", Some("1"), lines);
        assert_eq!(body["entity"]["id"], "58");
        assert_eq!(body["tranId"], "INV-UK-0007");
        assert_eq!(body["tranDate"], "2026-11-01");
        assert_eq!(body["dueDate"], "2026-11-30");
        assert_eq!(body["currency"]["id"], "2");
        assert_eq!(body["subsidiary"]["id"], "1");
        assert_eq!(body["otherRefNum"], "PO-UK-551");
        assert!(body.get("externalId").is_none(), "the id is in the URL");
    }

    #[test]
    fn missing_items_name_the_settings() {
        let invoice = uk();
        let e = item_lines(&invoice, &ItemRules::default()).unwrap_err();
        assert!(
            e.contains("item_map") && e.contains("default_item_id"),
            "{e}"
        );
        let e = item_lines(
            &invoice,
            &ItemRules {
                default_item_id: Some("1".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.contains("\"UK-VAT-20\" or \"TAX\""), "{e}");
        let rules = ItemRules {
            item_map: HashMap::from([(TAX_KEY.to_string(), "12".to_string())]),
            default_item_id: Some("1".into()),
        };
        let lines = item_lines(&invoice, &rules).unwrap();
        assert_eq!(lines[3]["item"]["id"], "12");
    }

    #[test]
    fn untaxed_invoices_need_no_tax_item() {
        let mut invoice = uk();
        for line in &mut invoice.lines {
            line.tax_amount = None;
            line.tax_code = None;
        }
        invoice.tax_total = Decimal::ZERO;
        invoice.total = invoice.subtotal;
        let rules = ItemRules {
            default_item_id: Some("1".into()),
            ..Default::default()
        };
        let lines = item_lines(&invoice, &rules).unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(sum(&lines), invoice.total);
    }

    #[test]
    fn customers_are_companies_in_the_subsidiary() {
        let invoice = uk();
        let body = customer_body(&invoice, Some("3"));
        assert_eq!(body["companyName"], "Brompton & Sons Ltd");
        assert_eq!(body["email"], "accounts@brompton.test");
        assert_eq!(body["subsidiary"]["id"], "3");
        assert_eq!(fingerprint(&body), fingerprint(&body.clone()));
        assert_ne!(
            fingerprint(&body),
            fingerprint(&customer_body(&invoice, None))
        );
    }
}
