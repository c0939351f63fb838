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
use super::document::impl_document;
use super::invoice::Customer;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A payment received by the billing platform, checked and ready to sync.
///
/// Exists as the one shape the service reads payments in. The fields are declared in the
/// alphabetical order of their JSON names, so serializing gives the canonical key order
/// directly ([`super::Document::canonical_text`]); a test keeps it so.
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

impl_document!(Payment: Payment, size_hint = |payment| 384 + 64 * payment.applied_to.len());

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::document::Document;
    use crate::domain::testing;
    use serde_json::json;

    fn sample() -> Payment {
        Payment {
            amount: Decimal::new(1299, 2),
            applied_to: Vec::new(),
            currency: "USD".into(),
            customer: testing::customer(),
            entity: None,
            id: "pay_1".into(),
            metadata: Map::new(),
            method: None,
            received_at: testing::utc("2026-11-21T10:00:00+01:00"),
            reference: None,
            status: PaymentStatus::Succeeded,
        }
    }

    fn applied(invoice_id: &str, amount: Decimal) -> AppliedPayment {
        AppliedPayment {
            invoice_id: invoice_id.into(),
            amount,
        }
    }

    /// A field declared out of alphabetical order fails here.
    #[test]
    fn canonical_form() {
        let mut full = sample();
        full.entity = Some("US".into());
        full.method = Some("card".into());
        full.reference = Some("ch_1".into());
        full.customer = testing::full_customer();
        full.applied_to = vec![
            applied("inv_1", Decimal::new(1000, 2)),
            applied("inv_0", Decimal::new(199, 2)),
        ];
        full.metadata = testing::unsorted_metadata();
        let shape = json!({
            "id": "pay_1", "status": "SUCCEEDED", "currency": "USD", "amount": "12.99",
            "received_at": "2026-11-21T09:00:00Z",
            "customer": { "id": "cus_1", "name": "Acme" },
            "applied_to": [], "metadata": {}
        });
        testing::assert_canonical_forms(&sample(), &full, shape);
    }

    #[test]
    fn unapplied_is_the_remainder() {
        let mut payment = sample();
        assert_eq!(payment.unapplied(), payment.amount);
        payment.applied_to = vec![applied("inv_1", Decimal::new(1000, 2))];
        assert_eq!(payment.unapplied(), Decimal::new(299, 2));
    }

    #[test]
    fn status_event_types_and_hash() {
        let ok = sample();
        let void = Payment {
            status: PaymentStatus::Void,
            ..sample()
        };
        let events = ["payment.succeeded", "payment.succeeded", "payment.voided"];
        testing::assert_events(&ok, &void, events);
        let mut rescaled = sample();
        rescaled.amount = Decimal::new(12990, 3);
        assert_ne!(rescaled.content_hash(), ok.content_hash());
        testing::assert_codes(
            &PaymentStatus::ALL,
            PaymentStatus::as_str,
            PaymentStatus::from_code,
        );
    }
}
