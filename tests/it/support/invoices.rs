//! Invoices as billing sends them: the contract's example, and the multi-line UK example
//! of `examples/invoices/`.

use serde_json::{Value, json};

/// The contract's example invoice, with the given id.
pub fn invoice(id: &str) -> Value {
    json!({
        "id": id, "number": format!("INV-{id}"), "status": "OPEN",
        "entity": "US", "currency": "USD",
        "issue_date": "2026-11-01", "due_date": "2026-12-01",
        "finalized_at": "2026-11-01T10:00:00Z",
        "customer": { "id": "cus_42", "name": "Acme Inc", "email": "ap@acme.test",
                      "address": { "line1": "1 Main St", "city": "Austin", "region": "TX",
                                   "postal_code": "78701", "country": "US" } },
        "lines": [ { "id": "li_1", "type": "USAGE_FEE", "description": "API calls",
                     "product_id": "prod_api", "quantity": "12000", "unit_price": "0.001",
                     "amount": "12.00", "tax_amount": "0.99", "tax_code": "TX-STATE" } ],
        "subtotal": "12.00", "tax_total": "0.99", "total": "12.99",
        "metadata": { "po_number": "PO-7" }
    })
}

/// The multi-line UK example invoice (GBP, 20 % VAT, a discount) the ERP tests all book.
pub fn uk_invoice() -> Value {
    serde_json::from_str(include_str!(
        "../../../examples/invoices/multi-line-uk.json"
    ))
    .expect("the UK example invoice is JSON")
}
