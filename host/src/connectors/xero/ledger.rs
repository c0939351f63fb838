//! What the ledger's documents share in Xero: their idempotency keys, their memory in
//! `erp_records` (a record written before the first write, so that a later attempt knows
//! a write may have reached Xero and looks before it writes again), the bank account
//! payments land in, and reading an element's validation errors.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::XeroConnector;
use super::client::{Call, Session};
use crate::connectors::{LedgerRequest, Outcome, Step, SyncRequest};
use crate::store::ErpRecord;

/// The query of a write that answers each element's validation errors.
pub const SUMMARIZE: [(&str, &str); 1] = [("summarizeErrors", "false")];

/// The `Idempotency-Key` of one write of one document version: the event id (which every
/// retry and manual re-sync of the version keeps), the document and what the write does
/// (`parts`), hashed to fit Xero's 128 characters. The same write of the same version
/// always carries the same key; Xero replays its answer for six minutes, and past that
/// the document's record and a look-up keep it from being done twice.
pub fn key(req: &LedgerRequest<'_>, parts: &[&str]) -> String {
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
    /// A session with a token fresh enough for the attempt.
    pub(super) async fn session<D>(&self, req: &SyncRequest<'_, D>) -> Step<Session> {
        let stop = req.stop.clone();
        self.client.fresh_session(&req.connection.id, stop).await
    }

    /// The stored record of `(kind, id)` on this session's organisation.
    async fn record(&self, session: &Session, kind: &str, id: &str) -> Step<Option<ErpRecord>> {
        let tenant = &session.connection.tenant_id;
        Ok(self
            .store
            .erp_record(session.account(), tenant, kind, id)
            .await?)
    }

    /// The record of `(kind, id)` on this session's organisation.
    pub(super) async fn kept(&self, session: &Session, kind: &str, id: &str) -> Step<Option<Kept>> {
        Ok(self.record(session, kind, id).await?.map(|r| Kept {
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
    ) -> Step<()> {
        let version = Some(kept.state.to_string());
        let record = ErpRecord {
            remote_id: kept.remote_id.clone(),
            version,
        };
        let tenant = &session.connection.tenant_id;
        let store = &self.store;
        store
            .put_erp_record(session.account(), tenant, kind, id, &record)
            .await?;
        Ok(())
    }

    /// The Xero id of a document this one applies to (an invoice, a credit note), which
    /// the worker made sure was delivered here first.
    pub(super) async fn remote_of(&self, session: &Session, kind: &str, id: &str) -> Step<String> {
        let record = self.record(session, kind, id).await?;
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

    /// The elements of `list` (`CreditNotes`, `Payments`, …) matching a `where` filter.
    pub(super) async fn find_where(
        &self,
        session: &mut Session,
        list: &str,
        filter: &str,
    ) -> Step<Vec<Value>> {
        let query = [("where", filter)];
        let found = self.call(session, Call::get(list, &query)).await?;
        Ok(found[list].as_array().cloned().unwrap_or_default())
    }

    /// Sends a write of one element and answers the element Xero returns in `list`
    /// (`Null` when it returns none).
    pub(super) async fn write_one(
        &self,
        session: &mut Session,
        list: &str,
        call: Call<'_>,
    ) -> Step<Value> {
        let answer = self.call(session, call).await?;
        Ok(answer[list].get(0).cloned().unwrap_or(Value::Null))
    }

    /// Dispatches a ledger document to its module.
    pub(super) async fn sync_ledger(&self, req: &LedgerRequest<'_>) -> Step {
        use crate::documents::AnyDocument as Doc;
        match req.document {
            Doc::Invoice(_) => Err(Outcome::permanent(None, INVOICE_HERE)),
            Doc::Customer(update) => self.sync_customer(req, update).await,
            Doc::CreditNote(note) => self.sync_credit_note(req, note).await,
            Doc::Refund(refund) => self.sync_refund(req, refund).await,
            Doc::Payment(payment) => self.sync_payment(req, payment).await,
        }
    }
}

const INVOICE_HERE: &str = "an invoice reached the ledger path; nothing was sent";

/// The account a payment or refund is booked to; a reversal needs none (it deletes what
/// was made), so a `void` one without it books to `""`.
pub fn account_for(req: &LedgerRequest<'_>, void: bool) -> Step<String> {
    match payment_account(&req.connection.config) {
        Err(_) if void => Ok(String::new()),
        found => found,
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

/// Fails the attempt for good, saying `why` with Xero's messages, when Xero refused
/// `element`.
pub fn accepted(element: &Value, why: impl FnOnce(String) -> String) -> Step<()> {
    match refusal(element) {
        Some(messages) => Err(Outcome::permanent(Some(200), why(messages))),
        None => Ok(()),
    }
}

/// A successful outcome with a note for the sync log.
pub fn done(remote_id: Option<String>, note: impl Into<String>) -> Outcome {
    Outcome {
        detail: Some(note.into()),
        ..Outcome::success(Some(200), remote_id)
    }
}
