//! The typed refund: what a body of `POST /v1/refunds` becomes once it has been checked
//! (`docs/contracts.md`, "The ledger beyond invoices").
//!
//! A refund is money paid back to a customer, usually against a credit note. Values are
//! only ever built by [`super::validate::parse_refund`] (or loaded back from a canonical
//! JSON that it produced). The canonical spelling is the one every document shares: see
//! [`super::document`] and [`super::invoice`]; `refunded_at` is RFC 3339 in UTC with a `Z`.

use super::code::code_enum;
use super::document::{Document, DocumentType, Sealed};
use super::invoice::Customer;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A refund made by the billing platform, checked and ready to sync.
///
/// Exists as the one shape the service reads refunds in. The fields are declared in the
/// alphabetical order of their JSON names, so serializing gives the canonical key order
/// directly ([`Document::canonical_text`]); a test keeps it so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refund {
    /// Greater than zero, with no more decimal places than the currency has.
    pub amount: Decimal,
    /// The credit note this refund pays out, when there is one: in each ERP the refund is
    /// applied to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_note_id: Option<String>,
    /// Upper-case ISO 4217 code, e.g. `USD`.
    pub currency: String,
    pub customer: Customer,
    /// Routes the refund to a connection in Multi-ERP mode (e.g. `US`, `UK`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// The platform's refund id; the same id posted again is the same refund.
    pub id: String,
    /// Free-form key/values from the platform, passed through untouched.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// The payment the money originally came in with, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    /// The payment processor's reference (e.g. a refund id), passed on to the ERP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// When the money was paid back, in UTC.
    pub refunded_at: DateTime<Utc>,
    pub status: RefundStatus,
}

code_enum! {
    /// Where a refund is in its life on the billing platform.
    ///
    /// Exists to drive what a sync does: `Void` voids or deletes the ERP record,
    /// `Succeeded` creates or updates it.
    pub enum RefundStatus {
        Succeeded = "SUCCEEDED",
        Void = "VOID",
    }
}

impl Sealed for Refund {}

impl Document for Refund {
    const TYPE: DocumentType = DocumentType::Refund;

    fn id(&self) -> &str {
        &self.id
    }

    fn entity(&self) -> Option<&str> {
        self.entity.as_deref()
    }

    fn status_code(&self) -> Option<&'static str> {
        Some(self.status.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::document::assert_canonical;
    use crate::domain::invoice::Address;
    use serde_json::json;

    fn sample() -> Refund {
        Refund {
            id: "re_1".into(),
            status: RefundStatus::Succeeded,
            currency: "USD".into(),
            amount: Decimal::new(217, 2),
            refunded_at: DateTime::parse_from_rfc3339("2026-11-22T09:00:00.5Z")
                .expect("valid timestamp")
                .with_timezone(&Utc),
            customer: Customer {
                id: "cus_1".into(),
                name: "Acme".into(),
                email: None,
                address: None,
            },
            credit_note_id: None,
            payment_id: None,
            reference: None,
            entity: None,
            metadata: Map::new(),
        }
    }

    #[test]
    fn serializes_to_the_contract_shape() {
        assert_eq!(
            sample().canonical_json(),
            json!({
                "id": "re_1", "status": "SUCCEEDED", "currency": "USD", "amount": "2.17",
                "refunded_at": "2026-11-22T09:00:00.500Z",
                "customer": { "id": "cus_1", "name": "Acme" }, "metadata": {}
            })
        );
    }

    /// A field declared out of alphabetical order fails here.
    #[test]
    fn canonical_text_is_the_sorted_json_with_every_field_set() {
        let mut full = sample();
        full.credit_note_id = Some("cn_1".into());
        full.payment_id = Some("pay_1".into());
        full.reference = Some("re_3N8x".into());
        full.entity = Some("US".into());
        full.customer.email = Some("ap@acme.test".into());
        full.customer.address = Some(Address {
            line1: "1 Main St".into(),
            line2: None,
            city: Some("Austin".into()),
            region: None,
            postal_code: None,
            country: Some("US".into()),
        });
        full.metadata
            .insert("k".into(), json!({"b": [1], "a": "x"}));
        for refund in [sample(), full] {
            assert_canonical(&refund);
        }
    }

    #[test]
    fn status_event_types_and_hash() {
        let ok = sample();
        assert!(!ok.is_void());
        assert_eq!(ok.event_type(true), "refund.succeeded");
        assert_eq!(ok.event_type(false), "refund.succeeded");
        let mut void = sample();
        void.status = RefundStatus::Void;
        assert!(void.is_void());
        assert_eq!(void.event_type(false), "refund.voided");
        assert_ne!(void.content_hash(), ok.content_hash());
        for s in RefundStatus::ALL {
            assert_eq!(RefundStatus::from_code(s.as_str()), Some(s));
            assert_eq!(json!(s), json!(s.as_str()));
        }
    }
}
