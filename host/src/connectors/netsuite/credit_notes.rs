//! Credit notes as NetSuite credit memos applied to their invoice (`docs/erp-apis.md` §3.9).
//!
//! One credit memo per credit note, upserted by its external id (`es_cn_…`) with
//! `?replace=item,apply`: the customer, number, date and currency, the lines booked on
//! the items the invoice's lines use (`item_map`, `default_item_id`, tax on the tax item,
//! exactly as [`super::mapping::item_lines`] books an invoice), and one line of the
//! `apply` sublist, `{doc: {id: <the invoice>}, apply: true, amount}`, which applies the
//! credit to that invoice. That is how the credit memo's `apply` sublist works in REST, as
//! on customer payments (Oracle documents the sublist's `doc` key for customer payments
//! and deposit applications; for credit memos the same shape is [I], and the SOAP schema's
//! `CreditMemoApply {doc, apply, amount}` is [S]). `!transform/creditMemo` from the
//! invoice was not used: it copies the invoice's lines and credits what is open, which
//! suits a void (the invoice path's) but not a partial credit.
//!
//! The amount applied is the credit note's total, capped at what the invoice still has
//! open (read first; this memo's own earlier application counts as open) and at what is
//! left of the memo after refunds drawn on it: a credit on an invoice already paid stays
//! on the memo as unapplied credit on the customer, which a refund can then pay out, as
//! in NetSuite's own UI. A credit note without an invoice is all unapplied credit.
//! `autoApply: false` keeps NetSuite from applying the credit elsewhere ([S], see
//! [`super::payments`]). `VOID` deletes the credit memo (see [`super::ledger`]); NetSuite
//! refuses while a refund is applied to it, and the failure says so.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::ledger::{Kind, apply_line, decimal, id_text};
use super::mapping::item_lines;
use super::{NetSuiteConnector, Session, success_with};
use crate::connectors::{Outcome, Step};
use crate::domain::{CreditNote, Invoice, InvoiceStatus};

/// Our credit notes: `erp_records` kind `credit_note`, NetSuite's `creditMemo`, `es_cn_…`.
pub const DOC: Kind = Kind::new("credit_note", "creditMemo", "cn");

/// The credit note as an invoice of the same lines, to book its lines the invoice's way.
fn as_invoice(note: &CreditNote) -> Invoice {
    Invoice {
        currency: note.currency.clone(),
        customer: note.customer.clone(),
        due_date: None,
        entity: note.entity.clone(),
        finalized_at: note.issue_date.and_time(chrono::NaiveTime::MIN).and_utc(),
        id: note.id.clone(),
        issue_date: note.issue_date,
        lines: note.lines.clone(),
        metadata: note.metadata.clone(),
        number: note.number.clone(),
        status: InvoiceStatus::Open,
        subtotal: note.subtotal,
        tax_total: note.tax_total,
        total: note.total,
    }
}

/// The credit memo body for `PUT /creditMemo/eid:<id>?replace=item,apply`.
pub fn credit_memo_body(
    note: &CreditNote,
    customer_id: &str,
    currency_id: &str,
    subsidiary_id: Option<&str>,
    lines: Vec<Value>,
    applied: Option<(&str, Decimal)>,
) -> Value {
    let mut memo = format!("erp-sync credit note {}", note.id);
    if let Some(reason) = &note.reason {
        memo.push_str(&format!(": {reason}"));
    }
    let items: Vec<Value> = applied
        .filter(|(_, a)| *a > Decimal::ZERO)
        .map(|(doc, a)| apply_line(doc, a))
        .into_iter()
        .collect();
    let mut body = json!({
        "entity": {"id": customer_id},
        "tranId": note.number,
        "tranDate": note.issue_date.to_string(),
        "currency": {"id": currency_id},
        "memo": memo,
        "autoApply": false,
        "item": {"items": lines},
        "apply": {"items": items},
    });
    if let Some(subsidiary) = subsidiary_id {
        body["subsidiary"] = json!({"id": subsidiary});
    }
    body
}

/// How much of an existing credit memo is applied to `invoice`, and how much of it is
/// used otherwise (refunds drawn on it, other applications).
fn own_use(memo: &Value, invoice: &str) -> (Decimal, Decimal) {
    let items = memo["apply"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let on_invoice: Decimal = items
        .iter()
        .filter(|l| l["apply"] != false && id_text(&l["doc"]["id"]).as_deref() == Some(invoice))
        .filter_map(|l| decimal(&l["amount"]))
        .sum();
    let total = decimal(&memo["total"]).unwrap_or_default();
    let unapplied = decimal(&memo["unapplied"]).unwrap_or(total - on_invoice);
    let other = (total - on_invoice - unapplied).max(Decimal::ZERO);
    (on_invoice, other)
}

impl NetSuiteConnector {
    pub(super) async fn sync_credit_note(&self, session: &Session, note: &CreditNote) -> Step {
        // A missing item fails before anything is written.
        let lines = item_lines(&as_invoice(note), &session.items)
            .map_err(|e| Outcome::permanent(None, format!("credit note {}: {e}", note.id)))?;
        let invoice = match &note.invoice_id {
            Some(local) => Some((local, self.invoice_record(session, local).await?)),
            None => None,
        };
        let customer = self.ledger_customer(session, &note.customer).await?;
        let currency = self.currency(session, &note.currency).await?;
        let doc = DOC.doc(session, &note.id);
        // A new credit note on an invoice goes in one write, applied in full, without
        // reading anything first (its own write and nothing more, when the invoice has
        // that much open); only if NetSuite refuses the application are the memo and the
        // invoice read and the credit capped at what is open (below). A retry of a write
        // whose answer was lost sends the same upsert: the memo's own application counts
        // as open, so it is replaced, not added.
        if let Some((_, nid)) = &invoice
            && self
                .remembered(session, DOC.name, &note.id)
                .await?
                .is_none()
        {
            let subsidiary = session.subsidiary_id.as_deref();
            let applied = Some((nid.as_str(), note.total));
            let body = credit_memo_body(
                note,
                &customer,
                &currency,
                subsidiary,
                lines.clone(),
                applied,
            );
            let written = self.write_applied(session, &doc, "item,apply", &body, None);
            if let Ok(done) = written.await? {
                return Ok(booked(note, invoice.as_ref(), done, note.total));
            }
        }
        let existing = self.record_of(session, &doc).await?;
        let known = existing.as_ref().and_then(|m| id_text(&m["id"]));
        let applied = match &invoice {
            None => None,
            Some((_, nid)) => {
                let path = format!("invoice/{nid}");
                let answer = self
                    .call(session, reqwest::Method::GET, &path, &[], None)
                    .await?;
                let open = decimal(&answer.body["amountRemaining"]).ok_or_else(|| {
                    Outcome::retryable(
                        Some(answer.status),
                        format!("NetSuite answered invoice {nid} without its amountRemaining"),
                        None,
                    )
                })?;
                let (own, other) = existing
                    .as_ref()
                    .map(|m| own_use(m, nid))
                    .unwrap_or_default();
                let cap = (note.total - other).min(open + own);
                Some((nid.as_str(), cap.max(Decimal::ZERO)))
            }
        };
        let body = credit_memo_body(
            note,
            &customer,
            &currency,
            session.subsidiary_id.as_deref(),
            lines,
            applied,
        );
        let written = self.write_applied(session, &doc, "item,apply", &body, known);
        let (status, id) = match written.await? {
            Ok(done) => done,
            // What was open was read just before: a payment or credit applied meanwhile.
            Err(e) => {
                return Err(Outcome::retryable(
                    e.status,
                    format!(
                        "NetSuite refused to apply credit note {} to invoice {} as its open balance changed meanwhile; will retry: {e}",
                        note.id,
                        note.invoice_id.as_deref().unwrap_or_default()
                    ),
                    None,
                ));
            }
        };
        let on_invoice = applied.map(|(_, a)| a).unwrap_or_default();
        Ok(booked(note, invoice.as_ref(), (status, id), on_invoice))
    }
}

/// The outcome of a credit memo `(status, id)` written with `on_invoice` of the credit
/// applied to its invoice (`invoice`: ours and NetSuite's id).
fn booked(
    note: &CreditNote,
    invoice: Option<&(&String, String)>,
    (status, id): (u16, String),
    on_invoice: Decimal,
) -> Outcome {
    let mut text = format!("credit memo {id} for {} {}", note.total, note.currency);
    if let Some((local, nid)) = invoice {
        text.push_str(&format!(
            ": {on_invoice} applied to invoice {local} (NetSuite invoice {nid})"
        ));
    }
    let rest = note.total - on_invoice;
    if rest > Decimal::ZERO {
        text.push_str(&format!(
            "; {rest} {} stays as unapplied credit on the customer",
            note.currency
        ));
    }
    success_with(Some(status), Some(id), text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::netsuite::mapping::ItemRules;
    use std::collections::HashMap;

    #[test]
    fn the_body_books_the_lines_and_applies_the_credit_to_the_invoice() {
        let raw = include_bytes!("../../../../examples/credit-notes/basic.json");
        let note = crate::domain::parse_credit_note(raw).unwrap();
        let rules = ItemRules {
            item_map: HashMap::from([
                ("prod_api".to_string(), "87".to_string()),
                ("TAX".to_string(), "95".to_string()),
            ]),
            default_item_id: None,
        };
        let lines = item_lines(&as_invoice(&note), &rules).unwrap();
        assert_eq!(lines.len(), 2, "the charge and its tax");
        let body = credit_memo_body(&note, "58", "1", None, lines, Some(("1201", note.total)));
        assert_eq!(body["entity"]["id"], "58");
        assert_eq!(body["tranId"], "CN-2026-0007");
        assert_eq!(body["tranDate"], "2026-11-20");
        assert_eq!(body["item"]["items"][0]["item"]["id"], "87");
        assert_eq!(body["item"]["items"][1]["amount"], json!(0.17));
        let apply = body["apply"]["items"].as_array().unwrap();
        assert_eq!(apply.len(), 1);
        assert_eq!(apply[0]["doc"]["id"], "1201");
        assert_eq!(apply[0]["amount"], json!(2.17));
        let nothing = credit_memo_body(
            &note,
            "58",
            "1",
            None,
            vec![],
            Some(("1201", Decimal::ZERO)),
        );
        assert!(nothing["apply"]["items"].as_array().unwrap().is_empty());
    }

    #[test]
    fn own_use_separates_this_invoice_from_refunds() {
        let memo = json!({"total": 5, "unapplied": 1,
            "apply": {"items": [{"doc": {"id": "1201"}, "apply": true, "amount": 3}]}});
        assert_eq!(
            own_use(&memo, "1201"),
            (Decimal::new(3, 0), Decimal::new(1, 0))
        );
        assert_eq!(own_use(&memo, "9"), (Decimal::ZERO, Decimal::new(4, 0)));
    }
}
