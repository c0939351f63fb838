//! Invoices in QuickBooks: exactly one QuickBooks invoice per invoice, however many
//! retries and re-syncs.
//!
//! - the invoice's QuickBooks `Id` and `SyncToken` are stored per company (realm), so a
//!   re-sync is an update of the same record, and reconnecting the same company finds
//!   them again;
//! - a create carries `requestid` = the job id (≤ 50 characters), so a retry after a
//!   lost answer is replayed by QuickBooks instead of creating again; when a retry has
//!   no stored record, the invoice is first looked up by `DocNumber`;
//! - an update re-sends with the stored `SyncToken`; a stale token (5010) re-reads the
//!   invoice and re-applies, twice at most;
//! - a mapping gap (see [`mapping`]) fails the delivery before anything is written.

use serde_json::{Value, json};

use super::QuickBooksConnector;
use super::client::Session;
use super::mapping::{self, TaxCodes};
use crate::connectors::{Gap, JobKind, Outcome, SyncRequest};
use crate::store::ErpRecord;

impl QuickBooksConnector {
    pub(super) async fn remember(
        &self,
        session: &Session,
        tenant_id: &str,
        invoice_id: &str,
        entity: &Value,
    ) -> Result<ErpRecord, Outcome> {
        let record = ErpRecord {
            remote_id: entity["Id"].as_str().unwrap_or_default().to_string(),
            version: entity["SyncToken"].as_str().map(str::to_string),
        };
        self.store
            .put_erp_record(session.account(), tenant_id, "invoice", invoice_id, &record)
            .await?;
        Ok(record)
    }

    /// The stored record of this invoice; on a retry without one, a lookup by DocNumber
    /// settles whether an earlier attempt created it after all.
    async fn existing(
        &self,
        session: &mut Session,
        req: &SyncRequest<'_>,
    ) -> Result<Option<ErpRecord>, Outcome> {
        let tenant = &req.connection.tenant_id;
        if let Some(r) = self
            .store
            .erp_record(session.account(), tenant, "invoice", &req.document.id)
            .await
            .map_err(Outcome::from)?
        {
            return Ok(Some(r));
        }
        // A first automatic attempt cannot have written before; a retry, or a manual
        // re-sync after a failure, might have (an answer lost after the ERP committed).
        if req.attempt <= 1 && req.kind == JobKind::Sync {
            return Ok(None);
        }
        match self
            .query_one(session, "Invoice", "DocNumber", &req.document.number)
            .await?
        {
            Some(found) => Ok(Some(
                self.remember(session, tenant, &req.document.id, &found)
                    .await?,
            )),
            None => Ok(None),
        }
    }

    /// POSTs an invoice write with `Id` and the current SyncToken, re-reading the
    /// SyncToken when QuickBooks says it is stale.
    async fn write_with_token(
        &self,
        session: &mut Session,
        req: &SyncRequest<'_>,
        mut record: ErpRecord,
        body: &Value,
        operation: Option<&str>,
    ) -> Result<Value, Outcome> {
        for round in 0..3 {
            let mut body = body.clone();
            body["Id"] = json!(record.remote_id);
            body["SyncToken"] = json!(record.version.clone().unwrap_or_else(|| "0".into()));
            let requestid = format!("{}-{}{round}", req.job_id, operation.map_or("u", |_| "v"));
            let mut query = vec![("requestid", requestid.as_str())];
            if let Some(op) = operation {
                query.push(("operation", op));
            }
            match self
                .call(
                    session,
                    reqwest::Method::POST,
                    "invoice",
                    &query,
                    Some(&body),
                )
                .await
            {
                Ok(answer) => return Ok(answer),
                Err(o)
                    if o.detail
                        .as_deref()
                        .is_some_and(|d| d.contains("error 5010"))
                        && round < 2 =>
                {
                    let path = format!("invoice/{}", record.remote_id);
                    let current = self
                        .call(session, reqwest::Method::GET, &path, &[], None)
                        .await?;
                    record.version = current["Invoice"]["SyncToken"].as_str().map(str::to_string);
                }
                Err(o) => return Err(o),
            }
        }
        Err(Outcome::permanent(
            Some(400),
            "the QuickBooks invoice kept changing under us (stale SyncToken three times)",
        ))
    }

    pub(super) async fn sync_invoice(&self, req: &SyncRequest<'_>) -> Result<Outcome, Outcome> {
        let mut session = self
            .client
            .fresh_session(&req.connection.id, req.stop.clone())
            .await?;
        let tenant = req.connection.tenant_id.clone();
        let existing = self.existing(&mut session, req).await?;
        if req.document.is_void() {
            let Some(record) = existing else {
                return Ok(Outcome {
                    detail: Some("the invoice was never in QuickBooks; nothing to void".into()),
                    ..Outcome::success(None, None)
                });
            };
            let id = record.remote_id.clone();
            let answer = self
                .write_with_token(
                    &mut session,
                    req,
                    record,
                    &json!({"sparse": true}),
                    Some("void"),
                )
                .await?;
            self.remember(&session, &tenant, &req.document.id, &answer["Invoice"])
                .await?;
            return Ok(Outcome::success(Some(200), Some(id)));
        }
        let company = self.company(&mut session).await?;
        let items = self.item_rules(&mut session).await?;
        let tax_codes = TaxCodes::from_config(&req.connection.config);
        // A gap fails the delivery before anything is written.
        let gaps = mapping::invoice_body(req.document, "", &items, &tax_codes, &company).gaps;
        if !gaps.is_empty() {
            return Err(Gap::failure("QuickBooks", &gaps));
        }
        let customer = self
            .customer(
                &mut session,
                &req.document.customer,
                &req.document.currency,
                &company,
            )
            .await?;
        let body =
            mapping::invoice_body(req.document, &customer, &items, &tax_codes, &company).body;
        let answer = match existing {
            Some(record) => {
                self.write_with_token(&mut session, req, record, &body, None)
                    .await?
            }
            None => {
                // The job id is stable across retries of this delivery: QuickBooks
                // replays its first answer instead of creating a second invoice.
                let query = [("requestid", req.job_id)];
                self.call(
                    &mut session,
                    reqwest::Method::POST,
                    "invoice",
                    &query,
                    Some(&body),
                )
                .await?
            }
        };
        let record = self
            .remember(&session, &tenant, &req.document.id, &answer["Invoice"])
            .await?;
        Ok(Outcome::success(Some(200), Some(record.remote_id)))
    }
}
