//! Credit notes in QuickBooks: one CreditMemo per credit note, applied to its invoice.
//!
//! - The CreditMemo carries the credit note's lines, tax and currency exactly as an
//!   invoice does ([`super::mapping::sale_body`]), its number as `DocNumber`, and the
//!   invoice's customer (the same Customer mapping).
//! - **Applied to its invoice** the way QuickBooks applies credits: a Payment of
//!   `TotalAmt` 0 whose lines link the invoice and the credit memo for the same amount
//!   (`[{"Amount": a, "LinkedTxn": [{"TxnId": <invoice>, "TxnType": "Invoice"}]},
//!   {"Amount": a, "LinkedTxn": [{"TxnId": <memo>, "TxnType": "CreditMemo"}]}]`, the form
//!   of Intuit's Payment sample that links an invoice and a credit memo; the Payment's
//!   total is what the invoices take less what the credits give). The amount is the
//!   credit note's total, or what is still open on the invoice if that is less (an
//!   invoice already paid in full keeps the credit on the customer, for a refund or a
//!   later invoice). It is remembered as `credit_note_application`.
//! - A changed version removes the application (deletes that Payment), updates the
//!   CreditMemo (`Id` + `SyncToken`) and applies it again; a `VOID` removes the
//!   application and deletes the CreditMemo (`operation=delete`): Intuit documents no
//!   void of a CreditMemo, and a deleted one gives its credit back to the invoice.
//! - Keys: see [`super::ledger`]; the steps are `cc` (create), `cu` (update), `cd`
//!   (delete), `ad` (remove the application), `ca` (apply).
//! - [I] With "Automatically apply credits" on, QuickBooks applies open credits to the
//!   customer's invoices in its UI; nothing says it does so for API writes. If it did,
//!   the credit memo's own balance would be lower, and the amount applied here counts
//!   what is already applied to it.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::QuickBooksConnector;
use super::client::Session;
use super::ledger::{Kept, TokenWrite, done_noting, is_error, money, nothing_to_void};
use super::mapping::{self, Sale, TaxCodes, amount};
use crate::connectors::{Gap, LedgerRequest, Outcome, Step};
use crate::domain::{CreditNote, Document};
use crate::store::ErpRecord;

pub(super) const MEMO: Kept<'static> = Kept {
    kind: "credit_note",
    update: TokenWrite::new("creditmemo", "CreditMemo", "cu"),
    create_step: "cc",
    gone: "the QuickBooks CreditMemo of this credit note was deleted in QuickBooks; void the credit note, or re-sync it after removing its record",
};

/// How many times the application is recomputed when QuickBooks refuses it because the
/// invoice's balance moved meanwhile (a payment landing at the same moment).
const APPLY_ROUNDS: u32 = 3;

/// The zero-amount Payment that applies the credit memo, and its removal.
const APPLICATION: TokenWrite<'static> = TokenWrite::new("payment", "Payment", "ca");
const UNAPPLY: (&str, &str) = ("credit_note_application", "ad");

/// The zero-amount Payment that applies `amount` of credit memo `memo` to `invoice`.
pub fn application_body(
    note: &CreditNote,
    customer_id: &str,
    invoice: &str,
    memo: &str,
    applied: Decimal,
    currency: Option<&str>,
) -> Value {
    let mut body = json!({
        "CustomerRef": {"value": customer_id},
        "TotalAmt": 0,
        "TxnDate": note.issue_date.to_string(),
        "Line": [
            {"Amount": amount(applied), "LinkedTxn": [{"TxnId": invoice, "TxnType": "Invoice"}]},
            {"Amount": amount(applied), "LinkedTxn": [{"TxnId": memo, "TxnType": "CreditMemo"}]},
        ],
        "PrivateNote": format!("erp-sync credit note {} applied to its invoice", note.id),
    });
    if let Some(currency) = currency {
        body["CurrencyRef"] = json!({"value": currency});
    }
    body
}

impl QuickBooksConnector {
    pub(super) async fn sync_credit(&self, req: &LedgerRequest<'_>, note: &CreditNote) -> Step {
        let mut session = self.ledger_session(req).await?;
        let memo = self
            .ledger_record(&session, "credit_note", &note.id)
            .await?;
        if note.is_void() {
            self.unapply(&mut session, req, UNAPPLY, &note.id).await?;
            let delete = MEMO.update.delete("cd");
            let what = ("credit_note", note.id.as_str());
            let deleted = self.delete_record(&mut session, req, &delete, what, memo);
            let Some(id) = deleted.await? else {
                return Ok(nothing_to_void("credit note"));
            };
            return Ok(done_noting(
                id.clone(),
                format!(
                    "QuickBooks has no void for credit memos: CreditMemo {id} was deleted, and its credit given back to the invoice"
                ),
            ));
        }
        let company = self.company(&mut session).await?;
        let items = self.item_rules(&mut session).await?;
        let tax_codes = TaxCodes::from_config(&req.connection.config);
        let sale = Sale {
            noun: "credit note",
            id: &note.id,
            number: &note.number,
            date: note.issue_date,
            lines: &note.lines,
            tax_total: note.tax_total,
            currency: &note.currency,
        };
        let gaps = mapping::sale_body(&sale, "", &items, &tax_codes, &company).gaps;
        if !gaps.is_empty() {
            return Err(Gap::failure("QuickBooks", &gaps));
        }
        // The invoice's record first: nothing is written for a credit on an invoice
        // QuickBooks does not have.
        let invoice = match &note.invoice_id {
            Some(id) => Some(
                self.invoice_record(&session, id, "this credit note")
                    .await?,
            ),
            None => None,
        };
        let customer = self
            .customer(&mut session, &note.customer, &note.currency, &company)
            .await?;
        let mut body = mapping::sale_body(&sale, &customer, &items, &tax_codes, &company).body;
        if let Some(reason) = &note.reason {
            body["CustomerMemo"] = json!({"value": reason});
        }
        if memo.is_some() {
            // The new amounts may be below what was applied: unapply first.
            self.unapply(&mut session, req, UNAPPLY, &note.id).await?;
        }
        let record = self
            .create_or_update(&mut session, req, &MEMO, (&note.id, memo), &body)
            .await?;
        let mut outcome = Outcome::success(Some(200), Some(record.remote_id.clone()));
        if let (Some(invoice_id), Some(invoice)) = (&note.invoice_id, invoice) {
            let currency = company
                .is_foreign(&note.currency)
                .then_some(note.currency.as_str());
            let applied = self
                .apply(
                    &mut session,
                    req,
                    note,
                    &customer,
                    &invoice,
                    &record,
                    currency,
                )
                .await?;
            if applied < note.total {
                outcome.detail = Some(format!(
                    "{applied} of the credit's {} {} applied to invoice {invoice_id} (QuickBooks invoice {}), all it had open; the rest stays as the customer's credit",
                    note.total, note.currency, invoice.remote_id
                ));
            }
        }
        Ok(outcome)
    }

    /// Applies the credit memo to its invoice, as far as the invoice is open; answers the
    /// amount applied.
    ///
    /// The first round applies the whole credit without reading anything, so a credit
    /// note costs one call beyond its CreditMemo when the invoice has that much open (the
    /// usual case). Only when QuickBooks refuses the amount (error 6000: the invoice has
    /// less open, or the memo less left) do the later rounds read the memo and the invoice
    /// and apply what fits.
    #[allow(clippy::too_many_arguments)]
    async fn apply(
        &self,
        session: &mut Session,
        req: &LedgerRequest<'_>,
        note: &CreditNote,
        customer: &str,
        invoice: &ErpRecord,
        memo: &ErpRecord,
        currency: Option<&str>,
    ) -> Step<Decimal> {
        let invoice_read = TokenWrite::new("invoice", "Invoice", "");
        let mut last = None;
        for round in 0..=APPLY_ROUNDS {
            let applied = if round == 0 {
                note.total
            } else {
                let Some(current_memo) = self
                    .read_entity(session, &MEMO.update, &memo.remote_id)
                    .await?
                else {
                    return Err(Outcome::retryable(
                        None,
                        format!(
                            "QuickBooks CreditMemo {} cannot be read yet",
                            memo.remote_id
                        ),
                        None,
                    ));
                };
                let id = &invoice.remote_id;
                let gone = || {
                    format!(
                        "QuickBooks invoice {id} no longer exists; the credit cannot be applied to it"
                    )
                };
                let current_invoice = self.read_live(session, &invoice_read, id, gone).await?;
                let total = money(&current_memo["TotalAmt"]).unwrap_or(note.total);
                let remaining = money(&current_memo["Balance"]).unwrap_or(total);
                // In the first reading round, what is already applied of this memo is taken
                // to be ours (a write whose answer was lost: its requestid replays it below)
                // [I: or QuickBooks' automatic application of credits]; the invoice had that
                // much more open. Refused, it was not ours but a refund's (`super::refunds`):
                // the later rounds apply no more than the credit left and the invoice's
                // balance.
                let already = if round == 1 {
                    total - remaining
                } else {
                    Decimal::ZERO
                };
                let open = money(&current_invoice["Balance"]).unwrap_or(Decimal::ZERO) + already;
                let applied = note.total.min(open).min(remaining + already);
                if applied <= Decimal::ZERO {
                    return Ok(Decimal::ZERO);
                }
                applied
            };
            let body = application_body(
                note,
                customer,
                &invoice.remote_id,
                &memo.remote_id,
                applied,
                currency,
            );
            match self.create(session, req, &APPLICATION, round, &body).await {
                Ok(entity) => {
                    let kind = "credit_note_application";
                    self.remember_entity(session, kind, &note.id, &entity)
                        .await?;
                    return Ok(applied);
                }
                // Refused: the invoice has less open than the whole credit (the first
                // round), or its balance moved between the read and the write.
                Err(o) if is_error(&o, "6000") => last = Some(o),
                Err(o) => return Err(o),
            }
        }
        Err(last
            .unwrap_or_else(|| Outcome::retryable(None, "the credit could not be applied", None)))
    }
}
