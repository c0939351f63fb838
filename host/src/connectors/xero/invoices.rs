//! Invoices in Xero: created in multi-invoice requests, updated and voided one by one,
//! and looked up by number a batch at a time when an earlier attempt may have created
//! them.
//!
//! - **Creates** that arrive together (a bill run) go as one `PUT Invoices` of up to
//!   [`PER_REQUEST`] elements with `summarizeErrors=false`: the batch's leader waits for
//!   a slot within the organisation's limits while the batch fills (see
//!   [`crate::connectors::coalesce`]), and each delivery gets its own element of the
//!   answer (Xero answers the elements in order). The `Idempotency-Key` names exactly the
//!   batch's jobs. A batch whose answer is lost is looked up by its invoice numbers in
//!   one call: the invoices found succeed, the others are retried.
//! - **Checks**: a retry with no stored record (or a manual re-sync) may find that an
//!   earlier attempt created the invoice after all; the retries of a batch are looked up
//!   together, `GET Invoices?InvoiceNumbers=…`.
//! - **Updates** address the stored `InvoiceID`; **voids** set `VOIDED`, or `DELETED`
//!   for a `DRAFT`, as Xero requires.

use serde_json::{Value, json};

use super::XeroConnector;
use super::client::{Call, Session};
use super::ledger::SUMMARIZE;
use super::mapping::{self, LineRules};
use crate::connectors::coalesce::Fill;
use crate::connectors::limits::Pass;
use crate::connectors::{JobKind, Outcome, SyncRequest};
use crate::store::ErpRecord;

/// Invoices per multi-invoice request (Xero recommends about 50 elements a request).
pub const PER_REQUEST: usize = 50;

/// How create batches fill: full, or arrivals paused for a moment, or a second at most.
pub const CREATE_FILL: Fill = Fill {
    max: PER_REQUEST,
    quiet: std::time::Duration::from_millis(60),
    max_wait: std::time::Duration::from_secs(1),
};

/// Calls left in the organisation's minute below which a create batch waits to fill up
/// (up to [`SCARCE_FILL`]) even once it may be sent.
pub const SCARCE: usize = 20;
/// How long a batch waits to fill when calls are scarce.
pub const SCARCE_FILL: std::time::Duration = std::time::Duration::from_secs(3);

/// How look-ups by number fill.
pub const CHECK_FILL: Fill = Fill {
    max: PER_REQUEST,
    quiet: std::time::Duration::from_millis(30),
    max_wait: std::time::Duration::from_millis(400),
};

/// One invoice waiting for its create batch.
pub struct NewInvoice {
    pub element: Value,
    pub job_id: String,
    pub number: String,
}

/// The query of every invoice write.
const WRITE_QUERY: [(&str, &str); 2] = [("summarizeErrors", "false"), ("unitdp", "4")];

impl XeroConnector {
    pub(super) async fn sync_invoice(&self, req: &SyncRequest<'_>) -> Result<Outcome, Outcome> {
        let mut session = self.session(req).await?;
        let existing = self.existing(&mut session, req).await?;
        if req.document.is_void() {
            return self.void(&mut session, req, existing).await;
        }
        let contact = self.contact(&mut session, &req.document.customer).await?;
        let rules = LineRules::from_config(&req.connection.config);
        let mut element = mapping::invoice_element(req.document, &contact, &rules);
        let answer = match &existing {
            Some(record) => {
                element["InvoiceID"] = json!(record.remote_id);
                let path = format!("Invoices/{}", record.remote_id);
                let key = format!("{}-update", req.job_id);
                let body = json!({"Invoices": [element]});
                let answer = self
                    .call(
                        &mut session,
                        Call::write(reqwest::Method::POST, &path, &WRITE_QUERY, &body, &key),
                    )
                    .await?;
                answer["Invoices"].get(0).cloned().unwrap_or(Value::Null)
            }
            None => {
                let new = NewInvoice {
                    element,
                    job_id: req.job_id.to_string(),
                    number: req.document.number.clone(),
                };
                self.create(&mut session, new).await?
            }
        };
        Self::element_ok(&answer)?;
        let record = self.remember(&session, &req.document.id, &answer).await?;
        Ok(Outcome::success(Some(200), Some(record.remote_id)))
    }

    /// The stored record of this invoice; on a retry without one, a look-up by number
    /// settles whether an earlier attempt created it after all.
    async fn existing(
        &self,
        session: &mut Session,
        req: &SyncRequest<'_>,
    ) -> Result<Option<ErpRecord>, Outcome> {
        if let Some(r) = self
            .store
            .erp_record(
                session.account(),
                &req.connection.tenant_id,
                "invoice",
                &req.document.id,
            )
            .await
            .map_err(Outcome::from)?
        {
            return Ok(Some(r));
        }
        // A first automatic attempt cannot have written before; a retry, or a manual
        // re-sync after a failure, might have (an answer lost after Xero committed).
        if req.attempt <= 1 && req.kind == JobKind::Sync {
            return Ok(None);
        }
        let connection_id = session.connection.id.clone();
        let found = self
            .invoice_checks
            .submit(
                &connection_id,
                req.document.number.clone(),
                async || Ok(()),
                async |(), numbers: Vec<String>| self.find_by_numbers(session, &numbers).await,
            )
            .await?;
        match found {
            Some(element) => Ok(Some(
                self.remember(session, &req.document.id, &element).await?,
            )),
            None => Ok(None),
        }
    }

    /// One `GET Invoices?InvoiceNumbers=…` for many numbers: each number's sales
    /// invoice, if Xero has it.
    async fn find_by_numbers(
        &self,
        session: &mut Session,
        numbers: &[String],
    ) -> Vec<Result<Option<Value>, Outcome>> {
        let list = numbers.join(",");
        let query = [("InvoiceNumbers", list.as_str()), ("summaryOnly", "true")];
        match self.call(session, Call::get("Invoices", &query)).await {
            Ok(found) => {
                let invoices = found["Invoices"].as_array().cloned().unwrap_or_default();
                numbers
                    .iter()
                    .map(|n| {
                        Ok(invoices
                            .iter()
                            .find(|i| i["Type"] == "ACCREC" && i["InvoiceNumber"] == n.as_str())
                            .cloned())
                    })
                    .collect()
            }
            Err(o) => numbers.iter().map(|_| Err(o.clone())).collect(),
        }
    }

    /// Creates one invoice as part of a multi-invoice request; answers its element.
    async fn create(&self, session: &mut Session, new: NewInvoice) -> Result<Value, Outcome> {
        let connection_id = session.connection.id.clone();
        let stop_session = &*session;
        let ready = async || {
            let pass = self.client.enter(stop_session).await?;
            // With few calls left in the minute, each one should carry a full batch.
            let account = stop_session.account().to_string();
            if self
                .client
                .limits
                .remaining(&account)
                .is_some_and(|left| left < SCARCE)
            {
                let until = tokio::time::Instant::now() + SCARCE_FILL;
                while self.invoice_creates.waiting(&connection_id) < PER_REQUEST
                    && tokio::time::Instant::now() < until
                {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
            Ok(pass)
        };
        // The leader's own session sends the batch; a clone of its credentials is enough
        // (the batch is one connection's).
        let mut sender = session.fork();
        self.invoice_creates
            .submit(
                &connection_id,
                new,
                ready,
                async |pass: Pass, batch: Vec<NewInvoice>| {
                    self.send_batch(&mut sender, pass, batch).await
                },
            )
            .await
    }

    /// Sends one multi-invoice create and hands each invoice its element.
    async fn send_batch(
        &self,
        session: &mut Session,
        pass: Pass,
        batch: Vec<NewInvoice>,
    ) -> Vec<Result<Value, Outcome>> {
        let elements: Vec<Value> = batch.iter().map(|n| n.element.clone()).collect();
        let body = json!({"Invoices": elements});
        // An idempotency key naming exactly these jobs.
        let key = super::batch_key("batch", batch.iter().map(|n| n.job_id.as_str()));
        let sending = std::time::Instant::now();
        let sent = self
            .call_with(
                session,
                Some(pass),
                Call::write(reqwest::Method::PUT, "Invoices", &WRITE_QUERY, &body, &key),
            )
            .await;
        tracing::debug!(
            invoices = batch.len(),
            took_ms = sending.elapsed().as_millis() as u64,
            ok = sent.is_ok(),
            "a multi-invoice create was answered"
        );
        match sent {
            Ok(answer) => (0..batch.len())
                .map(|i| {
                    answer["Invoices"].get(i).cloned().ok_or_else(|| {
                        Outcome::retryable(
                            Some(200),
                            "Xero answered fewer invoices than were sent",
                            None,
                        )
                    })
                })
                .collect(),
            // The answer was lost, and Xero may have created some or all of them: one
            // look-up by number says which.
            Err(lost) if matches!(lost.kind, crate::connectors::OutcomeKind::Retryable { .. }) => {
                let numbers: Vec<String> = batch.iter().map(|n| n.number.clone()).collect();
                self.find_by_numbers(session, &numbers)
                    .await
                    .into_iter()
                    .map(|found| match found {
                        Ok(Some(element)) => Ok(element),
                        Ok(None) | Err(_) => Err(lost.clone()),
                    })
                    .collect()
            }
            Err(o) => batch.iter().map(|_| Err(o.clone())).collect(),
        }
    }

    async fn void(
        &self,
        session: &mut Session,
        req: &SyncRequest<'_>,
        existing: Option<ErpRecord>,
    ) -> Result<Outcome, Outcome> {
        let Some(record) = existing else {
            return Ok(Outcome {
                detail: Some("the invoice was never in Xero; nothing to void".into()),
                ..Outcome::success(None, None)
            });
        };
        let status = if record.version.as_deref() == Some("DRAFT") {
            "DELETED"
        } else {
            "VOIDED"
        };
        let body = json!({"Invoices": [{"InvoiceID": record.remote_id, "Status": status}]});
        let path = format!("Invoices/{}", record.remote_id);
        let key = format!("{}-void", req.job_id);
        let call = Call::write(reqwest::Method::POST, &path, &SUMMARIZE, &body, &key);
        let element = self.write_one(session, "Invoices", call).await?;
        Self::element_ok(&element)?;
        self.remember(session, &req.document.id, &element).await?;
        Ok(Outcome::success(Some(200), Some(record.remote_id)))
    }

    async fn remember(
        &self,
        session: &Session,
        invoice_id: &str,
        element: &Value,
    ) -> Result<ErpRecord, Outcome> {
        let record = ErpRecord {
            remote_id: element["InvoiceID"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            version: element["Status"].as_str().map(str::to_string),
        };
        self.store
            .put_erp_record(
                session.account(),
                &session.connection.tenant_id,
                "invoice",
                invoice_id,
                &record,
            )
            .await
            .map_err(Outcome::from)?;
        Ok(record)
    }
}
