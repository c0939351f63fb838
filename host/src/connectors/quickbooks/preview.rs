//! What a delivery of an invoice to QuickBooks would send, and every mapping gap: the
//! body is built by the same mapping as a delivery, after reading the company's settings
//! and its `Services` Item as a delivery does; the gaps are the mapping's own, and the
//! Items and TaxCodes it names that the company does not have.

use serde_json::json;

use super::QuickBooksConnector;
use super::api::MINOR_VERSION;
use super::customers::local_key;
use super::mapping::{self, TaxCodes};
use crate::connectors::mapping_aids::{json_headers, known_ids};
use crate::connectors::{ErpList, Gap, Outcome, Preview, PreviewInput, PreviewRequest};

impl QuickBooksConnector {
    pub(super) async fn preview_of(&self, input: PreviewInput<'_>) -> Result<Preview, Outcome> {
        let invoice = input.invoice;
        let mut session = self.client.read_session(&input.connection.id).await?;
        let company = self.company(&mut session).await?;
        let account = session.account().to_string();
        let tenant = &input.connection.tenant_id;
        let existing = self
            .store
            .erp_record(&account, tenant, "invoice", &invoice.id)
            .await?;
        let headers = json_headers(&[]);
        let realm = session.account_id.clone();
        let path = |query: &str| {
            format!("/v3/company/{realm}/invoice?{query}&minorversion={MINOR_VERSION}")
        };
        let mut notes = Vec::new();
        if invoice.is_void() {
            let Some(existing) = existing else {
                return Ok(Preview::nothing_sent(
                    "the invoice was never in QuickBooks: a VOID sends nothing",
                ));
            };
            let body =
                json!({"Id": existing.remote_id, "SyncToken": existing.version, "sparse": true});
            let path = path("operation=void&requestid=(the delivery's job)");
            let request = PreviewRequest::json("POST", path, headers, body);
            return Ok(Preview::unmapped(request, notes));
        }
        let items = self.item_rules(&mut session).await?;
        let tax_codes = TaxCodes::from_config(&input.connection.config);
        let customer_key = local_key(&invoice.customer, &invoice.currency, &company);
        let customer = self
            .store
            .erp_record(&account, tenant, "customer", &customer_key)
            .await?;
        let mapped = mapping::invoice_body(
            invoice,
            customer.as_ref().map_or("", |c| c.remote_id.as_str()),
            &items,
            &tax_codes,
            &company,
        );
        let mut body = mapped.body;
        let mut gaps = mapped.gaps;
        if customer.is_none() {
            body["CustomerRef"] = json!({"value": null});
            notes.push(format!(
                "the QuickBooks Customer of customer {} in {} is looked up by name ({:?}), and created if the company has none, when the invoice syncs; its Id goes in CustomerRef",
                invoice.customer.id, invoice.currency, invoice.customer.name
            ));
        }
        let lines = body["Line"].as_array().cloned().unwrap_or_default();
        let item_ids = known_ids(input.lists, ErpList::Items, &mut notes);
        let tax_ids = known_ids(input.lists, ErpList::TaxRates, &mut notes);
        for (i, line) in lines.iter().enumerate() {
            let detail = &line["SalesItemLineDetail"];
            let unknown = |ids: &Option<Vec<String>>, value: &serde_json::Value| {
                value
                    .as_str()
                    .filter(|v| !v.is_empty())
                    .filter(|v| {
                        ids.as_ref()
                            .is_some_and(|ids| !ids.iter().any(|id| id == v))
                    })
                    .map(str::to_string)
            };
            if let Some(item) = unknown(&item_ids, &detail["ItemRef"]["value"]) {
                gaps.push(Gap::new(
                    format!("Line[{i}].ItemRef"),
                    format!("Item {item} is not an active Item of the company: choose another in item_map or default_item_id"),
                ));
            }
            if !company.is_us()
                && let Some(code) = unknown(&tax_ids, &detail["TaxCodeRef"]["value"])
            {
                gaps.push(Gap::new(
                    format!("Line[{i}].TaxCodeRef"),
                    format!("TaxCode {code} is not an active TaxCode of the company: choose another in tax_code_map"),
                ));
            }
        }
        if let Some(r) = existing {
            body["Id"] = json!(r.remote_id);
            body["SyncToken"] = json!(r.version);
        }
        let url = path("requestid=(the delivery's job)");
        Ok(Preview {
            request: Some(PreviewRequest::json("POST", url, headers, body)),
            gaps,
            notes,
        })
    }
}
