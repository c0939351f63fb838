//! What the ledger's documents share in NetSuite (`docs/erp-apis.md` §3.9).
//!
//! Every write is an upsert by external id (`PUT /<type>/eid:<id>`), the id being the
//! document's own ([`super::mapping::external_id`]: `cn`, `pay`, `ref`, `cus`), stable
//! across retries, versions, re-syncs and reconnections. So a retry after a lost answer
//! updates the record the first attempt made; a changed version updates it too (with
//! `?replace=item,apply` or `?replace=apply`, so the lines and applications sent replace
//! the old ones instead of being merged with them).
//!
//! `VOID` deletes the record (`DELETE /<type>/<internal id>`, 204): REST web services
//! cannot void transactions (voiding is a UI and SuiteScript `N/transaction` operation;
//! Oracle's REST help says so for checks, and lists no void action for payments, credit
//! memos or refunds), and a deleted payment, credit memo or refund gives its amount back
//! to the invoice or credit memo it was applied to. A 404 on the delete means an earlier
//! attempt deleted it and its answer was lost; the record is remembered as `deleted`.
//!
//! What a document applies to (an invoice, a credit memo) is always already in NetSuite:
//! the worker sends it only once those have synced on the connection, and their ids are
//! in `erp_records` (or found by external id after a lost answer).

use std::str::FromStr;

use chrono::NaiveDate;
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::api::{NsError, NsErrorKind};
use super::mapping::{amount, external_id};
use super::{NetSuiteConnector, Session, credit_notes, payments, refunds, success_with};
use crate::connectors::{Outcome, Step};
use crate::documents::AnyDocument;
use crate::domain::Document;
use crate::store::ConnectionRow;

/// The `version` remembered for a record a void deleted.
pub const DELETED: &str = "deleted";

/// The config key naming the account payments and refunds go through.
pub const PAYMENT_ACCOUNT: &str = "payment_account";

/// The connection's `payment_account`, if set.
pub fn payment_account(connection: &ConnectionRow) -> Option<String> {
    connection
        .config
        .get(PAYMENT_ACCOUNT)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A kind of our documents in NetSuite: its `erp_records` kind, NetSuite's record type and
/// the prefix of its external id ([`super::mapping::external_id`]).
pub struct Kind {
    pub name: &'static str,
    pub record: &'static str,
    pub prefix: &'static str,
}

/// Our invoices.
pub const INVOICE: Kind = Kind::new("invoice", "invoice", "inv");

/// One of our documents of a [`Kind`]: our id and its external id.
pub(super) struct Doc<'a> {
    kind: &'a Kind,
    id: &'a str,
    eid: String,
}

impl Kind {
    pub const fn new(name: &'static str, record: &'static str, prefix: &'static str) -> Self {
        Kind {
            name,
            record,
            prefix,
        }
    }

    /// Our document `id` of this kind, on the session's tenant.
    pub(super) fn doc<'a>(&'a self, session: &Session, id: &'a str) -> Doc<'a> {
        let eid = external_id(self.prefix, &session.tenant_id, id);
        Doc {
            kind: self,
            id,
            eid,
        }
    }
}

/// A line of an `apply` sublist: `amount` applied to the document `doc`.
pub fn apply_line(doc: &str, a: Decimal) -> Value {
    json!({"doc": {"id": doc}, "apply": true, "amount": amount(a)})
}

/// What a customer payment or refund body names besides what it applies to: the customer,
/// the account the money goes through, the currency and the subsidiary, if any.
pub struct Parties {
    pub customer: String,
    pub account: String,
    pub currency: String,
    pub subsidiary: Option<String>,
}

impl Parties {
    /// A customer payment or refund body: these, the date, the memo and the `apply` lines
    /// (document, amount).
    pub fn body(&self, date: NaiveDate, memo: String, applied: &[(String, Decimal)]) -> Value {
        let items: Vec<Value> = applied.iter().map(|(doc, a)| apply_line(doc, *a)).collect();
        let mut body = json!({
            "customer": {"id": self.customer},
            "account": {"id": self.account},
            "currency": {"id": self.currency},
            "tranDate": date.to_string(),
            "memo": memo,
            "apply": {"items": items},
        });
        if let Some(subsidiary) = &self.subsidiary {
            body["subsidiary"] = json!({"id": subsidiary});
        }
        body
    }
}

/// The connection's `payment_account`, or the permanent failure of a `what` without it.
pub(super) fn require_payment_account(session: &Session, what: &str) -> Step<String> {
    session.payment_account.clone().ok_or_else(|| {
        Outcome::permanent(
            None,
            format!(
                "the connection has no config.{PAYMENT_ACCOUNT}: set it to the internal id of the NetSuite account {what}s go through (a bank account, or Undeposited Funds), then re-sync; nothing was sent"
            ),
        )
    })
}

/// A number NetSuite answered (a JSON number, or a string).
pub fn decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => Decimal::from_str(&n.to_string())
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .ok(),
        Value::String(s) => Decimal::from_str(s.trim()).ok(),
        _ => None,
    }
}

/// Whether NetSuite refused a write over its `apply` sublist (an amount above what is
/// open, a document that cannot be applied).
pub fn refused_apply(e: &NsError) -> bool {
    e.kind == NsErrorKind::Permanent
        && e.details
            .iter()
            .any(|d| d.path.as_deref().is_some_and(|p| p.starts_with("apply")))
}

/// A NetSuite id the answer gives as a string or a number.
pub fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl NetSuiteConnector {
    /// One ledger document: a void deletes its record (see the module docs), anything else
    /// is written.
    pub(super) async fn sync_ledger(&self, session: &Session, document: &AnyDocument) -> Step {
        let voided = match document {
            AnyDocument::Payment(p) if p.is_void() => &payments::DOC,
            AnyDocument::CreditNote(c) if c.is_void() => &credit_notes::DOC,
            AnyDocument::Refund(r) if r.is_void() => &refunds::DOC,
            AnyDocument::Payment(p) => return self.sync_payment(session, p).await,
            AnyDocument::CreditNote(c) => return self.sync_credit_note(session, c).await,
            AnyDocument::Refund(r) => return self.sync_refund(session, r).await,
            AnyDocument::Customer(c) => return self.sync_customer_update(session, c).await,
            AnyDocument::Invoice(_) => {
                let detail = "an invoice was handed to sync_document; invoices go through sync";
                return Err(Outcome::permanent(None, detail));
            }
        };
        self.delete_record(session, &voided.doc(session, document.id()))
            .await
    }

    /// The NetSuite customer of a ledger document's customer: the one its invoices made
    /// (remembered), else upserted from the document's details.
    pub(super) async fn ledger_customer(
        &self,
        session: &Session,
        customer: &crate::domain::Customer,
    ) -> Result<String, Outcome> {
        if let Some(r) = self.remembered(session, "customer", &customer.id).await? {
            return Ok(r.remote_id);
        }
        self.customer_of(session, customer).await
    }

    /// The live NetSuite record of one of our documents: remembered (unless a void
    /// deleted it), else found by its external id (an earlier attempt made it and its
    /// answer was lost).
    pub(super) async fn live_record(
        &self,
        session: &Session,
        doc: &Doc<'_>,
    ) -> Step<Option<String>> {
        match self.remembered(session, doc.kind.name, doc.id).await? {
            Some(r) if r.version.as_deref() != Some(DELETED) => Ok(Some(r.remote_id)),
            _ => {
                self.id_by_external_id(session, doc.kind.record, &doc.eid)
                    .await
            }
        }
    }

    /// Upserts `body` as `doc` (`?replace=<replace>`) and remembers it: the status and
    /// NetSuite's id, or NetSuite's refusal of the `apply` sublist for the caller to word.
    pub(super) async fn write_applied(
        &self,
        session: &Session,
        doc: &Doc<'_>,
        replace: &str,
        body: &Value,
        known: Option<String>,
    ) -> Step<Result<(u16, String), NsError>> {
        let (record, eid) = (doc.kind.record, doc.eid.as_str());
        let path = format!("{record}/eid:{eid}");
        let query = [("replace", replace)];
        let answer = match self
            .call(session, Method::PUT, &path, &query, Some(body))
            .await
        {
            Ok(a) => a,
            Err(e) if refused_apply(&e) => return Ok(Err(e)),
            Err(e) => return Err(e.into()),
        };
        let (status, id) = self.upserted(session, record, eid, answer, known).await?;
        self.remember(session, doc.kind.name, doc.id, &id, None)
            .await?;
        Ok(Ok((status, id)))
    }

    /// Writes a payment or refund, `doc`, with `?replace=apply`: its body is `body` of its
    /// [`Parties`] (`customer` in `currency` through `account`), its id found as
    /// [`Self::live_record`] finds it. Answers as [`Self::write_applied`].
    pub(super) async fn write_money(
        &self,
        session: &Session,
        doc: &Doc<'_>,
        account: String,
        customer: &crate::domain::Customer,
        currency: &str,
        body: impl FnOnce(&Parties) -> Value,
    ) -> Step<Result<(u16, String), NsError>> {
        let parties = Parties {
            customer: self.ledger_customer(session, customer).await?,
            account,
            currency: self.currency(session, currency).await?,
            subsidiary: session.subsidiary_id.clone(),
        };
        let body = body(&parties);
        let known = self.live_record(session, doc).await?;
        self.write_applied(session, doc, "apply", &body, known)
            .await
    }

    /// The NetSuite invoice of our invoice `invoice_id`, which the worker has synced
    /// before handing over anything applied to it.
    pub(super) async fn invoice_record(
        &self,
        session: &Session,
        invoice_id: &str,
    ) -> Result<String, Outcome> {
        let found = self
            .live_record(session, &INVOICE.doc(session, invoice_id))
            .await?;
        found.ok_or_else(|| {
            Outcome::permanent(
                None,
                format!(
                    "invoice {invoice_id} is not in NetSuite (it was voided before it reached NetSuite, or its record was deleted there); nothing was sent"
                ),
            )
        })
    }

    /// The record of one of our documents, as NetSuite holds it now (`None`: not there).
    pub(super) async fn record_of(&self, session: &Session, doc: &Doc<'_>) -> Step<Option<Value>> {
        let found = self.by_eid(session, doc.kind.record, &doc.eid).await?;
        Ok(found.map(|answer| answer.body))
    }

    /// Voids one of our documents in NetSuite by deleting its record (see the module
    /// docs), once: a record never made needs nothing, a record already gone is done.
    async fn delete_record(&self, session: &Session, doc: &Doc<'_>) -> Step {
        let (kind, record_type, local_id) = (doc.kind.name, doc.kind.record, doc.id);
        let remembered = self.remembered(session, kind, local_id).await?;
        if let Some(r) = &remembered
            && r.version.as_deref() == Some(DELETED)
        {
            return Ok(success_with(
                None,
                Some(r.remote_id.clone()),
                format!(
                    "already voided: NetSuite {record_type} {} was deleted",
                    r.remote_id
                ),
            ));
        }
        let id = match remembered {
            Some(r) => Some(r.remote_id),
            None => {
                self.id_by_external_id(session, record_type, &doc.eid)
                    .await?
            }
        };
        let Some(id) = id else {
            return Ok(success_with(
                None,
                None,
                format!("the {kind} was never in NetSuite; nothing to void"),
            ));
        };
        let path = format!("{record_type}/{id}");
        let status = match self.call(session, Method::DELETE, &path, &[], None).await {
            Ok(answer) => Some(answer.status),
            // An earlier attempt deleted it and its answer was lost.
            Err(e) if e.kind == NsErrorKind::NotFound => None,
            Err(e) if e.kind == NsErrorKind::Permanent => {
                return Err(Outcome::permanent(
                    e.status,
                    format!(
                        "NetSuite refused to delete {record_type} {id} (our {kind} {local_id}), so it is not voided there: {e}"
                    ),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        self.remember(session, kind, local_id, &id, Some(DELETED.into()))
            .await?;
        Ok(success_with(
            status,
            Some(id.clone()),
            format!(
                "voided: NetSuite {record_type} {id} deleted (REST web services cannot void transactions)"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_ids_read_either_way() {
        assert_eq!(decimal(&json!(12.99)), Some(Decimal::new(1299, 2)));
        assert_eq!(decimal(&json!("0.17")), Some(Decimal::new(17, 2)));
        assert_eq!(decimal(&json!(null)), None);
        assert_eq!(id_text(&json!(1201)), Some("1201".into()));
        assert_eq!(id_text(&json!("1201")), Some("1201".into()));
    }

    #[test]
    fn refusals_of_the_apply_sublist_are_told_apart() {
        let body = r#"{"status":400,"o:errorDetails":[{"detail":"over","o:errorCode":"USER_ERROR","o:errorPath":"apply.items[0].amount"}]}"#;
        assert!(refused_apply(&NsError::from_response(400, None, body)));
        let body = r#"{"status":400,"o:errorDetails":[{"detail":"x","o:errorCode":"USER_ERROR","o:errorPath":"entity"}]}"#;
        assert!(!refused_apply(&NsError::from_response(400, None, body)));
    }
}
