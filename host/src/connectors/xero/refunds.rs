//! Refunds in Xero: money paid back out of a sales credit note is a Payment on the
//! `ACCRECCREDIT` credit note (`PUT Payments` with `CreditNote.CreditNoteID` and
//! `Account.Code` = `payment_account`), booked, found again after a lost answer and
//! reversed exactly like a payment ([`super::payments`]; record kind `refund`). A refund
//! that names no credit note has nothing to be paid out of in Xero's simple API: it fails
//! at once, saying so.

use super::XeroConnector;
use super::ledger;
use super::payments::{Booking, On, Target};
use crate::connectors::{LedgerRequest, Outcome, Step};
use crate::domain::Refund;

impl XeroConnector {
    pub(super) async fn sync_refund(&self, req: &LedgerRequest<'_>, refund: &Refund) -> Step {
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
        let account = ledger::account_for(req, void)?;
        let mut session = self.session(req).await?;
        let remote = if void {
            String::new()
        } else {
            self.remote_of(&session, "credit_note", note_id).await?
        };
        let target = Target {
            local: note_id.clone(),
            remote,
            on: On::CreditNote,
            amount: refund.amount,
        };
        let (at, reference) = (refund.refunded_at, refund.reference.as_deref());
        let booking = Booking::new("refund", &refund.id, reference, at, account, vec![target]);
        self.book(&mut session, req, booking, void).await
    }
}
