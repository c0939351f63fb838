//! Turning an ingest body into an [`Invoice`], or into the complete list of what is wrong.
//!
//! The body is parsed into a `serde_json::Value` first and then walked field by field, so a
//! bad invoice is answered with **every** problem at once (each with a path such as
//! `customer.name`, `lines[2].amount` or `total`), never just the first one.
//!
//! The rules:
//!
//! - The body must be a JSON object, else [`InvoiceError::Malformed`] with the position.
//! - `"status": "DRAFT"` gives [`InvoiceError::Draft`] and nothing else, whatever else is
//!   wrong: the fix is to finalize the invoice, which may change the rest anyway.
//! - Required: `id`, `number`, `status`, `currency`, `issue_date`, `finalized_at`,
//!   `customer` (an object with `id` and `name`), `lines`, `subtotal`, `tax_total`, `total`;
//!   and on each line `id`, `type` and `amount`; and `line1` on an address.
//! - Optional: `entity`, `due_date`, `metadata` (an object), `customer.email`,
//!   `customer.address` (and its `line2`, `city`, `region`, `postal_code`, `country`), and on
//!   lines `description`, `product_id`, `quantity`, `unit_price`, `tax_amount`, `tax_code`.
//!   An optional field set to `null` counts as absent. Unknown extra fields are ignored.
//! - Strings are taken as given (nothing is trimmed) but must not be empty (except a line's
//!   `description`, which defaults to `""`), may be at most [`MAX_STRING_CHARS`]
//!   characters (Unicode scalar values) long, and must not contain U+0000.
//! - `status` is one of `OPEN`, `PAID`, `OVERDUE`, `UNCOLLECTIBLE`, `VOID`; a line's `type`
//!   one of `CHARGE`, `USAGE_FEE`, `SETUP_FEE`, `DISCOUNT`, `TAX_ADJUSTMENT`, `CREDIT`,
//!   `PRORATION`. Both are case-sensitive.
//! - `currency` is an ISO 4217 code with a minor unit (so not `XXX` or `XAU`); lower case is
//!   accepted and stored upper case.
//! - Dates are `YYYY-MM-DD` and real calendar dates; `due_date` is not before `issue_date`;
//!   `finalized_at` is RFC 3339 with any offset and is stored in UTC.
//! - Amounts follow [`super::money::parse_amount`]. `subtotal`, `tax_total` and `total` may
//!   not have more decimal places than the currency has (trailing zeros don't count, so JPY
//!   `"12.00"` is fine and USD `"12.001"` is not); line amounts, quantities and prices may
//!   (usage is often priced in fractions of a cent).
//! - `lines` is a non-empty array with unique line ids. The lines' amounts add up to
//!   `subtotal`; `subtotal + tax_total = total`; and when any line has a `tax_amount`, the
//!   lines' tax amounts (absent counting as zero) add up to `tax_total`. Amounts are compared
//!   by value (`12.0` equals `12.00`). Each of these checks runs only when all its inputs
//!   parsed, so one bad amount is reported once, not again as a wrong sum.
//!
//! The sign of amounts is not checked: discounts and credits are usually negative lines.

use super::invoice::{Address, Customer, Invoice, InvoiceStatus, Line, LineType};
use super::money::parse_amount;
use chrono::{DateTime, NaiveDate, Utc};
use iso_currency::Currency;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;

/// The longest string (in characters) any invoice field may hold.
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
    #[error("{}", describe_problems(.0))]
    Invalid(Vec<FieldError>),
}

/// One problem with one field of an invoice.
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

fn describe_problems(errors: &[FieldError]) -> String {
    let list = errors
        .iter()
        .map(FieldError::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    match errors.len() {
        1 => format!("the invoice has 1 problem: {list}"),
        n => format!("the invoice has {n} problems: {list}"),
    }
}

/// Parses and checks an ingest body (the CONTRACT invoice JSON).
///
/// Exists as the only way into the domain: whatever it returns `Ok` for satisfies every
/// rule in the module documentation, and an `Err(Invalid)` lists all problems at once.
pub fn parse_invoice(body: &[u8]) -> Result<Invoice, InvoiceError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| malformed(&e))?;
    let Value::Object(obj) = value else {
        let (line, column) = first_token_position(body);
        return Err(InvoiceError::Malformed {
            message: format!("expected an object, got {}", kind(&value)),
            line,
            column,
        });
    };
    if obj.get("status").and_then(Value::as_str) == Some("DRAFT") {
        return Err(InvoiceError::Draft);
    }
    let mut checker = Checker::default();
    let invoice = checker.invoice(&obj);
    match invoice {
        Some(invoice) if checker.errors.is_empty() => Ok(invoice),
        _ => Err(checker.into_error()),
    }
}

fn malformed(e: &serde_json::Error) -> InvoiceError {
    // serde_json appends " at line L column C" to its messages; we report those separately.
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    InvoiceError::Malformed {
        message,
        line: e.line(),
        column: e.column(),
    }
}

/// 1-based line and column of the first non-whitespace byte (where the value starts).
fn first_token_position(body: &[u8]) -> (usize, usize) {
    let (mut line, mut column) = (1, 1);
    for &b in body {
        match b {
            b'\n' => {
                line += 1;
                column = 1;
            }
            b' ' | b'\t' | b'\r' => column += 1,
            _ => break,
        }
    }
    (line, column)
}

/// How a JSON value is named in messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A field's path (`prefix.key`, or just `key` at the top level), written out only when
/// a problem is recorded: formatting every field's path up front was a visible share of
/// validating a valid invoice.
#[derive(Clone, Copy)]
struct Field<'a> {
    prefix: &'a str,
    key: &'a str,
}

impl<'a> Field<'a> {
    fn new(prefix: &'a str, key: &'a str) -> Self {
        Field { prefix, key }
    }
}

impl<'a> From<&'a str> for Field<'a> {
    fn from(key: &'a str) -> Self {
        Field { prefix: "", key }
    }
}

impl fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            f.write_str(self.key)
        } else {
            write!(f, "{}.{}", self.prefix, self.key)
        }
    }
}

fn one_of<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str) -> String {
    all.iter().map(|&x| name(x)).collect::<Vec<_>>().join(", ")
}

/// The amounts of one line that take part in the invoice's sums.
///
/// `amount` is `None` when it did not parse; `tax` follows the optional-reader convention
/// (`None`: did not parse, `Some(None)`: absent).
struct LineSums {
    amount: Option<Decimal>,
    tax: Option<Option<Decimal>>,
}

/// Walks an invoice, collecting every problem.
///
/// Convention for all readers: they return `None` only after recording an error for that
/// field. Readers of optional fields return `Some(None)` when the field is absent or `null`.
#[derive(Default)]
struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn push(&mut self, field: impl fmt::Display, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_string(),
            message: message.into(),
        });
    }

    fn into_error(mut self) -> InvoiceError {
        if self.errors.is_empty() {
            // Unreachable by the readers' convention; never answer "invalid" with no reason.
            debug_assert!(false, "an invoice was refused without a recorded problem");
            self.push("", "is not a valid invoice");
        }
        InvoiceError::Invalid(self.errors)
    }

    // ---- the invoice, top down ----

    fn invoice(&mut self, obj: &Map<String, Value>) -> Option<Invoice> {
        let id = self.required_string(obj, "", "id");
        let number = self.required_string(obj, "", "number");
        let status = self.status(obj);
        let entity = self.optional_string(obj, "", "entity");
        let currency = self.currency(obj);
        let issue_date = self
            .required(obj, "", "issue_date")
            .and_then(|v| self.date(v, "issue_date".into()));
        let due_date = self.optional_date(obj, "due_date");
        if let (Some(issue), Some(Some(due))) = (issue_date, due_date)
            && due < issue
        {
            self.push(
                "due_date",
                format!("must not be before issue_date ({issue}) (got \"{due}\")"),
            );
        }
        let finalized_at = self.finalized_at(obj);
        let customer = self.customer(obj);
        let (lines, sums) = self.lines(obj);
        let subtotal = self.required_amount(obj, "", "subtotal");
        let tax_total = self.required_amount(obj, "", "tax_total");
        let total = self.required_amount(obj, "", "total");
        let metadata = self.metadata(obj);

        if let Some((code, exponent)) = &currency {
            for (field, amount) in [
                ("subtotal", subtotal),
                ("tax_total", tax_total),
                ("total", total),
            ] {
                if let Some(amount) = amount {
                    self.currency_precision(field, amount, code, *exponent);
                }
            }
        }
        if let Some(sums) = &sums {
            self.line_sums(sums, subtotal, tax_total);
        }
        if let (Some(subtotal), Some(tax_total), Some(total)) = (subtotal, tax_total, total) {
            match subtotal.checked_add(tax_total) {
                Some(sum) if sum == total => {}
                Some(sum) => self.push(
                    "total",
                    format!("subtotal + tax_total is {sum} but total is {total}"),
                ),
                None => self.push("total", "subtotal + tax_total is too large to be an amount"),
            }
        }

        Some(Invoice {
            id: id?,
            number: number?,
            status: status?,
            entity: entity?,
            currency: currency?.0,
            issue_date: issue_date?,
            due_date: due_date?,
            finalized_at: finalized_at?,
            customer: customer?,
            lines: lines?,
            subtotal: subtotal?,
            tax_total: tax_total?,
            total: total?,
            metadata: metadata?,
        })
    }

    fn status(&mut self, obj: &Map<String, Value>) -> Option<InvoiceStatus> {
        let code = self.required_string(obj, "", "status")?;
        let status = InvoiceStatus::from_code(&code);
        if status.is_none() {
            let allowed = one_of(&InvoiceStatus::ALL, InvoiceStatus::as_str);
            self.push("status", format!("must be one of {allowed} (got {code:?})"));
        }
        status
    }

    /// The upper-cased code and its number of decimal places.
    fn currency(&mut self, obj: &Map<String, Value>) -> Option<(String, u16)> {
        let given = self.required_string(obj, "", "currency")?;
        let code = given.to_ascii_uppercase();
        let Some(currency) = Currency::from_code(&code) else {
            self.push(
                "currency",
                format!("must be an ISO 4217 currency code such as \"USD\" (got {given:?})"),
            );
            return None;
        };
        let Some(exponent) = currency.exponent() else {
            self.push(
                "currency",
                format!("{code} has no minor unit, so invoices cannot be issued in it"),
            );
            return None;
        };
        Some((code, exponent))
    }

    fn currency_precision(&mut self, field: &str, amount: Decimal, code: &str, exponent: u16) {
        if amount.normalize().scale() > u32::from(exponent) {
            let places = match exponent {
                0 => "no decimal places".to_owned(),
                1 => "at most 1 decimal place".to_owned(),
                n => format!("at most {n} decimal places"),
            };
            self.push(
                field,
                format!("must have {places} in {code} (got \"{amount}\")"),
            );
        }
    }

    fn finalized_at(&mut self, obj: &Map<String, Value>) -> Option<DateTime<Utc>> {
        let text = self
            .required(obj, "", "finalized_at")
            .and_then(|v| self.string(v, "finalized_at".into()))?;
        match DateTime::parse_from_rfc3339(&text) {
            Ok(at) => Some(at.with_timezone(&Utc)),
            Err(_) => {
                self.push(
                    "finalized_at",
                    format!(
                        "must be an RFC 3339 timestamp such as \"2026-11-01T10:00:00Z\" (got {text:?})"
                    ),
                );
                None
            }
        }
    }

    fn customer(&mut self, obj: &Map<String, Value>) -> Option<Customer> {
        let customer = self.required(obj, "", "customer")?;
        let obj = self.object(customer, "customer".into())?;
        let id = self.required_string(obj, "customer", "id");
        let name = self.required_string(obj, "customer", "name");
        let email = self.optional_string(obj, "customer", "email");
        let address = match optional(obj, "address") {
            None => Some(None),
            Some(v) => self.address(v).map(Some),
        };
        Some(Customer {
            id: id?,
            name: name?,
            email: email?,
            address: address?,
        })
    }

    fn address(&mut self, v: &Value) -> Option<Address> {
        const AT: &str = "customer.address";
        let obj = self.object(v, AT.into())?;
        let line1 = self.required_string(obj, AT, "line1");
        let line2 = self.optional_string(obj, AT, "line2");
        let city = self.optional_string(obj, AT, "city");
        let region = self.optional_string(obj, AT, "region");
        let postal_code = self.optional_string(obj, AT, "postal_code");
        let country = self.optional_string(obj, AT, "country");
        Some(Address {
            line1: line1?,
            line2: line2?,
            city: city?,
            region: region?,
            postal_code: postal_code?,
            country: country?,
        })
    }

    /// The lines, and the amounts for the sum checks when `lines` is a non-empty array.
    fn lines(&mut self, obj: &Map<String, Value>) -> (Option<Vec<Line>>, Option<Vec<LineSums>>) {
        let Some(value) = self.required(obj, "", "lines") else {
            return (None, None);
        };
        let Value::Array(items) = value else {
            self.push("lines", format!("must be an array (got {})", kind(value)));
            return (None, None);
        };
        if items.is_empty() {
            self.push("lines", "must contain at least one line");
            return (None, None);
        }
        let mut first_with_id: HashMap<String, usize> = HashMap::new();
        let mut lines = Vec::with_capacity(items.len());
        let mut sums = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            lines.push(self.line(i, item, &mut first_with_id, &mut sums));
        }
        (lines.into_iter().collect(), Some(sums))
    }

    /// One line; its amounts are recorded in `sums` whatever else is wrong with it.
    fn line(
        &mut self,
        i: usize,
        v: &Value,
        first_with_id: &mut HashMap<String, usize>,
        sums: &mut Vec<LineSums>,
    ) -> Option<Line> {
        let at = format!("lines[{i}]");
        let Some(obj) = self.object(v, at.as_str().into()) else {
            sums.push(LineSums {
                amount: None,
                tax: None,
            });
            return None;
        };
        let id = self.required_string(obj, &at, "id");
        if let Some(id) = &id {
            if let Some(first) = first_with_id.get(id) {
                self.push(
                    Field::new(&at, "id"),
                    format!("duplicates the id of lines[{first}] (got {id:?})"),
                );
            } else {
                first_with_id.insert(id.clone(), i);
            }
        }
        let line_type = self.line_type(obj, &at);
        let description = match optional(obj, "description") {
            None => Some(String::new()),
            Some(v) => self.string_maybe_empty(v, Field::new(&at, "description")),
        };
        let product_id = self.optional_string(obj, &at, "product_id");
        let quantity = self.optional_amount(obj, &at, "quantity");
        let unit_price = self.optional_amount(obj, &at, "unit_price");
        let amount = self.required_amount(obj, &at, "amount");
        let tax_amount = self.optional_amount(obj, &at, "tax_amount");
        let tax_code = self.optional_string(obj, &at, "tax_code");
        sums.push(LineSums {
            amount,
            tax: tax_amount,
        });

        Some(Line {
            id: id?,
            line_type: line_type?,
            description: description?,
            product_id: product_id?,
            quantity: quantity?,
            unit_price: unit_price?,
            amount: amount?,
            tax_amount: tax_amount?,
            tax_code: tax_code?,
        })
    }

    fn line_type(&mut self, obj: &Map<String, Value>, at: &str) -> Option<LineType> {
        let code = self.required_string(obj, at, "type")?;
        let line_type = LineType::from_code(&code);
        if line_type.is_none() {
            let allowed = one_of(&LineType::ALL, LineType::as_str);
            self.push(
                Field::new(at, "type"),
                format!("must be one of {allowed} (got {code:?})"),
            );
        }
        line_type
    }

    /// Lines add up to the subtotal, and their tax amounts (if any) to the tax total.
    fn line_sums(
        &mut self,
        sums: &[LineSums],
        subtotal: Option<Decimal>,
        tax_total: Option<Decimal>,
    ) {
        let amounts: Option<Vec<Decimal>> = sums.iter().map(|s| s.amount).collect();
        if let (Some(amounts), Some(subtotal)) = (amounts, subtotal) {
            match checked_sum(amounts) {
                Some(sum) if sum == subtotal => {}
                Some(sum) => self.push(
                    "subtotal",
                    format!("lines sum to {sum} but subtotal is {subtotal}"),
                ),
                None => self.push("lines", "amounts add up to more than an amount can hold"),
            }
        }

        let taxes: Option<Vec<Option<Decimal>>> = sums.iter().map(|s| s.tax).collect();
        if let (Some(taxes), Some(tax_total)) = (taxes, tax_total)
            && taxes.iter().any(Option::is_some)
        {
            match checked_sum(taxes.into_iter().flatten()) {
                Some(sum) if sum == tax_total => {}
                Some(sum) => self.push(
                    "tax_total",
                    format!("lines' tax_amount sum to {sum} but tax_total is {tax_total}"),
                ),
                None => self.push(
                    "lines",
                    "tax amounts add up to more than an amount can hold",
                ),
            }
        }
    }

    fn metadata(&mut self, obj: &Map<String, Value>) -> Option<Map<String, Value>> {
        match optional(obj, "metadata") {
            None => Some(Map::new()),
            Some(v) => self.object(v, "metadata".into()).cloned(),
        }
    }

    // ---- readers for single fields ----

    /// The field's value; records "is required" when it is absent or `null`.
    fn required<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        at: &str,
        key: &str,
    ) -> Option<&'v Value> {
        let value = optional(obj, key);
        if value.is_none() {
            self.push(Field::new(at, key), "is required");
        }
        value
    }

    fn object<'v>(&mut self, v: &'v Value, field: Field<'_>) -> Option<&'v Map<String, Value>> {
        let obj = v.as_object();
        if obj.is_none() {
            self.push(field, format!("must be an object (got {})", kind(v)));
        }
        obj
    }

    /// A non-empty string of at most [`MAX_STRING_CHARS`] characters.
    fn string(&mut self, v: &Value, field: Field<'_>) -> Option<String> {
        let s = self.string_maybe_empty(v, field)?;
        if s.is_empty() {
            self.push(field, "must not be empty");
            return None;
        }
        Some(s)
    }

    fn string_maybe_empty(&mut self, v: &Value, field: Field<'_>) -> Option<String> {
        let Value::String(s) = v else {
            self.push(field, format!("must be a string (got {})", kind(v)));
            return None;
        };
        if s.contains('\0') {
            // No database text column can hold it, and it has no business in an invoice.
            self.push(field, "must not contain the NUL character (U+0000)");
            return None;
        }
        // No more bytes than the limit means no more characters either: count only then.
        if s.len() > MAX_STRING_CHARS {
            let chars = s.chars().count();
            if chars > MAX_STRING_CHARS {
                self.push(
                    field,
                    format!("must be at most {MAX_STRING_CHARS} characters long (got {chars})"),
                );
                return None;
            }
        }
        Some(s.clone())
    }

    fn required_string(&mut self, obj: &Map<String, Value>, at: &str, key: &str) -> Option<String> {
        let v = self.required(obj, at, key)?;
        self.string(v, Field::new(at, key))
    }

    fn optional_string(
        &mut self,
        obj: &Map<String, Value>,
        at: &str,
        key: &str,
    ) -> Option<Option<String>> {
        let Some(v) = optional(obj, key) else {
            return Some(None);
        };
        let field = Field::new(at, key);
        if v.as_str() == Some("") {
            self.push(
                field,
                "must not be empty (leave it out, or use null, when there is none)",
            );
            return None;
        }
        self.string(v, field).map(Some)
    }

    fn amount(&mut self, v: &Value, field: Field<'_>) -> Option<Decimal> {
        parse_amount(v)
            .map_err(|message| self.push(field, message))
            .ok()
    }

    fn required_amount(
        &mut self,
        obj: &Map<String, Value>,
        at: &str,
        key: &str,
    ) -> Option<Decimal> {
        let v = self.required(obj, at, key)?;
        self.amount(v, Field::new(at, key))
    }

    fn optional_amount(
        &mut self,
        obj: &Map<String, Value>,
        at: &str,
        key: &str,
    ) -> Option<Option<Decimal>> {
        match optional(obj, key) {
            None => Some(None),
            Some(v) => self.amount(v, Field::new(at, key)).map(Some),
        }
    }

    /// A `YYYY-MM-DD` calendar date (exactly that form: no signs, no missing zeros).
    fn date(&mut self, v: &Value, field: Field<'_>) -> Option<NaiveDate> {
        let text = self.string(v, field)?;
        let shaped = text.len() == 10
            && text.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
        if !shaped {
            self.push(
                field,
                format!("must be a date in YYYY-MM-DD form (got {text:?})"),
            );
            return None;
        }
        match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            Ok(date) => Some(date),
            Err(_) => {
                self.push(field, format!("is not a calendar date (got {text:?})"));
                None
            }
        }
    }

    fn optional_date(&mut self, obj: &Map<String, Value>, key: &str) -> Option<Option<NaiveDate>> {
        match optional(obj, key) {
            None => Some(None),
            Some(v) => self.date(v, key.into()).map(Some),
        }
    }
}

/// The field's value, treating `null` like an absent field.
fn optional<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// The sum, or `None` when it does not fit in a `Decimal`.
fn checked_sum(amounts: impl IntoIterator<Item = Decimal>) -> Option<Decimal> {
    amounts
        .into_iter()
        .try_fold(Decimal::ZERO, |sum, amount| sum.checked_add(amount))
}

#[cfg(test)]
mod tests {
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

    fn example() -> Value {
        serde_json::from_str(CONTRACT_EXAMPLE).expect("the example is JSON")
    }

    fn parse(v: &Value) -> Result<Invoice, InvoiceError> {
        parse_invoice(&serde_json::to_vec(v).expect("test JSON serializes"))
    }

    fn ok(v: &Value) -> Invoice {
        match parse(v) {
            Ok(invoice) => invoice,
            Err(e) => panic!("should parse, got: {e}"),
        }
    }

    fn problems(v: &Value) -> Vec<FieldError> {
        match parse(v) {
            Err(InvoiceError::Invalid(errors)) => errors,
            other => panic!("should be Invalid, got: {other:?}"),
        }
    }

    /// Asserts that `field` has a problem whose message contains `text`.
    fn assert_problem(errors: &[FieldError], field: &str, text: &str) {
        assert!(
            errors
                .iter()
                .any(|e| e.field == field && e.message.contains(text)),
            "expected {field}: …{text}… among {errors:#?}"
        );
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    /// Sets the value at a `/`-separated JSON pointer, adding the last key if needed.
    fn set(v: &mut Value, pointer: &str, new: Value) {
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer with a parent");
        match v
            .pointer_mut(parent)
            .expect("parent exists in the test invoice")
        {
            Value::Object(obj) => {
                obj.insert(key.to_owned(), new);
            }
            Value::Array(items) => {
                items[key.parse::<usize>().expect("an array index")] = new;
            }
            other => panic!("cannot set {key} in {other}"),
        }
    }

    fn remove(v: &mut Value, pointer: &str) {
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer with a parent");
        v.pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .and_then(|o| o.remove(key))
            .expect("field exists in the test invoice");
    }

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
        match parse_invoice(b"{\n  \"id\": \"inv_1\",\n  oops\n}") {
            Err(InvoiceError::Malformed {
                message,
                line,
                column,
            }) => {
                assert_eq!((line, column), (3, 3));
                assert!(!message.contains("at line"), "{message}");
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
        match parse_invoice(b"  [1, 2]") {
            Err(InvoiceError::Malformed {
                message,
                line,
                column,
            }) => {
                assert_eq!(message, "expected an object, got an array");
                assert_eq!((line, column), (1, 3));
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
        assert!(matches!(
            parse_invoice(b""),
            Err(InvoiceError::Malformed { .. })
        ));
        assert!(matches!(
            parse_invoice(b"\"OPEN\""),
            Err(InvoiceError::Malformed { .. })
        ));
        assert!(matches!(
            parse_invoice(b"{} trailing"),
            Err(InvoiceError::Malformed { .. })
        ));
        assert!(matches!(
            parse_invoice(&[b'"', 0xff, b'"']),
            Err(InvoiceError::Malformed { .. })
        ));
        let e = parse_invoice(b"nope").expect_err("not JSON");
        assert!(
            e.to_string().starts_with("the body is not a JSON object: "),
            "{e}"
        );
    }

    #[test]
    fn drafts_are_refused_whatever_else_is_wrong() {
        let mut v = example();
        set(&mut v, "/status", json!("DRAFT"));
        assert_eq!(parse(&v), Err(InvoiceError::Draft));
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
        let errors = match parse_invoice(b"{}") {
            Err(InvoiceError::Invalid(errors)) => errors,
            other => panic!("expected Invalid, got {other:?}"),
        };
        assert_eq!(
            fields(&errors),
            [
                "id",
                "number",
                "status",
                "currency",
                "issue_date",
                "finalized_at",
                "customer",
                "lines",
                "subtotal",
                "tax_total",
                "total"
            ]
        );
        assert!(errors.iter().all(|e| e.message == "is required"));

        let mut v = example();
        set(&mut v, "/id", json!(""));
        set(&mut v, "/number", json!(42));
        set(&mut v, "/status", json!("open"));
        set(&mut v, "/entity", json!(""));
        set(&mut v, "/currency", json!("XYZ"));
        set(&mut v, "/issue_date", json!("2026/11/01"));
        set(&mut v, "/due_date", json!("2026-02-30"));
        set(&mut v, "/finalized_at", json!("yesterday"));
        remove(&mut v, "/customer/name");
        set(&mut v, "/customer/email", json!(true));
        remove(&mut v, "/customer/address/line1");
        set(&mut v, "/lines/0/type", json!("FEE"));
        set(&mut v, "/lines/0/quantity", json!("1,000"));
        set(&mut v, "/tax_total", json!("abc"));
        set(&mut v, "/metadata", json!(["po"]));
        let errors = problems(&v);
        assert_problem(&errors, "id", "must not be empty");
        assert_problem(&errors, "number", "must be a string (got a number)");
        assert_problem(
            &errors,
            "status",
            "must be one of OPEN, PAID, OVERDUE, UNCOLLECTIBLE, VOID (got \"open\")",
        );
        assert_problem(&errors, "entity", "must not be empty");
        assert_problem(&errors, "currency", "ISO 4217");
        assert_problem(&errors, "issue_date", "YYYY-MM-DD");
        assert_problem(&errors, "due_date", "is not a calendar date");
        assert_problem(&errors, "finalized_at", "RFC 3339");
        assert_problem(&errors, "customer.name", "is required");
        assert_problem(
            &errors,
            "customer.email",
            "must be a string (got a boolean)",
        );
        assert_problem(&errors, "customer.address.line1", "is required");
        assert_problem(
            &errors,
            "lines[0].type",
            "must be one of CHARGE, USAGE_FEE, SETUP_FEE, DISCOUNT, TAX_ADJUSTMENT, CREDIT, PRORATION (got \"FEE\")",
        );
        assert_problem(&errors, "lines[0].quantity", "(got \"1,000\")");
        assert_problem(
            &errors,
            "tax_total",
            "must be a decimal amount such as \"12.00\" (got \"abc\")",
        );
        assert_problem(&errors, "metadata", "must be an object (got an array)");
        // tax_total did not parse, so no sum that needs it is checked (and blamed).
        assert_eq!(errors.len(), 15, "{errors:#?}");

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
