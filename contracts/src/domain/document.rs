//! What the five ledger documents have in common: their type, their webhook event types,
//! and their one canonical spelling (`docs/contracts.md`, "The ledger beyond invoices").
//!
//! Every document (an [`Invoice`], [`CreditNote`], [`Payment`], [`Refund`] or
//! [`CustomerUpdate`]) is stored, hashed and delivered in the same canonical form, written
//! here once for all of them by the [`Document`] trait:
//!
//! - the contract JSON of the typed value, so amounts keep the scale they arrived with,
//!   timestamps are RFC 3339 in UTC, absent optional fields (and `null` ones) are left out,
//!   `metadata` is always present, and unknown input fields are gone;
//! - with every object's keys sorted, so key order and whitespace of the body don't matter;
//! - hashed (lowercase hex SHA-256 of the compact text) to tell a re-post of the same
//!   content (a no-op) from a changed one (a new version).
//!
//! [`Invoice`]: super::Invoice
//! [`CreditNote`]: super::CreditNote
//! [`Payment`]: super::Payment
//! [`Refund`]: super::Refund
//! [`CustomerUpdate`]: super::CustomerUpdate

use super::code::code_enum;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

code_enum! {
    /// Which kind of document something is: the `document_type` of sync-log entries.
    ///
    /// Exists so the store, the queue and the log can carry any document and say which
    /// one; its spelling (`credit_note`) is the contract's wire name.
    pub enum DocumentType {
        /// `POST /v1/invoices`.
        Invoice = "invoice",
        /// `POST /v1/credit-notes`.
        CreditNote = "credit_note",
        /// `POST /v1/payments`.
        Payment = "payment",
        /// `POST /v1/refunds`.
        Refund = "refund",
        /// `PUT /v1/customers/{id}`.
        Customer = "customer",
    }
}

impl DocumentType {
    /// The webhook event type a version of this kind of document is delivered as.
    ///
    /// Exists so code that only has a stored row (its version number and status) can name
    /// the event as [`Document::event_type`] does for a parsed document:
    ///
    /// | document | first version | later version | void |
    /// |---|---|---|---|
    /// | invoice | `invoice.finalized` | `invoice.updated` | `invoice.voided` |
    /// | credit note | `credit_note.issued` | `credit_note.updated` | `credit_note.voided` |
    /// | payment | `payment.succeeded` | `payment.succeeded` | `payment.voided` |
    /// | refund | `refund.succeeded` | `refund.succeeded` | `refund.voided` |
    /// | customer | `customer.updated` | `customer.updated` | (never void) |
    ///
    /// The contract names no `payment.updated` or `refund.updated`: a changed payment or
    /// refund that still stands is delivered as `succeeded` again, under a new event id.
    pub fn event_type(self, first_version: bool, void: bool) -> &'static str {
        match (self, void, first_version) {
            (Self::Invoice, true, _) => "invoice.voided",
            (Self::Invoice, false, true) => "invoice.finalized",
            (Self::Invoice, false, false) => "invoice.updated",
            (Self::CreditNote, true, _) => "credit_note.voided",
            (Self::CreditNote, false, true) => "credit_note.issued",
            (Self::CreditNote, false, false) => "credit_note.updated",
            (Self::Payment, true, _) => "payment.voided",
            (Self::Payment, false, _) => "payment.succeeded",
            (Self::Refund, true, _) => "refund.voided",
            (Self::Refund, false, _) => "refund.succeeded",
            (Self::Customer, _, _) => "customer.updated",
        }
    }

    /// Every event type this kind of document can be delivered as, in contract order.
    pub fn event_types(self) -> &'static [&'static str] {
        match self {
            Self::Invoice => &["invoice.finalized", "invoice.updated", "invoice.voided"],
            Self::CreditNote => &[
                "credit_note.issued",
                "credit_note.updated",
                "credit_note.voided",
            ],
            Self::Payment => &["payment.succeeded", "payment.voided"],
            Self::Refund => &["refund.succeeded", "refund.voided"],
            Self::Customer => &["customer.updated"],
        }
    }

    /// How the document is named in sentences, e.g. `"credit note"`: its wire name, with a
    /// space for the underscore.
    pub fn noun(self) -> &'static str {
        match self {
            Self::CreditNote => "credit note",
            other => other.as_str(),
        }
    }
}

pub(crate) use sealed::Sealed;

mod sealed {
    /// Only this crate's document types are [`super::Document`]s: their canonical text is
    /// correct only because their fields are declared in sorted order.
    pub trait Sealed {}
}

/// A checked document of the ledger, in its canonical form.
///
/// Exists so storing, hashing, routing and delivering can be written once for every kind
/// of document. Values are only ever built by their `parse_*` function in
/// [`super::validate`] (or loaded back from a canonical JSON that it produced), so every
/// rule of their kind holds.
///
/// The canonical methods rely on the implementing types declaring their fields (and the
/// fields of the types they contain) in the alphabetical order of their JSON names, so
/// serializing the value writes the keys sorted; each type's tests keep it so. That is why
/// the trait is sealed.
pub trait Document: Serialize + sealed::Sealed {
    /// Which kind of document this is.
    const TYPE: DocumentType;

    /// The platform's id of the document; the same id posted again is the same document.
    fn id(&self) -> &str;

    /// The entity that routes the document in Multi-ERP mode (e.g. `US`), if any.
    fn entity(&self) -> Option<&str>;

    /// The contract spelling of the document's status (e.g. `"ISSUED"`); `None` for a
    /// customer, which has none.
    fn status_code(&self) -> Option<&'static str>;

    /// Whether the platform voided the document, so a sync voids (or deletes) the ERP
    /// record.
    fn is_void(&self) -> bool {
        self.status_code() == Some("VOID")
    }

    /// The webhook event type of this version: see [`DocumentType::event_type`].
    fn event_type(&self, first_version: bool) -> &'static str {
        Self::TYPE.event_type(first_version, self.is_void())
    }

    /// Roughly how many bytes the canonical text takes, so it is written without
    /// growing its buffer (growing it showed in profiles).
    fn canonical_size_hint(&self) -> usize {
        512
    }

    /// The document as contract JSON with every object's keys sorted.
    ///
    /// Exists as the one form that is stored, hashed and handed to transforms and
    /// webhooks, so they all see the same bytes for the same document. Key order does not
    /// depend on `serde_json` features (`preserve_order`): keys are sorted explicitly.
    fn canonical_json(&self) -> Value {
        // Serializing these types cannot fail: every map key is a string and every field's
        // `Serialize` (strings, decimals, dates, JSON values) is infallible.
        let value = serde_json::to_value(self).expect("a document always serializes to JSON");
        sorted_keys(value)
    }

    /// The compact text of [`Document::canonical_json`], byte for byte.
    ///
    /// Exists because building the `Value` tree first cost more than the rest of an
    /// ingest's JSON work: with sorted maps and the fields declared in sorted order,
    /// serializing the typed document writes the same bytes directly.
    fn canonical_text(&self) -> String {
        if maps_are_sorted() {
            let mut out = Vec::with_capacity(self.canonical_size_hint());
            serde_json::to_writer(&mut out, self).expect("a document always serializes to JSON");
            String::from_utf8(out).expect("serde_json writes UTF-8")
        } else {
            self.canonical_json().to_string()
        }
    }

    /// The compact text of [`Document::canonical_json`] and its
    /// [`Document::content_hash`], built once: ingest stores the one and compares the
    /// other.
    fn canonical_body(&self) -> (String, String) {
        let text = self.canonical_text();
        let hash = hex::encode(Sha256::digest(text.as_bytes()));
        (text, hash)
    }

    /// Lowercase hex SHA-256 of the compact bytes of [`Document::canonical_json`].
    ///
    /// Exists to tell a re-post of the same document (a no-op) from a changed one (a new
    /// version that re-syncs): key order, whitespace, ignored extra fields and
    /// `null`-versus-absent optional fields don't change it; any change of a value,
    /// including an amount's scale or the status, does.
    fn content_hash(&self) -> String {
        self.canonical_body().1
    }
}

/// Implements (and seals) [`Document`] for one of this crate's document types, each of which
/// has an `id` and an optional `entity` field.
///
/// The status code is read from the `status` field (a `code_enum!` value) unless the type
/// is declared `without status`; `size_hint = |doc| expr` overrides
/// [`Document::canonical_size_hint`].
macro_rules! impl_document {
    (@impl $name:ident: $kind:ident, |$s:ident| $status:expr, $(|$doc:ident| $hint:expr)?) => {
        impl $crate::domain::document::Sealed for $name {}

        impl $crate::domain::document::Document for $name {
            const TYPE: $crate::domain::document::DocumentType =
                $crate::domain::document::DocumentType::$kind;

            fn id(&self) -> &str {
                &self.id
            }

            fn entity(&self) -> Option<&str> {
                self.entity.as_deref()
            }

            fn status_code(&self) -> Option<&'static str> {
                let $s = self;
                $status
            }

            $(
                fn canonical_size_hint(&self) -> usize {
                    let $doc = self;
                    $hint
                }
            )?
        }
    };
    ($name:ident: $kind:ident, without status) => {
        $crate::domain::document::impl_document!(@impl $name: $kind, |_doc| None,);
    };
    ($name:ident: $kind:ident $(, size_hint = |$doc:ident| $hint:expr)?) => {
        $crate::domain::document::impl_document!(
            @impl $name: $kind, |doc| Some(doc.status.as_str()), $(|$doc| $hint)?
        );
    };
}

pub(crate) use impl_document;

/// Rebuilds every object with its keys inserted in sorted order, recursively.
///
/// Without `serde_json`'s `preserve_order` feature a `Map` is a `BTreeMap` and already
/// iterates in sorted order, so there is nothing to do; but any crate in the build can
/// turn that feature on, so whether it is on is checked once, at run time, not assumed.
fn sorted_keys(value: Value) -> Value {
    if maps_are_sorted() {
        return value;
    }
    rebuild_sorted(value)
}

/// Whether `serde_json`'s maps iterate in sorted key order (no `preserve_order`), checked
/// once.
fn maps_are_sorted() -> bool {
    static MAPS_ARE_SORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *MAPS_ARE_SORTED.get_or_init(|| {
        let mut probe = Map::new();
        probe.insert("b".into(), Value::Null);
        probe.insert("a".into(), Value::Null);
        probe.keys().next().map(String::as_str) == Some("a")
    })
}

/// The value with every object rebuilt in sorted key order, whatever the map type does.
pub(crate) fn rebuild_sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.cmp(b));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, rebuild_sorted(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(rebuild_sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_names_and_nouns() {
        let names: Vec<&str> = DocumentType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(
            names,
            ["invoice", "credit_note", "payment", "refund", "customer"]
        );
        for t in DocumentType::ALL {
            assert_eq!(DocumentType::from_code(t.as_str()), Some(t));
            assert_eq!(json!(t), json!(t.as_str()));
            assert_eq!(t.to_string(), t.as_str());
        }
        assert_eq!(DocumentType::from_code("credit-note"), None);
        assert_eq!(DocumentType::CreditNote.noun(), "credit note");
    }

    #[test]
    fn event_types_as_the_contract_names_them() {
        use DocumentType::*;
        let cases = [
            (Invoice, true, false, "invoice.finalized"),
            (Invoice, false, false, "invoice.updated"),
            (Invoice, true, true, "invoice.voided"),
            (Invoice, false, true, "invoice.voided"),
            (CreditNote, true, false, "credit_note.issued"),
            (CreditNote, false, false, "credit_note.updated"),
            (CreditNote, false, true, "credit_note.voided"),
            (CreditNote, true, true, "credit_note.voided"),
            (Payment, true, false, "payment.succeeded"),
            (Payment, false, false, "payment.succeeded"),
            (Payment, false, true, "payment.voided"),
            (Refund, true, false, "refund.succeeded"),
            (Refund, false, false, "refund.succeeded"),
            (Refund, true, true, "refund.voided"),
            (Customer, true, false, "customer.updated"),
            (Customer, false, false, "customer.updated"),
        ];
        for (kind, first, void, expected) in cases {
            assert_eq!(
                kind.event_type(first, void),
                expected,
                "{kind} {first} {void}"
            );
            assert!(kind.event_types().contains(&expected));
            assert!(expected.starts_with(&format!("{kind}.")));
        }
        // Every listed event type is reachable.
        for kind in DocumentType::ALL {
            for name in kind.event_types() {
                let reachable = [(true, false), (false, false), (false, true)]
                    .into_iter()
                    .any(|(first, void)| kind.event_type(first, void) == *name);
                assert!(reachable, "{name}");
            }
        }
    }

    #[test]
    fn rebuild_sorted_sorts_nested_objects() {
        let value = json!({"b": [{"d": 1, "c": 2}], "a": {"z": null, "y": true}});
        assert_eq!(
            rebuild_sorted(value).to_string(),
            r#"{"a":{"y":true,"z":null},"b":[{"c":2,"d":1}]}"#
        );
    }
}
