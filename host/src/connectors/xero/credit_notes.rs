//! Credit notes in Xero: an `ACCRECCREDIT` credit note (`PUT CreditNotes`, AUTHORISED,
//! numbered with our number), allocated to the invoice it credits
//! (`PUT CreditNotes/{CreditNoteID}/Allocations` with `Invoice.InvoiceID`, `Amount`,
//! `Date`).
//!
//! - **Creates** arriving together for one organisation go as one `PUT CreditNotes` of
//!   up to [`PER_REQUEST`] elements with `summarizeErrors=false` (see
//!   [`crate::connectors::coalesce`]), as invoices and payments do: each credit note gets
//!   its own element of the answer (a refused element fails only its credit note), and
//!   the request's `Idempotency-Key` is derived from its members' own create keys. A
//!   batch whose answer is lost is looked up by its numbers in one call: the credit notes
//!   found are taken as after any lost answer (their version and allocation read again),
//!   the others fail to be retried, and their retry looks by number before creating.
//!   Updates, allocations and voids go one per request.
//! - The record (`erp_records`, kind `credit_note`) is written before the create and
//!   after every step: `CreditNoteID`, the version it holds (a hash of its text), and its
//!   allocation (`pending` while one is being sent). An attempt finding the record
//!   without an id looks the credit note up by number (unique for `ACCRECCREDIT`) before
//!   creating it; one finding a pending allocation reads the credit note's `Allocations`
//!   before allocating again. So nothing is credited twice, however answers are lost.
//! - A changed version removes the allocation (Xero edits nothing with an allocation),
//!   updates the credit note (`POST CreditNotes/{id}`) and allocates again; VOID removes
//!   the allocation and sets `VOIDED` (a credit note already refunded cannot be voided:
//!   Xero says so, and the delivery fails with its words).

use reqwest::Method;
use serde_json::{Value, json};

use super::XeroConnector;
use super::client::{Call, Session};
use super::ledger::{self, Kept, SUMMARIZE};
use super::mapping::{self, LineRules, where_literal};
use crate::connectors::coalesce::Fill;
use crate::connectors::limits::Pass;
use crate::connectors::{LedgerRequest, Outcome, OutcomeKind, Step};
use crate::domain::CreditNote;

const KIND: &str = "credit_note";

/// Credit notes per multi-credit-note create.
pub const PER_REQUEST: usize = 25;

/// How create batches fill: full, or arrivals paused for a moment, or a second at most.
pub const FILL: Fill = Fill {
    max: PER_REQUEST,
    quiet: std::time::Duration::from_millis(60),
    max_wait: std::time::Duration::from_secs(1),
};

/// One credit note waiting for its create batch.
pub struct NewCreditNote {
    pub element: Value,
    /// The create's own `Idempotency-Key` ([`ledger::key`]).
    pub key: String,
    pub number: String,
}

/// A create's element of the answer; `adopted` when the batch's answer was lost and the
/// credit note was found by its number.
pub struct Made {
    pub element: Value,
    pub adopted: bool,
}

/// The credit note being delivered, with its request.
#[derive(Clone, Copy)]
struct Job<'a> {
    req: &'a LedgerRequest<'a>,
    note: &'a CreditNote,
}
const WRITE_QUERY: [(&str, &str); 2] = [("summarizeErrors", "false"), ("unitdp", "4")];

impl XeroConnector {
    pub(super) async fn sync_credit_note(
        &self,
        req: &LedgerRequest<'_>,
        note: &CreditNote,
    ) -> Step {
        let job = Job { req, note };
        let session = &mut self.session(req).await?;
        let content = ledger::content_hash(req.document_json);
        let void = req.document.is_void();
        let found = self.kept(session, KIND, &note.id).await?;
        let fresh = found.is_none();
        let mut kept = found.unwrap_or_else(|| Kept {
            remote_id: String::new(),
            state: json!({}),
        });
        if kept.remote_id.is_empty() && !fresh {
            self.find_credit_note(session, note, &mut kept).await?;
        }
        if kept.remote_id.is_empty() {
            if void {
                return Ok(ledger::done(
                    None,
                    "the credit note was never in Xero; nothing to void",
                ));
            }
            // Before the first write: a later attempt then knows to look first.
            kept.state["sent"] = json!(true);
            self.keep(session, KIND, &note.id, &kept).await?;
            let new = NewCreditNote {
                element: self.element(session, job).await?,
                key: ledger::key(req, &["create"]),
                number: note.number.clone(),
            };
            let Made {
                element: created,
                adopted,
            } = self.create_credit_note(session, new).await?;
            ledger::accepted(&created, |messages| {
                format!("Xero refused credit note {}: {messages}", note.number)
            })?;
            let Some(id) = created["CreditNoteID"].as_str() else {
                return Err(Outcome::retryable(
                    Some(200),
                    "Xero answered without the credit note that was sent",
                    None,
                ));
            };
            kept.remote_id = id.to_string();
            kept.state = if adopted {
                // Found by number after its batch's answer was lost: as after any lost
                // answer, the version it holds and its allocation are read again (the
                // update and allocation steps below).
                tracing::info!(credit_note = %note.id, "a lost batch's Xero credit note was found");
                json!({"content": null, "status": created["Status"], "allocation": {"pending": true}})
            } else {
                json!({"content": content, "status": created["Status"], "allocation": null})
            };
            self.keep(session, KIND, &note.id, &kept).await?;
        }
        self.settle_allocation(session, &mut kept).await?;
        if void {
            return self.void_credit_note(session, job, kept).await;
        }
        if kept.state["content"] != content.as_str() {
            self.unallocate(session, job, &mut kept).await?;
            let mut element = self.element(session, job).await?;
            element["CreditNoteID"] = json!(kept.remote_id);
            let body = json!({"CreditNotes": [element]});
            let path = format!("CreditNotes/{}", kept.remote_id);
            let key = ledger::key(req, &["update"]);
            let call = Call::write(Method::POST, &path, &WRITE_QUERY, &body, &key);
            let updated = self.write_one(session, "CreditNotes", call).await?;
            ledger::accepted(&updated, |messages| {
                let number = &note.number;
                format!("Xero refused the update of credit note {number}: {messages}")
            })?;
            kept.state["content"] = json!(content);
            kept.state["status"] = updated["Status"].clone();
            self.keep(session, KIND, &note.id, &kept).await?;
        }
        self.allocate(session, job, &mut kept).await?;
        Ok(Outcome::success(Some(200), Some(kept.remote_id)))
    }

    /// The credit note as Xero takes it, for its contact.
    async fn element(&self, session: &mut Session, job: Job<'_>) -> Step<Value> {
        let Job { req, note } = job;
        let contact = self.contact(session, &note.customer).await?;
        let rules = LineRules::from_config(&req.connection.config);
        Ok(mapping::credit_note_element(note, &contact, &rules))
    }

    /// A look-up by number after a create whose answer may have been lost.
    async fn find_credit_note(
        &self,
        session: &mut Session,
        note: &CreditNote,
        kept: &mut Kept,
    ) -> Step<()> {
        let number = where_literal(&note.number);
        let filter = format!("CreditNoteNumber=={number} AND Type==\"ACCRECCREDIT\"");
        let found = self.find_where(session, "CreditNotes", &filter).await?;
        let hit = found
            .iter()
            .find(|c| c["Status"] != "DELETED" && c["CreditNoteNumber"] == note.number.as_str());
        if let Some(c) = hit {
            tracing::info!(credit_note = %note.id, "a Xero credit note made by an earlier attempt was found");
            kept.remote_id = c["CreditNoteID"].as_str().unwrap_or_default().to_string();
            // Which version it holds is unknown: the update step sends this one again.
            kept.state =
                json!({"content": null, "status": c["Status"], "allocation": {"pending": true}});
        }
        Ok(())
    }

    /// Reads the credit note's allocations when one was being sent and its answer lost.
    async fn settle_allocation(&self, session: &mut Session, kept: &mut Kept) -> Step<()> {
        if kept.state["allocation"]["pending"] != true {
            return Ok(());
        }
        let path = format!("CreditNotes/{}", kept.remote_id);
        let now = self.call(session, Call::get(&path, &[])).await?;
        let note = &now["CreditNotes"][0];
        let allocation = note["Allocations"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["IsDeleted"] != true)
            .map(|a| {
                json!({"id": a["AllocationID"], "invoice": a["Invoice"]["InvoiceID"],
                       "amount": a["Amount"]})
            });
        kept.state["allocation"] = allocation.unwrap_or(Value::Null);
        kept.state["status"] = note["Status"].clone();
        Ok(())
    }

    /// Removes the allocation (a 404: it is gone already).
    async fn unallocate(&self, session: &mut Session, job: Job<'_>, kept: &mut Kept) -> Step<()> {
        let Job { req, note } = job;
        let Some(id) = kept.state["allocation"]["id"].as_str().map(str::to_string) else {
            return Ok(());
        };
        let path = format!("CreditNotes/{}/Allocations/{id}", kept.remote_id);
        let key = ledger::key(req, &["unallocate", &id]);
        let call = Call {
            method: Method::DELETE,
            path: &path,
            query: &[],
            body: None,
            idempotency_key: Some(&key),
        };
        match self.call(session, call).await {
            Ok(_) => {}
            Err(o) if o.response_code == Some(404) => {}
            Err(o) => return Err(o),
        }
        kept.state["allocation"] = Value::Null;
        self.keep(session, KIND, &note.id, kept).await
    }

    /// Allocates the credit note to its invoice, unless it already is.
    async fn allocate(&self, session: &mut Session, job: Job<'_>, kept: &mut Kept) -> Step<()> {
        let Job { req, note } = job;
        let Some(invoice_id) = &note.invoice_id else {
            return self.unallocate(session, job, kept).await;
        };
        let invoice = self.remote_of(session, "invoice", invoice_id).await?;
        let current = &kept.state["allocation"];
        let same_amount = crate::domain::money::parse_amount(&current["amount"])
            .is_ok_and(|a| a.round_dp(2) == note.total.round_dp(2));
        if !current.is_null()
            && current["invoice"]
                .as_str()
                .is_some_and(|i| i.eq_ignore_ascii_case(&invoice))
            && same_amount
        {
            return Ok(());
        }
        self.unallocate(session, job, kept).await?;
        kept.state["allocation"] = json!({"pending": true});
        self.keep(session, KIND, &note.id, kept).await?;
        let body = json!({"Allocations": [{
            "Invoice": {"InvoiceID": invoice},
            "Amount": crate::connectors::lines::amount(note.total),
            "Date": note.issue_date.to_string(),
        }]});
        let path = format!("CreditNotes/{}/Allocations", kept.remote_id);
        let key = ledger::key(req, &["allocate", &invoice]);
        let call = Call::write(Method::PUT, &path, &SUMMARIZE, &body, &key);
        let allocation = self.write_one(session, "Allocations", call).await?;
        if let Some(messages) = ledger::refusal(&allocation) {
            kept.state["allocation"] = Value::Null;
            self.keep(session, KIND, &note.id, kept).await?;
            return Err(Outcome::permanent(
                Some(200),
                format!(
                    "Xero refused to apply credit note {} ({} {}) to invoice {invoice_id}: {messages}; no retry can fix this",
                    note.number, note.total, note.currency
                ),
            ));
        }
        match allocation["AllocationID"].as_str() {
            Some(id) => {
                kept.state["allocation"] =
                    json!({"id": id, "invoice": invoice, "amount": allocation["Amount"]});
            }
            // [I] Xero's example answer has no AllocationID: read it from the credit note.
            None => self.settle_allocation(session, kept).await?,
        }
        self.keep(session, KIND, &note.id, kept).await
    }

    async fn void_credit_note(&self, session: &mut Session, job: Job<'_>, mut kept: Kept) -> Step {
        let Job { req, note } = job;
        if kept.state["status"] == "VOIDED" {
            return Ok(Outcome::success(Some(200), Some(kept.remote_id)));
        }
        self.unallocate(session, job, &mut kept).await?;
        let path = format!("CreditNotes/{}", kept.remote_id);
        let body = json!({"CreditNotes": [{"CreditNoteID": kept.remote_id, "Status": "VOIDED"}]});
        let key = ledger::key(req, &["void"]);
        let call = Call::write(Method::POST, &path, &SUMMARIZE, &body, &key);
        let element = self.write_one(session, "CreditNotes", call).await?;
        if let Some(messages) = ledger::refusal(&element) {
            // A lost answer of an earlier void: it is void already.
            let now = self.call(session, Call::get(&path, &[])).await?;
            if now["CreditNotes"][0]["Status"] != "VOIDED" {
                return Err(Outcome::permanent(
                    Some(200),
                    format!(
                        "Xero refused to void credit note {}: {messages}",
                        note.number
                    ),
                ));
            }
        }
        kept.state["status"] = json!("VOIDED");
        self.keep(session, KIND, &note.id, &kept).await?;
        Ok(Outcome::success(Some(200), Some(kept.remote_id)))
    }
}

impl XeroConnector {
    /// Creates one credit note as part of a multi-credit-note request; answers its
    /// element.
    async fn create_credit_note(&self, session: &mut Session, new: NewCreditNote) -> Step<Made> {
        // The leader's own session sends the batch (the batch is one connection's).
        let mut sender = session.fork();
        let (id, entered) = (session.connection.id.clone(), &*session);
        let send = async |pass, batch| self.send_credit_notes(&mut sender, pass, batch).await;
        let ready = async || self.client.enter(entered).await;
        self.credit_note_creates.submit(&id, new, ready, send).await
    }

    /// Sends one multi-credit-note create and hands each credit note its element.
    async fn send_credit_notes(
        &self,
        session: &mut Session,
        pass: Pass,
        batch: Vec<NewCreditNote>,
    ) -> Vec<Step<Made>> {
        let elements: Vec<Value> = batch.iter().map(|n| n.element.clone()).collect();
        let body = json!({"CreditNotes": elements});
        // An idempotency key naming exactly these creates (each its own version's key).
        let key = super::batch_key("credit-notes", batch.iter().map(|n| n.key.as_str()));
        let call = Call::write(Method::PUT, "CreditNotes", &WRITE_QUERY, &body, &key);
        let sent = self.call_with(session, Some(pass), call).await;
        tracing::debug!(
            credit_notes = batch.len(),
            ok = sent.is_ok(),
            "a multi-credit-note create was answered"
        );
        match sent {
            Ok(answer) => (0..batch.len())
                .map(|i| match answer["CreditNotes"].get(i) {
                    Some(element) => Ok(Made {
                        element: element.clone(),
                        adopted: false,
                    }),
                    None => Err(Outcome::retryable(
                        Some(200),
                        "Xero answered fewer credit notes than were sent",
                        None,
                    )),
                })
                .collect(),
            // The answer was lost, and Xero may have created some or all of them: one
            // look-up by number says which.
            Err(lost) if matches!(lost.kind, OutcomeKind::Retryable { .. }) => {
                let found = match self.find_credit_notes(session, &batch).await {
                    Ok(found) => found,
                    Err(_) => return batch.iter().map(|_| Err(lost.clone())).collect(),
                };
                found
                    .into_iter()
                    .map(|hit| match hit {
                        Some(element) => Ok(Made {
                            element,
                            adopted: true,
                        }),
                        None => Err(lost.clone()),
                    })
                    .collect()
            }
            Err(o) => batch.iter().map(|_| Err(o.clone())).collect(),
        }
    }

    /// One look-up of a batch's credit notes by number: each one's, if Xero has it.
    async fn find_credit_notes(
        &self,
        session: &mut Session,
        batch: &[NewCreditNote],
    ) -> Step<Vec<Option<Value>>> {
        let numbers: Vec<String> = batch
            .iter()
            .map(|n| format!("CreditNoteNumber=={}", where_literal(&n.number)))
            .collect();
        let filter = format!("Type==\"ACCRECCREDIT\" AND ({})", numbers.join(" OR "));
        let found = self.find_where(session, "CreditNotes", &filter).await?;
        Ok(batch
            .iter()
            .map(|n| {
                found
                    .iter()
                    .find(|c| {
                        c["Status"] != "DELETED" && c["CreditNoteNumber"] == n.number.as_str()
                    })
                    .cloned()
            })
            .collect())
    }
}
