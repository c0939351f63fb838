//! Helpers for the validation tests of the ledger documents.

use super::{DocumentError, FieldError, InvoiceError};
use crate::domain::document::{Document, DocumentType};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::fmt::{Debug, Display};

/// Declares the helpers of one document's tests: `example()`, the JSON of the example
/// text; `ok(v)`, the document `v` parses to; `problems(v)`, why `v` is refused.
macro_rules! fixture {
    ($parse:expr => $document:ty, $example:expr) => {
        fn example() -> serde_json::Value {
            serde_json::from_str($example).expect("the example is JSON")
        }

        fn ok(v: &serde_json::Value) -> $document {
            accepted($parse(&bytes(v)))
        }

        fn problems(v: &serde_json::Value) -> Vec<FieldError> {
            invalid($parse(&bytes(v)))
        }
    };
}

pub(super) use fixture;

/// An error that may list the problems of a refused document.
pub(super) trait Refusal: Debug + Display {
    /// The problems, when the document was refused as invalid.
    fn into_problems(self) -> Option<Vec<FieldError>>;

    /// The message, line and column, when the body was refused as malformed.
    fn malformed(&self) -> Option<(&str, usize, usize)>;
}

impl Refusal for DocumentError {
    fn into_problems(self) -> Option<Vec<FieldError>> {
        match self {
            DocumentError::Invalid { problems, .. } => Some(problems),
            DocumentError::Malformed { .. } => None,
        }
    }

    fn malformed(&self) -> Option<(&str, usize, usize)> {
        match self {
            DocumentError::Malformed {
                message,
                line,
                column,
            } => Some((message, *line, *column)),
            DocumentError::Invalid { .. } => None,
        }
    }
}

impl Refusal for InvoiceError {
    fn into_problems(self) -> Option<Vec<FieldError>> {
        match self {
            InvoiceError::Invalid(problems) => Some(problems),
            _ => None,
        }
    }

    fn malformed(&self) -> Option<(&str, usize, usize)> {
        match self {
            InvoiceError::Malformed {
                message,
                line,
                column,
            } => Some((message, *line, *column)),
            _ => None,
        }
    }
}

/// The accepted document; panics when it was refused.
pub(super) fn accepted<T, E: Display>(result: Result<T, E>) -> T {
    match result {
        Ok(document) => document,
        Err(e) => panic!("should parse, got: {e}"),
    }
}

/// Sets the value at a `/`-separated JSON pointer, adding the last key if needed.
pub(super) fn set(v: &mut Value, pointer: &str, new: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer with a parent");
    match v
        .pointer_mut(parent)
        .expect("parent exists in the test document")
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

pub(super) fn remove(v: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer with a parent");
    v.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .and_then(|o| o.remove(key))
        .expect("field exists in the test document");
}

/// `v` with the value at each JSON pointer (the keys of `changes`) set as in [`set`].
pub(super) fn changed(mut v: Value, changes: Value) -> Value {
    let Value::Object(changes) = changes else {
        panic!("changes are an object of pointers and values");
    };
    for (pointer, new) in changes {
        set(&mut v, &pointer, new);
    }
    v
}

pub(super) fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("test JSON serializes")
}

/// The problems of a refused document; panics when it was accepted or malformed.
pub(super) fn invalid<T: Debug, E: Refusal>(result: Result<T, E>) -> Vec<FieldError> {
    match result.map_err(Refusal::into_problems) {
        Err(Some(problems)) => problems,
        other => panic!("should be Invalid, got: {other:?}"),
    }
}

pub(super) fn fields(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

/// Asserts that `field` has a problem whose message contains `text`.
pub(super) fn assert_problem(errors: &[FieldError], field: &str, text: &str) {
    assert!(
        errors
            .iter()
            .any(|e| e.field == field && e.message.contains(text)),
        "expected {field}: …{text}… among {errors:#?}"
    );
}

/// Asserts that there are exactly as many problems as lines in `expected`, and that each
/// line, `field: text`, names a problem as [`assert_problem`] does.
pub(super) fn assert_problems(errors: &[FieldError], expected: &str) {
    let lines: Vec<&str> = expected
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    for line in &lines {
        let (field, text) = line.split_once(": ").expect("a line is `field: text`");
        assert_problem(errors, field, text);
    }
    assert_eq!(errors.len(), lines.len(), "{errors:#?}");
}

/// The message of a refused `document` with these problems.
pub(super) fn refusal(document: DocumentType, problems: Vec<FieldError>) -> String {
    DocumentError::Invalid { document, problems }.to_string()
}

/// Asserts that the only problem is `field` with exactly `message`.
pub(super) fn assert_only(errors: &[FieldError], field: &str, message: &str) {
    assert_eq!(
        errors,
        [FieldError {
            field: field.into(),
            message: message.into()
        }]
    );
}

/// JSON text of `v` with every object's keys in reverse order and generous whitespace.
fn reversed_text(v: &Value) -> String {
    match v {
        Value::Object(obj) => {
            let entries: Vec<String> = obj
                .iter()
                .rev()
                .map(|(k, v)| format!("\n  {} :\t{}", json!(k), reversed_text(v)))
                .collect();
            format!("{{ {} \n}}", entries.join(" ,"))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(reversed_text).collect();
            format!("[ {} ]", items.join(" , "))
        }
        other => other.to_string(),
    }
}

/// Checks what makes re-posting a document a no-op: key order, whitespace, unknown fields
/// and `null` for an absent optional field (`absent_optional`, a top-level key) leave the
/// hash alone, and the canonical form reads back as the same document; while a
/// changed value (`changed`: a pointer and its new value, e.g. an amount written with
/// another scale) changes it.
pub(super) fn assert_hash_stability<D>(
    parse: impl Fn(&[u8]) -> Result<D, DocumentError>,
    example: &Value,
    absent_optional: &str,
    changed: (&str, Value),
) where
    D: Document + PartialEq + Debug,
{
    let original = parse(&bytes(example)).expect("the example is valid");
    let reordered = parse(reversed_text(example).as_bytes()).expect("reordered is valid");
    assert_eq!(reordered, original);
    assert_eq!(reordered.content_hash(), original.content_hash());

    let mut noisy = example.clone();
    let obj = noisy.as_object_mut().expect("an object");
    assert!(!obj.contains_key(absent_optional), "{absent_optional}");
    obj.insert(absent_optional.into(), Value::Null);
    obj.insert("unknown_field".into(), json!({"x": [1, 2]}));
    let noisy = parse(&bytes(&noisy)).expect("noisy is valid");
    assert_eq!(noisy.content_hash(), original.content_hash());
    assert!(noisy.canonical_json().get("unknown_field").is_none());

    let again = parse(original.canonical_text().as_bytes()).expect("canonical is valid");
    assert_eq!(again, original);
    assert_eq!(again.content_hash(), original.content_hash());

    let (pointer, value) = changed;
    let mut changed = example.clone();
    set(&mut changed, pointer, value);
    let changed = parse(&bytes(&changed)).expect("the changed document is valid");
    assert_ne!(changed.content_hash(), original.content_hash());
}

/// Checks that bodies that are not JSON objects are refused as malformed.
pub(super) fn assert_malformed_refused<D: Debug, E: Refusal>(
    parse: impl Fn(&[u8]) -> Result<D, E>,
) {
    let e = parse(b"{\n  \"id\": \"x_1\",\n  oops\n}").expect_err("not JSON");
    let (message, line, column) = e.malformed().expect("malformed");
    assert_eq!((line, column), (3, 3));
    assert!(!message.contains("at line"), "{message}");
    let e = parse(b"  [1, 2]").expect_err("not an object");
    assert_eq!(
        e.malformed(),
        Some(("expected an object, got an array", 1, 3))
    );
    assert_eq!(
        e.to_string(),
        "the body is not a JSON object: expected an object, got an array (line 1, column 3)"
    );
    for body in [
        &b""[..],
        b"null",
        b"\"x\"",
        b"{} trailing",
        &[b'"', 0xff, b'"'],
        b"nope",
    ] {
        let e = parse(body).expect_err("not a JSON object");
        assert!(e.malformed().is_some(), "{body:?}: {e:?}");
        let text = e.to_string();
        assert!(
            text.starts_with("the body is not a JSON object: "),
            "{text}"
        );
    }
}

/// The canonical JSON of `document` is `expected`, and its canonical text loads back as
/// the same document.
pub(super) fn assert_round_trips<D>(document: &D, expected: Value)
where
    D: Document + DeserializeOwned + PartialEq + Debug,
{
    assert_eq!(document.canonical_json(), expected);
    let loaded: D = serde_json::from_str(&document.canonical_text()).expect("canonical JSON loads");
    assert_eq!(&loaded, document);
}

/// An empty body is refused with exactly these fields (space-separated, in this order)
/// reported as `is required`.
pub(super) fn assert_required<D: Debug, E: Refusal>(
    parse: impl Fn(&[u8]) -> Result<D, E>,
    required: &str,
) {
    let errors = invalid(parse(b"{}"));
    assert_eq!(
        fields(&errors),
        required.split_whitespace().collect::<Vec<_>>()
    );
    assert!(errors.iter().all(|e| e.message == "is required"));
}
