//! The elements of a write (`{"Contacts":[...]}`, `{"Invoices":[...]}`): reading them typed
//! (type errors fail the whole request, as Xero's deserializer does; everything else is an
//! element-level validation error), and applying a batch all or nothing
//! (`summarizeErrors`).

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::super::harness::numbers::decimal;
use super::super::harness::wire::content_type_is;

use super::answers::{
    Answer, envelope, no_data, not_found, post_data_invalid, validation_exception,
};
use super::gate::{ApiRequest, Mode};
use super::state::{Org, OrgData};

pub(super) const ZERO_GUID: &str = "00000000-0000-0000-0000-000000000000";

/// The `{"<Kind>":[{...}, ...]}` body of a write, as objects.
pub(super) fn elements(
    request: &ApiRequest,
    kind: &str,
    singular: &str,
) -> Result<Vec<Map<String, Value>>, Answer> {
    if !content_type_is(request.headers, "application/json") {
        // [I] Xero would try to read XML; the fake insists on JSON.
        return Err(post_data_invalid(
            "Content-Type must be application/json for this fake",
        ));
    }
    let body: Value = serde_json::from_slice(request.body).map_err(|e| {
        post_data_invalid(&format!(
            "Unexpected character encountered while parsing value: {e}"
        ))
    })?;
    let Some(list) = body.get(kind) else {
        return Err(no_data(singular));
    };
    let Value::Array(list) = list else {
        return Err(post_data_invalid(&format!(
            "Cannot deserialize the current JSON object into type 'List<{singular}>'. Path '{kind}'"
        )));
    };
    if list.is_empty() {
        return Err(no_data(singular));
    }
    list.iter()
        .enumerate()
        .map(|(i, e)| match e {
            Value::Object(map) => Ok(map.clone()),
            other => Err(post_data_invalid(&format!(
                "Error converting value {other} to type '{singular}'. Path '{kind}[{i}]'"
            ))),
        })
        .collect()
}

/// Reads every element of a write with `parse`, which gets the element and its path
/// (`{plural}[i]`); the first unreadable element refuses the whole request.
pub(super) fn parse_elements<T>(
    elements: &[Map<String, Value>],
    plural: &str,
    parse: impl Fn(&Map<String, Value>, &str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let path = |i| format!("{plural}[{i}]");
    elements
        .iter()
        .enumerate()
        .map(|(i, e)| parse(e, &path(i)))
        .collect()
}

/// A write of invoices or credit notes: its elements, its mode and the query's
/// `summarizeErrors` and `unitdp`.
pub(super) struct Write<'a> {
    pub(super) elements: &'a [Map<String, Value>],
    pub(super) mode: &'a Mode,
    pub(super) summarize: bool,
    pub(super) unitdp: u32,
}

impl Write<'_> {
    /// The elements read with `parse` ([`parse_elements`]), or the refusal: an unreadable
    /// element, or a `POST …/{key}` to a record `find` does not know.
    pub(super) fn read<T>(
        &self,
        org: &Org,
        plural: &str,
        parse: impl Fn(&Map<String, Value>, &str) -> Result<T, String>,
        find: fn(&OrgData, &str) -> Option<usize>,
    ) -> Result<Vec<T>, (Answer, bool)> {
        let inputs = parse_elements(self.elements, plural, parse)
            .map_err(|e| (post_data_invalid(&e), false))?;
        match self.mode {
            Mode::Update(key) if find(&org.data, key).is_none() => Err((not_found(), false)),
            _ => Ok(inputs),
        }
    }
}

/// What a field reader answers: the property's value (`None` when absent or null), or
/// the validation message naming its path.
pub(super) type Field<T> = Result<Option<T>, String>;

/// An object property of type `kind`.
pub(super) fn object_field<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    kind: &str,
    path: &str,
) -> Field<&'a Map<String, Value>> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(_) => Err(format!(
            "Error converting value to type '{kind}'. Path '{path}.{key}'"
        )),
    }
}

/// A string property; numbers and booleans are converted, as Xero's deserializer does.
pub(super) fn text_field(map: &Map<String, Value>, key: &str, path: &str) -> Field<String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
        Some(_) => Err(format!(
            "Error reading string. Unexpected token. Path '{path}.{key}'"
        )),
    }
}

/// [I] An amount must be a JSON number (Xero's deserializer would also take numeric text;
/// the fake refuses it so the connector sends numbers).
pub(super) fn amount_field(map: &Map<String, Value>, key: &str, path: &str) -> Field<Decimal> {
    let present = map.get(key).filter(|v| !v.is_null());
    present
        .map(|v| {
            decimal(v).ok_or_else(|| {
                format!("Could not convert {v} to decimal (a JSON number is required by this fake). Path '{path}.{key}'")
            })
        })
        .transpose()
}

/// A date: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[.fff]`, RFC 3339 or `/Date(ms[+zzzz])/`.
pub(super) fn date_field(map: &Map<String, Value>, key: &str, path: &str) -> Field<NaiveDate> {
    let text = match map.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim(),
        Some(v) => {
            return Err(format!(
                "Could not convert {v} to DateTime. Path '{path}.{key}'"
            ));
        }
    };
    let parsed = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.date())
        })
        .or_else(|| {
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.date_naive())
        })
        .or_else(|| {
            let inner = text.strip_prefix("/Date(")?.strip_suffix(")/")?;
            let ms: String = inner
                .chars()
                .enumerate()
                .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && *c == '-'))
                .map(|(_, c)| c)
                .collect();
            DateTime::from_timestamp_millis(ms.parse().ok()?).map(|t| t.date_naive())
        });
    parsed
        .map(Some)
        .ok_or_else(|| format!("Could not convert string to DateTime: {text}. Path '{path}.{key}'"))
}

/// An enum property, case-insensitive, returned in its canonical spelling.
pub(super) fn enum_field(
    map: &Map<String, Value>,
    key: &str,
    path: &str,
    allowed: &[&str],
) -> Field<String> {
    let Some(text) = text_field(map, key, path)? else {
        return Ok(None);
    };
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(text.trim()))
        .map(|a| Some(a.to_string()))
        .ok_or_else(|| {
            format!("Error converting value \"{text}\" to type '{key}'. Path '{path}.{key}'")
        })
}

/// Validation messages of one element (its echo carries them).
pub(super) type Messages = Vec<String>;

/// `Err` with the messages (each once) when there are any.
pub(super) fn refused(mut errors: Messages) -> Result<(), Messages> {
    if errors.is_empty() {
        return Ok(());
    }
    errors.dedup();
    Err(errors)
}

pub(super) fn validation_errors(messages: Messages) -> Value {
    messages
        .into_iter()
        .map(|m| json!({ "Message": m }))
        .collect()
}

/// Runs a batch of element writes against a copy of the organisation's data: each
/// element either applies completely or not at all. With `summarize` (the default) one
/// failure rejects the request (400 ValidationException, nothing stored); without it the
/// request answers 200 with every element, failed ones carrying their errors. The flag
/// tells whether anything was stored.
pub(super) fn write_batch<I>(
    org: &mut Org,
    inputs: &[I],
    summarize: bool,
    kind: &str,
    mut apply: impl FnMut(&mut OrgData, &I) -> Result<Value, Value>,
) -> (Answer, bool) {
    // One copy per request, for summarizeErrors=true's all-or-nothing; each element's
    // `apply` changes nothing when it fails (a copy per element made a 50-invoice batch
    // copy the whole organisation 50 times).
    let before = summarize.then(|| org.data.clone());
    let mut results = Vec::new();
    let mut failed = Vec::new();
    let mut stored = false;
    for input in inputs {
        let number = org.data.next_invoice_number;
        match apply(&mut org.data, input) {
            Ok(result) => {
                stored = true;
                results.push(result);
            }
            Err(echo) => {
                org.data.next_invoice_number = number;
                failed.push(echo.clone());
                results.push(echo);
            }
        }
    }
    if let Some(before) = before
        && !failed.is_empty()
    {
        org.data = before;
        return (validation_exception(failed), false);
    }
    (envelope(kind, results), stored)
}
