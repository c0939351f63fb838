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

use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::Value;

use super::api::{NsError, NsErrorKind};
use super::{NetSuiteConnector, Session, success_with};
use crate::connectors::Outcome;
use crate::store::{ConnectionRow, ErpRecord};

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

/// The connection's `payment_account`, or the permanent failure of a `what` without it.
pub fn require_payment_account(connection: &ConnectionRow, what: &str) -> Result<String, Outcome> {
    payment_account(connection).ok_or_else(|| {
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
        kind: &str,
        record_type: &str,
        local_id: &str,
        eid: &str,
    ) -> Result<Option<String>, Outcome> {
        match self.remembered(session, kind, local_id).await? {
            Some(r) if r.version.as_deref() != Some(DELETED) => Ok(Some(r.remote_id)),
            _ => self.id_by_external_id(session, record_type, eid).await,
        }
    }

    /// The NetSuite invoice of our invoice `invoice_id`, which the worker has synced
    /// before handing over anything applied to it.
    pub(super) async fn invoice_record(
        &self,
        session: &Session,
        invoice_id: &str,
    ) -> Result<String, Outcome> {
        let eid = super::mapping::external_id("inv", &session.tenant_id, invoice_id);
        let found = self
            .live_record(session, "invoice", "invoice", invoice_id, &eid)
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

    /// One field of a record, for an error message; `None` when it cannot be read.
    pub(super) async fn field_of(
        &self,
        session: &Session,
        record_type: &str,
        id: &str,
        field: &str,
    ) -> Option<Value> {
        let path = format!("{record_type}/{id}");
        let answer = self
            .call(session, Method::GET, &path, &[], None)
            .await
            .ok()?;
        answer.body.get(field).cloned()
    }

    /// The record of one of our documents, as NetSuite holds it now (`None`: not there).
    pub(super) async fn record_by_eid(
        &self,
        session: &Session,
        record_type: &str,
        eid: &str,
    ) -> Result<Option<Value>, Outcome> {
        let path = format!("{record_type}/eid:{eid}");
        match self.call(session, Method::GET, &path, &[], None).await {
            Ok(answer) => Ok(Some(answer.body)),
            Err(e) if e.kind == NsErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Voids one of our documents in NetSuite by deleting its record (see the module
    /// docs), once: a record never made needs nothing, a record already gone is done.
    pub(super) async fn delete_record(
        &self,
        session: &Session,
        kind: &str,
        record_type: &str,
        local_id: &str,
        eid: &str,
    ) -> Result<Outcome, Outcome> {
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
            None => self.id_by_external_id(session, record_type, eid).await?,
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
        let record = ErpRecord {
            remote_id: id.clone(),
            version: Some(DELETED.into()),
        };
        let account = session.account.key();
        self.store
            .put_erp_record(&account, &session.tenant_id, kind, local_id, &record)
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
    use serde_json::json;

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
