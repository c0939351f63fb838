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
//! **Memory.** `erp_records` kinds `payment`, `credit_note` and
//! `credit_note_application` (the zero-amount Payment that applies a credit memo to its
//! invoice), keyed by our document id, hold the QuickBooks `Id` and `SyncToken`. A record
//! deleted in QuickBooks is kept with the version [`DELETED`], so a retry knows it is
//! gone (the store has no delete of an ERP record).

use serde_json::{Value, json};

use super::QuickBooksConnector;
use super::client::Session;
use crate::connectors::{Outcome, SyncRequest};
use crate::documents::AnyDocument;
use crate::store::ErpRecord;

/// The version of a record that was deleted in QuickBooks.
pub const DELETED: &str = "deleted";

/// The `requestid` of step `step` (a short tag) of this delivery, at `round`.
pub(super) fn request_id(req: &SyncRequest<'_, AnyDocument>, step: &str, round: u32) -> String {
    format!("{}-{step}{round}", req.event_id)
}

/// Whether a failed call was QuickBooks answering `code` (e.g. `5010`, `610`, `6000`).
pub(super) fn is_error(outcome: &Outcome, code: &str) -> bool {
    outcome
        .detail
        .as_deref()
        .is_some_and(|d| d.contains(&format!("QuickBooks error {code} ")))
}

/// A write of one entity that carries `Id` and `SyncToken`.
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

impl QuickBooksConnector {
    /// The stored record of a ledger document (`kind`), unless it was deleted.
    pub(super) async fn ledger_record(
        &self,
        session: &Session,
        kind: &str,
        local_id: &str,
    ) -> Result<Option<ErpRecord>, Outcome> {
        let tenant = &session.connection.tenant_id;
        let record = self
            .store
            .erp_record(session.account(), tenant, kind, local_id)
            .await?;
        Ok(record.filter(|r| r.version.as_deref() != Some(DELETED)))
    }

    /// Keeps the entity QuickBooks answered as the record of `local_id` (`kind`).
    pub(super) async fn remember_entity(
        &self,
        session: &Session,
        kind: &str,
        local_id: &str,
        entity: &Value,
    ) -> Result<ErpRecord, Outcome> {
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
    ) -> Result<(), Outcome> {
        let record = ErpRecord {
            remote_id: remote_id.to_string(),
            version: Some(DELETED.to_string()),
        };
        let tenant = &session.connection.tenant_id;
        self.store
            .put_erp_record(session.account(), tenant, kind, local_id, &record)
            .await?;
        Ok(())
    }

    /// POSTs `body` with the record's `Id` and current `SyncToken`, re-reading the token
    /// when QuickBooks says it is stale (twice at most). Answers the written entity, or
    /// `None` when the entity no longer exists in QuickBooks (610).
    pub(super) async fn write_with_sync_token(
        &self,
        session: &mut Session,
        req: &SyncRequest<'_, AnyDocument>,
        write: &TokenWrite<'_>,
        mut record: ErpRecord,
        body: &Value,
    ) -> Result<Option<Value>, Outcome> {
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

    /// The entity as QuickBooks holds it now, or `None` if it does not exist (610).
    pub(super) async fn read_entity(
        &self,
        session: &mut Session,
        write: &TokenWrite<'_>,
        id: &str,
    ) -> Result<Option<Value>, Outcome> {
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
