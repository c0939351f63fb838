//! The payment's rules ([`parse_payment`]), besides those every document shares (see the
//! parent module):
//!
//! - Required: `id`, `status`, `currency`, `amount`, `received_at`, `customer`.
//! - Optional: `entity`, `method`, `reference`, `applied_to` (absent means `[]`),
//!   `metadata`. Each `applied_to` entry is an object with required `invoice_id` and
//!   `amount`.
//! - `status` is `SUCCEEDED` or `VOID`; `received_at` is a timestamp.
//! - `amount` and every applied `amount` are greater than zero and have no more decimal
//!   places than the currency.
//! - An invoice appears at most once in `applied_to`, whose amounts add up to at most
//!   `amount`: the remainder, if any, is the customer's unapplied credit. `applied_to` may
//!   be empty (all of it unapplied).
//!
//! Whether the invoices exist, and how much of them is still open, needs the store, so it
//! is not checked here.

use super::checker::{Checker, Field, checked_sum, optional};
use super::parts::Currency;
use super::{DocumentError, parse_document};
use crate::domain::document::DocumentType;
use crate::domain::payment::{AppliedPayment, Payment, PaymentStatus};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Parses and checks a body of `POST /v1/payments`.
///
/// Exists as the only way to a [`Payment`]: whatever it returns `Ok` for satisfies every
/// rule above, and an `Err(Invalid)` lists all problems at once.
pub fn parse_payment(body: &[u8]) -> Result<Payment, DocumentError> {
    parse_document(DocumentType::Payment, body, Checker::payment)
}

impl Checker {
    fn payment(&mut self, obj: &Map<String, Value>) -> Option<Payment> {
        let id = self.required_string(obj, "", "id");
        let status = self.status(obj, &PaymentStatus::ALL, PaymentStatus::as_str);
        let entity = self.optional_string(obj, "", "entity");
        let currency = self.currency(obj, "payments cannot be made in it");
        let amount = self.required_amount(obj, "", "amount");
        self.positive_money("amount", amount, currency.as_ref());
        let received_at = self.timestamp(obj, "received_at");
        let method = self.optional_string(obj, "", "method");
        let reference = self.optional_string(obj, "", "reference");
        let customer = self.customer(obj);
        let (applied_to, applied_amounts) = self.applied_to(obj, currency.as_ref());
        let metadata = self.metadata(obj);

        // Amounts already refused for their sign are not blamed again as a wrong sum.
        let positive = |amount: &Decimal| *amount > Decimal::ZERO;
        if let (Some(amount), Some(applied)) = (amount.filter(positive), applied_amounts) {
            match checked_sum(applied) {
                Some(sum) if sum <= amount => {}
                Some(sum) => self.push(
                    "applied_to",
                    format!("amounts sum to {sum}, more than the payment's amount {amount}"),
                ),
                None => self.push(
                    "applied_to",
                    "amounts add up to more than an amount can hold",
                ),
            }
        }

        Some(Payment {
            amount: amount?,
            applied_to: applied_to?,
            currency: currency?.0,
            customer: customer?,
            entity: entity?,
            id: id?,
            metadata: metadata?,
            method: method?,
            received_at: received_at?,
            reference: reference?,
            status: status?,
        })
    }

    /// The `applied_to` entries, and their amounts for the sum check when all of them
    /// parsed and are positive.
    fn applied_to(
        &mut self,
        obj: &Map<String, Value>,
        currency: Option<&Currency>,
    ) -> (Option<Vec<AppliedPayment>>, Option<Vec<Decimal>>) {
        let Some(value) = optional(obj, "applied_to") else {
            return (Some(Vec::new()), Some(Vec::new()));
        };
        let Some(items) = self.array(value, "applied_to".into()) else {
            return (None, None);
        };
        let mut first_with_invoice: HashMap<String, usize> = HashMap::new();
        let mut applied = Vec::with_capacity(items.len());
        let mut amounts = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = format!("applied_to[{i}]");
            let Some(obj) = self.object(item, at.as_str().into()) else {
                applied.push(None);
                amounts.push(None);
                continue;
            };
            let invoice_id = self.required_string(obj, &at, "invoice_id");
            if let Some(invoice_id) = &invoice_id {
                self.unique(
                    &mut first_with_invoice,
                    "applied_to",
                    i,
                    &at,
                    "invoice_id",
                    invoice_id,
                );
            }
            let amount = self.required_amount(obj, &at, "amount");
            self.positive_money(Field::new(&at, "amount"), amount, currency);
            amounts.push(amount.filter(|amount| *amount > Decimal::ZERO));
            applied.push(
                invoice_id
                    .zip(amount)
                    .map(|(invoice_id, amount)| AppliedPayment { amount, invoice_id }),
            );
        }
        (applied.into_iter().collect(), amounts.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::FieldError;
    use super::super::test_support::*;
    use super::*;
    use crate::domain::document::Document;
    use serde_json::json;

    /// The contract's example payment (`docs/contracts.md`), verbatim.
    const CONTRACT_EXAMPLE: &str = r#"{ "id": "pay_01J9Z6", "status": "SUCCEEDED", "entity": "US", "currency": "USD",
      "amount": "12.99", "received_at": "2026-11-21T09:00:00Z", "method": "card",
      "reference": "ch_3N8x", "customer": { "id": "cus_42", "name": "Acme Inc" },
      "applied_to": [ { "invoice_id": "inv_01J9Z3K4", "amount": "12.99" } ], "metadata": {} }"#;

    fixture!(parse_payment => Payment, CONTRACT_EXAMPLE);

    /// The example for `amount`, applied as given.
    fn applied(amount: &str, applied: &[(&str, &str)]) -> Value {
        let mut v = example();
        set(&mut v, "/amount", json!(amount));
        let applied: Vec<Value> = applied
            .iter()
            .map(|(invoice_id, amount)| json!({"invoice_id": invoice_id, "amount": amount}))
            .collect();
        set(&mut v, "/applied_to", Value::Array(applied));
        v
    }

    #[test]
    fn contract_example_parses_and_round_trips() {
        let payment = parse_payment(CONTRACT_EXAMPLE.as_bytes()).expect("the example is valid");
        assert_eq!(payment.id, "pay_01J9Z6");
        assert_eq!(payment.status, PaymentStatus::Succeeded);
        assert_eq!(payment.entity.as_deref(), Some("US"));
        assert_eq!(payment.amount.to_string(), "12.99");
        assert_eq!(
            payment.received_at.to_rfc3339(),
            "2026-11-21T09:00:00+00:00"
        );
        assert_eq!(payment.method.as_deref(), Some("card"));
        assert_eq!(payment.reference.as_deref(), Some("ch_3N8x"));
        assert_eq!(payment.customer.id, "cus_42");
        assert_eq!(payment.applied_to.len(), 1);
        assert_eq!(payment.applied_to[0].invoice_id, "inv_01J9Z3K4");
        assert_eq!(payment.unapplied(), Decimal::ZERO);
        assert_eq!(payment.event_type(true), "payment.succeeded");
        assert_round_trips(&payment, example());
    }

    #[test]
    fn every_problem_is_reported_together() {
        assert_required(
            parse_payment,
            "id status currency amount received_at customer",
        );

        let v = changed(
            example(),
            json!({
                "/id": 1, "/status": "PAID", "/entity": "", "/currency": "DOLLARS",
                "/amount": "12,99", "/received_at": "2026-11-21", "/method": "ca\u{0}rd",
                "/reference": "", "/customer": {"id": "cus_42", "name": ""},
                "/applied_to/0/invoice_id": null, "/metadata": []
            }),
        );
        let errors = problems(&v);
        // amount did not parse, so the applied amounts are not compared with it.
        assert_problems(
            &errors,
            r#"
            id: must be a string (got a number)
            status: must be one of SUCCEEDED, VOID (got "PAID")
            entity: must not be empty
            currency: ISO 4217
            amount: must be a decimal amount
            received_at: must be an RFC 3339 timestamp
            method: NUL
            reference: must not be empty
            customer.name: must not be empty
            applied_to[0].invoice_id: is required
            metadata: must be an object (got an array)
            "#,
        );
        let e = refusal(DocumentType::Payment, errors);
        assert!(e.starts_with("the payment has 11 problems: id: "), "{e}");
    }

    #[test]
    fn statuses_and_timestamps() {
        let mut v = example();
        set(&mut v, "/status", json!("VOID"));
        set(&mut v, "/received_at", json!("2026-11-21T10:00:00.5+01:00"));
        let void = ok(&v);
        assert!(void.is_void());
        assert_eq!(void.event_type(false), "payment.voided");
        assert_eq!(
            void.canonical_json()["received_at"],
            json!("2026-11-21T09:00:00.500Z")
        );
        set(&mut v, "/status", json!("succeeded"));
        assert_eq!(fields(&problems(&v)), ["status"]);
    }

    #[test]
    fn amounts_must_be_positive() {
        let v = applied("0.00", &[]);
        assert_only(
            &problems(&v),
            "amount",
            "must be greater than zero (got \"0.00\")",
        );
        let v = applied("-5", &[]);
        assert_only(
            &problems(&v),
            "amount",
            "must be greater than zero (got \"-5\")",
        );
        let v = applied("12.99", &[("inv_1", "12.99"), ("inv_2", "0")]);
        assert_only(
            &problems(&v),
            "applied_to[1].amount",
            "must be greater than zero (got \"0\")",
        );
        let v = applied("12.99", &[("inv_1", "-1.00")]);
        assert_eq!(fields(&problems(&v)), ["applied_to[0].amount"]);
    }

    #[test]
    fn applied_amounts_sum_to_at_most_the_amount() {
        // A remainder is unapplied credit.
        let payment = ok(&applied("20.00", &[("inv_1", "12.99"), ("inv_2", "5")]));
        assert_eq!(payment.unapplied().to_string(), "2.01");
        // All of it applied, equal by value.
        ok(&applied("17.99", &[("inv_1", "12.990"), ("inv_2", "5")]));
        let v = applied("12.99", &[("inv_1", "10.00"), ("inv_2", "3.00")]);
        assert_only(
            &problems(&v),
            "applied_to",
            "amounts sum to 13.00, more than the payment's amount 12.99",
        );
        // A bad applied amount is reported once, not again as a wrong sum.
        let v = applied("12.99", &[("inv_1", "lots"), ("inv_2", "30.00")]);
        assert_eq!(fields(&problems(&v)), ["applied_to[0].amount"]);
    }

    #[test]
    fn applied_to_may_be_empty_or_absent() {
        let payment = ok(&applied("12.99", &[]));
        assert!(payment.applied_to.is_empty());
        assert_eq!(payment.unapplied(), payment.amount);
        let mut v = example();
        remove(&mut v, "/applied_to");
        let absent = ok(&v);
        set(&mut v, "/applied_to", Value::Null);
        let null = ok(&v);
        assert_eq!(absent.canonical_json()["applied_to"], json!([]));
        assert_eq!(absent.content_hash(), payment.content_hash());
        assert_eq!(null.content_hash(), payment.content_hash());
    }

    #[test]
    fn invoices_are_applied_at_most_once() {
        let v = applied(
            "30.00",
            &[("inv_1", "10.00"), ("inv_2", "10.00"), ("inv_1", "10.00")],
        );
        assert_only(
            &problems(&v),
            "applied_to[2].invoice_id",
            "duplicates the invoice_id of applied_to[0] (got \"inv_1\")",
        );
    }

    #[test]
    fn applied_to_shapes() {
        let mut v = example();
        set(&mut v, "/applied_to", json!({"inv_1": "12.99"}));
        assert_only(
            &problems(&v),
            "applied_to",
            "must be an array (got an object)",
        );
        set(
            &mut v,
            "/applied_to",
            json!(["inv_1", {"invoice_id": "inv_2"}]),
        );
        let errors = problems(&v);
        assert_eq!(
            fields(&errors),
            ["applied_to[0]", "applied_to[1].amount"],
            "{errors:#?}"
        );
        assert_problem(&errors, "applied_to[0]", "must be an object (got a string)");
        assert_problem(&errors, "applied_to[1].amount", "is required");
    }

    #[test]
    fn currency_and_precision() {
        let mut v = applied("12.99", &[("inv_1", "12.99")]);
        set(&mut v, "/currency", json!("usd"));
        assert_eq!(ok(&v).currency, "USD");
        set(&mut v, "/currency", json!("XXX"));
        assert_only(
            &problems(&v),
            "currency",
            "XXX has no minor unit, so payments cannot be made in it",
        );

        let v = applied("12.999", &[("inv_1", "12.991")]);
        let errors = problems(&v);
        assert_eq!(fields(&errors), ["amount", "applied_to[0].amount"]);
        assert_problem(
            &errors,
            "amount",
            "must have at most 2 decimal places in USD (got \"12.999\")",
        );
        let mut v = applied("1300", &[("inv_1", "1300.00")]);
        set(&mut v, "/currency", json!("JPY"));
        ok(&v);
        set(&mut v, "/amount", json!("1300.5"));
        assert_problem(
            &problems(&v),
            "amount",
            "must have no decimal places in JPY",
        );
    }

    #[test]
    fn amounts_may_be_numbers() {
        let mut v = example();
        set(&mut v, "/amount", json!(12.99));
        set(&mut v, "/applied_to/0/amount", json!(12.99));
        assert_eq!(ok(&v).content_hash(), ok(&example()).content_hash());
    }

    #[test]
    fn nulls_count_as_absent() {
        let mut v = example();
        for pointer in ["/entity", "/method", "/reference", "/metadata"] {
            set(&mut v, pointer, Value::Null);
        }
        let payment = ok(&v);
        assert_eq!(payment.entity, None);
        assert_eq!(payment.method, None);
        assert_eq!(payment.reference, None);
        assert!(payment.metadata.is_empty());
        set(&mut v, "/amount", Value::Null);
        assert_only(&problems(&v), "amount", "is required");
    }

    #[test]
    fn hash_is_stable_but_sees_a_changed_scale() {
        let mut v = example();
        remove(&mut v, "/method");
        assert_hash_stability(parse_payment, &v, "method", ("/amount", json!("12.990")));
        assert_hash_stability(
            parse_payment,
            &v,
            "method",
            ("/applied_to/0/amount", json!("12.990")),
        );
    }

    #[test]
    fn malformed_bodies() {
        assert_malformed_refused(parse_payment);
    }
}
