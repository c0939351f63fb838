//! Payments in QuickBooks: one QuickBooks Payment per payment, applied to its invoices.
//!
//! - The Payment (Intuit's Payment reference) carries `CustomerRef`, `TotalAmt` (the
//!   whole amount), `TxnDate` (the day it was received, UTC), `DepositToAccountRef` (the
//!   connection's `payment_account`) and one `Line` per invoice paid, each with its
//!   `Amount` and `LinkedTxn: [{"TxnId": <the invoice's QuickBooks Id>, "TxnType":
//!   "Invoice"}]`. What is not applied stays on the Payment as `UnappliedAmt`, a credit
//!   of the customer, which QuickBooks allows (a Payment "can also be created without any
//!   Invoice or Credit Memo, by just specifying an amount").
//! - A changed version is a full update of the same Payment (`Id` + `SyncToken`), its
//!   lines replaced; a `VOID` is Intuit's void of a Payment: a sparse update with
//!   `operation=update&include=void`, which zeroes its amounts and gives the invoices
//!   their balance back.
//! - Keys and memory: see [`super::ledger`]; the steps are `pc` (create), `pu`
//!   (update), `pv` (void).
//! - A refusal because an invoice has less open than the payment applies (another
//!   payment or a credit got there first, or the invoice was changed in QuickBooks) fails
//!   at once, naming the invoice and both amounts: no retry can fix it.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::QuickBooksConnector;
use super::client::Session;
use super::config::payment_account;
use super::ledger::{Kept, TokenWrite, done_noting, is_error, money, nothing_to_void};
use super::mapping::{Company, amount};
use crate::connectors::{Gap, LedgerRequest, Outcome, Step};
use crate::domain::{Document, Payment};

/// QuickBooks' limit on `PaymentRefNum` [I: the Payment reference gives no length; 21 is
/// the length of the other reference numbers, e.g. DocNumber].
const MAX_REF_NUM: usize = 21;

const PAYMENT: Kept<'static> = Kept {
    kind: "payment",
    update: TokenWrite::new("payment", "Payment", "pu"),
    create_step: "pc",
    gone: "the QuickBooks Payment of this payment was deleted in QuickBooks; re-create it there or void the payment",
};

const VOID: TokenWrite<'static> = TokenWrite::new("payment", "Payment", "pv")
    .with_query(&[("operation", "update"), ("include", "void")]);

/// The Payment body (without `Id`/`SyncToken`): `invoices` are the QuickBooks Ids of the
/// invoices paid, in the order of `applied_to`.
pub fn payment_body(
    payment: &Payment,
    customer_id: &str,
    invoices: &[String],
    deposit_account: &str,
    company: &Company,
) -> Value {
    let lines: Vec<Value> = payment
        .applied_to
        .iter()
        .zip(invoices)
        .map(|(applied, invoice)| {
            json!({
                "Amount": amount(applied.amount),
                "LinkedTxn": [{"TxnId": invoice, "TxnType": "Invoice"}],
            })
        })
        .collect();
    let mut body = json!({
        "CustomerRef": {"value": customer_id},
        "TotalAmt": amount(payment.amount),
        "TxnDate": payment.received_at.date_naive().to_string(),
        "DepositToAccountRef": {"value": deposit_account},
        "Line": lines,
        "PrivateNote": format!("erp-sync payment {}", payment.id),
    });
    if let Some(reference) = &payment.reference
        && reference.chars().count() <= MAX_REF_NUM
    {
        body["PaymentRefNum"] = json!(reference);
    }
    if company.is_foreign(&payment.currency) {
        body["CurrencyRef"] = json!({"value": payment.currency});
    }
    body
}

impl QuickBooksConnector {
    pub(super) async fn sync_payment(&self, req: &LedgerRequest<'_>, payment: &Payment) -> Step {
        let mut session = self.ledger_session(req).await?;
        let existing = self.ledger_record(&session, "payment", &payment.id).await?;
        if payment.is_void() {
            let Some(record) = existing else {
                return Ok(nothing_to_void("payment"));
            };
            let id = record.remote_id.clone();
            let body = json!({"sparse": true});
            let voided = self
                .write_with_sync_token(&mut session, req, &VOID, record, &body)
                .await?;
            return Ok(match voided {
                Some(entity) => {
                    self.remember_entity(&session, "payment", &payment.id, &entity)
                        .await?;
                    Outcome::success(Some(200), Some(id))
                }
                None => done_noting(
                    id.clone(),
                    format!(
                        "QuickBooks Payment {id} no longer exists (deleted in QuickBooks); nothing to void"
                    ),
                ),
            });
        }
        let Some(deposit) = payment_account(&req.connection.config).map(str::to_string) else {
            return Err(Outcome::permanent(
                None,
                "the connection has no payment_account: set config.payment_account to the id of the QuickBooks account payments are deposited to (a bank account, or Undeposited Funds); nothing was sent",
            ));
        };
        let company = self.company(&mut session).await?;
        if let Some(gap) = company.currency_gap(&payment.currency) {
            return Err(Gap::failure("QuickBooks", &[gap]));
        }
        let mut invoices = Vec::new();
        for applied in &payment.applied_to {
            let record = self
                .invoice_record(&session, &applied.invoice_id, "this payment")
                .await?;
            invoices.push(record.remote_id);
        }
        let customer = self
            .customer(&mut session, &payment.customer, &payment.currency, &company)
            .await?;
        let body = payment_body(payment, &customer, &invoices, &deposit, &company);
        let written = self
            .create_or_update(&mut session, req, &PAYMENT, (&payment.id, existing), &body)
            .await;
        let record = match written {
            Ok(record) => record,
            Err(o) if is_error(&o, "6000") => {
                return Err(self.explain(&mut session, payment, &invoices, o).await);
            }
            Err(o) => return Err(o),
        };
        let unapplied = payment.unapplied();
        let mut outcome = Outcome::success(Some(200), Some(record.remote_id));
        if unapplied > Decimal::ZERO {
            outcome.detail = Some(format!(
                "{unapplied} {} is not applied to an invoice and stays as the customer's credit in QuickBooks",
                payment.currency
            ));
        }
        Ok(outcome)
    }

    /// A business refusal of the payment, explained with the invoices' open balances
    /// when one of them is below what the payment applies to it.
    async fn explain(
        &self,
        session: &mut Session,
        payment: &Payment,
        invoices: &[String],
        refusal: Outcome,
    ) -> Outcome {
        let mut short = Vec::new();
        for (applied, id) in payment.applied_to.iter().zip(invoices) {
            let path = format!("invoice/{id}");
            let Ok(answer) = self
                .call(session, reqwest::Method::GET, &path, &[], None)
                .await
            else {
                continue;
            };
            if let Some(balance) = money(&answer["Invoice"]["Balance"])
                && balance < applied.amount
            {
                short.push(format!(
                    "invoice {} (QuickBooks invoice {id}) has {balance:.2} open and the payment applies {}",
                    applied.invoice_id, applied.amount
                ));
            }
        }
        if short.is_empty() {
            return refusal;
        }
        Outcome::permanent(
            refusal.response_code,
            format!(
                "QuickBooks refused payment {}: {}; the amounts differ from QuickBooks' ({})",
                payment.id,
                short.join("; "),
                refusal.detail.unwrap_or_default()
            ),
        )
    }
}
