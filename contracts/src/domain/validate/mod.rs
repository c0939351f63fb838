//! Turning an ingest body into a checked document, or into the complete list of what is
//! wrong with it.
//!
//! The body is parsed into a `serde_json::Value` first and then walked field by field, so a
//! bad document is answered with **every** problem at once (each with a path such as
//! `customer.name`, `lines[2].amount` or `total`), never just the first one. One entry
//! point per document: [`parse_invoice`] (below), [`parse_credit_note`] (`credit_note.rs`),
//! [`parse_payment`] (`payment.rs`), [`parse_refund`] (`refund.rs`) and
//! [`parse_customer_update`] (`customer.rs`), each documenting its own rules.
//!
//! Rules every document shares:
//!
//! - The body must be a JSON object, else `Malformed` ([`InvoiceError::Malformed`],
//!   [`DocumentError::Malformed`]) with the position.
//! - An optional field set to `null` counts as absent. Unknown extra fields are ignored.
//! - Strings are taken as given (nothing is trimmed) but must not be empty (except a line's
//!   `description`, which defaults to `""`), may be at most [`MAX_STRING_CHARS`]
//!   characters (Unicode scalar values) long, and must not contain U+0000.
//! - Statuses and line types are case-sensitive.
//! - `currency` is an ISO 4217 code with a minor unit (so not `XXX` or `XAU`); lower case is
//!   accepted and stored upper case.
//! - Dates are `YYYY-MM-DD` and real calendar dates; timestamps are RFC 3339 with any
//!   offset and are stored in UTC.
//! - Amounts follow [`super::money::parse_amount`] and are compared by value (`12.0`
//!   equals `12.00`) but stored with the scale they arrived with. A check that needs
//!   several amounts runs only when all of them parsed (and, where a sign is required,
//!   have it), so one bad amount is reported once, not again as a wrong sum.
//! - A `customer` is an object with `id` and `name` and optionally `email` and `address`;
//!   an `address` needs `line1` and may have `line2`, `city`, `region`, `postal_code`,
//!   `country`. `metadata` is an optional object.
//!
//! The invoice's own rules ([`parse_invoice`]):
//!
//! - `"status": "DRAFT"` gives [`InvoiceError::Draft`] and nothing else, whatever else is
//!   wrong: the fix is to finalize the invoice, which may change the rest anyway.
//! - Required: `id`, `number`, `status`, `currency`, `issue_date`, `finalized_at`,
//!   `customer` (an object with `id` and `name`), `lines`, `subtotal`, `tax_total`, `total`;
//!   and on each line `id`, `type` and `amount`; and `line1` on an address.
//! - Optional: `entity`, `due_date`, `metadata` (an object), `customer.email`,
//!   `customer.address` (and its `line2`, `city`, `region`, `postal_code`, `country`), and on
//!   lines `description`, `product_id`, `quantity`, `unit_price`, `tax_amount`, `tax_code`.
//! - `status` is one of `OPEN`, `PAID`, `OVERDUE`, `UNCOLLECTIBLE`, `VOID`; a line's `type`
//!   one of `CHARGE`, `USAGE_FEE`, `SETUP_FEE`, `DISCOUNT`, `TAX_ADJUSTMENT`, `CREDIT`,
//!   `PRORATION`.
//! - `due_date` is not before `issue_date`; `finalized_at` is a timestamp.
//! - `subtotal`, `tax_total` and `total` may not have more decimal places than the currency
//!   has (trailing zeros don't count, so JPY `"12.00"` is fine and USD `"12.001"` is not);
//!   line amounts, quantities and prices may (usage is often priced in fractions of a cent).
//! - `lines` is a non-empty array with unique line ids. The lines' amounts add up to
//!   `subtotal`; `subtotal + tax_total = total`; and when any line has a `tax_amount`, the
//!   lines' tax amounts (absent counting as zero) add up to `tax_total`.
//!
//! The sign of an invoice's amounts is not checked: discounts and credits are usually
//! negative lines.

mod checker;
mod credit_note;
mod customer;
mod parts;
mod payment;
mod refund;
#[cfg(test)]
mod test_support;

pub use credit_note::parse_credit_note;
pub use customer::parse_customer_update;
pub use payment::parse_payment;
pub use refund::parse_refund;

use super::document::DocumentType;
#[cfg(test)]
use super::invoice::LineType;
use super::invoice::{Invoice, InvoiceStatus};
pub(crate) use checker::kind as json_kind;
use checker::{Checker, Malformed, json_object};
#[cfg(test)]
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

/// The longest string (in characters) any field of any document may hold.
pub const MAX_STRING_CHARS: usize = 1024;

/// Why a body could not become an [`Invoice`].
///
/// Exists so the API can answer each case fittingly: a malformed body or a draft with one
/// message, an invalid invoice with the list of every offending field (the API answers 400 and 422 respectively).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvoiceError {
    /// The bytes are not JSON, or the JSON is not an object. `line` and `column` are
    /// 1-based and point at the problem (`column` is 0 when the body is empty).
    #[error("the body is not a JSON object: {message} (line {line}, column {column})")]
    Malformed {
        message: String,
        line: usize,
        column: usize,
    },
    /// The invoice is still a draft; only finalized invoices are synced.
    #[error("the invoice is a DRAFT: only finalized invoices sync; finalize it first")]
    Draft,
    /// The invoice breaks one or more rules; every problem found is listed (never empty).
    #[error("{}", describe_problems(&DocumentType::Invoice, .0))]
    Invalid(Vec<FieldError>),
}

impl From<Malformed> for InvoiceError {
    fn from(m: Malformed) -> Self {
        InvoiceError::Malformed {
            message: m.message,
            line: m.line,
            column: m.column,
        }
    }
}

/// Why a body could not become a credit note, payment, refund or customer update.
///
/// Exists so the API can answer like it does for invoices ([`InvoiceError`], which keeps
/// its own type for its `Draft` case): a malformed body with one message (400), an invalid
/// document with the list of every offending field (422).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DocumentError {
    /// The bytes are not JSON, or the JSON is not an object. `line` and `column` are
    /// 1-based and point at the problem (`column` is 0 when the body is empty).
    #[error("the body is not a JSON object: {message} (line {line}, column {column})")]
    Malformed {
        message: String,
        line: usize,
        column: usize,
    },
    /// The document breaks one or more rules; every problem found is listed (never empty).
    #[error("{}", describe_problems(.document, .problems))]
    Invalid {
        /// Which kind of document was refused, for the message.
        document: DocumentType,
        problems: Vec<FieldError>,
    },
}

impl DocumentError {
    /// Every problem found (none for a malformed body).
    pub fn problems(&self) -> &[FieldError] {
        match self {
            DocumentError::Malformed { .. } => &[],
            DocumentError::Invalid { problems, .. } => problems,
        }
    }
}

impl From<Malformed> for DocumentError {
    fn from(m: Malformed) -> Self {
        DocumentError::Malformed {
            message: m.message,
            line: m.line,
            column: m.column,
        }
    }
}

/// One problem with one field of a document.
///
/// Exists so an API error can point at the exact field (`lines[2].amount`) with a message
/// a person can act on (`must be a decimal amount such as "12.00" (got "abc")`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Path to the field: `total`, `customer.name`, `lines[2].amount`.
    pub field: String,
    /// What is wrong, phrased to follow the field name.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn describe_problems(document: &DocumentType, errors: &[FieldError]) -> String {
    let list = errors
        .iter()
        .map(FieldError::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    let noun = document.noun();
    match errors.len() {
        1 => format!("the {noun} has 1 problem: {list}"),
        n => format!("the {noun} has {n} problems: {list}"),
    }
}

/// Parses and checks an ingest body (the CONTRACT invoice JSON).
///
/// Exists as the only way into the domain: whatever it returns `Ok` for satisfies every
/// rule in the module documentation, and an `Err(Invalid)` lists all problems at once.
pub fn parse_invoice(body: &[u8]) -> Result<Invoice, InvoiceError> {
    let obj = json_object(body)?;
    if obj.get("status").and_then(Value::as_str) == Some("DRAFT") {
        return Err(InvoiceError::Draft);
    }
    let mut checker = Checker::default();
    let invoice = checker.invoice(&obj);
    checker
        .finish(invoice, DocumentType::Invoice.noun())
        .map_err(InvoiceError::Invalid)
}

/// Parses and checks the body of one kind of document other than an invoice with `read`.
fn parse_document<T>(
    document: DocumentType,
    body: &[u8],
    read: impl FnOnce(&mut Checker, &Map<String, Value>) -> Option<T>,
) -> Result<T, DocumentError> {
    let obj = json_object(body)?;
    let mut checker = Checker::default();
    let value = read(&mut checker, &obj);
    checker
        .finish(value, document.noun())
        .map_err(|problems| DocumentError::Invalid { document, problems })
}

impl Checker {
    fn invoice(&mut self, obj: &Map<String, Value>) -> Option<Invoice> {
        let id = self.required_string(obj, "", "id");
        let number = self.required_string(obj, "", "number");
        let status = self.status(obj, &InvoiceStatus::ALL, InvoiceStatus::as_str);
        let entity = self.optional_string(obj, "", "entity");
        let currency = self.currency(obj, "invoices cannot be issued in it");
        let issue_date = self.required_date(obj, "issue_date");
        let due_date = self.optional_date(obj, "due_date");
        if let (Some(issue), Some(Some(due))) = (issue_date, due_date)
            && due < issue
        {
            self.push(
                "due_date",
                format!("must not be before issue_date ({issue}) (got \"{due}\")"),
            );
        }
        let finalized_at = self.timestamp(obj, "finalized_at");
        let billing = self.billing(obj);
        self.billing_adds_up(&billing, currency.as_ref());

        Some(Invoice {
            id: id?,
            number: number?,
            status: status?,
            entity: entity?,
            currency: currency?.0,
            issue_date: issue_date?,
            due_date: due_date?,
            finalized_at: finalized_at?,
            customer: billing.customer?,
            lines: billing.lines?,
            subtotal: billing.subtotal?,
            tax_total: billing.tax_total?,
            total: billing.total?,
            metadata: billing.metadata?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use serde_json::json;

    /// The contract's example invoice (`docs/contracts.md`), verbatim but for its id.
    const CONTRACT_EXAMPLE: &str = r#"{
      "id": "inv_01J9Z...", "number": "INV-2026-0042", "status": "OPEN",
      "entity": "US", "currency": "USD",
      "issue_date": "2026-11-01", "due_date": "2026-12-01",
      "finalized_at": "2026-11-01T10:00:00Z",
      "customer": { "id": "cus_42", "name": "Acme Inc", "email": "ap@acme.test",
                    "address": { "line1": "1 Main St", "city": "Austin", "region": "TX",
                                 "postal_code": "78701", "country": "US" } },
      "lines": [ { "id": "li_1", "type": "USAGE_FEE", "description": "API calls",
                   "product_id": "prod_api", "quantity": "12000", "unit_price": "0.001",
                   "amount": "12.00", "tax_amount": "0.99", "tax_code": "TX-STATE" } ],
      "subtotal": "12.00", "tax_total": "0.99", "total": "12.99",
      "metadata": { "po_number": "PO-7" }
    }"#;

    fixture!(parse_invoice => Invoice, CONTRACT_EXAMPLE);

    /// A two-line invoice (a fee and a negative discount) with the given amounts.
    fn with_lines(
        currency: &str,
        lines: &[(&str, &str)],
        subtotal: &str,
        tax: &str,
        total: &str,
    ) -> Value {
        let mut v = example();
        set(&mut v, "/currency", json!(currency));
        let lines: Vec<Value> = lines
            .iter()
            .enumerate()
            .map(|(i, (kind, amount))| json!({"id": format!("li_{i}"), "type": kind, "amount": amount}))
            .collect();
        set(&mut v, "/lines", Value::Array(lines));
        set(&mut v, "/subtotal", json!(subtotal));
        set(&mut v, "/tax_total", json!(tax));
        set(&mut v, "/total", json!(total));
        v
    }

    #[test]
    fn design_example_parses() {
        let invoice = parse_invoice(CONTRACT_EXAMPLE.as_bytes()).expect("the example is valid");
        assert_eq!(invoice.id, "inv_01J9Z...");
        assert_eq!(invoice.status, InvoiceStatus::Open);
        assert_eq!(invoice.entity.as_deref(), Some("US"));
        assert_eq!(invoice.currency, "USD");
        assert_eq!(
            invoice.issue_date,
            NaiveDate::from_ymd_opt(2026, 11, 1).expect("date")
        );
        assert_eq!(invoice.due_date, NaiveDate::from_ymd_opt(2026, 12, 1));
        assert_eq!(
            invoice.finalized_at.to_rfc3339(),
            "2026-11-01T10:00:00+00:00"
        );
        assert_eq!(
            invoice.customer.address.as_ref().map(|a| a.city.as_deref()),
            Some(Some("Austin"))
        );
        let line = &invoice.lines[0];
        assert_eq!(line.line_type, LineType::UsageFee);
        assert_eq!(
            line.unit_price.map(|d| d.to_string()).as_deref(),
            Some("0.001")
        );
        assert_eq!(line.amount.to_string(), "12.00");
        assert_eq!(invoice.total.to_string(), "12.99");
        assert_eq!(invoice.metadata.get("po_number"), Some(&json!("PO-7")));
        assert!(!invoice.is_void());
    }

    #[test]
    fn design_example_round_trips() {
        let invoice = parse_invoice(CONTRACT_EXAMPLE.as_bytes()).expect("the example is valid");
        // The canonical JSON is the example itself (all of its fields are in the model).
        assert_eq!(invoice.canonical_json(), example());
        // ...parses again to the same invoice...
        let bytes = serde_json::to_vec(&invoice.canonical_json()).expect("serializes");
        let again = parse_invoice(&bytes).expect("canonical JSON is valid input");
        assert_eq!(again, invoice);
        assert_eq!(again.content_hash(), invoice.content_hash());
        // ...and loads back directly, as when read from the store.
        let loaded: Invoice = serde_json::from_slice(&bytes).expect("canonical JSON loads");
        assert_eq!(loaded, invoice);
    }

    #[test]
    fn amounts_may_be_numbers() {
        let mut v = example();
        for (pointer, number) in [
            ("/lines/0/quantity", json!(12000)),
            ("/lines/0/unit_price", json!(0.001)),
            ("/lines/0/amount", json!(12)),
            ("/lines/0/tax_amount", json!(0.99)),
            ("/subtotal", json!(12)),
            ("/tax_total", json!(0.99)),
            ("/total", json!(12.99)),
        ] {
            set(&mut v, pointer, number);
        }
        let from_numbers = ok(&v);
        let from_strings = ok(&example());
        assert_eq!(from_numbers.total, from_strings.total);
        assert_eq!(from_numbers.subtotal, from_strings.subtotal); // 12 == 12.00 by value
        assert_eq!(from_numbers.subtotal.to_string(), "12"); // but the scale is as given
        assert_eq!(from_numbers.canonical_json()["unit_price"], Value::Null);
        assert_eq!(
            from_numbers.canonical_json()["lines"][0]["unit_price"],
            json!("0.001")
        );
        // A number whose text equals the string hashes the same as the string.
        let mut number_total = example();
        set(&mut number_total, "/total", json!(12.99));
        set(&mut number_total, "/tax_total", json!(0.99));
        assert_eq!(
            ok(&number_total).content_hash(),
            from_strings.content_hash()
        );
    }

    #[test]
    fn hash_is_stable_under_key_order_and_whitespace() {
        let reordered = r#"{"metadata":{"po_number":"PO-7"},"total":"12.99","tax_total":"0.99",
            "subtotal":"12.00","lines":[{"tax_code":"TX-STATE","tax_amount":"0.99","amount":"12.00",
            "unit_price":"0.001","quantity":"12000","product_id":"prod_api","description":"API calls",
            "type":"USAGE_FEE","id":"li_1"}],"customer":{"address":{"country":"US",
            "postal_code":"78701","region":"TX","city":"Austin","line1":"1 Main St"},
            "email":"ap@acme.test","name":"Acme Inc","id":"cus_42"},"finalized_at":"2026-11-01T10:00:00Z",
            "due_date":"2026-12-01","issue_date":"2026-11-01","currency":"USD","entity":"US",
            "status":"OPEN","number":"INV-2026-0042","id":"inv_01J9Z..."}"#;
        let original = parse_invoice(CONTRACT_EXAMPLE.as_bytes()).expect("valid");
        let reordered = parse_invoice(reordered.as_bytes()).expect("valid");
        let compact =
            parse_invoice(&serde_json::to_vec(&example()).expect("serializes")).expect("valid");
        assert_eq!(original.content_hash(), reordered.content_hash());
        assert_eq!(original.content_hash(), compact.content_hash());

        // Ignored extras, null optionals and an equivalent offset don't change it either.
        let mut noisy = example();
        set(
            &mut noisy,
            "/finalized_at",
            json!("2026-11-01T05:00:00-05:00"),
        );
        let obj = noisy.as_object_mut().expect("object");
        obj.insert("unknown_field".into(), json!({"x": 1}));
        noisy["customer"]["address"]["line2"] = Value::Null;
        assert_eq!(ok(&noisy).content_hash(), original.content_hash());

        // Any change of value does, including the scale of an amount.
        let mut paid = example();
        set(&mut paid, "/status", json!("PAID"));
        assert_ne!(ok(&paid).content_hash(), original.content_hash());
        let mut rescaled = example();
        set(&mut rescaled, "/total", json!("12.990"));
        assert_ne!(ok(&rescaled).content_hash(), original.content_hash());
    }

    #[test]
    fn malformed_bodies() {
        assert_malformed_refused(parse_invoice);
        assert!(matches!(
            parse_invoice(b"\"OPEN\""),
            Err(InvoiceError::Malformed { .. })
        ));
    }

    #[test]
    fn drafts_are_refused_whatever_else_is_wrong() {
        let mut v = example();
        set(&mut v, "/status", json!("DRAFT"));
        assert_eq!(parse_invoice(&bytes(&v)), Err(InvoiceError::Draft));
        assert_eq!(
            parse_invoice(br#"{"status": "DRAFT"}"#),
            Err(InvoiceError::Draft)
        );
        assert_eq!(
            InvoiceError::Draft.to_string(),
            "the invoice is a DRAFT: only finalized invoices sync; finalize it first"
        );
    }

    #[test]
    fn every_problem_is_reported_together() {
        assert_required(
            parse_invoice,
            "id number status currency issue_date finalized_at customer lines subtotal tax_total total",
        );

        let mut v = changed(
            example(),
            json!({
                "/id": "", "/number": 42, "/status": "open", "/entity": "", "/currency": "XYZ",
                "/issue_date": "2026/11/01", "/due_date": "2026-02-30",
                "/finalized_at": "yesterday", "/customer/email": true, "/lines/0/type": "FEE",
                "/lines/0/quantity": "1,000", "/tax_total": "abc", "/metadata": ["po"]
            }),
        );
        remove(&mut v, "/customer/name");
        remove(&mut v, "/customer/address/line1");
        let errors = problems(&v);
        // tax_total did not parse, so no sum that needs it is checked (and blamed).
        assert_problems(
            &errors,
            r#"
            id: must not be empty
            number: must be a string (got a number)
            status: must be one of OPEN, PAID, OVERDUE, UNCOLLECTIBLE, VOID (got "open")
            entity: must not be empty
            currency: ISO 4217
            issue_date: YYYY-MM-DD
            due_date: is not a calendar date
            finalized_at: RFC 3339
            customer.name: is required
            customer.email: must be a string (got a boolean)
            customer.address.line1: is required
            lines[0].type: must be one of CHARGE, USAGE_FEE, SETUP_FEE, DISCOUNT, TAX_ADJUSTMENT, CREDIT, PRORATION (got "FEE")
            lines[0].quantity: (got "1,000")
            tax_total: must be a decimal amount such as "12.00" (got "abc")
            metadata: must be an object (got an array)
            "#,
        );

        let e = InvoiceError::Invalid(errors).to_string();
        assert!(
            e.starts_with("the invoice has 15 problems: id: must not be empty; number: "),
            "{e}"
        );
    }

    #[test]
    fn wrong_shapes() {
        let mut v = example();
        set(&mut v, "/customer", json!("cus_42"));
        set(&mut v, "/lines", json!({"id": "li_1"}));
        let errors = problems(&v);
        assert_problem(&errors, "customer", "must be an object (got a string)");
        assert_problem(&errors, "lines", "must be an array (got an object)");
        assert_eq!(errors.len(), 2, "{errors:#?}");

        let mut v = example();
        set(&mut v, "/lines", json!([]));
        assert_problem(&problems(&v), "lines", "must contain at least one line");

        let mut v = example();
        set(&mut v, "/lines", json!([5, null]));
        let errors = problems(&v);
        assert_eq!(fields(&errors), ["lines[0]", "lines[1]"]);
        assert_problem(&errors, "lines[1]", "must be an object (got null)");

        let mut v = example();
        set(&mut v, "/customer/address", json!([]));
        assert_problem(
            &problems(&v),
            "customer.address",
            "must be an object (got an array)",
        );
    }

    #[test]
    fn nulls_count_as_absent() {
        let mut v = example();
        for pointer in [
            "/entity",
            "/due_date",
            "/metadata",
            "/customer/email",
            "/lines/0/quantity",
            "/lines/0/description",
        ] {
            set(&mut v, pointer, Value::Null);
        }
        let invoice = ok(&v);
        assert_eq!(invoice.entity, None);
        assert_eq!(invoice.due_date, None);
        assert!(invoice.metadata.is_empty());
        assert_eq!(invoice.lines[0].description, "");
        let json = invoice.canonical_json();
        assert_eq!(json["metadata"], json!({}));
        assert!(json.get("entity").is_none());

        let mut v = example();
        set(&mut v, "/id", Value::Null);
        assert_eq!(
            problems(&v),
            [FieldError {
                field: "id".into(),
                message: "is required".into()
            }]
        );
    }

    #[test]
    fn empty_and_long_strings() {
        let mut v = example();
        set(&mut v, "/lines/0/description", json!(""));
        assert_eq!(ok(&v).lines[0].description, "");

        let mut v = example();
        set(&mut v, "/customer/address/line2", json!(""));
        set(&mut v, "/customer/name", json!("n".repeat(1025)));
        set(&mut v, "/lines/0/description", json!("é".repeat(1024)));
        set(&mut v, "/lines/0/tax_code", json!(" "));
        let errors = problems(&v);
        assert_problem(&errors, "customer.address.line2", "must not be empty");
        assert_problem(
            &errors,
            "customer.name",
            "must be at most 1024 characters long (got 1025)",
        );
        assert_eq!(errors.len(), 2, "{errors:#?}"); // 1024 é is fine, " " is not empty
    }

    #[test]
    fn dates_and_timestamps() {
        let mut v = example();
        set(
            &mut v,
            "/finalized_at",
            json!("2026-11-01T12:30:00.25+02:00"),
        );
        let invoice = ok(&v);
        assert_eq!(
            invoice.canonical_json()["finalized_at"],
            json!("2026-11-01T10:30:00.250Z")
        );

        for bad in [
            "2026-1-05",
            "+2026-01-05",
            "26-01-05",
            "2026-01-05T00:00:00Z",
            "",
        ] {
            let mut v = example();
            set(&mut v, "/issue_date", json!(bad));
            let errors = problems(&v);
            assert_eq!(fields(&errors), ["issue_date"], "{bad:?}: {errors:#?}");
        }

        let mut v = example();
        set(&mut v, "/due_date", json!("2026-10-31"));
        let errors = problems(&v);
        assert_eq!(
            errors,
            [FieldError {
                field: "due_date".into(),
                message: "must not be before issue_date (2026-11-01) (got \"2026-10-31\")".into()
            }]
        );
        set(&mut v, "/due_date", json!("2026-11-01"));
        ok(&v);

        let mut v = example();
        set(&mut v, "/finalized_at", json!("2026-11-01 10:00"));
        assert_problem(
            &problems(&v),
            "finalized_at",
            "must be an RFC 3339 timestamp",
        );
    }

    #[test]
    fn currency_codes() {
        let mut v = example();
        set(&mut v, "/currency", json!("usd"));
        assert_eq!(ok(&v).currency, "USD");

        for bad in ["US", "DOLLAR", "ZZZ", ""] {
            let mut v = example();
            set(&mut v, "/currency", json!(bad));
            let errors = problems(&v);
            assert_eq!(fields(&errors), ["currency"], "{bad:?}: {errors:#?}");
        }
        let mut v = example();
        set(&mut v, "/currency", json!("XXX"));
        assert_problem(&problems(&v), "currency", "XXX has no minor unit");
    }

    #[test]
    fn lines_must_sum_to_subtotal_and_totals_must_add_up() {
        let v = with_lines(
            "USD",
            &[("CHARGE", "5.00"), ("CHARGE", "6.00")],
            "12.00",
            "0",
            "12.00",
        );
        let errors = problems(&v);
        assert_eq!(
            errors,
            [FieldError {
                field: "subtotal".into(),
                message: "lines sum to 11.00 but subtotal is 12.00".into()
            }]
        );

        let v = with_lines("USD", &[("CHARGE", "12.00")], "12.00", "1.00", "12.00");
        assert_eq!(
            problems(&v),
            [FieldError {
                field: "total".into(),
                message: "subtotal + tax_total is 13.00 but total is 12.00".into()
            }]
        );

        // Equal by value is equal, whatever the scale.
        ok(&with_lines(
            "USD",
            &[("CHARGE", "12")],
            "12.0",
            "0.00",
            "12.000",
        ));

        // A bad line amount is reported once, not again as a wrong sum.
        let v = with_lines("USD", &[("CHARGE", "twelve")], "12.00", "0", "12.00");
        assert_eq!(fields(&problems(&v)), ["lines[0].amount"]);
        let mut v = with_lines("USD", &[("CHARGE", "12.00")], "12.00", "0", "12.00");
        remove(&mut v, "/lines/0/amount");
        assert_eq!(fields(&problems(&v)), ["lines[0].amount"]);
    }

    #[test]
    fn negative_discount_lines_sum_correctly() {
        let v = with_lines(
            "USD",
            &[
                ("CHARGE", "100.00"),
                ("USAGE_FEE", "12.50"),
                ("DISCOUNT", "-10.00"),
                ("CREDIT", "-2.5"),
            ],
            "100.00",
            "0.00",
            "100.00",
        );
        let invoice = ok(&v);
        assert_eq!(invoice.lines[2].line_type, LineType::Discount);
        assert_eq!(invoice.lines[2].amount.to_string(), "-10.00");
        assert_eq!(
            invoice.canonical_json()["lines"][3]["amount"],
            json!("-2.5")
        );

        let v = with_lines(
            "USD",
            &[("CHARGE", "100.00"), ("DISCOUNT", "10.00")],
            "90.00",
            "0",
            "90.00",
        );
        assert_problem(
            &problems(&v),
            "subtotal",
            "lines sum to 110.00 but subtotal is 90.00",
        );
    }

    #[test]
    fn line_tax_amounts_sum_to_tax_total() {
        let mut v = with_lines(
            "USD",
            &[("CHARGE", "10.00"), ("CHARGE", "5.00")],
            "15.00",
            "1.50",
            "16.50",
        );
        ok(&v); // no line has a tax_amount: nothing to compare
        set(&mut v, "/lines/0/tax_amount", json!("1.00"));
        assert_eq!(
            problems(&v),
            [FieldError {
                field: "tax_total".into(),
                message: "lines' tax_amount sum to 1.00 but tax_total is 1.50".into()
            }]
        );
        set(&mut v, "/lines/1/tax_amount", json!("0.50"));
        ok(&v);
        set(&mut v, "/lines/1/tax_amount", json!("x"));
        assert_eq!(fields(&problems(&v)), ["lines[1].tax_amount"]);
    }

    #[test]
    fn currency_precision_applies_to_totals_only() {
        // USD has 2 decimal places.
        let v = with_lines("USD", &[("USAGE_FEE", "12.001")], "12.001", "0", "12.001");
        let errors = problems(&v);
        assert_eq!(fields(&errors), ["subtotal", "total"]);
        assert_problem(
            &errors,
            "subtotal",
            "must have at most 2 decimal places in USD (got \"12.001\")",
        );
        // Trailing zeros don't count; fractional line amounts are fine.
        ok(&with_lines(
            "USD",
            &[("USAGE_FEE", "11.995"), ("CHARGE", "0.005")],
            "12.0000",
            "0",
            "12.00",
        ));

        // JPY has none.
        ok(&with_lines(
            "JPY",
            &[("CHARGE", "1200")],
            "1200.00",
            "0",
            "1200",
        ));
        let v = with_lines("jpy", &[("CHARGE", "12.5")], "12.5", "0", "12.5");
        let errors = problems(&v);
        assert_eq!(fields(&errors), ["subtotal", "total"]);
        assert_problem(
            &errors,
            "total",
            "must have no decimal places in JPY (got \"12.5\")",
        );

        // BHD has three.
        ok(&with_lines(
            "BHD",
            &[("CHARGE", "1.234")],
            "1.234",
            "0",
            "1.234",
        ));
    }

    #[test]
    fn duplicate_line_ids() {
        let mut v = with_lines(
            "USD",
            &[("CHARGE", "1.00"), ("CHARGE", "2.00"), ("CHARGE", "3.00")],
            "6.00",
            "0",
            "6.00",
        );
        set(&mut v, "/lines/2/id", json!("li_0"));
        assert_eq!(
            problems(&v),
            [FieldError {
                field: "lines[2].id".into(),
                message: "duplicates the id of lines[0] (got \"li_0\")".into()
            }]
        );
    }

    #[test]
    fn void_invoices_parse() {
        let mut v = example();
        set(&mut v, "/status", json!("VOID"));
        assert!(ok(&v).is_void());
    }

    #[test]
    fn field_errors_serialize_for_the_api() {
        let e = FieldError {
            field: "lines[0].amount".into(),
            message: "is required".into(),
        };
        assert_eq!(
            serde_json::to_value(&e).expect("serializes"),
            json!({"field": "lines[0].amount", "message": "is required"})
        );
        assert_eq!(e.to_string(), "lines[0].amount: is required");
        let one = InvoiceError::Invalid(vec![e]).to_string();
        assert_eq!(
            one,
            "the invoice has 1 problem: lines[0].amount: is required"
        );
    }
}
