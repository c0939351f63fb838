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

use serde_json::{Value, json};

use super::ledger::{self, decimal, refused_apply};
use super::mapping::{amount, external_id};
use super::{NetSuiteConnector, Session, success_with};
use crate::connectors::{Outcome, SyncRequest};
use crate::documents::AnyDocument;
use crate::domain::{Document, Refund};

/// The `erp_records` kind of refunds.
pub const KIND: &str = "refund";
/// NetSuite's record type.
pub const RECORD: &str = "customerRefund";

/// The customer refund body for `PUT /customerRefund/eid:<id>?replace=apply`.
pub fn refund_body(
    refund: &Refund,
    customer_id: &str,
    account_id: &str,
    currency_id: &str,
    subsidiary_id: Option<&str>,
    credit_memo_id: &str,
) -> Value {
    let mut memo = format!("erp-sync refund {}", refund.id);
    if let Some(reference) = &refund.reference {
        memo.push_str(&format!(" ({reference})"));
    }
    let mut body = json!({
        "customer": {"id": customer_id},
        "account": {"id": account_id},
        "currency": {"id": currency_id},
        "tranDate": refund.refunded_at.date_naive().to_string(),
        "memo": memo,
        "apply": {"items": [
            {"doc": {"id": credit_memo_id}, "apply": true, "amount": amount(refund.amount)}
        ]},
    });
    if let Some(subsidiary) = subsidiary_id {
        body["subsidiary"] = json!({"id": subsidiary});
    }
    body
}

impl NetSuiteConnector {
    pub(super) async fn sync_refund(
        &self,
        session: &Session,
        req: &SyncRequest<'_, AnyDocument>,
        refund: &Refund,
    ) -> Result<Outcome, Outcome> {
        let eid = external_id("ref", &session.tenant_id, &refund.id);
        if refund.is_void() {
            return self
                .delete_record(session, KIND, RECORD, &refund.id, &eid)
                .await;
        }
        let account = ledger::require_payment_account(req.connection, "refund")?;
        let Some(note) = &refund.credit_note_id else {
            return Err(Outcome::permanent(
                None,
                format!(
                    "refund {} names no credit_note_id: NetSuite books a refund as a customer refund drawing on a credit memo, so there is nothing to refund from; nothing was sent",
                    refund.id
                ),
            ));
        };
        let note_eid = external_id("cn", &session.tenant_id, note);
        let memo = self
            .live_record(session, super::credit_notes::KIND, "creditMemo", note, &note_eid)
            .await?
            .ok_or_else(|| {
                Outcome::permanent(
                    None,
                    format!(
                        "credit note {note} is not in NetSuite (it was voided, or deleted there), so refund {} has nothing to draw on; nothing was sent",
                        refund.id
                    ),
                )
            })?;
        let customer = self.ledger_customer(session, &refund.customer).await?;
        let currency = self.currency(session, &refund.currency).await?;
        let body = refund_body(
            refund,
            &customer,
            &account,
            &currency,
            session.subsidiary_id.as_deref(),
            &memo,
        );
        let known = self
            .live_record(session, KIND, RECORD, &refund.id, &eid)
            .await?;
        let answer = match self
            .put(session, RECORD, &eid, &[("replace", "apply")], &body)
            .await
        {
            Ok(a) => a,
            Err(e) if refused_apply(&e) => {
                let left = self
                    .field_of(session, "creditMemo", &memo, "unapplied")
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
            Err(e) => return Err(e.into()),
        };
        let (status, id) = self.upserted(session, RECORD, &eid, answer, known).await?;
        self.remember(session, KIND, &refund.id, &id, None).await?;
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

    #[test]
    fn the_body_draws_on_the_credit_memo_from_the_payment_account() {
        let raw = include_bytes!("../../../../examples/refunds/basic.json");
        let refund = crate::domain::parse_refund(raw).unwrap();
        let body = refund_body(&refund, "58", "1", "1", Some("1"), "1300");
        assert_eq!(body["customer"]["id"], "58");
        assert_eq!(body["account"]["id"], "1");
        assert_eq!(body["tranDate"], "2026-11-22");
        assert_eq!(body["apply"]["items"][0]["doc"]["id"], "1300");
        assert_eq!(body["apply"]["items"][0]["amount"], json!(2.17));
        assert!(body["memo"].as_str().unwrap().contains("re_3N8y"));
    }
}
