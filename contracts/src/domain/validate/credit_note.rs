//! The credit note's rules ([`parse_credit_note`]), besides those every document shares
//! (see the parent module):
//!
//! - Required: `id`, `number`, `status`, `currency`, `issue_date`, `customer`, `lines`,
//!   `subtotal`, `tax_total`, `total`; lines are invoice lines (required `id`, `type`,
//!   `amount`; optional `description`, `product_id`, `quantity`, `unit_price`,
//!   `tax_amount`, `tax_code`).
//! - Optional: `invoice_id`, `entity`, `reason`, `metadata`.
//! - `status` is `ISSUED` or `VOID`; a line's `type` is one of the invoice line types.
//! - The invoice's sums hold: `lines` is a non-empty array with unique line ids whose
//!   amounts add up to `subtotal`; `subtotal + tax_total = total`; when any line has a
//!   `tax_amount`, they add up to `tax_total`. `subtotal`, `tax_total` and `total` have no
//!   more decimal places than the currency.
//! - Amounts are positive: every line's `amount`, `subtotal` and `total` are greater than
//!   zero; `tax_amount`s and `tax_total` are not negative (zero for untaxed credit).
//!   Quantities and unit prices are not checked, as on invoices.
//!
//! Whether the credit notes on one invoice exceed its total needs the store, so it is not
//! checked here.

use super::checker::Checker;
use super::{DocumentError, parse_document};
use crate::domain::credit_note::{CreditNote, CreditNoteStatus};
use crate::domain::document::DocumentType;
use serde_json::{Map, Value};

/// Parses and checks a body of `POST /v1/credit-notes`.
///
/// Exists as the only way to a [`CreditNote`]: whatever it returns `Ok` for satisfies every
/// rule above, and an `Err(Invalid)` lists all problems at once.
pub fn parse_credit_note(body: &[u8]) -> Result<CreditNote, DocumentError> {
    parse_document(DocumentType::CreditNote, body, Checker::credit_note)
}

impl Checker {
    fn credit_note(&mut self, obj: &Map<String, Value>) -> Option<CreditNote> {
        let id = self.required_string(obj, "", "id");
        let number = self.required_string(obj, "", "number");
        let status = self.status(obj, &CreditNoteStatus::ALL, CreditNoteStatus::as_str);
        let invoice_id = self.optional_string(obj, "", "invoice_id");
        let entity = self.optional_string(obj, "", "entity");
        let currency = self.currency(obj, "credit notes cannot be issued in it");
        let issue_date = self.required_date(obj, "issue_date");
        let reason = self.optional_string(obj, "", "reason");
        let billing = self.billing(obj);

        for (i, line) in billing.sums.iter().flatten().enumerate() {
            if let Some(amount) = line.amount {
                self.positive(format_args!("lines[{i}].amount"), amount);
            }
            if let Some(Some(tax)) = line.tax {
                self.not_negative(format_args!("lines[{i}].tax_amount"), tax);
            }
        }
        if let Some(subtotal) = billing.subtotal {
            self.positive("subtotal", subtotal);
        }
        if let Some(tax_total) = billing.tax_total {
            self.not_negative("tax_total", tax_total);
        }
        if let Some(total) = billing.total {
            self.positive("total", total);
        }
        self.billing_adds_up(&billing, currency.as_ref());

        Some(CreditNote {
            currency: currency?.0,
            customer: billing.customer?,
            entity: entity?,
            id: id?,
            invoice_id: invoice_id?,
            issue_date: issue_date?,
            lines: billing.lines?,
            metadata: billing.metadata?,
            number: number?,
            reason: reason?,
            status: status?,
            subtotal: billing.subtotal?,
            tax_total: billing.tax_total?,
            total: billing.total?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::FieldError;
    use super::super::test_support::*;
    use super::*;
    use crate::domain::document::Document;
    use crate::domain::invoice::LineType;
    use chrono::NaiveDate;
    use serde_json::json;

    /// The contract's example credit note (`docs/contracts.md`), verbatim.
    const CONTRACT_EXAMPLE: &str = r#"{ "id": "cn_01J9Z5", "number": "CN-2026-0007", "status": "ISSUED",
      "invoice_id": "inv_01J9Z3K4", "entity": "US", "currency": "USD",
      "issue_date": "2026-11-20", "reason": "Overbilled API calls",
      "customer": { "id": "cus_42", "name": "Acme Inc" },
      "lines": [ { "id": "cnl_1", "type": "USAGE_FEE", "description": "API calls credit",
                   "product_id": "prod_api", "quantity": "2000", "unit_price": "0.001",
                   "amount": "2.00", "tax_amount": "0.17", "tax_code": "TX-STATE" } ],
      "subtotal": "2.00", "tax_total": "0.17", "total": "2.17", "metadata": {} }"#;

    fixture!(parse_credit_note => CreditNote, CONTRACT_EXAMPLE);

    /// The example with these lines (type, amount, tax) and totals.
    fn with_lines(lines: &[(&str, &str, Option<&str>)], totals: [&str; 3]) -> Value {
        let mut v = example();
        let lines: Vec<Value> = lines
            .iter()
            .enumerate()
            .map(|(i, (kind, amount, tax))| {
                json!({"id": format!("cnl_{i}"), "type": kind, "amount": amount, "tax_amount": tax})
            })
            .collect();
        set(&mut v, "/lines", Value::Array(lines));
        set(&mut v, "/subtotal", json!(totals[0]));
        set(&mut v, "/tax_total", json!(totals[1]));
        set(&mut v, "/total", json!(totals[2]));
        v
    }

    #[test]
    fn contract_example_parses_and_round_trips() {
        let note = parse_credit_note(CONTRACT_EXAMPLE.as_bytes()).expect("the example is valid");
        assert_eq!(note.id, "cn_01J9Z5");
        assert_eq!(note.number, "CN-2026-0007");
        assert_eq!(note.status, CreditNoteStatus::Issued);
        assert_eq!(note.invoice_id.as_deref(), Some("inv_01J9Z3K4"));
        assert_eq!(note.entity.as_deref(), Some("US"));
        assert_eq!(note.currency, "USD");
        assert_eq!(
            note.issue_date,
            NaiveDate::from_ymd_opt(2026, 11, 20).expect("date")
        );
        assert_eq!(note.reason.as_deref(), Some("Overbilled API calls"));
        assert_eq!(note.customer.name, "Acme Inc");
        assert_eq!(note.lines[0].line_type, LineType::UsageFee);
        assert_eq!(note.total.to_string(), "2.17");
        assert!(!note.is_void());
        assert_eq!(note.event_type(true), "credit_note.issued");
        // Every field of the example is in the model, so the canonical JSON is the example.
        assert_round_trips(&note, example());
    }

    #[test]
    fn every_problem_is_reported_together() {
        assert_required(
            parse_credit_note,
            "id number status currency issue_date customer lines subtotal tax_total total",
        );

        let mut v = changed(
            example(),
            json!({
                "/id": "", "/number": 7, "/status": "OPEN", "/invoice_id": "", "/entity": ["US"],
                "/currency": "XYZ", "/issue_date": "2026-11-31", "/reason": "r".repeat(1025),
                "/lines/0/type": "REFUND", "/lines/0/quantity": "2k", "/subtotal": true,
                "/metadata": "none"
            }),
        );
        remove(&mut v, "/customer/id");
        let errors = problems(&v);
        // subtotal did not parse, so no sum that needs it is checked (and blamed).
        assert_problems(
            &errors,
            r#"
            id: must not be empty
            number: must be a string (got a number)
            status: must be one of ISSUED, VOID (got "OPEN")
            invoice_id: must not be empty
            entity: must be a string (got an array)
            currency: ISO 4217
            issue_date: is not a calendar date
            reason: at most 1024 characters
            customer.id: is required
            lines[0].type: must be one of CHARGE, USAGE_FEE
            lines[0].quantity: (got "2k")
            subtotal: must be a decimal amount
            metadata: must be an object (got a string)
            "#,
        );
        let e = refusal(DocumentType::CreditNote, errors);
        assert!(
            e.starts_with("the credit note has 13 problems: id: must not be empty; "),
            "{e}"
        );
    }

    #[test]
    fn statuses() {
        let mut v = example();
        set(&mut v, "/status", json!("VOID"));
        let void = ok(&v);
        assert!(void.is_void());
        assert_eq!(void.event_type(false), "credit_note.voided");
        for bad in ["issued", "DRAFT", "OPEN", ""] {
            set(&mut v, "/status", json!(bad));
            assert_eq!(fields(&problems(&v)), ["status"], "{bad:?}");
        }
    }

    #[test]
    fn amounts_must_be_positive() {
        let v = with_lines(
            &[("USAGE_FEE", "-2.00", Some("0.17"))],
            ["-2.00", "0.17", "-1.83"],
        );
        let errors = problems(&v);
        assert_eq!(
            errors,
            [
                FieldError {
                    field: "lines[0].amount".into(),
                    message: "must be greater than zero (got \"-2.00\")".into()
                },
                FieldError {
                    field: "subtotal".into(),
                    message: "must be greater than zero (got \"-2.00\")".into()
                },
                FieldError {
                    field: "total".into(),
                    message: "must be greater than zero (got \"-1.83\")".into()
                },
            ]
        );

        let v = with_lines(
            &[("CHARGE", "2.00", None), ("DISCOUNT", "0", None)],
            ["2.00", "0", "2.00"],
        );
        assert_only(
            &problems(&v),
            "lines[1].amount",
            "must be greater than zero (got \"0\")",
        );

        let v = with_lines(
            &[("CHARGE", "2.00", Some("-0.17"))],
            ["2.00", "-0.17", "1.83"],
        );
        let errors = problems(&v);
        assert_eq!(fields(&errors), ["lines[0].tax_amount", "tax_total"]);
        assert_problem(&errors, "tax_total", "must not be negative (got \"-0.17\")");

        // Untaxed credit is fine.
        ok(&with_lines(
            &[("CHARGE", "2.00", Some("0.00"))],
            ["2.00", "0.00", "2.00"],
        ));
    }

    #[test]
    fn the_invoice_sums_hold() {
        let v = with_lines(
            &[("CHARGE", "1.00", None), ("CHARGE", "2.00", None)],
            ["2.00", "0", "2.00"],
        );
        assert_only(
            &problems(&v),
            "subtotal",
            "lines sum to 3.00 but subtotal is 2.00",
        );
        let v = with_lines(&[("CHARGE", "2.00", None)], ["2.00", "0.17", "2.00"]);
        assert_only(
            &problems(&v),
            "total",
            "subtotal + tax_total is 2.17 but total is 2.00",
        );
        let v = with_lines(
            &[("CHARGE", "1.00", Some("0.10")), ("CHARGE", "1.00", None)],
            ["2.00", "0.17", "2.17"],
        );
        assert_only(
            &problems(&v),
            "tax_total",
            "lines' tax_amount sum to 0.10 but tax_total is 0.17",
        );
        // Equal by value is equal.
        ok(&with_lines(&[("CHARGE", "2", None)], ["2.0", "0", "2.00"]));
        // A bad amount is reported once, not again as a wrong sum.
        let v = with_lines(&[("CHARGE", "two", None)], ["2.00", "0", "2.00"]);
        assert_eq!(fields(&problems(&v)), ["lines[0].amount"]);
    }

    #[test]
    fn lines_shape_and_ids() {
        let mut v = example();
        set(&mut v, "/lines", json!([]));
        assert_only(&problems(&v), "lines", "must contain at least one line");
        set(&mut v, "/lines", json!({"id": "cnl_1"}));
        assert_only(&problems(&v), "lines", "must be an array (got an object)");

        let mut v = with_lines(
            &[("CHARGE", "1.00", None), ("CHARGE", "1.00", None)],
            ["2.00", "0", "2.00"],
        );
        set(&mut v, "/lines/1/id", json!("cnl_0"));
        assert_only(
            &problems(&v),
            "lines[1].id",
            "duplicates the id of lines[0] (got \"cnl_0\")",
        );
        set(&mut v, "/lines/1", json!(null));
        let errors = problems(&v);
        assert_problem(&errors, "lines[1]", "must be an object (got null)");
    }

    #[test]
    fn currency_and_precision() {
        let mut v = example();
        set(&mut v, "/currency", json!("usd"));
        assert_eq!(ok(&v).currency, "USD");
        set(&mut v, "/currency", json!("XAU"));
        assert_only(
            &problems(&v),
            "currency",
            "XAU has no minor unit, so credit notes cannot be issued in it",
        );

        // Lines may be finer than the currency; totals may not.
        let v = with_lines(
            &[("USAGE_FEE", "1.995", None), ("CHARGE", "0.005", None)],
            ["2.000", "0", "2.00"],
        );
        ok(&v);
        let v = with_lines(&[("USAGE_FEE", "2.001", None)], ["2.001", "0", "2.001"]);
        let errors = problems(&v);
        assert_eq!(fields(&errors), ["subtotal", "total"]);
        assert_problem(
            &errors,
            "total",
            "must have at most 2 decimal places in USD (got \"2.001\")",
        );
    }

    #[test]
    fn nulls_count_as_absent() {
        let mut v = example();
        for pointer in ["/invoice_id", "/entity", "/reason", "/metadata"] {
            set(&mut v, pointer, Value::Null);
        }
        let note = ok(&v);
        assert_eq!(note.invoice_id, None);
        assert_eq!(note.entity, None);
        assert_eq!(note.reason, None);
        let json = note.canonical_json();
        assert_eq!(json["metadata"], json!({}));
        assert!(json.get("invoice_id").is_none());
        set(&mut v, "/number", Value::Null);
        assert_only(&problems(&v), "number", "is required");
    }

    #[test]
    fn hash_is_stable_but_sees_a_changed_scale() {
        let mut v = example();
        remove(&mut v, "/reason");
        assert_hash_stability(parse_credit_note, &v, "reason", ("/total", json!("2.170")));
    }

    #[test]
    fn malformed_bodies() {
        assert_malformed_refused(parse_credit_note);
    }
}
