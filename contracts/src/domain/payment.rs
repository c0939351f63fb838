//! The typed payment: what a body of `POST /v1/payments` becomes once it has been checked
//! (`docs/contracts.md`, "The ledger beyond invoices").
//!
//! A payment is money received from a customer, applied to some of their invoices; what
//! is not applied stays with the customer as unapplied credit. Values are only ever built
//! by [`super::validate::parse_payment`] (or loaded back from a canonical JSON that it
//! produced). The canonical spelling is the one every document shares: see
//! [`super::document`] and [`super::invoice`]; `received_at` is RFC 3339 in UTC with a `Z`,
//! and `applied_to` is always present (`[]` when not given).

use super::code::code_enum;
use super::document::{Document, DocumentType, Sealed};
use super::invoice::Customer;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A payment received by the billing platform, checked and ready to sync.
///
/// Exists as the one shape the service reads payments in. The fields are declared in the
/// alphabetical order of their JSON names, so serializing gives the canonical key order
/// directly ([`Document::canonical_text`]); a test keeps it so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    /// Greater than zero, with no more decimal places than the currency has.
    pub amount: Decimal,
    /// The invoices this payment settles, each at most once; the amounts add up to at
    /// most `amount` (see [`Payment::unapplied`]). May be empty.
    #[serde(default)]
    pub applied_to: Vec<AppliedPayment>,
    /// Upper-case ISO 4217 code, e.g. `USD`.
    pub currency: String,
    pub customer: Customer,
    /// Routes the payment to a connection in Multi-ERP mode (e.g. `US`, `UK`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// The platform's payment id; the same id posted again is the same payment.
    pub id: String,
    /// Free-form key/values from the platform, passed through untouched.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// How it was paid, as the platform names it (e.g. `card`); not interpreted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// When the money was received, in UTC.
    pub received_at: DateTime<Utc>,
    /// The payment processor's reference (e.g. a charge id), passed on to the ERP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub status: PaymentStatus,
}

/// The part of a payment that settles one invoice.
///
/// Exists because ERPs book a payment against each invoice it pays (QuickBooks
/// `LinkedTxn`, Xero one Payment per invoice, NetSuite the `apply` list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedPayment {
    /// Greater than zero, with no more decimal places than the currency has.
    pub amount: Decimal,
    /// The platform's id of the invoice paid; unique within the payment.
    pub invoice_id: String,
}

code_enum! {
    /// Where a payment is in its life on the billing platform.
    ///
    /// Exists to drive what a sync does: `Void` (the payment was reversed after the fact)
    /// voids or deletes the ERP record, `Succeeded` creates or updates it.
    pub enum PaymentStatus {
        Succeeded = "SUCCEEDED",
        Void = "VOID",
    }
}

impl Payment {
    /// The part of `amount` not applied to any invoice: the customer's unapplied credit.
    ///
    /// Exists because a connector must either leave it as credit where the ERP has such a
    /// thing or fail naming it. Never negative for a checked payment.
    pub fn unapplied(&self) -> Decimal {
        self.applied_to
            .iter()
            .fold(self.amount, |rest, applied| rest - applied.amount)
    }
}

impl Sealed for Payment {}

impl Document for Payment {
    const TYPE: DocumentType = DocumentType::Payment;

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
        384 + 64 * self.applied_to.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::document::assert_canonical;
    use crate::domain::invoice::Address;
    use serde_json::json;

    fn sample() -> Payment {
        Payment {
            id: "pay_1".into(),
            status: PaymentStatus::Succeeded,
            entity: None,
            currency: "USD".into(),
            amount: Decimal::new(1299, 2),
            received_at: DateTime::parse_from_rfc3339("2026-11-21T10:00:00+01:00")
                .expect("valid timestamp")
                .with_timezone(&Utc),
            method: None,
            reference: None,
            customer: Customer {
                id: "cus_1".into(),
                name: "Acme".into(),
                email: None,
                address: None,
            },
            applied_to: Vec::new(),
            metadata: Map::new(),
        }
    }

    #[test]
    fn serializes_to_the_contract_shape() {
        assert_eq!(
            sample().canonical_json(),
            json!({
                "id": "pay_1", "status": "SUCCEEDED", "currency": "USD", "amount": "12.99",
                "received_at": "2026-11-21T09:00:00Z",
                "customer": { "id": "cus_1", "name": "Acme" },
                "applied_to": [], "metadata": {}
            })
        );
    }

    /// A field declared out of alphabetical order fails here.
    #[test]
    fn canonical_text_is_the_sorted_json_with_every_field_set() {
        let mut full = sample();
        full.entity = Some("US".into());
        full.method = Some("card".into());
        full.reference = Some("ch_1".into());
        full.customer.email = Some("ap@acme.test".into());
        full.customer.address = Some(Address {
            line1: "1 Main St".into(),
            line2: Some("Suite 2".into()),
            city: Some("Austin".into()),
            region: Some("TX".into()),
            postal_code: Some("78701".into()),
            country: Some("US".into()),
        });
        full.applied_to = vec![
            AppliedPayment {
                invoice_id: "inv_1".into(),
                amount: Decimal::new(1000, 2),
            },
            AppliedPayment {
                invoice_id: "inv_0".into(),
                amount: Decimal::new(199, 2),
            },
        ];
        full.metadata.insert("b".into(), json!({"y": 1, "x": 2}));
        full.metadata.insert("a".into(), json!(null));
        for payment in [sample(), full] {
            assert_canonical(&payment);
        }
    }

    #[test]
    fn unapplied_is_the_remainder() {
        let mut payment = sample();
        assert_eq!(payment.unapplied(), payment.amount);
        payment.applied_to = vec![AppliedPayment {
            invoice_id: "inv_1".into(),
            amount: Decimal::new(1000, 2),
        }];
        assert_eq!(payment.unapplied(), Decimal::new(299, 2));
    }

    #[test]
    fn status_event_types_and_hash() {
        let ok = sample();
        assert!(!ok.is_void());
        assert_eq!(ok.event_type(true), "payment.succeeded");
        assert_eq!(ok.event_type(false), "payment.succeeded");
        let mut void = sample();
        void.status = PaymentStatus::Void;
        assert!(void.is_void());
        assert_eq!(void.event_type(false), "payment.voided");
        assert_ne!(void.content_hash(), ok.content_hash());
        let mut rescaled = sample();
        rescaled.amount = Decimal::new(12990, 3);
        assert_ne!(rescaled.content_hash(), ok.content_hash());
        for s in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::from_code(s.as_str()), Some(s));
            assert_eq!(json!(s), json!(s.as_str()));
        }
    }
}
