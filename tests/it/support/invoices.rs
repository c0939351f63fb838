//! Invoices as billing sends them: the contract's example, and the multi-line UK example
//! of `examples/invoices/`.

use serde_json::{Value, json};

/// The contract's example invoice (`examples/invoices/basic.json`), with the given id and
/// the number `INV-<id>`.
pub fn invoice(id: &str) -> Value {
    let mut invoice = example(include_str!("../../../examples/invoices/basic.json"));
    invoice["id"] = json!(id);
    invoice["number"] = json!(format!("INV-{id}"));
    invoice
}

/// The multi-line UK example invoice (GBP, 20 % VAT, a discount) the ERP tests all book.
pub fn uk_invoice() -> Value {
    example(include_str!(
        "../../../examples/invoices/multi-line-uk.json"
    ))
}

fn example(text: &str) -> Value {
    serde_json::from_str(text).expect("an example invoice is JSON")
}
