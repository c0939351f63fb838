//! Helpers for the validation tests of the ledger documents.

use super::{DocumentError, FieldError};
use crate::domain::document::Document;
use serde_json::{Value, json};
use std::fmt::Debug;

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

pub(super) fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("test JSON serializes")
}

/// The problems of a refused document; panics when it was accepted or malformed.
pub(super) fn invalid<T: Debug>(result: Result<T, DocumentError>) -> Vec<FieldError> {
    match result {
        Err(DocumentError::Invalid { problems, .. }) => problems,
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
pub(super) fn assert_malformed_refused<D: Debug>(
    parse: impl Fn(&[u8]) -> Result<D, DocumentError>,
) {
    match parse(b"{\n  \"id\": \"x_1\",\n  oops\n}") {
        Err(DocumentError::Malformed {
            message,
            line,
            column,
        }) => {
            assert_eq!((line, column), (3, 3));
            assert!(!message.contains("at line"), "{message}");
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    match parse(b"  [1, 2]") {
        Err(e @ DocumentError::Malformed { .. }) => {
            assert_eq!(
                e.to_string(),
                "the body is not a JSON object: expected an object, got an array (line 1, column 3)"
            );
            assert!(e.problems().is_empty());
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    for body in [
        &b""[..],
        b"null",
        b"\"x\"",
        b"{} trailing",
        &[b'"', 0xff, b'"'],
    ] {
        assert!(
            matches!(parse(body), Err(DocumentError::Malformed { .. })),
            "{body:?}"
        );
    }
}
