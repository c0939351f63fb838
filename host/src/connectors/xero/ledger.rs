//! What the ledger's documents share in Xero: their idempotency keys, their memory in
//! `erp_records` (a record written before the first write, so that a later attempt knows
//! a write may have reached Xero and looks before it writes again), the bank account
//! payments land in, and reading an element's validation errors.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::XeroConnector;
use super::client::Session;
use crate::connectors::{Outcome, SyncRequest};
use crate::documents::AnyDocument;
use crate::store::ErpRecord;

/// The `Idempotency-Key` of one write of one document version: the event id (which every
/// retry and manual re-sync of the version keeps), the document and what the write does
/// (`parts`), hashed to fit Xero's 128 characters. The same write of the same version
/// always carries the same key; Xero replays its answer for six minutes, and past that
/// the document's record and a look-up keep it from being done twice.
pub fn key(req: &SyncRequest<'_, AnyDocument>, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(req.event_id.as_bytes());
    hasher.update(b"\n");
    hasher.update(req.document.doc_type().as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(req.document.id().as_bytes());
    for part in parts {
        hasher.update(b"\n");
        hasher.update(part.as_bytes());
    }
    format!("ledger-{}", hex::encode(&hasher.finalize()[..20]))
}

/// A short hash of a version's canonical text, to tell whether the record in Xero is of
/// this version.
pub fn content_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

/// A document's record: the remote id (empty while only intended) and its state.
pub struct Kept {
    pub remote_id: String,
    pub state: Value,
}

impl XeroConnector {
    /// The record of `(kind, id)` on this session's organisation.
    pub(super) async fn kept(
        &self,
        session: &Session,
        kind: &str,
        id: &str,
    ) -> Result<Option<Kept>, Outcome> {
        let record = self
            .store
            .erp_record(session.account(), &session.connection.tenant_id, kind, id)
            .await?;
        Ok(record.map(|r| Kept {
            remote_id: r.remote_id,
            state: r
                .version
                .and_then(|v| serde_json::from_str(&v).ok())
                .unwrap_or_else(|| json!({})),
        }))
    }

    /// Saves the record of `(kind, id)`.
    pub(super) async fn keep(
        &self,
        session: &Session,
        kind: &str,
        id: &str,
        kept: &Kept,
    ) -> Result<(), Outcome> {
        let record = ErpRecord {
            remote_id: kept.remote_id.clone(),
            version: Some(kept.state.to_string()),
        };
        self.store
            .put_erp_record(
                session.account(),
                &session.connection.tenant_id,
                kind,
                id,
                &record,
            )
            .await?;
        Ok(())
    }

    /// The Xero id of a document this one applies to (an invoice, a credit note), which
    /// the worker made sure was delivered here first.
    pub(super) async fn remote_of(
        &self,
        session: &Session,
        kind: &str,
        id: &str,
    ) -> Result<String, Outcome> {
        let record = self
            .store
            .erp_record(session.account(), &session.connection.tenant_id, kind, id)
            .await?;
        record
            .map(|r| r.remote_id)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                Outcome::permanent(
                    None,
                    format!(
                        "{} {id} has no Xero record on this connection; re-sync it first",
                        kind.replace('_', " ")
                    ),
                )
            })
    }
}

/// The bank account code payments and refunds are booked to (`payment_account`).
pub fn payment_account(config: &Value) -> Result<String, Outcome> {
    config
        .get("payment_account")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            Outcome::permanent(
                None,
                "the connection has no payment_account: set config.payment_account to the code of \
                 the Xero bank account payments are received into; nothing was sent",
            )
        })
}

/// The validation messages of a refused element (`HasErrors`, `HasValidationErrors`,
/// `StatusAttributeString: ERROR` or a non-empty `ValidationErrors`); `None` when it
/// was accepted.
pub fn refusal(element: &Value) -> Option<String> {
    let errors: Vec<String> = element["ValidationErrors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["Message"].as_str().map(str::to_string))
        .collect();
    let refused = element["HasErrors"] == true
        || element["HasValidationErrors"] == true
        || element["StatusAttributeString"] == "ERROR"
        || !errors.is_empty();
    refused.then(|| {
        if errors.is_empty() {
            "(no message)".to_string()
        } else {
            errors.join("; ")
        }
    })
}

/// A successful outcome with a note for the sync log.
pub fn done(remote_id: Option<String>, note: impl Into<String>) -> Outcome {
    Outcome {
        detail: Some(note.into()),
        ..Outcome::success(Some(200), remote_id)
    }
}
