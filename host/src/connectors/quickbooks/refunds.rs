//! Refunds in QuickBooks: money paid back to the customer out of a credit memo's credit,
//! the way QuickBooks pays a credit out (Intuit's Payment reference, `docs/erp-apis.md`
//! §1.9): a cheque to the customer that charges their Accounts Receivable, and a Payment
//! of `TotalAmt` 0 that settles that charge with the credit memo.
//!
//! - **The cheque**: a `Purchase` with `PaymentType` `Check` (or `Cash` when
//!   `payment_account` is not a Bank account: the Purchase reference says a Check "should
//!   have bank account"), `AccountRef` = the connection's `payment_account` (the money
//!   leaves it), `EntityRef` = the credit memo's Customer, and one
//!   `AccountBasedExpenseLineDetail` line of the refund's amount on the company's Accounts
//!   Receivable account (the credit memo's `ARAccountRef` when it has one). [I/S: Intuit's
//!   reference asks for an expense account on the line; an A/R line with a customer as
//!   payee is how QuickBooks' own "refund a credit" procedure books it in the UI.]
//! - **The application**: a Payment of `TotalAmt` 0 whose lines link the cheque
//!   (`TxnType` `Check`, or `Expense` for a `Cash` purchase: "Payment is reimbursement for
//!   expense paid by check made on behalf of the customer") and the credit memo, each for
//!   the refund's amount (charges − credits = 0). The credit memo's remaining credit goes
//!   down by the refund; nothing touches income (a RefundReceipt would reduce income a
//!   second time and leave the credit memo's credit open). Remembered as
//!   `refund_application`; the cheque as `refund`.
//! - A refund above what is left of the credit memo's credit fails at once, naming both
//!   amounts, before anything is written. When QuickBooks refuses the application anyway
//!   (another refund took the credit meanwhile), the cheque is deleted and the refund fails
//!   the same way.
//! - A changed version updates the cheque (`Id` + `SyncToken`), and when the amount
//!   changed, removes the application first and applies the new amount. `VOID` deletes
//!   the application, then the cheque (`operation=delete`; the Purchase reference
//!   documents no void): the credit memo has its credit back, the bank account its money.
//! - Keys: see [`super::ledger`]; the steps are `rc` (create the cheque), `ru` (update
//!   it), `rd` (delete it), `ra` (apply), `rx` (remove the application). A retry after a
//!   lost answer finds the cheque in `erp_records`, or sends the same `requestid` and gets
//!   QuickBooks' first answer again; the over-refund check runs only before the cheque
//!   exists, so a retry never mistakes its own committed application for someone else's.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::QuickBooksConnector;
use super::client::Session;
use super::config::payment_account;
use super::credit_notes::MEMO;
use super::ledger::{Kept, TokenWrite, done_noting, is_error, money, nothing_to_void};
use super::mapping::amount;
use crate::connectors::{Gap, LedgerRequest, Outcome, Step};
use crate::domain::{Document, Refund};
use crate::store::ErpRecord;

const CHECK: Kept<'static> = Kept {
    kind: "refund",
    update: TokenWrite::new("purchase", "Purchase", "ru"),
    create_step: "rc",
    gone: "the QuickBooks cheque (Purchase) of this refund was deleted in QuickBooks; void the refund, or re-create it there",
};

/// The zero-amount Payment that applies the cheque to the credit memo, and its removal.
const APPLICATION: TokenWrite<'static> = TokenWrite::new("payment", "Payment", "ra");
const UNAPPLY: (&str, &str) = ("refund_application", "rx");

/// How the money leaves `payment_account`: a Check from a Bank account, else a Cash
/// purchase [I: the Purchase reference names only Check → bank and CreditCard → credit
/// card]; and the `TxnType` a Payment links it as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaidBy {
    Check,
    Cash,
}

impl PaidBy {
    /// `Purchase.PaymentType`.
    pub fn payment_type(self) -> &'static str {
        match self {
            PaidBy::Check => "Check",
            PaidBy::Cash => "Cash",
        }
    }

    /// `LinkedTxn.TxnType` of the purchase in a Payment.
    pub fn txn_type(self) -> &'static str {
        match self {
            PaidBy::Check => "Check",
            PaidBy::Cash => "Expense",
        }
    }
}

/// What a refund is booked against: the credit memo and the accounts.
pub struct Target<'a> {
    /// The credit memo's Customer, the credit memo's record, our credit note's id.
    pub customer_id: &'a str,
    pub memo: &'a ErpRecord,
    pub note_id: &'a str,
    /// How the money leaves `account` (the connection's `payment_account`), and the
    /// Accounts Receivable account the cheque's line charges.
    pub paid_by: PaidBy,
    pub account: &'a str,
    pub receivable: &'a str,
    /// `CurrencyRef` when the refund is in a foreign currency.
    pub currency: Option<&'a str>,
}

/// The Purchase that pays the refund out of `payment_account` (without `Id`/`SyncToken`).
pub fn check_body(refund: &Refund, target: &Target<'_>) -> Value {
    let mut note = format!(
        "erp-sync refund {} of credit note {}",
        refund.id, target.note_id
    );
    if let Some(reference) = &refund.reference {
        note.push_str(&format!(" ({reference})"));
    }
    let mut body = json!({
        "PaymentType": target.paid_by.payment_type(),
        "AccountRef": {"value": target.account},
        "EntityRef": {"value": target.customer_id, "type": "Customer"},
        "TxnDate": refund.refunded_at.date_naive().to_string(),
        "PrivateNote": note,
        "Line": [{
            "DetailType": "AccountBasedExpenseLineDetail",
            "Amount": amount(refund.amount),
            "Description": format!("Refund of credit note {}", target.note_id),
            "AccountBasedExpenseLineDetail": {"AccountRef": {"value": target.receivable}},
        }],
    });
    if let Some(currency) = target.currency {
        body["CurrencyRef"] = json!({"value": currency});
    }
    body
}

/// The zero-amount Payment that settles the cheque `check` with the credit memo.
pub fn refund_application_body(refund: &Refund, target: &Target<'_>, check: &str) -> Value {
    let a = amount(refund.amount);
    let mut body = json!({
        "CustomerRef": {"value": target.customer_id},
        "TotalAmt": 0,
        "TxnDate": refund.refunded_at.date_naive().to_string(),
        "Line": [
            {"Amount": a, "LinkedTxn": [{"TxnId": check, "TxnType": target.paid_by.txn_type()}]},
            {"Amount": a, "LinkedTxn": [{"TxnId": target.memo.remote_id, "TxnType": "CreditMemo"}]},
        ],
        "PrivateNote": format!("erp-sync refund {} paid out of credit note {}", refund.id, target.note_id),
    });
    if let Some(currency) = target.currency {
        body["CurrencyRef"] = json!({"value": currency});
    }
    body
}

impl QuickBooksConnector {
    pub(super) async fn sync_refund(&self, req: &LedgerRequest<'_>, refund: &Refund) -> Step {
        if refund.is_void() {
            return self.void_refund(req, refund).await;
        }
        let Some(note_id) = &refund.credit_note_id else {
            return Err(Outcome::permanent(
                None,
                format!(
                    "refund {} names no credit_note_id: QuickBooks pays a refund out of a credit memo's credit, so there is nothing to refund from; nothing was sent",
                    refund.id
                ),
            ));
        };
        let Some(account) = payment_account(&req.connection.config).map(str::to_string) else {
            return Err(Outcome::permanent(
                None,
                "the connection has no payment_account: set config.payment_account to the id of the QuickBooks account refunds are paid from (a bank account); nothing was sent",
            ));
        };
        let mut session = self.ledger_session(req).await?;
        let company = self.company(&mut session).await?;
        if let Some(gap) = company.currency_gap(&refund.currency) {
            return Err(Gap::failure("QuickBooks", &[gap]));
        }
        // The credit note's record; the worker sends the refund only once it has one.
        let Some(memo_record) = self.ledger_record(&session, "credit_note", note_id).await? else {
            return Err(Outcome::permanent(
                None,
                format!(
                    "credit note {note_id} has no QuickBooks CreditMemo for this company (never synced, or voided); re-sync it, then this refund"
                ),
            ));
        };
        let memo_id = &memo_record.remote_id;
        let gone = || {
            format!(
                "the QuickBooks CreditMemo {memo_id} of credit note {note_id} no longer exists; re-sync the credit note, then this refund"
            )
        };
        let memo = self
            .read_live(&mut session, &MEMO.update, memo_id, gone)
            .await?;
        let memo_currency = memo["CurrencyRef"]["value"]
            .as_str()
            .unwrap_or(&company.home_currency);
        if !memo_currency.eq_ignore_ascii_case(&refund.currency) {
            return Err(Outcome::permanent(
                None,
                format!(
                    "refund {} is in {} and credit note {note_id} in {memo_currency}; a refund is paid out in the credit's currency; nothing was sent",
                    refund.id, refund.currency
                ),
            ));
        }
        let Some(customer_id) = memo["CustomerRef"]["value"].as_str().map(str::to_string) else {
            return Err(Outcome::permanent(
                Some(200),
                format!(
                    "QuickBooks answered CreditMemo {} without a CustomerRef",
                    memo_record.remote_id
                ),
            ));
        };
        let check = self.ledger_record(&session, "refund", &refund.id).await?;
        let applied = self
            .ledger_record(&session, "refund_application", &refund.id)
            .await?;
        // What this refund already takes of the credit (its application, when it has one).
        let own = match &applied {
            Some(record) => {
                self.applied_amount(&mut session, record, &memo_record)
                    .await?
            }
            None => Decimal::ZERO,
        };
        // The over-refund check, before anything is written: not when the cheque exists
        // without its application (that application may be committed with its answer
        // lost; its requestid is replayed below).
        if check.is_none() || applied.is_some() {
            let remaining = money(&memo["Balance"]).unwrap_or(Decimal::ZERO);
            if refund.amount > remaining + own {
                return Err(over_refund(
                    refund,
                    note_id,
                    &memo_record,
                    remaining + own,
                    "nothing was sent",
                ));
            }
        }
        let paid_by = self.paid_by(&mut session, &account).await?;
        let receivable = match memo["ARAccountRef"]["value"].as_str() {
            Some(id) => id.to_string(),
            None => self.receivable_account(&mut session).await?,
        };
        let target = Target {
            customer_id: &customer_id,
            memo: &memo_record,
            note_id,
            paid_by,
            account: &account,
            receivable: &receivable,
            currency: company
                .is_foreign(&refund.currency)
                .then_some(refund.currency.as_str()),
        };
        let body = check_body(refund, &target);
        let reapply = applied.is_none() || own != refund.amount;
        if check.is_some() && reapply {
            self.unapply(&mut session, req, UNAPPLY, &refund.id).await?;
        }
        let record = self
            .create_or_update(&mut session, req, &CHECK, (&refund.id, check), &body)
            .await?;
        if reapply {
            self.apply_refund(&mut session, req, refund, &target, &record)
                .await?;
        }
        Ok(done_noting(
            record.remote_id.clone(),
            format!(
                "{} {} paid to QuickBooks Customer {customer_id} by {} {} from account {account}, out of CreditMemo {}",
                refund.amount,
                refund.currency,
                paid_by.txn_type().to_lowercase(),
                record.remote_id,
                memo_record.remote_id
            ),
        ))
    }

    /// `VOID`: the application goes, then the cheque.
    async fn void_refund(&self, req: &LedgerRequest<'_>, refund: &Refund) -> Step {
        let mut session = self.ledger_session(req).await?;
        self.unapply(&mut session, req, UNAPPLY, &refund.id).await?;
        let check = self.ledger_record(&session, "refund", &refund.id).await?;
        let delete = CHECK.update.delete("rd");
        let what = ("refund", refund.id.as_str());
        let deleted = self.delete_record(&mut session, req, &delete, what, check);
        let Some(id) = deleted.await? else {
            return Ok(nothing_to_void("refund"));
        };
        Ok(done_noting(
            id.clone(),
            format!(
                "QuickBooks has no void for a cheque (Purchase): Purchase {id} and the Payment that applied it were deleted; the credit memo has its credit back"
            ),
        ))
    }

    /// The amount the refund's application takes of the credit memo.
    async fn applied_amount(
        &self,
        session: &mut Session,
        application: &ErpRecord,
        memo: &ErpRecord,
    ) -> Step<Decimal> {
        let Some(payment) = self
            .read_entity(session, &APPLICATION, &application.remote_id)
            .await?
        else {
            return Ok(Decimal::ZERO);
        };
        let lines = payment["Line"].as_array().cloned().unwrap_or_default();
        Ok(lines
            .iter()
            .filter(|line| {
                line["LinkedTxn"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|l| l["TxnType"] == "CreditMemo" && l["TxnId"] == memo.remote_id.as_str())
            })
            .filter_map(|line| money(&line["Amount"]))
            .sum())
    }

    /// Check from a Bank account, Cash from any other.
    async fn paid_by(&self, session: &mut Session, account: &str) -> Step<PaidBy> {
        let path = format!("account/{account}");
        match self
            .call(session, reqwest::Method::GET, &path, &[], None)
            .await
        {
            Ok(answer) if answer["Account"]["AccountType"] == "Bank" => Ok(PaidBy::Check),
            Ok(_) => Ok(PaidBy::Cash),
            Err(o) if is_error(&o, "610") => Err(Outcome::permanent(
                o.response_code,
                format!(
                    "payment_account {account} is not an account of this QuickBooks company; set config.payment_account to the id of the bank account refunds are paid from"
                ),
            )),
            Err(o) => Err(o),
        }
    }

    /// The company's Accounts Receivable account [I: the first one QuickBooks lists when
    /// the company has several and the credit memo names none].
    async fn receivable_account(&self, session: &mut Session) -> Step<String> {
        let found = self
            .query_one(session, "Account", "AccountType", "Accounts Receivable")
            .await?;
        found
            .and_then(|a| a["Id"].as_str().map(str::to_string))
            .ok_or_else(|| {
                Outcome::permanent(
                    None,
                    "the QuickBooks company has no Accounts Receivable account to pay a credit out of",
                )
            })
    }

    /// Applies the cheque to the credit memo. Refused (6000: the credit went elsewhere
    /// meanwhile): the cheque is deleted and the refund fails naming the amounts.
    async fn apply_refund(
        &self,
        session: &mut Session,
        req: &LedgerRequest<'_>,
        refund: &Refund,
        target: &Target<'_>,
        check: &ErpRecord,
    ) -> Step<()> {
        let body = refund_application_body(refund, target, &check.remote_id);
        match self.create(session, req, &APPLICATION, 0, &body).await {
            Ok(entity) => {
                self.remember_entity(session, "refund_application", &refund.id, &entity)
                    .await?;
                Ok(())
            }
            Err(o) if is_error(&o, "6000") => {
                let memo = target.memo;
                let remaining = match self
                    .read_entity(session, &MEMO.update, &memo.remote_id)
                    .await?
                {
                    Some(m) => money(&m["Balance"]).unwrap_or(Decimal::ZERO),
                    None => Decimal::ZERO,
                };
                let (delete, id) = (CHECK.update.delete("rd"), check.remote_id.clone());
                let cheque = ("refund", refund.id.as_str());
                let deleted =
                    self.delete_record(session, req, &delete, cheque, Some(check.clone()));
                deleted.await?;
                Err(over_refund(
                    refund,
                    target.note_id,
                    memo,
                    remaining,
                    &format!(
                        "QuickBooks refused the application ({}); the cheque (Purchase {id}) was deleted",
                        o.detail.unwrap_or_default()
                    ),
                ))
            }
            Err(o) => Err(o),
        }
    }
}

/// The permanent failure of a refund above what is left of its credit.
fn over_refund(
    refund: &Refund,
    note_id: &str,
    memo: &ErpRecord,
    remaining: Decimal,
    what_happened: &str,
) -> Outcome {
    Outcome::permanent(
        Some(400),
        format!(
            "refund {} of {} {} is more than the credit left on credit note {note_id} (QuickBooks CreditMemo {}): {remaining:.2} {}; {what_happened}",
            refund.id, refund.amount, refund.currency, memo.remote_id, refund.currency
        ),
    )
}
