//! The refund's rules ([`parse_refund`]), besides those every document shares (see the
//! parent module):
//!
//! - Required: `id`, `status`, `currency`, `amount`, `refunded_at`, `customer`.
//! - Optional: `credit_note_id`, `payment_id`, `reference`, `entity`, `metadata`.
//! - `status` is `SUCCEEDED` or `VOID`; `refunded_at` is a timestamp.
//! - `amount` is greater than zero and has no more decimal places than the currency.
//!
//! Whether the credit note or payment exists, and whether the refund exceeds it, needs the
//! store, so it is not checked here.

use super::checker::Checker;
use super::{DocumentError, parse_document};
use crate::domain::document::DocumentType;
use crate::domain::refund::{Refund, RefundStatus};
use serde_json::{Map, Value};

/// Parses and checks a body of `POST /v1/refunds`.
///
/// Exists as the only way to a [`Refund`]: whatever it returns `Ok` for satisfies every
/// rule above, and an `Err(Invalid)` lists all problems at once.
pub fn parse_refund(body: &[u8]) -> Result<Refund, DocumentError> {
    parse_document(DocumentType::Refund, body, Checker::refund)
}

impl Checker {
    fn refund(&mut self, obj: &Map<String, Value>) -> Option<Refund> {
        let id = self.required_string(obj, "", "id");
        let status = self.status(obj, &RefundStatus::ALL, RefundStatus::as_str);
        let currency = self.currency(obj, "refunds cannot be made in it");
        let amount = self.required_amount(obj, "", "amount");
        let refunded_at = self.timestamp(obj, "refunded_at");
        let customer = self.customer(obj);
        let credit_note_id = self.optional_string(obj, "", "credit_note_id");
        let payment_id = self.optional_string(obj, "", "payment_id");
        let reference = self.optional_string(obj, "", "reference");
        let entity = self.optional_string(obj, "", "entity");
        let metadata = self.metadata(obj);

        self.positive_money("amount", amount, currency.as_ref());

        Some(Refund {
            amount: amount?,
            credit_note_id: credit_note_id?,
            currency: currency?.0,
            customer: customer?,
            entity: entity?,
            id: id?,
            metadata: metadata?,
            payment_id: payment_id?,
            reference: reference?,
            refunded_at: refunded_at?,
            status: status?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::FieldError;
    use super::super::test_support::*;
    use super::*;
    use crate::domain::document::Document;
    use serde_json::json;

    /// A refund of the contract's example credit note, with every field the contract
    /// names.
    const EXAMPLE: &str = r#"{ "id": "re_01J9Z7", "status": "SUCCEEDED", "currency": "USD",
      "amount": "2.17", "refunded_at": "2026-11-22T15:30:00Z",
      "customer": { "id": "cus_42", "name": "Acme Inc" },
      "credit_note_id": "cn_01J9Z5", "payment_id": "pay_01J9Z6", "reference": "re_3N8y",
      "entity": "US", "metadata": { "ticket": "SUP-12" } }"#;

    fixture!(parse_refund => Refund, EXAMPLE);

    #[test]
    fn example_parses_and_round_trips() {
        let refund = ok(&example());
        assert_eq!(refund.id, "re_01J9Z7");
        assert_eq!(refund.status, RefundStatus::Succeeded);
        assert_eq!(refund.amount.to_string(), "2.17");
        assert_eq!(refund.refunded_at.to_rfc3339(), "2026-11-22T15:30:00+00:00");
        assert_eq!(refund.credit_note_id.as_deref(), Some("cn_01J9Z5"));
        assert_eq!(refund.payment_id.as_deref(), Some("pay_01J9Z6"));
        assert_eq!(refund.reference.as_deref(), Some("re_3N8y"));
        assert_eq!(refund.entity.as_deref(), Some("US"));
        assert_eq!(refund.event_type(true), "refund.succeeded");
        assert_round_trips(&refund, example());
    }

    #[test]
    fn every_problem_is_reported_together() {
        assert_required(
            parse_refund,
            "id status currency amount refunded_at customer",
        );

        let v = changed(
            example(),
            json!({
                "/id": "", "/status": "REFUNDED", "/currency": 840, "/amount": {"value": "2.17"},
                "/refunded_at": "22/11/2026", "/customer": [], "/credit_note_id": "",
                "/payment_id": false, "/reference": "r".repeat(2000), "/entity": "", "/metadata": 1
            }),
        );
        let errors = problems(&v);
        assert_problems(
            &errors,
            r#"
            id: must not be empty
            status: must be one of SUCCEEDED, VOID (got "REFUNDED")
            currency: must be a string (got a number)
            amount: (got an object)
            refunded_at: RFC 3339
            customer: must be an object (got an array)
            credit_note_id: must not be empty
            payment_id: must be a string (got a boolean)
            reference: must be at most 1024 characters long (got 2000)
            entity: must not be empty
            metadata: must be an object (got a number)
            "#,
        );
        let e = refusal(DocumentType::Refund, errors);
        assert!(e.starts_with("the refund has 11 problems: "), "{e}");
    }

    #[test]
    fn amount_must_be_positive_and_fit_the_currency() {
        for bad in ["0", "-2.17", "0.00"] {
            let mut v = example();
            set(&mut v, "/amount", json!(bad));
            assert_only(
                &problems(&v),
                "amount",
                &format!("must be greater than zero (got \"{bad}\")"),
            );
        }
        let mut v = example();
        set(&mut v, "/amount", json!("2.175"));
        assert_only(
            &problems(&v),
            "amount",
            "must have at most 2 decimal places in USD (got \"2.175\")",
        );
        set(&mut v, "/currency", json!("bhd"));
        assert_eq!(ok(&v).currency, "BHD");
        set(&mut v, "/currency", json!("XAG"));
        assert_only(
            &problems(&v),
            "currency",
            "XAG has no minor unit, so refunds cannot be made in it",
        );
    }

    #[test]
    fn statuses_and_timestamps() {
        let mut v = example();
        set(&mut v, "/status", json!("VOID"));
        set(&mut v, "/refunded_at", json!("2026-11-22T10:30:00-05:00"));
        let void = ok(&v);
        assert!(void.is_void());
        assert_eq!(void.event_type(false), "refund.voided");
        assert_eq!(
            void.canonical_json()["refunded_at"],
            example()["refunded_at"]
        );
        set(&mut v, "/status", json!("Void"));
        assert_eq!(fields(&problems(&v)), ["status"]);
    }

    #[test]
    fn optional_fields_may_be_absent_or_null() {
        let mut v = example();
        for key in ["/credit_note_id", "/payment_id", "/reference", "/entity"] {
            remove(&mut v, key);
        }
        set(&mut v, "/metadata", Value::Null);
        let refund = ok(&v);
        assert_eq!(refund.credit_note_id, None);
        assert!(refund.metadata.is_empty());
        assert_eq!(
            refund.canonical_json(),
            json!({"id": "re_01J9Z7", "status": "SUCCEEDED", "currency": "USD",
                   "amount": "2.17", "refunded_at": "2026-11-22T15:30:00Z",
                   "customer": {"id": "cus_42", "name": "Acme Inc"}, "metadata": {}})
        );
        set(&mut v, "/refunded_at", Value::Null);
        assert_only(&problems(&v), "refunded_at", "is required");
    }

    #[test]
    fn hash_is_stable_but_sees_a_changed_scale() {
        let mut v = example();
        remove(&mut v, "/payment_id");
        assert_hash_stability(parse_refund, &v, "payment_id", ("/amount", json!("2.170")));
    }

    #[test]
    fn malformed_bodies() {
        assert_malformed_refused(parse_refund);
    }
}
