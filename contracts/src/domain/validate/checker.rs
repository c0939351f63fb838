//! The field readers every document's validation is built from.
//!
//! A [`Checker`] walks a parsed JSON object and records a [`FieldError`] for each problem
//! it meets instead of stopping at the first, so a bad body is answered with every problem
//! at once. The rules these readers apply (strings, amounts, dates, timestamps, codes) are
//! the same for every document; `mod.rs` documents them.
//!
//! Convention for all readers: they return `None` only after recording an error for that
//! field. Readers of optional fields return `Some(None)` when the field is absent or `null`.

use super::{FieldError, MAX_STRING_CHARS};
use crate::domain::money::parse_amount;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;

/// Where and why a body is not a JSON object. `line` and `column` are 1-based (`column`
/// is 0 when the body is empty).
pub(super) struct Malformed {
    pub(super) message: String,
    pub(super) line: usize,
    pub(super) column: usize,
}

/// The body as a JSON object, or where it stops being one.
pub(super) fn json_object(body: &[u8]) -> Result<Map<String, Value>, Malformed> {
    let value: Value = serde_json::from_slice(body).map_err(|e| malformed(&e))?;
    match value {
        Value::Object(obj) => Ok(obj),
        other => {
            let (line, column) = first_token_position(body);
            Err(Malformed {
                message: format!("expected an object, got {}", kind(&other)),
                line,
                column,
            })
        }
    }
}

fn malformed(e: &serde_json::Error) -> Malformed {
    // serde_json appends " at line L column C" to its messages; we report those separately.
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    Malformed {
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

/// How a JSON value is named in messages, e.g. `an array`.
pub(crate) fn kind(v: &Value) -> &'static str {
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
pub(super) struct Field<'a> {
    prefix: &'a str,
    key: &'a str,
}

impl<'a> Field<'a> {
    pub(super) fn new(prefix: &'a str, key: &'a str) -> Self {
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

pub(super) fn one_of<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str) -> String {
    all.iter().map(|&x| name(x)).collect::<Vec<_>>().join(", ")
}

/// The field's value, treating `null` like an absent field.
pub(super) fn optional<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// The sum, or `None` when it does not fit in a `Decimal`.
pub(super) fn checked_sum(amounts: impl IntoIterator<Item = Decimal>) -> Option<Decimal> {
    amounts
        .into_iter()
        .try_fold(Decimal::ZERO, |sum, amount| sum.checked_add(amount))
}

/// A JSON object of the body (the document itself or one of its parts).
pub(super) type Object = Map<String, Value>;

/// Walks a document, collecting every problem.
#[derive(Default)]
pub(super) struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    pub(super) fn push(&mut self, field: impl fmt::Display, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// The checked value when nothing was wrong, else every problem recorded (never none).
    pub(super) fn finish<T>(mut self, value: Option<T>, noun: &str) -> Result<T, Vec<FieldError>> {
        match value {
            Some(value) if self.errors.is_empty() => Ok(value),
            _ => {
                if self.errors.is_empty() {
                    // Unreachable by the readers' convention; never answer "invalid" with
                    // no reason.
                    debug_assert!(false, "a {noun} was refused without a recorded problem");
                    self.push("", format!("is not a valid {noun}"));
                }
                Err(self.errors)
            }
        }
    }

    /// The field's value; records "is required" when it is absent or `null`.
    pub(super) fn required<'v>(
        &mut self,
        obj: &'v Object,
        at: &str,
        key: &str,
    ) -> Option<&'v Value> {
        let value = optional(obj, key);
        if value.is_none() {
            self.push(Field::new(at, key), "is required");
        }
        value
    }

    pub(super) fn object<'v>(
        &mut self,
        v: &'v Value,
        field: Field<'_>,
    ) -> Option<&'v Map<String, Value>> {
        let obj = v.as_object();
        if obj.is_none() {
            self.push(field, format!("must be an object (got {})", kind(v)));
        }
        obj
    }

    pub(super) fn array<'v>(&mut self, v: &'v Value, field: Field<'_>) -> Option<&'v [Value]> {
        let items = v.as_array().map(Vec::as_slice);
        if items.is_none() {
            self.push(field, format!("must be an array (got {})", kind(v)));
        }
        items
    }

    /// A non-empty string of at most [`MAX_STRING_CHARS`] characters.
    pub(super) fn string(&mut self, v: &Value, field: Field<'_>) -> Option<String> {
        let s = self.string_maybe_empty(v, field)?;
        if s.is_empty() {
            self.push(field, "must not be empty");
            return None;
        }
        Some(s)
    }

    pub(super) fn string_maybe_empty(&mut self, v: &Value, field: Field<'_>) -> Option<String> {
        let Value::String(s) = v else {
            self.push(field, format!("must be a string (got {})", kind(v)));
            return None;
        };
        if s.contains('\0') {
            // No database text column can hold it, and it has no business in a document.
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

    /// The required field, read with `read`.
    pub(super) fn required_as<T>(
        &mut self,
        obj: &Object,
        at: &str,
        key: &str,
        read: impl FnOnce(&mut Self, &Value, Field<'_>) -> Option<T>,
    ) -> Option<T> {
        let v = self.required(obj, at, key)?;
        read(self, v, Field::new(at, key))
    }

    /// The optional field, read with `read` when it is there and not `null`.
    pub(super) fn optional_as<T>(
        &mut self,
        obj: &Object,
        at: &str,
        key: &str,
        read: impl FnOnce(&mut Self, &Value, Field<'_>) -> Option<T>,
    ) -> Option<Option<T>> {
        match optional(obj, key) {
            None => Some(None),
            Some(v) => read(self, v, Field::new(at, key)).map(Some),
        }
    }

    pub(super) fn required_string(&mut self, obj: &Object, at: &str, key: &str) -> Option<String> {
        self.required_as(obj, at, key, Self::string)
    }

    pub(super) fn optional_string(
        &mut self,
        obj: &Object,
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

    /// One of a closed set of case-sensitive spellings (a status, a line type).
    pub(super) fn code<T: Copy>(
        &mut self,
        obj: &Object,
        at: &str,
        key: &str,
        all: &[T],
        name: fn(T) -> &'static str,
    ) -> Option<T> {
        let code = self.required_string(obj, at, key)?;
        let found = all.iter().copied().find(|&x| name(x) == code);
        if found.is_none() {
            let allowed = one_of(all, name);
            self.push(
                Field::new(at, key),
                format!("must be one of {allowed} (got {code:?})"),
            );
        }
        found
    }

    pub(super) fn amount(&mut self, v: &Value, field: Field<'_>) -> Option<Decimal> {
        parse_amount(v)
            .map_err(|message| self.push(field, message))
            .ok()
    }

    pub(super) fn required_amount(&mut self, obj: &Object, at: &str, key: &str) -> Option<Decimal> {
        self.required_as(obj, at, key, Self::amount)
    }

    pub(super) fn optional_amount(
        &mut self,
        obj: &Object,
        at: &str,
        key: &str,
    ) -> Option<Option<Decimal>> {
        self.optional_as(obj, at, key, Self::amount)
    }

    /// Records a problem unless `amount` is greater than zero.
    pub(super) fn positive(&mut self, field: impl fmt::Display, amount: Decimal) {
        if amount <= Decimal::ZERO {
            self.push(
                field,
                format!("must be greater than zero (got \"{amount}\")"),
            );
        }
    }

    /// Records a problem when `amount` is below zero.
    pub(super) fn not_negative(&mut self, field: impl fmt::Display, amount: Decimal) {
        if amount < Decimal::ZERO {
            self.push(field, format!("must not be negative (got \"{amount}\")"));
        }
    }

    /// Records a problem when `value` already appeared as `key` of an earlier item of the
    /// list; `at` is this item's path (`lines[2]`).
    pub(super) fn unique(
        &mut self,
        seen: &mut HashMap<String, usize>,
        list: &str,
        i: usize,
        at: &str,
        key: &str,
        value: &str,
    ) {
        if let Some(first) = seen.get(value) {
            self.push(
                Field::new(at, key),
                format!("duplicates the {key} of {list}[{first}] (got {value:?})"),
            );
        } else {
            seen.insert(value.to_owned(), i);
        }
    }

    /// A `YYYY-MM-DD` calendar date (exactly that form: no signs, no missing zeros).
    pub(super) fn date(&mut self, v: &Value, field: Field<'_>) -> Option<NaiveDate> {
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

    pub(super) fn required_date(&mut self, obj: &Object, key: &str) -> Option<NaiveDate> {
        self.required_as(obj, "", key, Self::date)
    }

    pub(super) fn optional_date(&mut self, obj: &Object, key: &str) -> Option<Option<NaiveDate>> {
        self.optional_as(obj, "", key, Self::date)
    }

    /// A required top-level RFC 3339 timestamp with any offset, in UTC.
    pub(super) fn timestamp(&mut self, obj: &Object, key: &str) -> Option<DateTime<Utc>> {
        let text = self
            .required(obj, "", key)
            .and_then(|v| self.string(v, key.into()))?;
        match DateTime::parse_from_rfc3339(&text) {
            Ok(at) => Some(at.with_timezone(&Utc)),
            Err(_) => {
                self.push(
                    key,
                    format!(
                        "must be an RFC 3339 timestamp such as \"2026-11-01T10:00:00Z\" (got {text:?})"
                    ),
                );
                None
            }
        }
    }
}
