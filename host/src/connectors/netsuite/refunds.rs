//! Refunds as NetSuite customer refunds drawing on the credit memo (`docs/erp-apis.md` §3.9).
//!
//! One customer refund per refund, upserted by its external id (`es_ref_…`) with
//! `?replace=apply`: `customer`, `account` = the connection's `payment_account` (the
//! account the money leaves), and one line of the `apply` sublist, `{doc: {id: <the credit
//! memo>}, apply: true, amount}` (Oracle: the customer refund's `apply` sublist is keyed by
//! `doc`). NetSuite only refunds what is unapplied on the credit memo, so a credit note
//! that was wholly applied to an open invoice has nothing to refund there: the failure is
//! permanent and names the credit memo, the amount and what it has left. A refund that
//! names no credit note has nothing in NetSuite to draw on and fails, saying so.
//! `VOID` deletes the refund (see [`super::ledger`]), which gives the credit back to the
//! memo.

use serde_json::Value;

use super::ledger::{self, Kind, Parties, decimal};
use super::{NetSuiteConnector, Session, credit_notes, success_with};
use crate::connectors::{Outcome, Step};
use crate::domain::Refund;

/// Our refunds: `erp_records` kind `refund`, NetSuite's `customerRefund`, `es_ref_…`.
pub const DOC: Kind = Kind::new("refund", "customerRefund", "ref");

/// The customer refund body for `PUT /customerRefund/eid:<id>?replace=apply`.
pub fn refund_body(refund: &Refund, parties: &Parties, credit_memo_id: &str) -> Value {
    let mut memo = format!("erp-sync refund {}", refund.id);
    if let Some(reference) = &refund.reference {
        memo.push_str(&format!(" ({reference})"));
    }
    let applied = [(credit_memo_id.to_string(), refund.amount)];
    parties.body(refund.refunded_at.date_naive(), memo, &applied)
}

impl NetSuiteConnector {
    pub(super) async fn sync_refund(&self, session: &Session, refund: &Refund) -> Step {
        let account = ledger::require_payment_account(session, "refund")?;
        let Some(note) = &refund.credit_note_id else {
            let why = "NetSuite books a refund as a customer refund drawing on a credit memo";
            let detail = format!(
                "refund {} names no credit_note_id: {why}, so there is nothing to refund from; nothing was sent",
                refund.id
            );
            return Err(Outcome::permanent(None, detail));
        };
        let note_doc = credit_notes::DOC.doc(session, note);
        let memo = self.live_record(session, &note_doc).await?.ok_or_else(|| {
            Outcome::permanent(
                None,
                format!(
                    "credit note {note} is not in NetSuite (it was voided, or deleted there), so refund {} has nothing to draw on; nothing was sent",
                    refund.id
                ),
            )
        })?;
        let doc = DOC.doc(session, &refund.id);
        let body = |p: &Parties| refund_body(refund, p, &memo);
        let (by, currency) = (&refund.customer, refund.currency.as_str());
        let (status, id) = match self
            .write_money(session, &doc, account, by, currency, body)
            .await?
        {
            Ok(done) => done,
            Err(e) => {
                let left = self
                    .field_of(session, &format!("creditMemo/{memo}"), "unapplied")
                    .await
                    .as_ref()
                    .and_then(decimal)
                    .map(|d| format!("{d} {}", refund.currency))
                    .unwrap_or_else(|| "an unreadable amount".into());
                return Err(Outcome::permanent(
                    e.status,
                    format!(
                        "NetSuite refused refund {} of {} {}: credit memo {memo} (credit note {note}) has {left} unapplied (not counting this refund), and only unapplied credit can be refunded. NetSuite said: {e}",
                        refund.id, refund.amount, refund.currency
                    ),
                ));
            }
        };
        Ok(success_with(
            Some(status),
            Some(id.clone()),
            format!(
                "customer refund {id}: {} {} drawn on credit memo {memo} (credit note {note})",
                refund.amount, refund.currency
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_body_draws_on_the_credit_memo_from_the_payment_account() {
        let parties = Parties {
            customer: "58".into(),
            account: "1".into(),
            currency: "1".into(),
            subsidiary: Some("1".into()),
        };
        let raw = include_bytes!("../../../../examples/refunds/basic.json");
        let refund = crate::domain::parse_refund(raw).unwrap();
        let body = refund_body(&refund, &parties, "1300");
        assert_eq!(body["customer"]["id"], "58");
        assert_eq!(body["account"]["id"], "1");
        assert_eq!(body["tranDate"], "2026-11-22");
        assert_eq!(body["apply"]["items"][0]["doc"]["id"], "1300");
        assert_eq!(body["apply"]["items"][0]["amount"], json!(2.17));
        assert!(body["memo"].as_str().unwrap().contains("re_3N8y"));
    }
}
