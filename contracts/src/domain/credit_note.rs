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
use super::document::{Document, DocumentType, Sealed};
use super::invoice::{Customer, Line};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A credit note issued by the billing platform, checked and ready to sync.
///
/// Exists as the one shape the service reads credit notes in. The fields are declared in
/// the alphabetical order of their JSON names, so serializing gives the canonical key order
/// directly ([`Document::canonical_text`]); a test keeps it so.
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

impl Sealed for CreditNote {}

impl Document for CreditNote {
    const TYPE: DocumentType = DocumentType::CreditNote;

    fn id(&self) -> &str {
        &self.id
    }

    fn entity(&self) -> Option<&str> {
        self.entity.as_deref()
    }

    fn status_code(&self) -> Option<&'static str> {
        Some(self.status.as_str())
    }

    fn canonical_size_hint(&self) -> usize {
        512 + 256 * self.lines.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::document::assert_canonical;
    use crate::domain::invoice::{Address, LineType};
    use serde_json::json;

    fn sample() -> CreditNote {
        CreditNote {
            id: "cn_1".into(),
            number: "CN-1".into(),
            status: CreditNoteStatus::Issued,
            invoice_id: None,
            entity: None,
            currency: "USD".into(),
            issue_date: NaiveDate::from_ymd_opt(2026, 11, 20).expect("valid date"),
            reason: None,
            customer: Customer {
                id: "cus_1".into(),
                name: "Acme".into(),
                email: None,
                address: None,
            },
            lines: vec![Line {
                id: "cnl_1".into(),
                line_type: LineType::UsageFee,
                description: String::new(),
                product_id: None,
                quantity: None,
                unit_price: None,
                amount: Decimal::new(200, 2),
                tax_amount: None,
                tax_code: None,
            }],
            subtotal: Decimal::new(200, 2),
            tax_total: Decimal::new(0, 2),
            total: Decimal::new(200, 2),
            metadata: Map::new(),
        }
    }

    #[test]
    fn serializes_to_the_contract_shape() {
        assert_eq!(
            sample().canonical_json(),
            json!({
                "id": "cn_1", "number": "CN-1", "status": "ISSUED", "currency": "USD",
                "issue_date": "2026-11-20",
                "customer": { "id": "cus_1", "name": "Acme" },
                "lines": [ { "id": "cnl_1", "type": "USAGE_FEE", "description": "",
                             "amount": "2.00" } ],
                "subtotal": "2.00", "tax_total": "0.00", "total": "2.00", "metadata": {}
            })
        );
    }

    /// A field declared out of alphabetical order fails here.
    #[test]
    fn canonical_text_is_the_sorted_json_with_every_field_set() {
        let mut full = sample();
        full.invoice_id = Some("inv_1".into());
        full.entity = Some("US".into());
        full.reason = Some("Overbilled".into());
        full.customer.email = Some("ap@acme.test".into());
        full.customer.address = Some(Address {
            line1: "1 Main St".into(),
            line2: Some("Suite 2".into()),
            city: Some("Austin".into()),
            region: Some("TX".into()),
            postal_code: Some("78701".into()),
            country: Some("US".into()),
        });
        let line = &mut full.lines[0];
        line.description = "credit".into();
        line.product_id = Some("prod_api".into());
        line.quantity = Some(Decimal::new(2000, 0));
        line.unit_price = Some(Decimal::new(1, 3));
        line.tax_amount = Some(Decimal::new(17, 2));
        line.tax_code = Some("TX".into());
        full.metadata
            .insert("zeta".into(), json!({"b": 1, "a": [{"d": 1, "c": 2}]}));
        for note in [sample(), full] {
            assert_canonical(&note);
        }
    }

    #[test]
    fn status_event_types_and_hash() {
        let issued = sample();
        assert!(!issued.is_void());
        assert_eq!(issued.event_type(true), "credit_note.issued");
        assert_eq!(issued.event_type(false), "credit_note.updated");
        assert_eq!(issued.status_code(), Some("ISSUED"));
        let mut void = sample();
        void.status = CreditNoteStatus::Void;
        assert!(void.is_void());
        assert_eq!(void.event_type(true), "credit_note.voided");
        assert_ne!(void.content_hash(), issued.content_hash());
        let mut rescaled = sample();
        rescaled.total = Decimal::new(20, 1);
        assert_eq!(rescaled.total, issued.total);
        assert_ne!(rescaled.content_hash(), issued.content_hash());
        for s in CreditNoteStatus::ALL {
            assert_eq!(CreditNoteStatus::from_code(s.as_str()), Some(s));
            assert_eq!(json!(s), json!(s.as_str()));
        }
        assert_eq!(CreditNoteStatus::from_code("issued"), None);
    }
}
