//! What ingesting any document needs, shared by both backends: the values a version is
//! stored with, its links to the documents it applies to, and the credit cap of an
//! invoice (the ISSUED credit notes on it may not exceed its total).

use rust_decimal::Decimal;

use super::{StoreError, StoreResult};
use crate::documents::{AnyDocument, Link};
use crate::domain::{CreditNoteStatus, DocumentType};

/// One version to store, taken from a checked document.
pub(super) struct Ingest {
    pub doc_type: DocumentType,
    pub id: String,
    pub status: &'static str,
    pub entity: Option<String>,
    pub void: bool,
    pub body: String,
    pub hash: String,
    /// What this version applies to; replaces the previous version's links.
    pub links: Vec<Link>,
    /// For an ISSUED credit note on an invoice: the check against that invoice's total.
    pub credit: Option<CreditCheck>,
}

/// An ISSUED credit note's claim on its invoice.
pub(super) struct CreditCheck {
    pub invoice_id: String,
    pub total: Decimal,
}

impl Ingest {
    pub(super) fn of(document: &AnyDocument) -> Self {
        let (body, hash) = document.canonical_body();
        let credit = match document {
            AnyDocument::CreditNote(c) if c.status == CreditNoteStatus::Issued => {
                c.invoice_id.as_ref().map(|invoice_id| CreditCheck {
                    invoice_id: invoice_id.clone(),
                    total: c.total,
                })
            }
            _ => None,
        };
        Ingest {
            doc_type: document.doc_type(),
            id: document.id().to_string(),
            status: document.status(),
            entity: document.entity().map(str::to_string),
            void: document.is_void(),
            body,
            hash,
            links: document.applies_to(),
            credit,
        }
    }

    /// Whether links may exist for this type, so the links table is touched at all (an
    /// invoice's ingest never does).
    pub(super) fn has_links(&self) -> bool {
        !matches!(self.doc_type, DocumentType::Invoice | DocumentType::Customer)
    }
}

/// The total of a stored invoice body.
fn invoice_total(body: &str) -> StoreResult<Decimal> {
    #[derive(serde::Deserialize)]
    struct Total {
        total: Decimal,
    }
    serde_json::from_str::<Total>(body)
        .map(|t| t.total)
        .map_err(|source| StoreError::Json {
            what: "document_versions.body",
            source,
        })
}

/// Refuses a credit note that would take the ISSUED credit notes on its invoice above the
/// invoice's total. `invoice_body` is the invoice's current version (`None`: not posted
/// yet, nothing to check against); `others` are the other ISSUED credit notes' amounts on
/// it, as stored.
pub(super) fn check_credit_cap(
    check: &CreditCheck,
    invoice_body: Option<&str>,
    others: &[String],
) -> StoreResult<()> {
    let Some(body) = invoice_body else {
        return Ok(());
    };
    let total = invoice_total(body)?;
    let mut credited = check.total;
    for amount in others {
        credited += amount
            .parse::<Decimal>()
            .map_err(|e| StoreError::Corrupt(format!("document_links.amount {amount:?}: {e}")))?;
    }
    if credited > total {
        let before = credited - check.total;
        return Err(StoreError::Refused {
            field: "total".into(),
            message: format!(
                "the credit notes on invoice {} would come to {credited}, above its total of {total} \
                 ({before} is credited already); lower this credit note's total to at most {} or void another",
                check.invoice_id,
                (total - before).max(Decimal::ZERO)
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(total: &str) -> CreditCheck {
        CreditCheck {
            invoice_id: "inv_1".into(),
            total: total.parse().unwrap(),
        }
    }

    #[test]
    fn credit_up_to_the_invoice_total_is_allowed_and_beyond_refused() {
        let invoice = r#"{"total":"10.00","id":"inv_1"}"#;
        assert!(check_credit_cap(&check("4.00"), Some(invoice), &["6.00".into()]).is_ok());
        let refused = check_credit_cap(&check("4.01"), Some(invoice), &["6.00".into()]);
        match refused {
            Err(StoreError::Refused { field, message }) => {
                assert_eq!(field, "total");
                assert!(message.contains("inv_1"), "{message}");
                assert!(message.contains("10.01"), "{message}");
                assert!(message.contains("at most 4.00"), "{message}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // No invoice yet: nothing to check against.
        assert!(check_credit_cap(&check("400"), None, &[]).is_ok());
    }
}
