//! Example webhook transform: the flat, accounting-style payload of
//! `examples/templates/flat-accounting.json`, written as a Wasm component. Shows typed
//! parsing of the invoice, refusing what the receiver cannot book (VOID invoices go as a
//! cancellation instead), and a header for the receiver's routing.

use serde::{Deserialize, Serialize};

wit_bindgen::generate!({
    world: "webhook-transform",
    path: "../../../wit/erp-sync-transform@1.0.0",
});

use erp_sync::transform::types::{Context, Header, Payload, TransformError};
use exports::erp_sync::transform::webhook::Guest;

#[derive(Deserialize)]
struct Invoice {
    number: String,
    status: String,
    currency: String,
    issue_date: String,
    due_date: Option<String>,
    customer: Customer,
    lines: Vec<Line>,
    subtotal: String,
    tax_total: String,
    total: String,
    #[serde(default)]
    metadata: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct Customer {
    id: String,
    name: String,
}

#[derive(Deserialize)]
struct Line {
    description: String,
    product_id: Option<String>,
    amount: String,
    tax_amount: Option<String>,
    tax_code: Option<String>,
}

#[derive(Serialize)]
struct Entry<'a> {
    event: &'a str,
    event_id: &'a str,
    document_number: &'a str,
    action: &'a str,
    document_date: &'a str,
    due_date: Option<&'a str>,
    customer_ref: &'a str,
    customer_name: &'a str,
    currency: &'a str,
    net: &'a str,
    tax: &'a str,
    gross: &'a str,
    purchase_order: Option<&'a str>,
    lines: Vec<EntryLine<'a>>,
}

#[derive(Serialize)]
struct EntryLine<'a> {
    text: &'a str,
    item: Option<&'a str>,
    net: &'a str,
    tax: Option<&'a str>,
    tax_code: Option<&'a str>,
}

struct Component;

impl Guest for Component {
    fn transform(ctx: Context, invoice: String) -> Result<Payload, TransformError> {
        let inv: Invoice = serde_json::from_str(&invoice)
            .map_err(|e| TransformError::Rejected(format!("unexpected invoice shape: {e}")))?;
        let action = if inv.status == "VOID" { "cancel" } else { "book" };
        let entry = Entry {
            event: &ctx.event_type,
            event_id: &ctx.event_id,
            document_number: &inv.number,
            action,
            document_date: &inv.issue_date,
            due_date: inv.due_date.as_deref(),
            customer_ref: &inv.customer.id,
            customer_name: &inv.customer.name,
            currency: &inv.currency,
            net: &inv.subtotal,
            tax: &inv.tax_total,
            gross: &inv.total,
            purchase_order: inv.metadata.get("po_number").and_then(|v| v.as_str()),
            lines: inv
                .lines
                .iter()
                .map(|l| EntryLine {
                    text: &l.description,
                    item: l.product_id.as_deref(),
                    net: &l.amount,
                    tax: l.tax_amount.as_deref(),
                    tax_code: l.tax_code.as_deref(),
                })
                .collect(),
        };
        Ok(Payload {
            body: serde_json::to_vec(&entry).map_err(|e| TransformError::Other(e.to_string()))?,
            content_type: "application/json".into(),
            headers: vec![Header {
                name: "X-Ledger-Action".into(),
                value: action.into(),
            }],
        })
    }
}

export!(Component);
