//! The typed invoice: what a body of `POST /v1/invoices` becomes once it has been checked.
//!
//! Values of these types are only ever built by [`super::validate::parse_invoice`] (or
//! loaded back from a canonical JSON that it produced), so code holding an [`Invoice`] may
//! rely on every rule in `validate` having held: amounts add up, the currency is ISO 4217,
//! strings are non-empty, and so on.
//!
//! Serializing an invoice gives back the contract JSON in one canonical spelling:
//!
//! - amounts are strings that keep the scale they arrived with (`"12.00"` stays `"12.00"`;
//!   a JSON number `12.00` arrives as `12.0`, see `money`), so `"12.0"` and `"12.00"` are
//!   different content even though they are equal amounts;
//! - dates are `YYYY-MM-DD`; `finalized_at` is RFC 3339 in UTC with a `Z` (whatever offset
//!   the sender used), with fractional seconds only when there were some;
//! - optional fields that are absent are left out (a JSON `null` in the input counts as
//!   absent), `description` is always present (`""` when not given), `metadata` is always
//!   present (`{}` when not given);
//! - unknown input fields are dropped.
//!
//! [`Invoice::canonical_json`] additionally sorts every object's keys, and
//! [`Invoice::content_hash`] hashes its compact bytes, so two bodies that differ only in key
//! order, whitespace, ignored extra fields or `null`-versus-absent optional fields hash the
//! same, while any change of a value (including an amount's scale, or the status) changes
//! the hash. The other documents of the ledger (credit notes, payments, refunds, customer
//! updates) share this canonical form and its code: see [`super::document`].

use super::code::code_enum;
use super::document::{Document, impl_document};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
#[cfg(test)]
use sha2::{Digest, Sha256};

/// A finalized invoice of the billing platform, checked and ready to sync.
///
/// Exists as the single shape every part of the service (store, transforms, connectors)
/// reads invoices in, so none of them re-validates or re-parses JSON.
///
/// The fields of this type and of the ones it contains are declared in the alphabetical
/// order of their JSON names, so serializing an invoice gives the canonical key order
/// directly ([`Invoice::canonical_text`]); a test keeps it so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invoice {
    /// Upper-case ISO 4217 code, e.g. `USD`.
    pub currency: String,
    pub customer: Customer,
    /// Never before `issue_date`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<NaiveDate>,
    /// Routes the invoice to a connection in Multi-ERP mode (e.g. `US`, `UK`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// When the platform finalized the invoice, in UTC.
    pub finalized_at: DateTime<Utc>,
    /// The platform's invoice id; the same id posted again is the same invoice.
    pub id: String,
    pub issue_date: NaiveDate,
    /// At least one line; line ids are unique within the invoice.
    pub lines: Vec<Line>,
    /// Free-form key/values from the platform, passed through untouched.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// The human invoice number, e.g. `INV-2026-0042`.
    pub number: String,
    pub status: InvoiceStatus,
    /// The sum of the lines' amounts.
    pub subtotal: Decimal,
    /// The sum of the lines' `tax_amount`s when any line has one.
    pub tax_total: Decimal,
    /// `subtotal + tax_total`.
    pub total: Decimal,
}

/// Who the invoice is billed to.
///
/// Exists because every ERP needs a customer record to attach the invoice to; `id` is the
/// platform's customer id (used to find or create that record), `name` is required because
/// every ERP requires a display name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// Billing e-mail; any non-empty string, its shape is left to the ERP to judge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub id: String,
    pub name: String,
}

/// A customer's billing address.
///
/// Exists so connectors can fill the ERP's address fields. Only `line1` is required (an
/// address without a street line is not an address); addresses abroad often lack a region
/// or postal code, so everything else is optional and passed on as given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Usually an ISO 3166 alpha-2 code, but not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// One line of an invoice.
///
/// Exists because ERPs book invoices line by line (item, quantity, price, tax code).
/// `amount` is the line's net amount and is what adds up to the invoice's subtotal;
/// `quantity * unit_price` is not required to equal it (tiered usage pricing, rounding), and
/// its sign is not checked (discounts and credits are usually negative).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub amount: Decimal,
    #[serde(default)]
    pub description: String,
    /// Unique within the invoice.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_amount: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_code: Option<String>,
    #[serde(rename = "type")]
    pub line_type: LineType,
    /// May have more decimal places than the currency (e.g. `0.001` per API call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Decimal>,
}

code_enum! {
    /// Where a finalized invoice is in its life on the billing platform.
    ///
    /// Exists to drive what a sync does: `Void` voids the ERP record, the others create or
    /// update it. `DRAFT` is deliberately absent: drafts are refused at ingest.
    pub enum InvoiceStatus {
        Open = "OPEN",
        Paid = "PAID",
        Overdue = "OVERDUE",
        Uncollectible = "UNCOLLECTIBLE",
        Void = "VOID",
    }
}

code_enum! {
    /// What kind of charge a line is.
    ///
    /// Exists so connectors can map lines to ERP items or accounts per kind (e.g.
    /// QuickBooks' `item_map` keyed by line type).
    pub enum LineType {
        Charge = "CHARGE",
        UsageFee = "USAGE_FEE",
        SetupFee = "SETUP_FEE",
        Discount = "DISCOUNT",
        TaxAdjustment = "TAX_ADJUSTMENT",
        Credit = "CREDIT",
        Proration = "PRORATION",
    }
}

/// The canonical form is the one every document shares ([`Document`]); these inherent
/// methods keep it callable without importing the trait.
impl Invoice {
    /// The invoice as contract JSON with every object's keys sorted: see
    /// [`Document::canonical_json`].
    pub fn canonical_json(&self) -> Value {
        Document::canonical_json(self)
    }

    /// Lowercase hex SHA-256 of the compact bytes of [`Invoice::canonical_json`].
    ///
    /// Exists to tell a re-post of the same invoice (a no-op) from a changed one (a new
    /// version that re-syncs). See the module documentation for what counts as a change.
    pub fn content_hash(&self) -> String {
        Document::content_hash(self)
    }

    /// The compact text of [`Invoice::canonical_json`] and its [`Invoice::content_hash`],
    /// built once: ingest stores the one and compares the other.
    pub fn canonical_body(&self) -> (String, String) {
        Document::canonical_body(self)
    }

    /// The compact text of [`Invoice::canonical_json`], byte for byte, written directly
    /// from the typed invoice: see [`Document::canonical_text`].
    pub fn canonical_text(&self) -> String {
        Document::canonical_text(self)
    }

    /// Whether the platform voided this invoice, so a sync voids the ERP record.
    pub fn is_void(&self) -> bool {
        self.status == InvoiceStatus::Void
    }
}

// Sized for a typical invoice up front: growing the buffer showed in profiles.
impl_document!(Invoice: Invoice, size_hint = |invoice| 512 + 256 * invoice.lines.len());

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::document::DocumentType;
    use crate::domain::testing;
    use serde_json::json;

    fn sample() -> Invoice {
        Invoice {
            currency: "USD".into(),
            customer: testing::customer(),
            due_date: None,
            entity: None,
            finalized_at: testing::utc("2026-11-01T12:00:00+02:00"),
            id: "inv_1".into(),
            issue_date: NaiveDate::from_ymd_opt(2026, 11, 1).expect("valid date"),
            lines: vec![Line {
                quantity: Some(Decimal::new(12000, 0)),
                unit_price: Some(Decimal::new(1, 3)),
                ..testing::line("li_1", Decimal::new(1200, 2))
            }],
            metadata: Map::new(),
            number: "INV-1".into(),
            status: InvoiceStatus::Open,
            subtotal: Decimal::new(1200, 2),
            tax_total: Decimal::new(0, 2),
            total: Decimal::new(1200, 2),
        }
    }

    #[test]
    fn serializes_to_the_contract_shape() {
        let v = sample().canonical_json();
        assert_eq!(
            v,
            json!({
                "id": "inv_1", "number": "INV-1", "status": "OPEN", "currency": "USD",
                "issue_date": "2026-11-01", "finalized_at": "2026-11-01T10:00:00Z",
                "customer": { "id": "cus_1", "name": "Acme" },
                "lines": [ { "id": "li_1", "type": "USAGE_FEE", "description": "",
                             "quantity": "12000", "unit_price": "0.001", "amount": "12.00" } ],
                "subtotal": "12.00", "tax_total": "0.00", "total": "12.00",
                "metadata": {}
            })
        );
    }

    #[test]
    fn canonical_json_loads_back() {
        let invoice = sample();
        let back: Invoice =
            serde_json::from_value(invoice.canonical_json()).expect("canonical JSON loads");
        assert_eq!(back, invoice);
        assert_eq!(back.content_hash(), invoice.content_hash());
    }

    #[test]
    fn canonical_keys_are_sorted_and_hash_is_hex_sha256() {
        let mut invoice = sample();
        invoice
            .metadata
            .insert("zeta".into(), json!({"b": 1, "a": 2}));
        invoice.metadata.insert("alpha".into(), json!(true));
        let text = serde_json::to_string(&invoice.canonical_json()).expect("serializes");
        assert!(
            text.starts_with(r#"{"currency":"USD","customer":{"id":"cus_1""#),
            "{text}"
        );
        assert!(
            text.contains(r#""metadata":{"alpha":true,"zeta":{"a":2,"b":1}}"#),
            "{text}"
        );
        let hash = invoice.content_hash();
        assert_eq!(hash.len(), 64);
        assert!(
            hash.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(hash, hex::encode(Sha256::digest(text.as_bytes())));
    }

    /// The declaration order of every field is what makes [`Invoice::canonical_text`]
    /// canonical: a field added out of order fails here.
    #[test]
    fn canonical_text_is_the_sorted_json_with_every_field_set() {
        let full = Invoice {
            entity: Some("US".into()),
            due_date: NaiveDate::from_ymd_opt(2026, 12, 1),
            customer: testing::full_customer(),
            lines: vec![testing::full_line("li_1", Decimal::new(1200, 2))],
            metadata: testing::unsorted_metadata(),
            ..sample()
        };
        testing::assert_canonical(&sample());
        testing::assert_canonical(&full);
    }

    #[test]
    fn hash_changes_with_content_and_scale() {
        let base = sample();
        let mut paid = base.clone();
        paid.status = InvoiceStatus::Paid;
        assert_ne!(base.content_hash(), paid.content_hash());
        let mut rescaled = base.clone();
        rescaled.total = Decimal::new(120, 1); // 12.0 instead of 12.00
        assert_eq!(rescaled.total, base.total);
        assert_ne!(base.content_hash(), rescaled.content_hash());
    }

    #[test]
    fn enums_round_trip_their_spelling() {
        let all = InvoiceStatus::ALL;
        testing::assert_codes(&all, InvoiceStatus::as_str, InvoiceStatus::from_code);
        testing::assert_codes(&LineType::ALL, LineType::as_str, LineType::from_code);
        assert_eq!(LineType::TaxAdjustment.as_str(), "TAX_ADJUSTMENT");
        assert_eq!(InvoiceStatus::from_code("open"), None);
        assert_eq!(InvoiceStatus::from_code("DRAFT"), None);
    }

    #[test]
    fn is_a_document() {
        let mut invoice = sample();
        assert_eq!(<Invoice as Document>::TYPE, DocumentType::Invoice);
        assert_eq!(Document::id(&invoice), "inv_1");
        assert_eq!(Document::entity(&invoice), None);
        assert_eq!(invoice.status_code(), Some("OPEN"));
        assert_eq!(invoice.event_type(true), "invoice.finalized");
        assert_eq!(invoice.event_type(false), "invoice.updated");
        invoice.status = InvoiceStatus::Void;
        assert!(Document::is_void(&invoice));
        assert_eq!(invoice.event_type(true), "invoice.voided");
    }

    #[test]
    fn is_void() {
        let mut invoice = sample();
        assert!(!invoice.is_void());
        invoice.status = InvoiceStatus::Void;
        assert!(invoice.is_void());
    }
}
