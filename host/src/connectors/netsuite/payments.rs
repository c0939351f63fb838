//! Payments as NetSuite customer payments (`customerPayment`, `docs/erp-apis.md` §3.9).
//!
//! One customer payment per payment, upserted by its external id (`es_pay_…`) with
//! `?replace=apply`: `customer`, `account` = the connection's `payment_account`,
//! `payment` = the amount received, and one `apply` line `{doc: {id: <invoice>}, apply:
//! true, amount}` per invoice it settles, as Oracle's "Creating a Customer Payment Record"
//! sample does. What `applied_to` leaves over stays on the payment as NetSuite's
//! unapplied amount, a credit on the customer's account (the contract's unapplied credit).
//! `autoApply: false` keeps NetSuite from spreading the payment over the customer's
//! oldest invoices itself ([S]: the SOAP schema's `autoApply`; the REST field of the same
//! name is a guess). An amount above what is open on an invoice is refused by NetSuite;
//! the failure is permanent and names the invoice, the amount and what is open.
//! `VOID` deletes the payment (see [`super::ledger`]), which reopens its invoices.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::ledger::{self, Kind, Parties, decimal};
use super::{NetSuiteConnector, Session, success_with};
use crate::connectors::{Outcome, Step};
use crate::domain::Payment;

/// Our payments: `erp_records` kind `payment`, NetSuite's `customerPayment`, `es_pay_…`.
pub const DOC: Kind = Kind::new("payment", "customerPayment", "pay");

/// The customer payment body for `PUT /customerPayment/eid:<id>?replace=apply`.
pub fn payment_body(payment: &Payment, parties: &Parties, applied: &[(String, Decimal)]) -> Value {
    let mut memo = format!("erp-sync payment {}", payment.id);
    if let Some(method) = &payment.method {
        memo.push_str(&format!(" ({method})"));
    }
    let mut body = parties.body(payment.received_at.date_naive(), memo, applied);
    body["payment"] = super::mapping::amount(payment.amount);
    body["autoApply"] = json!(false);
    if let Some(reference) = &payment.reference {
        body["checkNum"] = json!(reference);
    }
    body
}

impl NetSuiteConnector {
    pub(super) async fn sync_payment(&self, session: &Session, payment: &Payment) -> Step {
        let doc = DOC.doc(session, &payment.id);
        let account = ledger::require_payment_account(session, "payment")?;
        let mut applied = Vec::new();
        for a in &payment.applied_to {
            applied.push((self.invoice_record(session, &a.invoice_id).await?, a.amount));
        }
        let (by, currency) = (&payment.customer, payment.currency.as_str());
        let body = |p: &Parties| payment_body(payment, p, &applied);
        let written = self.write_money(session, &doc, account, by, currency, body);
        let (status, id) = match written.await? {
            Ok(done) => done,
            Err(e) => return Err(self.payment_refused(session, payment, &applied, e).await),
        };
        let unapplied = payment.unapplied();
        let mut note = format!(
            "customer payment {id}: {} applied to {} invoice(s)",
            payment.amount - unapplied,
            applied.len()
        );
        if !unapplied.is_zero() {
            note.push_str(&format!(
                "; {unapplied} {} left unapplied on the customer",
                payment.currency
            ));
        }
        Ok(success_with(Some(status), Some(id), note))
    }

    /// The permanent failure of a payment NetSuite refused to apply, naming each invoice,
    /// the amount applied to it and what is open there.
    async fn payment_refused(
        &self,
        session: &Session,
        payment: &Payment,
        applied: &[(String, Decimal)],
        e: super::api::NsError,
    ) -> Outcome {
        let mut parts = Vec::new();
        for (a, (invoice, amount)) in payment.applied_to.iter().zip(applied) {
            let open = self
                .field_of(session, &format!("invoice/{invoice}"), "amountRemaining")
                .await
                .as_ref()
                .and_then(decimal)
                .map(|o| format!("{o} open there"))
                .unwrap_or_else(|| "its open balance unreadable".into());
            parts.push(format!(
                "{amount} to invoice {} (NetSuite invoice {invoice}, {open})",
                a.invoice_id
            ));
        }
        Outcome::permanent(
            e.status,
            format!(
                "NetSuite refused payment {} ({} {}) as applied: {}. An amount above an invoice's open balance cannot be applied; correct the payment's applied_to (a remainder may stay unapplied) and re-sync. NetSuite said: {e}",
                payment.id,
                payment.amount,
                payment.currency,
                parts.join("; ")
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_applies_each_invoice_and_leaves_the_rest_unapplied() {
        let raw = include_bytes!("../../../../examples/payments/basic.json");
        let mut payment = crate::domain::parse_payment(raw).unwrap();
        payment.amount = Decimal::new(2000, 2);
        let applied = vec![("1201".to_string(), Decimal::new(1299, 2))];
        let parties = Parties {
            customer: "58".into(),
            account: "1".into(),
            currency: "2".into(),
            subsidiary: Some("1".into()),
        };
        let body = payment_body(&payment, &parties, &applied);
        assert_eq!(body["customer"]["id"], "58");
        assert_eq!(body["account"]["id"], "1");
        assert_eq!(body["currency"]["id"], "2");
        assert_eq!(body["payment"], json!(20));
        assert_eq!(body["tranDate"], "2026-11-21");
        assert_eq!(body["autoApply"], false);
        assert_eq!(body["checkNum"], "ch_3N8x");
        assert_eq!(body["subsidiary"]["id"], "1");
        let items = body["apply"]["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["doc"]["id"], "1201");
        assert_eq!(items[0]["apply"], true);
        assert_eq!(items[0]["amount"], json!(12.99));
        assert!(body.get("externalId").is_none(), "the id is in the URL");
    }
}
