//! Credit notes in Xero: an `ACCRECCREDIT` credit note (`PUT CreditNotes`, AUTHORISED,
//! numbered with our number), allocated to the invoice it credits
//! (`PUT CreditNotes/{CreditNoteID}/Allocations` with `Invoice.InvoiceID`, `Amount`,
//! `Date`).
//!
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

use std::str::FromStr;

use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::XeroConnector;
use super::client::{Call, Session};
use super::ledger::{self, Kept, SUMMARIZE};
use super::mapping::{self, LineRules, where_literal};
use crate::connectors::{LedgerRequest, Outcome, Step};
use crate::domain::CreditNote;

const KIND: &str = "credit_note";

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
            let body = json!({"CreditNotes": [self.element(session, job).await?]});
            let key = ledger::key(req, &["create"]);
            let call = Call::write(Method::PUT, "CreditNotes", &WRITE_QUERY, &body, &key);
            let created = self.write_one(session, "CreditNotes", call).await?;
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
            kept.state =
                json!({"content": content, "status": created["Status"], "allocation": null});
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
        let same_amount = current["amount"]
            .as_f64()
            .map(|a| a.to_string())
            .and_then(|a| Decimal::from_str(&a).ok())
            .is_some_and(|a| a.round_dp(2) == note.total.round_dp(2));
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
