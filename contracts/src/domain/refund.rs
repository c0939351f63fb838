//! The typed refund: what a body of `POST /v1/refunds` becomes once it has been checked
//! (`docs/contracts.md`, "The ledger beyond invoices").
//!
//! A refund is money paid back to a customer, usually against a credit note. Values are
//! only ever built by [`super::validate::parse_refund`] (or loaded back from a canonical
//! JSON that it produced). The canonical spelling is the one every document shares: see
//! [`super::document`] and [`super::invoice`]; `refunded_at` is RFC 3339 in UTC with a `Z`.

use super::code::code_enum;
use super::document::impl_document;
use super::invoice::Customer;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A refund made by the billing platform, checked and ready to sync.
///
/// Exists as the one shape the service reads refunds in. The fields are declared in the
/// alphabetical order of their JSON names, so serializing gives the canonical key order
/// directly ([`super::Document::canonical_text`]); a test keeps it so.
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

impl_document!(Refund: Refund);

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing;
    use serde_json::json;

    fn sample() -> Refund {
        Refund {
            amount: Decimal::new(217, 2),
            credit_note_id: None,
            currency: "USD".into(),
            customer: testing::customer(),
            entity: None,
            id: "re_1".into(),
            metadata: Map::new(),
            payment_id: None,
            reference: None,
            refunded_at: testing::utc("2026-11-22T09:00:00.5Z"),
            status: RefundStatus::Succeeded,
        }
    }

    /// A field declared out of alphabetical order fails here.
    #[test]
    fn canonical_form() {
        let full = Refund {
            credit_note_id: Some("cn_1".into()),
            payment_id: Some("pay_1".into()),
            reference: Some("re_3N8x".into()),
            entity: Some("US".into()),
            customer: testing::full_customer(),
            metadata: testing::unsorted_metadata(),
            ..sample()
        };
        let shape = json!({
            "id": "re_1", "status": "SUCCEEDED", "currency": "USD", "amount": "2.17",
            "refunded_at": "2026-11-22T09:00:00.500Z",
            "customer": { "id": "cus_1", "name": "Acme" }, "metadata": {}
        });
        testing::assert_canonical_forms(&sample(), &full, shape);
    }

    #[test]
    fn status_event_types_and_hash() {
        let void = Refund {
            status: RefundStatus::Void,
            ..sample()
        };
        let events = ["refund.succeeded", "refund.succeeded", "refund.voided"];
        testing::assert_events(&sample(), &void, events);
        testing::assert_codes(
            &RefundStatus::ALL,
            RefundStatus::as_str,
            RefundStatus::from_code,
        );
    }
}
