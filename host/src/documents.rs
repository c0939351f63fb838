//! Any document of the ledger (an invoice, credit note, payment, refund or customer
//! update) as the store, the worker and the connectors carry it.
//!
//! Every document goes the invoice's way: ingested, versioned, queued per routed
//! connection, delivered, retried and logged. What differs between them is written here
//! once: how a stored body loads back, and which other documents one applies to (a
//! payment's invoices, a credit note's invoice, a refund's credit note), which decides
//! both the console's links and the order of delivery across documents.

use rust_decimal::Decimal;

use crate::domain::{CreditNote, CustomerUpdate, Document, DocumentType, Invoice, Payment, Refund};

/// One checked document of any type.
#[derive(Debug, Clone)]
pub enum AnyDocument {
    Invoice(Invoice),
    CreditNote(CreditNote),
    Payment(Payment),
    Refund(Refund),
    Customer(CustomerUpdate),
}

/// A document another one applies to, e.g. the invoice a payment settles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub doc_type: DocumentType,
    pub id: String,
    /// How much of the document goes to the target, when the relation carries an amount
    /// (a payment's share of an invoice, a credit note's total).
    pub amount: Option<Decimal>,
}

/// The documents a stored body of `doc_type` applies to, read without loading the whole
/// document (the claim reads them in SQLite's writer): the same, in the same order, as
/// [`AnyDocument::applies_to`] of that body. Nothing for an unreadable body; loading it
/// fails the attempt anyway.
pub fn references(doc_type: DocumentType, body: &str) -> Vec<crate::store::DocumentRef> {
    #[derive(serde::Deserialize)]
    struct Applied {
        invoice_id: String,
    }
    #[derive(serde::Deserialize)]
    struct Refs {
        invoice_id: Option<String>,
        credit_note_id: Option<String>,
        #[serde(default)]
        applied_to: Vec<Applied>,
    }
    let to = |doc_type, id| crate::store::DocumentRef { doc_type, id };
    if matches!(doc_type, DocumentType::Invoice | DocumentType::Customer) {
        return Vec::new();
    }
    let Ok(refs) = serde_json::from_str::<Refs>(body) else {
        return Vec::new();
    };
    match doc_type {
        DocumentType::Invoice | DocumentType::Customer => Vec::new(),
        DocumentType::CreditNote => refs
            .invoice_id
            .map(|id| to(DocumentType::Invoice, id))
            .into_iter()
            .collect(),
        DocumentType::Payment => refs
            .applied_to
            .into_iter()
            .map(|a| to(DocumentType::Invoice, a.invoice_id))
            .collect(),
        DocumentType::Refund => refs
            .credit_note_id
            .map(|id| to(DocumentType::CreditNote, id))
            .into_iter()
            .collect(),
    }
}

/// The status stored for a customer update, which has none of its own.
pub const CUSTOMER_STATUS: &str = "CURRENT";

/// The API path segment of a document type (`/v1/credit-notes`), for messages that name
/// an endpoint.
pub fn api_path(doc_type: DocumentType) -> &'static str {
    match doc_type {
        DocumentType::Invoice => "invoices",
        DocumentType::CreditNote => "credit-notes",
        DocumentType::Payment => "payments",
        DocumentType::Refund => "refunds",
        DocumentType::Customer => "customers",
    }
}

/// Calls `$body` with the inner document bound to `$d`, whatever its type.
macro_rules! each {
    ($doc:expr, $d:ident => $body:expr) => {
        match $doc {
            AnyDocument::Invoice($d) => $body,
            AnyDocument::CreditNote($d) => $body,
            AnyDocument::Payment($d) => $body,
            AnyDocument::Refund($d) => $body,
            AnyDocument::Customer($d) => $body,
        }
    };
}

impl AnyDocument {
    /// Loads a stored version (the canonical JSON ingest wrote) back.
    pub fn load(doc_type: DocumentType, body: &str) -> Result<Self, serde_json::Error> {
        Ok(match doc_type {
            DocumentType::Invoice => AnyDocument::Invoice(serde_json::from_str(body)?),
            DocumentType::CreditNote => AnyDocument::CreditNote(serde_json::from_str(body)?),
            DocumentType::Payment => AnyDocument::Payment(serde_json::from_str(body)?),
            DocumentType::Refund => AnyDocument::Refund(serde_json::from_str(body)?),
            DocumentType::Customer => AnyDocument::Customer(serde_json::from_str(body)?),
        })
    }

    /// Which kind of document this is.
    pub fn doc_type(&self) -> DocumentType {
        match self {
            AnyDocument::Invoice(_) => DocumentType::Invoice,
            AnyDocument::CreditNote(_) => DocumentType::CreditNote,
            AnyDocument::Payment(_) => DocumentType::Payment,
            AnyDocument::Refund(_) => DocumentType::Refund,
            AnyDocument::Customer(_) => DocumentType::Customer,
        }
    }

    /// The platform's id of the document.
    pub fn id(&self) -> &str {
        each!(self, d => d.id())
    }

    /// The entity that routes it in Multi-ERP mode.
    pub fn entity(&self) -> Option<&str> {
        each!(self, d => d.entity())
    }

    /// The status as stored: the contract's spelling, [`CUSTOMER_STATUS`] for a customer.
    pub fn status(&self) -> &'static str {
        each!(self, d => d.status_code()).unwrap_or(CUSTOMER_STATUS)
    }

    /// Whether the platform voided it.
    pub fn is_void(&self) -> bool {
        each!(self, d => d.is_void())
    }

    /// The canonical text and its hash, as ingest stores and compares them.
    pub fn canonical_body(&self) -> (String, String) {
        each!(self, d => d.canonical_body())
    }

    /// The platform's id of the customer the document belongs to.
    pub fn customer_id(&self) -> &str {
        match self {
            AnyDocument::Invoice(d) => &d.customer.id,
            AnyDocument::CreditNote(d) => &d.customer.id,
            AnyDocument::Payment(d) => &d.customer.id,
            AnyDocument::Refund(d) => &d.customer.id,
            AnyDocument::Customer(d) => &d.id,
        }
    }

    /// The documents this one applies to: on each connection, it goes out only once
    /// every one of them has its record there (`docs/architecture.md`, "Order across
    /// documents").
    pub fn applies_to(&self) -> Vec<Link> {
        use DocumentType::{CreditNote, Invoice};
        let link = |doc_type, id: &String, amount| Link {
            doc_type,
            id: id.clone(),
            amount: Some(amount),
        };
        match self {
            AnyDocument::Invoice(_) | AnyDocument::Customer(_) => Vec::new(),
            AnyDocument::CreditNote(c) => c
                .invoice_id
                .iter()
                .map(|id| link(Invoice, id, c.total))
                .collect(),
            AnyDocument::Payment(p) => p
                .applied_to
                .iter()
                .map(|a| link(Invoice, &a.invoice_id, a.amount))
                .collect(),
            AnyDocument::Refund(r) => r
                .credit_note_id
                .iter()
                .map(|id| link(CreditNote, id, r.amount))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(doc_type: DocumentType, file: &str) -> AnyDocument {
        let path = format!("{}/../examples/{file}", env!("CARGO_MANIFEST_DIR"));
        let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let doc = match doc_type {
            DocumentType::Invoice => {
                AnyDocument::Invoice(crate::domain::parse_invoice(&raw).unwrap())
            }
            DocumentType::CreditNote => {
                AnyDocument::CreditNote(crate::domain::parse_credit_note(&raw).unwrap())
            }
            DocumentType::Payment => {
                AnyDocument::Payment(crate::domain::parse_payment(&raw).unwrap())
            }
            DocumentType::Refund => AnyDocument::Refund(crate::domain::parse_refund(&raw).unwrap()),
            DocumentType::Customer => {
                AnyDocument::Customer(crate::domain::parse_customer_update("cus_42", &raw).unwrap())
            }
        };
        assert_eq!(doc.doc_type(), doc_type);
        doc
    }

    #[test]
    fn stored_bodies_load_back_as_the_same_document() {
        for (t, file) in [
            (DocumentType::CreditNote, "credit-notes/basic.json"),
            (DocumentType::Payment, "payments/basic.json"),
            (DocumentType::Refund, "refunds/basic.json"),
            (DocumentType::Customer, "customers/basic.json"),
        ] {
            let doc = sample(t, file);
            let (body, hash) = doc.canonical_body();
            let back = AnyDocument::load(t, &body).expect("loads");
            assert_eq!(back.canonical_body(), (body, hash), "{t}");
            assert_eq!(back.id(), doc.id());
        }
    }

    #[test]
    fn references_read_from_a_stored_body_are_what_it_applies_to() {
        for (t, file) in [
            (DocumentType::CreditNote, "credit-notes/basic.json"),
            (DocumentType::Payment, "payments/basic.json"),
            (DocumentType::Refund, "refunds/basic.json"),
            (DocumentType::Customer, "customers/basic.json"),
        ] {
            let doc = sample(t, file);
            let expected: Vec<(DocumentType, String)> = doc
                .applies_to()
                .into_iter()
                .map(|l| (l.doc_type, l.id))
                .collect();
            let read: Vec<(DocumentType, String)> = references(t, &doc.canonical_body().0)
                .into_iter()
                .map(|d| (d.doc_type, d.id))
                .collect();
            assert_eq!(read, expected, "{t}");
        }
        assert!(references(DocumentType::Payment, "not json").is_empty());
    }

    #[test]
    fn what_each_document_applies_to() {
        let payment = sample(DocumentType::Payment, "payments/basic.json");
        let AnyDocument::Payment(p) = &payment else {
            unreachable!()
        };
        let links = payment.applies_to();
        assert_eq!(links.len(), p.applied_to.len());
        assert!(links.iter().all(|l| l.doc_type == DocumentType::Invoice));
        let credit = sample(DocumentType::CreditNote, "credit-notes/basic.json");
        let AnyDocument::CreditNote(c) = &credit else {
            unreachable!()
        };
        assert_eq!(
            credit.applies_to(),
            vec![Link {
                doc_type: DocumentType::Invoice,
                id: c.invoice_id.clone().expect("the sample credits an invoice"),
                amount: Some(c.total),
            }]
        );
        let customer = sample(DocumentType::Customer, "customers/basic.json");
        assert!(customer.applies_to().is_empty());
        assert_eq!(customer.status(), CUSTOMER_STATUS);
        assert_eq!(customer.customer_id(), "cus_42");
    }
}
