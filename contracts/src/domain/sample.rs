//! A sample invoice, used where a real one is needed before any exists: the test
//! delivery of a webhook with a template or transform, and transform dry-runs.

use super::{Invoice, parse_invoice};

/// The contract's example invoice as JSON text (`examples/invoices/basic.json`).
pub const SAMPLE_INVOICE_JSON: &str = include_str!("../../../examples/invoices/basic.json");

/// The sample invoice, parsed.
pub fn sample_invoice() -> Invoice {
    parse_invoice(SAMPLE_INVOICE_JSON.as_bytes()).expect("the bundled sample invoice is valid")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sample_is_valid() {
        assert_eq!(super::sample_invoice().number, "INV-2026-0042");
    }
}
