//! A sample of each document, used where a real one is needed before any exists: the test
//! delivery of a webhook with a template or transform, and transform dry-runs.
//!
//! They are the files of `examples/`, all for customer `cus_42`: the invoice, a credit note
//! of 2.17 USD and a payment of 12.99 USD (both verbatim from the contract, so they name
//! invoice `inv_01J9Z3K4`, not the sample invoice), a refund of that credit note, and the
//! customer's details.

use super::{
    CreditNote, CustomerUpdate, Invoice, Payment, Refund, parse_credit_note, parse_customer_update,
    parse_invoice, parse_payment, parse_refund,
};

/// The contract's example invoice as JSON text (`examples/invoices/basic.json`).
pub const SAMPLE_INVOICE_JSON: &str = include_str!("../../../examples/invoices/basic.json");

/// The contract's example credit note as JSON text (`examples/credit-notes/basic.json`).
pub const SAMPLE_CREDIT_NOTE_JSON: &str = include_str!("../../../examples/credit-notes/basic.json");

/// The contract's example payment as JSON text (`examples/payments/basic.json`).
pub const SAMPLE_PAYMENT_JSON: &str = include_str!("../../../examples/payments/basic.json");

/// A refund of the sample credit note as JSON text (`examples/refunds/basic.json`).
pub const SAMPLE_REFUND_JSON: &str = include_str!("../../../examples/refunds/basic.json");

/// The body of `PUT /v1/customers/cus_42` as JSON text (`examples/customers/basic.json`);
/// its id, [`SAMPLE_CUSTOMER_ID`], comes from the path.
pub const SAMPLE_CUSTOMER_JSON: &str = include_str!("../../../examples/customers/basic.json");

/// The id of the sample customer (every sample document's `customer.id`).
pub const SAMPLE_CUSTOMER_ID: &str = "cus_42";

/// The sample invoice, parsed.
pub fn sample_invoice() -> Invoice {
    parse_invoice(SAMPLE_INVOICE_JSON.as_bytes()).expect("the bundled sample invoice is valid")
}

/// The sample credit note, parsed.
pub fn sample_credit_note() -> CreditNote {
    parse_credit_note(SAMPLE_CREDIT_NOTE_JSON.as_bytes())
        .expect("the bundled sample credit note is valid")
}

/// The sample payment, parsed.
pub fn sample_payment() -> Payment {
    parse_payment(SAMPLE_PAYMENT_JSON.as_bytes()).expect("the bundled sample payment is valid")
}

/// The sample refund, parsed.
pub fn sample_refund() -> Refund {
    parse_refund(SAMPLE_REFUND_JSON.as_bytes()).expect("the bundled sample refund is valid")
}

/// The sample customer update, parsed.
pub fn sample_customer_update() -> CustomerUpdate {
    parse_customer_update(SAMPLE_CUSTOMER_ID, SAMPLE_CUSTOMER_JSON.as_bytes())
        .expect("the bundled sample customer update is valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Document;
    use serde_json::Value;

    #[test]
    fn the_sample_is_valid() {
        assert_eq!(super::sample_invoice().number, "INV-2026-0042");
    }

    #[test]
    fn the_ledger_samples_are_valid_and_fit_together() {
        let credit_note = sample_credit_note();
        let payment = sample_payment();
        let refund = sample_refund();
        let customer = sample_customer_update();
        assert_eq!(credit_note.number, "CN-2026-0007");
        assert_eq!(payment.amount, sample_invoice().total);
        assert_eq!(
            refund.credit_note_id.as_deref(),
            Some(credit_note.id.as_str())
        );
        assert_eq!(refund.payment_id.as_deref(), Some(payment.id.as_str()));
        assert_eq!(refund.amount, credit_note.total);
        for id in [
            &credit_note.customer.id,
            &payment.customer.id,
            &refund.customer.id,
            &customer.id,
        ] {
            assert_eq!(id, SAMPLE_CUSTOMER_ID);
        }
    }

    /// Every field of the samples is in the model, so each is its own canonical JSON.
    #[test]
    fn the_samples_are_canonical_but_for_layout() {
        let as_json = |text: &str| -> Value { serde_json::from_str(text).expect("JSON") };
        assert_eq!(
            sample_credit_note().canonical_json(),
            as_json(SAMPLE_CREDIT_NOTE_JSON)
        );
        assert_eq!(
            sample_payment().canonical_json(),
            as_json(SAMPLE_PAYMENT_JSON)
        );
        assert_eq!(
            sample_refund().canonical_json(),
            as_json(SAMPLE_REFUND_JSON)
        );
        let mut customer = as_json(SAMPLE_CUSTOMER_JSON);
        customer["id"] = SAMPLE_CUSTOMER_ID.into();
        assert_eq!(sample_customer_update().canonical_json(), customer);
    }
}
