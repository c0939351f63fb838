//! What a delivery of an invoice to NetSuite would send, and every mapping gap: the
//! invoice upsert built by the same mapping as a delivery (the customer's upsert comes
//! first, and the currency's internal id is read as a delivery reads it); the gaps are
//! the lines without an item and the items the account does not have.

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::NetSuiteConnector;
use super::client::RECORD_PATH;
use super::mapping::{self, ItemRules, external_id};
use crate::connectors::mapping_aids::{json_headers, known_ids};
use crate::connectors::{ErpList, Gap, Outcome, Preview, PreviewInput, PreviewRequest};

impl NetSuiteConnector {
    pub(super) async fn preview_of(&self, input: PreviewInput<'_>) -> Result<Preview, Outcome> {
        let invoice = input.invoice;
        let session = self.session(input.connection, input.secrets, CancellationToken::new())?;
        let eid = external_id("inv", &session.tenant_id, &invoice.id);
        let headers = json_headers(&[]);
        let mut notes = Vec::new();
        if invoice.is_void() {
            notes.push(format!(
                "REST web services cannot void an invoice: the invoice (external id {eid}) is credited in full with a credit memo, POST {RECORD_PATH}/invoice/<id>/!transform/creditMemo, once; an invoice never in NetSuite needs nothing"
            ));
            let memo = external_id("void", &session.tenant_id, &invoice.id);
            let path = format!("{RECORD_PATH}/invoice/eid:{eid}/!transform/creditMemo");
            let body = json!({
                "externalId": memo,
                "memo": format!("Voided in the billing platform: invoice {} (erp-sync {})", invoice.number, invoice.id),
            });
            let request = PreviewRequest::json("POST", path, headers, body);
            return Ok(Preview::unmapped(request, notes));
        }
        let rules = ItemRules::from_config(&input.connection.config);
        let (lines, mut gaps) = mapping::item_lines_with_gaps(invoice, &rules);
        let customer = external_id("cus", &session.tenant_id, &invoice.customer.id);
        notes.push(format!(
            "the customer is upserted first, PUT {RECORD_PATH}/customer/eid:{customer}, when it is new or changed; the invoice names it by its internal id"
        ));
        let currency = match self.currency(&session, &invoice.currency).await {
            Ok(id) => id,
            Err(o) => {
                gaps.push(Gap::new(
                    "currency",
                    o.detail
                        .unwrap_or_else(|| format!("currency {} not found", invoice.currency)),
                ));
                String::new()
            }
        };
        let mut body = mapping::invoice_body(
            invoice,
            "",
            &currency,
            session.subsidiary_id.as_deref(),
            lines,
        );
        match self
            .remembered(&session, "customer", &invoice.customer.id)
            .await?
        {
            Some(r) => body["entity"] = json!({"id": r.remote_id}),
            None => body["entity"] = json!({"id": null}),
        }
        if let Some(items) = known_ids(input.lists, ErpList::Items, &mut notes) {
            let sent = body["item"]["items"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for (i, line) in sent.iter().enumerate() {
                if let Some(id) = line["item"]["id"].as_str().filter(|id| !id.is_empty())
                    && !items.iter().any(|known| known == id)
                {
                    gaps.push(Gap::new(
                        format!("item.items[{i}].item"),
                        format!("item {id} is not an active item of the account: choose another in item_map or default_item_id"),
                    ));
                }
            }
        }
        Ok(Preview {
            request: Some(PreviewRequest::json(
                "PUT",
                format!("{RECORD_PATH}/invoice/eid:{eid}?replace=item"),
                headers,
                body,
            )),
            gaps,
            notes,
        })
    }
}
