//! What the ledger's documents share in QuickBooks: their idempotency keys, their
//! memory in `erp_records`, and writes that carry a `SyncToken` (updates, voids,
//! deletes), re-read when QuickBooks says it is stale.
//!
//! **Idempotency keys.** Every write carries `requestid = <event id>-<step><round>`. The
//! event id is minted once per document version and kept by its retries and by manual
//! re-syncs of the same version, and it is unique (a UUIDv7), so the key names exactly
//! one write of one version of one document (the document id need not be in it, and
//! would not fit QuickBooks' 50 characters). A retry after a lost answer sends the same
//! key and QuickBooks replays its first answer instead of writing again
//! (`docs/erp-apis.md` §1.5); a new version is a new event, so its writes are new.
//! The `round` is the stale-token round within one write (0 first), so a re-applied
//! write after a 5010 is a new request, and the same sequence of rounds is replayed on a
//! retry.
//!
//! **Memory.** `erp_records` kinds `payment`, `credit_note`, `refund` (the cheque) and
//! `credit_note_application` / `refund_application` (the zero-amount Payments that apply a
//! credit memo to its invoice, and a cheque to its credit memo), keyed by our document id, hold the QuickBooks `Id` and `SyncToken`. A record
//! deleted in QuickBooks is kept with the version [`DELETED`], so a retry knows it is
//! gone (the store has no delete of an ERP record).

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::QuickBooksConnector;
use super::client::Session;
use crate::connectors::{LedgerRequest, Outcome, Step};
use crate::store::ErpRecord;

/// The version of a record that was deleted in QuickBooks.
pub const DELETED: &str = "deleted";

/// The `requestid` of step `step` (a short tag) of this delivery, at `round`.
pub(super) fn request_id(req: &LedgerRequest<'_>, step: &str, round: u32) -> String {
    format!("{}-{step}{round}", req.event_id)
}

/// Whether a failed call was QuickBooks answering `code` (e.g. `5010`, `610`, `6000`).
pub(super) fn is_error(outcome: &Outcome, code: &str) -> bool {
    outcome
        .detail
        .as_deref()
        .is_some_and(|d| d.contains(&format!("QuickBooks error {code} ")))
}

/// A money amount QuickBooks answered (a JSON number), to the cent, read as the decimal
/// it was written as (never through a float).
pub(super) fn money(value: &Value) -> Option<Decimal> {
    crate::domain::money::parse_amount(value)
        .ok()
        .map(|d| d.round_dp(2))
}

/// The success of a void of a `noun` QuickBooks never had.
pub(super) fn nothing_to_void(noun: &str) -> Outcome {
    Outcome {
        detail: Some(format!(
            "the {noun} was never in QuickBooks; nothing to void"
        )),
        ..Outcome::success(None, None)
    }
}

/// A success that says what was done (`detail`), QuickBooks' record being `id`.
pub(super) fn done_noting(id: String, detail: String) -> Outcome {
    Outcome {
        detail: Some(detail),
        ..Outcome::success(Some(200), Some(id))
    }
}

/// A write of one entity: a create, or a write that carries `Id` and `SyncToken`.
#[derive(Clone, Copy)]
pub(super) struct TokenWrite<'a> {
    /// The endpoint and read path, lower case: `payment`, `creditmemo`.
    pub endpoint: &'a str,
    /// The entity's name in answers: `Payment`, `CreditMemo`.
    pub class: &'a str,
    /// Extra query parameters, e.g. `operation=delete`.
    pub query: &'a [(&'a str, &'a str)],
    /// The step tag of its `requestid`.
    pub step: &'a str,
}

impl<'a> TokenWrite<'a> {
    /// A write of `class` at `endpoint` whose `requestid` is tagged `step`.
    pub(super) const fn new(endpoint: &'a str, class: &'a str, step: &'a str) -> Self {
        TokenWrite {
            endpoint,
            class,
            query: &[],
            step,
        }
    }

    /// The same write with the extra query parameters `query`.
    pub(super) const fn with_query(self, query: &'a [(&'a str, &'a str)]) -> Self {
        TokenWrite { query, ..self }
    }

    /// The delete of the same entity (`operation=delete`), tagged `step`.
    pub(super) const fn delete(self, step: &'a str) -> Self {
        TokenWrite {
            step,
            ..self.with_query(&[("operation", "delete")])
        }
    }
}

/// A ledger entity kept in `erp_records`: how it is created and updated.
pub(super) struct Kept<'a> {
    /// Its `erp_records` kind: `payment`, `credit_note`, `refund`.
    pub kind: &'a str,
    /// The update (`Id` + `SyncToken`); a create is the same write tagged `create_step`.
    pub update: TokenWrite<'a>,
    pub create_step: &'a str,
    /// The failure of an update of an entity deleted in QuickBooks meanwhile.
    pub gone: &'a str,
}

impl QuickBooksConnector {
    /// The delivery's session, with an access token valid for at least a minute.
    pub(super) async fn ledger_session(&self, req: &LedgerRequest<'_>) -> Step<Session> {
        self.client
            .fresh_session(&req.connection.id, req.stop.clone())
            .await
    }

    /// The stored record of `local_id` (`kind`), deleted in QuickBooks or not.
    pub(super) async fn stored(
        &self,
        s: &Session,
        kind: &str,
        id: &str,
    ) -> Step<Option<ErpRecord>> {
        let tenant = &s.connection.tenant_id;
        Ok(self.store.erp_record(s.account(), tenant, kind, id).await?)
    }

    /// The stored record of a ledger document (`kind`), unless it was deleted.
    pub(super) async fn ledger_record(
        &self,
        session: &Session,
        kind: &str,
        local_id: &str,
    ) -> Step<Option<ErpRecord>> {
        let record = self.stored(session, kind, local_id).await?;
        Ok(record.filter(|r| r.version.as_deref() != Some(DELETED)))
    }

    /// The record of an invoice a ledger document needs (`then`: "this payment"); the
    /// worker sends the document only once the invoice has it.
    pub(super) async fn invoice_record(
        &self,
        session: &Session,
        invoice_id: &str,
        then: &str,
    ) -> Step<ErpRecord> {
        self.stored(session, "invoice", invoice_id)
            .await?
            .ok_or_else(|| {
                Outcome::permanent(
                    None,
                    format!(
                        "invoice {invoice_id} has no QuickBooks invoice for this company; re-sync it, then {then}"
                    ),
                )
            })
    }

    /// Keeps the entity QuickBooks answered as the record of `local_id` (`kind`).
    pub(super) async fn remember_entity(
        &self,
        session: &Session,
        kind: &str,
        local_id: &str,
        entity: &Value,
    ) -> Step<ErpRecord> {
        let record = ErpRecord {
            remote_id: entity["Id"].as_str().unwrap_or_default().to_string(),
            version: entity["SyncToken"].as_str().map(str::to_string),
        };
        if record.remote_id.is_empty() {
            return Err(Outcome::permanent(
                Some(200),
                format!("QuickBooks answered a {kind} write without an Id: {entity}"),
            ));
        }
        let tenant = &session.connection.tenant_id;
        self.store
            .put_erp_record(session.account(), tenant, kind, local_id, &record)
            .await?;
        Ok(record)
    }

    /// Marks the record of `local_id` (`kind`) deleted in QuickBooks.
    pub(super) async fn forget_entity(
        &self,
        session: &Session,
        kind: &str,
        local_id: &str,
        remote_id: &str,
    ) -> Step<()> {
        let record = ErpRecord {
            remote_id: remote_id.to_string(),
            version: Some(DELETED.to_string()),
        };
        let (account, tenant) = (session.account(), &session.connection.tenant_id);
        let put = self
            .store
            .put_erp_record(account, tenant, kind, local_id, &record);
        Ok(put.await?)
    }

    /// Deletes `record`, if there is one, in QuickBooks with `delete` (a write with
    /// `operation=delete`), and marks it deleted as the record of `local_id` (`kind`);
    /// answers its Id.
    pub(super) async fn delete_record(
        &self,
        session: &mut Session,
        req: &LedgerRequest<'_>,
        delete: &TokenWrite<'_>,
        (kind, local_id): (&str, &str),
        record: Option<ErpRecord>,
    ) -> Step<Option<String>> {
        let Some(record) = record else {
            return Ok(None);
        };
        let id = record.remote_id.clone();
        self.write_with_sync_token(session, req, delete, record, &json!({}))
            .await?;
        self.forget_entity(session, kind, local_id, &id).await?;
        Ok(Some(id))
    }

    /// POSTs a new entity (`write`, tagged with its step and `round`); answers it.
    pub(super) async fn create(
        &self,
        session: &mut Session,
        req: &LedgerRequest<'_>,
        write: &TokenWrite<'_>,
        round: u32,
        body: &Value,
    ) -> Step<Value> {
        let requestid = request_id(req, write.step, round);
        let mut query = vec![("requestid", requestid.as_str())];
        query.extend_from_slice(write.query);
        let method = reqwest::Method::POST;
        let answer = self.call(session, method, write.endpoint, &query, Some(body));
        Ok(answer.await?[write.class].clone())
    }

    /// Deletes the zero-amount Payment kept as the application (`kind`) of `local_id`, if
    /// there is one, with a delete tagged `step`.
    pub(super) async fn unapply(
        &self,
        session: &mut Session,
        req: &LedgerRequest<'_>,
        (kind, step): (&str, &str),
        local_id: &str,
    ) -> Step<()> {
        let record = self.ledger_record(session, kind, local_id).await?;
        let remove = TokenWrite::new("payment", "Payment", "").delete(step);
        self.delete_record(session, req, &remove, (kind, local_id), record)
            .await?;
        Ok(())
    }

    /// Writes `body` as the entity of `local_id`: an update of its record when it has one
    /// (failing with `kept.gone` when QuickBooks no longer has it), else a create; keeps
    /// what QuickBooks answered as its record.
    pub(super) async fn create_or_update(
        &self,
        session: &mut Session,
        req: &LedgerRequest<'_>,
        kept: &Kept<'_>,
        (local_id, record): (&str, Option<ErpRecord>),
        body: &Value,
    ) -> Step<ErpRecord> {
        let entity = match record {
            Some(record) => self
                .write_with_sync_token(session, req, &kept.update, record, body)
                .await?
                .ok_or_else(|| Outcome::permanent(Some(400), kept.gone))?,
            None => {
                let create = TokenWrite {
                    step: kept.create_step,
                    ..kept.update
                };
                self.create(session, req, &create, 0, body).await?
            }
        };
        self.remember_entity(session, kept.kind, local_id, &entity)
            .await
    }

    /// POSTs `body` with the record's `Id` and current `SyncToken`, re-reading the token
    /// when QuickBooks says it is stale (twice at most). Answers the written entity, or
    /// `None` when the entity no longer exists in QuickBooks (610).
    pub(super) async fn write_with_sync_token(
        &self,
        session: &mut Session,
        req: &LedgerRequest<'_>,
        write: &TokenWrite<'_>,
        mut record: ErpRecord,
        body: &Value,
    ) -> Step<Option<Value>> {
        for round in 0..3 {
            let mut body = body.clone();
            body["Id"] = json!(record.remote_id);
            body["SyncToken"] = json!(record.version.clone().unwrap_or_else(|| "0".into()));
            let requestid = request_id(req, write.step, round);
            let mut query = vec![("requestid", requestid.as_str())];
            query.extend_from_slice(write.query);
            let sent = self
                .call(
                    session,
                    reqwest::Method::POST,
                    write.endpoint,
                    &query,
                    Some(&body),
                )
                .await;
            match sent {
                Ok(answer) => return Ok(Some(answer[write.class].clone())),
                Err(o) if is_error(&o, "610") => return Ok(None),
                Err(o) if is_error(&o, "5010") && round < 2 => {
                    match self.read_entity(session, write, &record.remote_id).await? {
                        Some(current) => {
                            record.version = current["SyncToken"].as_str().map(str::to_string);
                        }
                        None => return Ok(None),
                    }
                }
                Err(o) => return Err(o),
            }
        }
        Err(Outcome::permanent(
            Some(400),
            format!(
                "the QuickBooks {} kept changing under us (stale SyncToken three times)",
                write.class
            ),
        ))
    }

    /// The entity as QuickBooks holds it now; `gone()` says why it is needed when it no
    /// longer exists (a permanent failure).
    pub(super) async fn read_live(
        &self,
        session: &mut Session,
        write: &TokenWrite<'_>,
        id: &str,
        gone: impl FnOnce() -> String,
    ) -> Step<Value> {
        let found = self.read_entity(session, write, id).await?;
        found.ok_or_else(|| Outcome::permanent(Some(400), gone()))
    }

    /// The entity as QuickBooks holds it now, or `None` if it does not exist (610).
    pub(super) async fn read_entity(
        &self,
        session: &mut Session,
        write: &TokenWrite<'_>,
        id: &str,
    ) -> Step<Option<Value>> {
        let path = format!("{}/{id}", write.endpoint);
        match self
            .call(session, reqwest::Method::GET, &path, &[], None)
            .await
        {
            Ok(answer) => Ok(Some(answer[write.class].clone())),
            Err(o) if is_error(&o, "610") => Ok(None),
            Err(o) => Err(o),
        }
    }
}
