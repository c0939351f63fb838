//! Refunds in Xero: money paid back out of a sales credit note is a Payment on the
//! `ACCRECCREDIT` credit note (`PUT Payments` with `CreditNote.CreditNoteID` and
//! `Account.Code` = `payment_account`), booked, found again after a lost answer and
//! reversed exactly like a payment ([`super::payments`]; record kind `refund`). A refund
//! that names no credit note has nothing to be paid out of in Xero's simple API: it fails
//! at once, saying so.

use super::XeroConnector;
use super::ledger;
use super::payments::{Booking, On, Target, reference};
use crate::connectors::{Outcome, SyncRequest};
use crate::documents::AnyDocument;
use crate::domain::Refund;

impl XeroConnector {
    pub(super) async fn sync_refund(
        &self,
        req: &SyncRequest<'_, AnyDocument>,
        refund: &Refund,
    ) -> Result<Outcome, Outcome> {
        let void = req.document.is_void();
        let Some(note_id) = &refund.credit_note_id else {
            if void {
                return Ok(ledger::done(
                    None,
                    "the refund was never in Xero; nothing to reverse",
                ));
            }
            return Err(Outcome::permanent(
                None,
                format!(
                    "refund {} names no credit_note_id: Xero books a refund as a payment out of \
                     a credit note, so it cannot be booked; nothing was sent",
                    refund.id
                ),
            ));
        };
        let account = match ledger::payment_account(&req.connection.config) {
            Ok(a) => a,
            Err(_) if void => String::new(),
            Err(o) => return Err(o),
        };
        let mut session = self
            .client
            .fresh_session(&req.connection.id, req.stop.clone())
            .await?;
        let remote = if void {
            String::new()
        } else {
            self.remote_of(&session, "credit_note", note_id).await?
        };
        let booking = Booking {
            kind: "refund",
            id: refund.id.clone(),
            reference: reference(refund.reference.as_deref(), &refund.id),
            date: refund.refunded_at.date_naive(),
            account,
            targets: vec![Target {
                local: note_id.clone(),
                remote,
                on: On::CreditNote,
                amount: refund.amount,
            }],
        };
        self.book(&mut session, req, booking, void).await
    }
}
