//! Values and checks shared by the tests of the document types.

use super::document::{Document, rebuild_sorted};
use super::invoice::{Address, Customer, Line, LineType};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::fmt::{Debug, Display};

/// A customer with only what is required.
pub(crate) fn customer() -> Customer {
    Customer {
        id: "cus_1".into(),
        name: "Acme".into(),
        email: None,
        address: None,
    }
}

/// [`customer`] with every optional field set.
pub(crate) fn full_customer() -> Customer {
    Customer {
        email: Some("ap@acme.test".into()),
        address: Some(full_address()),
        ..customer()
    }
}

/// An address with every field set.
pub(crate) fn full_address() -> Address {
    Address {
        line1: "1 Main St".into(),
        line2: Some("Suite 2".into()),
        city: Some("Austin".into()),
        region: Some("TX".into()),
        postal_code: Some("78701".into()),
        country: Some("US".into()),
    }
}

/// A usage line with only what is required.
pub(crate) fn line(id: &str, amount: Decimal) -> Line {
    Line {
        id: id.into(),
        line_type: LineType::UsageFee,
        description: String::new(),
        product_id: None,
        quantity: None,
        unit_price: None,
        amount,
        tax_amount: None,
        tax_code: None,
    }
}

/// [`line`] with every optional field set (and a description that needs escaping).
pub(crate) fn full_line(id: &str, amount: Decimal) -> Line {
    Line {
        description: "API calls \"quoted\" \u{e9}".into(),
        product_id: Some("prod_api".into()),
        quantity: Some(Decimal::new(2000, 0)),
        unit_price: Some(Decimal::new(1, 3)),
        tax_amount: Some(Decimal::new(17, 2)),
        tax_code: Some("TX".into()),
        ..line(id, amount)
    }
}

/// Metadata whose keys, nested too, are not in sorted order.
pub(crate) fn unsorted_metadata() -> Map<String, Value> {
    let mut metadata = Map::new();
    metadata.insert(
        "zeta".into(),
        json!({"b": [1, {"d": 1, "c": 2}], "a": null}),
    );
    metadata.insert("alpha".into(), json!("x"));
    metadata
}

/// The RFC 3339 timestamp, in UTC.
pub(crate) fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("valid timestamp")
        .with_timezone(&Utc)
}

/// Checks what makes a document type's canonical text canonical: the text written directly
/// is the sorted JSON, and the canonical JSON loads back as the same value with the same
/// hash. A field declared out of order fails here.
pub(crate) fn assert_canonical<D>(document: &D)
where
    D: Document + DeserializeOwned + PartialEq + Debug,
{
    let value = serde_json::to_value(document).expect("serializes");
    let sorted = rebuild_sorted(value).to_string();
    assert_eq!(document.canonical_text(), sorted);
    assert_eq!(document.canonical_json().to_string(), sorted);
    let back: D = serde_json::from_value(document.canonical_json()).expect("loads back");
    assert_eq!(&back, document);
    assert_eq!(back.content_hash(), document.content_hash());
    let hash = document.content_hash();
    assert_eq!(hash, hex::encode(Sha256::digest(sorted.as_bytes())));
    assert_eq!(document.canonical_body(), (sorted, hash));
}

/// The canonical JSON of `sample` is the contract's `shape`, and both `sample` and `full`
/// (every optional field set) are canonical ([`assert_canonical`]).
pub(crate) fn assert_canonical_forms<D>(sample: &D, full: &D, shape: Value)
where
    D: Document + DeserializeOwned + PartialEq + Debug,
{
    assert_eq!(sample.canonical_json(), shape);
    assert_canonical(sample);
    assert_canonical(full);
}

/// A standing document and its void version have the event types `[first version,
/// later version, void]` and different hashes.
pub(crate) fn assert_events<D: Document>(standing: &D, void: &D, events: [&str; 3]) {
    assert!(!standing.is_void());
    assert_eq!(standing.event_type(true), events[0]);
    assert_eq!(standing.event_type(false), events[1]);
    assert!(void.is_void());
    assert_eq!(void.status_code(), Some("VOID"));
    assert_eq!(void.event_type(true), events[2]);
    assert_eq!(void.event_type(false), events[2]);
    assert_ne!(void.content_hash(), standing.content_hash());
}

/// Every value of a `code_enum!` is spelled, serialized, displayed and looked up the same.
pub(crate) fn assert_codes<T>(
    all: &[T],
    as_str: fn(T) -> &'static str,
    from_code: fn(&str) -> Option<T>,
) where
    T: Copy + PartialEq + Debug + Display + Serialize,
{
    for &value in all {
        assert_eq!(from_code(as_str(value)), Some(value));
        assert_eq!(json!(value), json!(as_str(value)));
        assert_eq!(value.to_string(), as_str(value));
    }
}
