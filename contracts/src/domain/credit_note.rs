//! The typed credit note: what a body of `POST /v1/credit-notes` becomes once it has been
//! checked (`docs/contracts.md`, "The ledger beyond invoices").
//!
//! A credit note gives back part or all of what an invoice charged. Its lines are invoice
//! lines ([`Line`]) and its sums are the invoice's sums; unlike an invoice's, its amounts
//! are positive: each line credits something. Values are only ever built by
//! [`super::validate::parse_credit_note`] (or loaded back from a canonical JSON that it
//! produced). The canonical spelling is the one every document shares: see
//! [`super::document`] and [`super::invoice`].

use super::code::code_enum;
use super::document::impl_document;
use super::invoice::{Customer, Line};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

code_enum! {
    /// Where a credit note is in its life on the billing platform.
    ///
    /// Exists to drive what a sync does: `Void` voids the ERP record, `Issued` creates or
    /// updates it.
    pub enum CreditNoteStatus {
        Issued = "ISSUED",
        Void = "VOID",
    }
}

/// A credit note issued by the billing platform, checked and ready to sync.
///
/// Exists as the one shape the service reads credit notes in. The fields are declared in
/// the alphabetical order of their JSON names, so serializing gives the canonical key order
/// directly ([`super::Document::canonical_text`]); a test keeps it so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreditNote {
    /// Upper-case ISO 4217 code, e.g. `USD`.
    pub currency: String,
    pub customer: Customer,
    /// Routes the credit note to a connection in Multi-ERP mode (e.g. `US`, `UK`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// The platform's credit note id; the same id posted again is the same credit note.
    pub id: String,
    /// The invoice this credit note credits, when it credits one: in each ERP the credit
    /// is applied to that invoice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<String>,
    pub issue_date: NaiveDate,
    /// At least one line; line ids are unique; every line's amount is greater than zero.
    pub lines: Vec<Line>,
    /// Free-form key/values from the platform, passed through untouched.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// The human credit note number, e.g. `CN-2026-0007`.
    pub number: String,
    /// Why the credit was given, e.g. `Overbilled API calls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub status: CreditNoteStatus,
    /// The sum of the lines' amounts (greater than zero).
    pub subtotal: Decimal,
    /// The sum of the lines' `tax_amount`s when any line has one (never negative).
    pub tax_total: Decimal,
    /// `subtotal + tax_total` (greater than zero).
    pub total: Decimal,
}

impl_document!(CreditNote: CreditNote, size_hint = |note| 512 + 256 * note.lines.len());

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::document::Document;
    use crate::domain::testing;
    use serde_json::json;

    /// A field declared out of alphabetical order fails here.
    #[test]
    fn canonical_form() {
        let full = CreditNote {
            customer: testing::full_customer(),
            entity: Some("US".into()),
            invoice_id: Some("inv_1".into()),
            lines: vec![testing::full_line("cnl_1", Decimal::new(200, 2))],
            metadata: testing::unsorted_metadata(),
            reason: Some("Overbilled".into()),
            ..sample()
        };
        let shape = json!({
            "id": "cn_1", "number": "CN-1", "status": "ISSUED", "currency": "USD",
            "issue_date": "2026-11-20",
            "customer": { "id": "cus_1", "name": "Acme" },
            "lines": [ { "id": "cnl_1", "type": "USAGE_FEE", "description": "",
                         "amount": "2.00" } ],
            "subtotal": "2.00", "tax_total": "0.00", "total": "2.00", "metadata": {}
        });
        testing::assert_canonical_forms(&sample(), &full, shape);
    }

    #[test]
    fn status_event_types_and_hash() {
        let issued = sample();
        assert_eq!(issued.status_code(), Some("ISSUED"));
        let void = CreditNote {
            status: CreditNoteStatus::Void,
            ..sample()
        };
        let events = [
            "credit_note.issued",
            "credit_note.updated",
            "credit_note.voided",
        ];
        testing::assert_events(&issued, &void, events);
        let mut rescaled = sample();
        rescaled.total = Decimal::new(20, 1);
        assert_eq!(rescaled.total, issued.total);
        assert_ne!(rescaled.content_hash(), issued.content_hash());
        let all = CreditNoteStatus::ALL;
        testing::assert_codes(&all, CreditNoteStatus::as_str, CreditNoteStatus::from_code);
        assert_eq!(CreditNoteStatus::from_code("issued"), None);
    }

    fn sample() -> CreditNote {
        CreditNote {
            currency: "USD".into(),
            customer: testing::customer(),
            entity: None,
            id: "cn_1".into(),
            invoice_id: None,
            issue_date: NaiveDate::from_ymd_opt(2026, 11, 20).expect("valid date"),
            lines: vec![testing::line("cnl_1", Decimal::new(200, 2))],
            metadata: Map::new(),
            number: "CN-1".into(),
            reason: None,
            status: CreditNoteStatus::Issued,
            subtotal: Decimal::new(200, 2),
            tax_total: Decimal::new(0, 2),
            total: Decimal::new(200, 2),
        }
    }
}
