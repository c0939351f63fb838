//! What ingesting any document needs, shared by both backends: the values a version is
//! stored with, its links to the documents it applies to, and the credit cap of an
//! invoice (the ISSUED credit notes on it may not exceed its total).

use rust_decimal::Decimal;

use super::{Prerequisite, StoreError, StoreResult};
use crate::documents::AnyDocument;
use crate::domain::{CreditNoteStatus, DocumentType};

// The statements both backends run for the ledger, with `$N` placeholders numbered in
// order of appearance (which rusqlite binds by position, as sqlx does).

/// The current body of invoice `$2` of tenant `$1`.
pub(super) const INVOICE_BODY_SQL: &str = "SELECT v.body FROM documents d JOIN document_versions v
       ON v.tenant_id = d.tenant_id AND v.doc_type = d.doc_type AND v.document_id = d.id
      AND v.version = d.version
     WHERE d.tenant_id = $1 AND d.doc_type = 'invoice' AND d.id = $2";

/// The amounts of the ISSUED credit notes on invoice `$2` of tenant `$1`, but credit note `$3`.
pub(super) const OTHER_CREDITS_SQL: &str = "SELECT l.amount FROM document_links l JOIN documents d
       ON d.tenant_id = l.tenant_id AND d.doc_type = l.doc_type AND d.id = l.document_id
     WHERE l.tenant_id = $1 AND l.target_type = 'invoice' AND l.target_id = $2
       AND l.doc_type = 'credit_note' AND l.document_id != $3 AND d.status = 'ISSUED'";

/// Forgets what document `$3` of type `$2` of tenant `$1` applied to.
pub(super) const DELETE_LINKS_SQL: &str =
    "DELETE FROM document_links WHERE tenant_id = $1 AND doc_type = $2 AND document_id = $3";

/// Records that document (`$4`, `$5`) applies to (`$2`, `$3`) for amount `$6`.
pub(super) const INSERT_LINK_SQL: &str = "INSERT INTO document_links
       (tenant_id, target_type, target_id, doc_type, document_id, amount) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (tenant_id, target_type, target_id, doc_type, document_id) DO UPDATE SET amount = excluded.amount";

/// Whether a delivery of document (`$3`, `$2`) to connection `$1` ever succeeded, and the
/// state of its latest one.
pub(super) const PREREQUISITE_SQL: &str = "SELECT
       EXISTS (SELECT 1 FROM jobs WHERE connection_id = $1 AND document_id = $2 AND doc_type = $3
                 AND state = 'succeeded'),
       (SELECT state FROM jobs WHERE connection_id = $1 AND document_id = $2 AND doc_type = $3
         ORDER BY seq DESC LIMIT 1)";

/// What [`PREREQUISITE_SQL`] read means for the document that waits.
pub(super) fn prerequisite(synced: bool, latest: Option<&str>) -> Prerequisite {
    match latest {
        _ if synced => Prerequisite::Synced,
        Some("failed" | "cancelled") => Prerequisite::Failed,
        _ => Prerequisite::Waiting,
    }
}

/// One version to store: a checked document and its canonical text and hash.
pub(super) struct Ingest {
    pub doc: AnyDocument,
    pub body: String,
    pub hash: String,
}

/// An ISSUED credit note's claim on its invoice.
pub(super) struct CreditCheck {
    pub invoice_id: String,
    pub total: Decimal,
}

impl Ingest {
    pub(super) fn of(doc: AnyDocument) -> Self {
        let (body, hash) = doc.canonical_body();
        Ingest { doc, body, hash }
    }

    pub(super) fn doc_type(&self) -> DocumentType {
        self.doc.doc_type()
    }

    pub(super) fn id(&self) -> &str {
        self.doc.id()
    }

    /// Whether links may exist for this type, so the links table is touched at all (an
    /// invoice's ingest never does).
    pub(super) fn has_links(&self) -> bool {
        !matches!(
            self.doc_type(),
            DocumentType::Invoice | DocumentType::Customer
        )
    }

    /// For an ISSUED credit note on an invoice: the check against that invoice's total.
    pub(super) fn credit(&self) -> Option<CreditCheck> {
        match &self.doc {
            AnyDocument::CreditNote(c) if c.status == CreditNoteStatus::Issued => {
                c.invoice_id.as_ref().map(|invoice_id| CreditCheck {
                    invoice_id: invoice_id.clone(),
                    total: c.total,
                })
            }
            _ => None,
        }
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
