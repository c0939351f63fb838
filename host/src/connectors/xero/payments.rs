//! Payments (and refunds) in Xero: one Xero Payment per invoice a payment applies to
//! (per credit note a refund pays out), `PUT Payments` with `Invoice.InvoiceID` (or
//! `CreditNote.CreditNoteID`), `Account.Code` = `payment_account`, `Amount`, `Date` and
//! `Reference`; payments arriving together go in one request of several elements
//! (`{"Payments":[…]}`, `summarizeErrors=false`), as invoices do.
//!
//! - Xero cannot edit a payment, only delete it (`POST Payments/{PaymentID}` with
//!   `Status: DELETED`): a changed version deletes the Xero payments it no longer
//!   matches and creates the new ones; a VOID version deletes them all.
//! - Nothing is paid twice: the record (`erp_records`, kind `payment` or `refund`) is
//!   written before the first create and after every write, and names each Xero payment
//!   made, by the invoice it pays. An attempt that finds a record but not every payment
//!   in it (an answer was lost) first looks for the missing ones by their `Reference`,
//!   which carries our document id, and adopts them; our payments it finds that the
//!   version no longer wants are deleted. Every write carries an `Idempotency-Key` of the
//!   version and the write.
//! - A payment with an unapplied remainder fails at once naming it: Xero keeps unapplied
//!   money as an overpayment, which only a bank transaction makes, not this API.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::XeroConnector;
use super::client::{Call, Session};
use super::ledger::{self, Kept, SUMMARIZE};
use super::mapping::where_literal;
use crate::connectors::coalesce::Fill;
use crate::connectors::limits::Pass;
use crate::connectors::{LedgerRequest, Outcome, Step};

/// Payments (documents, each one or more elements) per multi-payment request.
pub const PER_REQUEST: usize = 25;

/// How payment batches fill.
pub const FILL: Fill = Fill {
    max: PER_REQUEST,
    quiet: std::time::Duration::from_millis(60),
    max_wait: std::time::Duration::from_secs(1),
};

/// One document's payments waiting for their batch.
pub struct NewPayments {
    pub elements: Vec<Value>,
    pub key: String,
}

/// What a payment pays: an invoice, or (a refund) a credit note.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum On {
    Invoice,
    CreditNote,
}

/// One Xero payment a document needs.
pub struct Target {
    /// Our id of the invoice or credit note.
    pub local: String,
    /// Its Xero id.
    pub remote: String,
    pub on: On,
    pub amount: Decimal,
}

/// A document's money, as Xero payments.
pub struct Booking {
    /// `payment` or `refund` (the record's kind).
    kind: &'static str,
    id: String,
    /// Finds the payments again after a lost answer ([`reference`]).
    reference: String,
    date: NaiveDate,
    account: String,
    targets: Vec<Target>,
}

impl Booking {
    /// Document `id` of `kind`, dated `at`, paid into `account` (`processor` is the
    /// processor's reference).
    pub fn new(
        kind: &'static str,
        id: &str,
        processor: Option<&str>,
        at: DateTime<Utc>,
        account: String,
        targets: Vec<Target>,
    ) -> Self {
        let (reference, date) = (reference(processor, id), at.date_naive());
        Booking {
            kind,
            id: id.to_string(),
            reference,
            date,
            account,
            targets,
        }
    }

    /// What a Xero payment of `target` must match to stand for it.
    fn fingerprint(&self, target: &Target) -> String {
        format!(
            "{}|{}|{}|{}",
            target.amount.normalize(),
            self.date,
            self.account,
            self.reference
        )
    }

    fn element(&self, target: &Target) -> Value {
        let on = match target.on {
            On::Invoice => json!({"Invoice": {"InvoiceID": target.remote}}),
            On::CreditNote => json!({"CreditNote": {"CreditNoteID": target.remote}}),
        };
        let mut element = json!({
            "Account": {"Code": self.account},
            "Date": self.date.to_string(),
            "Amount": crate::connectors::lines::amount(target.amount),
            "Reference": self.reference,
        });
        for (k, v) in on.as_object().expect("an object") {
            element[k] = v.clone();
        }
        element
    }
}

/// The Xero document a payment element or answer names.
fn paid_document(payment: &Value) -> Option<&str> {
    payment["Invoice"]["InvoiceID"]
        .as_str()
        .or_else(|| payment["CreditNote"]["CreditNoteID"].as_str())
}

impl XeroConnector {
    /// Books (or, `void`, reverses) a document's payments; see the module docs.
    pub(super) async fn book(
        &self,
        session: &mut Session,
        req: &LedgerRequest<'_>,
        booking: Booking,
        void: bool,
    ) -> Step {
        let mut kept = match self.kept(session, booking.kind, &booking.id).await? {
            Some(k) => k,
            None if void => {
                return Ok(ledger::done(
                    None,
                    format!("the {} was never in Xero; nothing to reverse", booking.kind),
                ));
            }
            None => {
                // Before the first write: a later attempt then knows to look first.
                let intent = Kept {
                    remote_id: String::new(),
                    state: json!({"applied": {}}),
                };
                self.keep(session, booking.kind, &booking.id, &intent)
                    .await?;
                return self.create_missing(session, req, &booking, intent).await;
            }
        };
        let wanted: BTreeMap<&str, String> = if void {
            BTreeMap::new()
        } else {
            booking
                .targets
                .iter()
                .map(|t| (t.local.as_str(), booking.fingerprint(t)))
                .collect()
        };
        // Payments this version no longer wants (changed, moved, or voided) go first: the
        // invoice's open balance is then free for the new ones.
        let applied = applied(&kept);
        for (local, (payment_id, fp)) in &applied {
            if wanted.get(local.as_str()) != Some(fp) {
                self.delete_payment(session, req, payment_id).await?;
                kept.state["applied"]
                    .as_object_mut()
                    .expect("applied")
                    .remove(local);
                self.save_payments(session, &booking, &mut kept).await?;
            }
        }
        // A write whose answer was lost may have made payments the record misses.
        let missing = booking
            .targets
            .iter()
            .any(|t| !void && kept.state["applied"].get(&t.local).is_none());
        if void || missing {
            self.adopt_lost(session, req, &booking, &mut kept, void)
                .await?;
        }
        if void {
            return Ok(ledger::done(
                None,
                format!("the {}'s Xero payments were deleted", booking.kind),
            ));
        }
        self.create_missing(session, req, &booking, kept).await
    }

    /// Creates the payments the record lacks, and records them.
    async fn create_missing(
        &self,
        session: &mut Session,
        req: &LedgerRequest<'_>,
        booking: &Booking,
        mut kept: Kept,
    ) -> Step {
        let missing: Vec<&Target> = booking
            .targets
            .iter()
            .filter(|t| kept.state["applied"].get(&t.local).is_none())
            .collect();
        if !missing.is_empty() {
            let elements: Vec<Value> = missing.iter().map(|t| booking.element(t)).collect();
            let ids: Vec<&str> = missing.iter().map(|t| t.local.as_str()).collect();
            let key = ledger::key(req, &[&["create"], ids.as_slice()].concat());
            let answers = self.pay(session, NewPayments { elements, key }).await?;
            let mut refused: Vec<String> = Vec::new();
            for (target, answer) in missing.iter().zip(answers.iter()) {
                if let Some(messages) = ledger::refusal(answer) {
                    refused.push(self.refused_payment(booking, target, answer, &messages));
                    continue;
                }
                let Some(id) = answer["PaymentID"].as_str() else {
                    refused.push(format!("Xero answered no PaymentID for {}", target.local));
                    continue;
                };
                kept.state["applied"][&target.local] =
                    json!({"id": id, "fp": booking.fingerprint(target)});
            }
            self.save_payments(session, booking, &mut kept).await?;
            if answers.len() < missing.len() {
                return Err(Outcome::retryable(
                    Some(200),
                    "Xero answered fewer payments than were sent",
                    None,
                ));
            }
            if !refused.is_empty() {
                return Err(Outcome::permanent(Some(200), refused.join("; ")));
            }
        }
        let ids = kept.remote_id.clone();
        Ok(Outcome::success(Some(200), Some(ids)))
    }

    /// Why Xero refused one payment, naming the document and the amounts.
    fn refused_payment(
        &self,
        booking: &Booking,
        target: &Target,
        answer: &Value,
        messages: &str,
    ) -> String {
        let what = match target.on {
            On::Invoice => "invoice",
            On::CreditNote => "credit note",
        };
        if messages.contains("exceeds the amount outstanding") {
            let amount = |v: &Value| crate::domain::money::parse_amount(v).ok();
            let open = amount(&answer["Invoice"]["AmountDue"])
                .or_else(|| amount(&answer["Invoice"]["RemainingCredit"]))
                .or_else(|| amount(&answer["CreditNote"]["RemainingCredit"]))
                .map(|a| format!(" (open in Xero: {:.2})", a.round_dp(2)))
                .unwrap_or_default();
            return format!(
                "Xero refused the {} {}'s {} on {what} {}{open}: more than what is open on it ({messages}); no retry can fix this",
                booking.kind, booking.id, target.amount, target.local
            );
        }
        format!(
            "Xero refused the {} {}'s {} on {what} {}: {messages}",
            booking.kind, booking.id, target.amount, target.local
        )
    }

    /// Saves the record, its remote id the list of its Xero payments.
    async fn save_payments(
        &self,
        session: &Session,
        booking: &Booking,
        kept: &mut Kept,
    ) -> Step<()> {
        let ids: Vec<String> = applied(kept).into_values().map(|(id, _)| id).collect();
        kept.remote_id = ids.join(",");
        self.keep(session, booking.kind, &booking.id, kept).await
    }

    /// Looks for our payments by `Reference`: the ones the record misses but the version
    /// wants are adopted, the others deleted.
    async fn adopt_lost(
        &self,
        session: &mut Session,
        req: &LedgerRequest<'_>,
        booking: &Booking,
        kept: &mut Kept,
        void: bool,
    ) -> Step<()> {
        let reference = where_literal(&booking.reference);
        let filter = format!("Reference=={reference} AND Status==\"AUTHORISED\"");
        let found = self.find_where(session, "Payments", &filter).await?;
        let known: Vec<String> = applied(kept).into_values().map(|(id, _)| id).collect();
        for payment in &found {
            let Some(payment_id) = payment["PaymentID"].as_str() else {
                continue;
            };
            if known.iter().any(|k| k.eq_ignore_ascii_case(payment_id)) {
                continue;
            }
            let on = paid_document(payment).unwrap_or_default();
            let amount = Decimal::from_str(&payment["Amount"].to_string())
                .ok()
                .map(|a| a.round_dp(2));
            let target = booking.targets.iter().find(|t| {
                !void
                    && t.remote.eq_ignore_ascii_case(on)
                    && kept.state["applied"].get(&t.local).is_none()
                    && amount == Some(t.amount.round_dp(2))
            });
            match target {
                Some(t) => {
                    tracing::info!(
                        payment = payment_id,
                        document = %booking.id,
                        "a Xero payment made by an earlier attempt was found and adopted"
                    );
                    kept.state["applied"][&t.local] =
                        json!({"id": payment_id, "fp": booking.fingerprint(t)});
                }
                None => {
                    self.delete_payment(session, req, payment_id).await?;
                }
            }
            self.save_payments(session, booking, kept).await?;
        }
        Ok(())
    }

    /// Deletes one Xero payment; one already deleted (an answer lost) is fine.
    async fn delete_payment(
        &self,
        session: &mut Session,
        req: &LedgerRequest<'_>,
        id: &str,
    ) -> Step<()> {
        let path = format!("Payments/{id}");
        let body = json!({"Payments": [{"Status": "DELETED"}]});
        let key = ledger::key(req, &["delete", id]);
        match self
            .call(session, Call::write(Method::POST, &path, &[], &body, &key))
            .await
        {
            Ok(_) => Ok(()),
            Err(refused) if refused.kind == crate::connectors::OutcomeKind::Permanent => {
                let now = self.call(session, Call::get(&path, &[])).await?;
                if now["Payments"][0]["Status"] == "DELETED" {
                    Ok(())
                } else {
                    Err(refused)
                }
            }
            Err(o) => Err(o),
        }
    }

    /// Creates one document's payments as part of a multi-payment request; answers its
    /// elements.
    async fn pay(&self, session: &mut Session, new: NewPayments) -> Step<Vec<Value>> {
        let connection_id = session.connection.id.clone();
        let stop_session = &*session;
        let ready = async || self.client.enter(stop_session).await;
        let mut sender = session.fork();
        let send = async |pass: Pass, batch: Vec<NewPayments>| {
            self.send_payments(&mut sender, pass, batch).await
        };
        let creates = &self.payment_creates;
        creates.submit(&connection_id, new, ready, send).await
    }

    /// Sends one multi-payment create and hands each document its elements.
    async fn send_payments(
        &self,
        session: &mut Session,
        pass: Pass,
        batch: Vec<NewPayments>,
    ) -> Vec<Step<Vec<Value>>> {
        let elements: Vec<Value> = batch.iter().flat_map(|n| n.elements.clone()).collect();
        let body = json!({"Payments": elements});
        let mut hasher = Sha256::new();
        for n in &batch {
            hasher.update(n.key.as_bytes());
            hasher.update(b"\n");
        }
        let key = format!("payments-{}", hex::encode(&hasher.finalize()[..16]));
        let sent = self
            .call_with(
                session,
                Some(pass),
                Call::write(Method::PUT, "Payments", &SUMMARIZE, &body, &key),
            )
            .await;
        match sent {
            Ok(answer) => {
                let list = answer["Payments"].as_array().cloned().unwrap_or_default();
                let mut at = 0;
                batch
                    .iter()
                    .map(|n| {
                        let end = (at + n.elements.len()).min(list.len());
                        let mine = list[at.min(end)..end].to_vec();
                        at += n.elements.len();
                        Ok(mine)
                    })
                    .collect()
            }
            Err(o) => batch.iter().map(|_| Err(o.clone())).collect(),
        }
    }
}

/// The record's payments: our invoice (or credit note) id to (PaymentID, fingerprint).
fn applied(kept: &Kept) -> BTreeMap<String, (String, String)> {
    kept.state["applied"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(local, v)| {
            Some((
                local.clone(),
                (
                    v["id"].as_str()?.to_string(),
                    v["fp"].as_str().unwrap_or_default().to_string(),
                ),
            ))
        })
        .collect()
}

impl XeroConnector {
    /// A payment: one Xero payment per invoice it applies to.
    pub(super) async fn sync_payment(
        &self,
        req: &LedgerRequest<'_>,
        payment: &crate::domain::Payment,
    ) -> Step {
        let void = req.document.is_void();
        let account = ledger::account_for(req, void)?;
        let applied: Decimal = payment.applied_to.iter().map(|a| a.amount).sum();
        let remainder = payment.amount - applied;
        if !void && remainder > Decimal::ZERO {
            return Err(Outcome::permanent(
                None,
                format!(
                    "payment {} leaves {remainder} {} unapplied (amount {}, applied {applied}); \
                     Xero keeps unapplied money only as an overpayment, which this connector \
                     cannot make: apply all of it to invoices; nothing was sent",
                    payment.id, payment.currency, payment.amount
                ),
            ));
        }
        let mut session = self.session(req).await?;
        let mut targets = Vec::new();
        for a in &payment.applied_to {
            targets.push(Target {
                local: a.invoice_id.clone(),
                remote: if void {
                    String::new()
                } else {
                    self.remote_of(&session, "invoice", &a.invoice_id).await?
                },
                on: On::Invoice,
                amount: a.amount,
            });
        }
        let (at, reference) = (payment.received_at, payment.reference.as_deref());
        let booking = Booking::new("payment", &payment.id, reference, at, account, targets);
        self.book(&mut session, req, booking, void).await
    }
}

/// A payment's `Reference` in Xero: the processor's reference and our id, which finds it
/// again after a lost answer.
pub fn reference(processor: Option<&str>, id: &str) -> String {
    match processor.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => format!("{r} ({id})"),
        None => id.to_string(),
    }
}
