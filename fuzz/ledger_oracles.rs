//! The checks of the ledger documents' fuzz targets (credit notes, payments, refunds,
//! customer updates), one function per target, like `oracles.rs` for the invoice.
//!
//! Each function takes raw bytes, panics when a rule is broken, and returns otherwise. Kept
//! apart from `oracles.rs` so the replay test that includes that file (it uses every
//! function it includes) is not affected until it replays these targets' inputs too.

use erp_sync_contracts::domain::{
    Line, parse_credit_note, parse_customer_update, parse_payment, parse_refund,
};
use oracles::canonical_round_trip;
use rust_decimal::Decimal;
use std::collections::HashSet;

#[path = "oracles.rs"]
mod oracles;

fn sum(amounts: impl IntoIterator<Item = Decimal>) -> Option<Decimal> {
    amounts
        .into_iter()
        .try_fold(Decimal::ZERO, |sum, amount| sum.checked_add(amount))
}

fn line_amounts(lines: &[Line]) -> Option<Decimal> {
    sum(lines.iter().map(|l| l.amount))
}

/// Credit note ingest (`POST /v1/credit-notes`): never panics; whatever is accepted adds
/// up exactly with every amount positive, and its canonical form round-trips.
pub fn credit_note_parse(data: &[u8]) {
    let Ok(note) = parse_credit_note(data) else {
        return;
    };
    assert_eq!(
        line_amounts(&note.lines),
        Some(note.subtotal),
        "lines add up to the subtotal"
    );
    assert_eq!(
        note.subtotal.checked_add(note.tax_total),
        Some(note.total),
        "subtotal + tax_total = total"
    );
    assert!(
        note.lines.iter().all(|l| l.amount > Decimal::ZERO),
        "every line credits something"
    );
    assert!(note.total > Decimal::ZERO && note.tax_total >= Decimal::ZERO);
    canonical_round_trip(&note, parse_credit_note);
}

/// Payment ingest (`POST /v1/payments`): never panics; whatever is accepted is positive,
/// applies each invoice at most once and no more than it received, and its canonical form
/// round-trips.
pub fn payment_parse(data: &[u8]) {
    let Ok(payment) = parse_payment(data) else {
        return;
    };
    assert!(payment.amount > Decimal::ZERO);
    assert!(payment.applied_to.iter().all(|a| a.amount > Decimal::ZERO));
    let applied = sum(payment.applied_to.iter().map(|a| a.amount)).expect("the sum fits");
    assert!(
        applied <= payment.amount,
        "applied {applied} of {}",
        payment.amount
    );
    assert!(payment.unapplied() >= Decimal::ZERO);
    let invoices: HashSet<&str> = payment
        .applied_to
        .iter()
        .map(|a| a.invoice_id.as_str())
        .collect();
    assert_eq!(invoices.len(), payment.applied_to.len(), "no invoice twice");
    canonical_round_trip(&payment, parse_payment);
}

/// Refund ingest (`POST /v1/refunds`): never panics; whatever is accepted is positive and
/// its canonical form round-trips.
pub fn refund_parse(data: &[u8]) {
    let Ok(refund) = parse_refund(data) else {
        return;
    };
    assert!(refund.amount > Decimal::ZERO);
    canonical_round_trip(&refund, parse_refund);
}

/// Customer update (`PUT /v1/customers/{id}`): the input is the path's id, `\n`, and the
/// body. Never panics; whatever is accepted carries the path's id, and its canonical form
/// round-trips under the same id.
pub fn customer_update_parse(data: &[u8]) {
    let (id, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let id = String::from_utf8_lossy(id);
    let Ok(update) = parse_customer_update(&id, body) else {
        return;
    };
    assert_eq!(update.id, id, "the id is the path's");
    canonical_round_trip(&update, |bytes| parse_customer_update(&id, bytes));
}
