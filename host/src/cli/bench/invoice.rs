//! The documents the bench pushes: valid, distinct, and recognisable at the sink by
//! their id (`inv_bench_<i>` or number `INV-BENCH-<i>`, `pay_bench_<i>`, `cn_bench_<i>`).

use serde_json::{Value, json};

/// Formats integer cents as a decimal amount string (non-negative only).
fn cents(c: u64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

/// A valid invoice `inv_bench_<i>` with `lines` lines; totals balance in integer cents.
pub(super) fn invoice(i: usize, lines: usize) -> Value {
    let mut subtotal: u64 = 0;
    let mut tax_total: u64 = 0;
    let items: Vec<Value> = (0..lines.max(1))
        .map(|j| {
            let amount = 1_000 + ((i as u64) * 7 + (j as u64) * 13) % 9_000;
            let tax = amount * 8 / 100;
            subtotal += amount;
            tax_total += tax;
            json!({
                "id": format!("li_{j}"), "type": "USAGE_FEE", "description": "API calls",
                "product_id": "prod_api", "quantity": "1", "unit_price": cents(amount),
                "amount": cents(amount), "tax_amount": cents(tax), "tax_code": "TX-STATE"
            })
        })
        .collect();
    json!({
        "id": format!("inv_bench_{i}"), "number": format!("INV-BENCH-{i}"), "status": "OPEN",
        "entity": "US", "currency": "USD",
        "issue_date": "2026-11-01", "due_date": "2026-12-01",
        "finalized_at": "2026-11-01T10:00:00Z",
        "customer": { "id": "cus_42", "name": "Acme Inc", "email": "ap@acme.test",
                      "address": { "line1": "1 Main St", "city": "Austin", "region": "TX",
                                   "postal_code": "78701", "country": "US" } },
        "lines": items,
        "subtotal": cents(subtotal), "tax_total": cents(tax_total),
        "total": cents(subtotal + tax_total),
        "metadata": { "po_number": "PO-7" }
    })
}

/// Payment `pay_bench_<i>`, paying invoice `inv_bench_<i>` in full.
pub(super) fn payment(i: usize, lines: usize) -> Value {
    let total = invoice(i, lines)["total"].clone();
    json!({
        "id": format!("pay_bench_{i}"), "status": "SUCCEEDED", "entity": "US", "currency": "USD",
        "amount": total, "received_at": "2026-11-21T09:00:00Z", "method": "card",
        "customer": { "id": "cus_42", "name": "Acme Inc" },
        "applied_to": [ { "invoice_id": format!("inv_bench_{i}"), "amount": total } ]
    })
}

/// Credit note `cn_bench_<i>` of 1.00 on invoice `inv_bench_<i>`.
pub(super) fn credit_note(i: usize) -> Value {
    json!({
        "id": format!("cn_bench_{i}"), "number": format!("CN-BENCH-{i}"), "status": "ISSUED",
        "invoice_id": format!("inv_bench_{i}"), "entity": "US", "currency": "USD",
        "issue_date": "2026-11-20", "customer": { "id": "cus_42", "name": "Acme Inc" },
        "lines": [ { "id": "cnl_1", "type": "USAGE_FEE", "description": "API calls credit",
                     "amount": "1.00" } ],
        "subtotal": "1.00", "tax_total": "0", "total": "1.00"
    })
}
