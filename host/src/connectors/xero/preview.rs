//! What a delivery of an invoice to Xero would send, and every mapping gap: the request
//! is built by the same mapping as a delivery; the gaps compare what it names (account
//! codes, tax types, item codes, the currency) with the organisation's own lists.

use serde_json::{Value, json};

use super::XeroConnector;
use super::mapping::{self, LineRules};
use crate::connectors::mapping_aids::{ErpLists, json_headers, known_ids};
use crate::connectors::{ErpList, Gap, Outcome, Preview, PreviewInput, PreviewRequest};
use crate::store::ErpRecord;

impl XeroConnector {
    pub(super) async fn preview_of(&self, input: PreviewInput<'_>) -> Result<Preview, Outcome> {
        let connection = input.connection;
        let invoice = input.invoice;
        let (tenant_id, account) = self.client.account_of(connection)?;
        let tenant = &connection.tenant_id;
        let existing: Option<ErpRecord> = self
            .store
            .erp_record(&account, tenant, "invoice", &invoice.id)
            .await?;
        let contact = self
            .store
            .erp_record(&account, tenant, "customer", &invoice.customer.id)
            .await?;
        let mut notes = Vec::new();
        let headers = json_headers(&[
            ("xero-tenant-id", &tenant_id),
            ("Idempotency-Key", "(derived from the delivery's job)"),
        ]);
        let query = "summarizeErrors=false&unitdp=4";
        if invoice.is_void() {
            let Some(existing) = existing else {
                return Ok(Preview::nothing_sent(
                    "the invoice was never in Xero: a VOID sends nothing",
                ));
            };
            let status = if existing.version.as_deref() == Some("DRAFT") {
                "DELETED"
            } else {
                "VOIDED"
            };
            let path = format!(
                "/api.xro/2.0/Invoices/{}?summarizeErrors=false",
                existing.remote_id
            );
            let body = json!({"Invoices": [{"InvoiceID": existing.remote_id, "Status": status}]});
            let request = PreviewRequest::json("POST", path, headers, body);
            return Ok(Preview::unmapped(request, notes));
        }
        let rules = LineRules::from_config(&connection.config);
        let contact_id = match &contact {
            Some(r) => r.remote_id.clone(),
            None => {
                notes.push(format!(
                    "the contact of customer {} is looked up by ContactNumber {:?}, and created if Xero has none, when the invoice syncs; its ContactID goes in Contact",
                    invoice.customer.id, invoice.customer.id
                ));
                String::new()
            }
        };
        let mut element = mapping::invoice_element(invoice, &contact_id, &rules);
        if contact.is_none() {
            element["Contact"] = json!({"ContactID": null});
        }
        let gaps = gaps(&element, invoice, input.lists, &mut notes);
        let (method, url, body) = match &existing {
            Some(r) => {
                element["InvoiceID"] = json!(r.remote_id);
                (
                    "POST",
                    format!("/api.xro/2.0/Invoices/{}?{query}", r.remote_id),
                    json!({"Invoices": [element]}),
                )
            }
            None => {
                notes.push(
                    "a new invoice goes in a multi-invoice request with the others syncing at the same time (up to 50)".into(),
                );
                (
                    "PUT",
                    format!("/api.xro/2.0/Invoices?{query}"),
                    json!({"Invoices": [element]}),
                )
            }
        };
        Ok(Preview {
            request: Some(PreviewRequest::json(method, url, headers, body)),
            gaps,
            notes,
        })
    }
}

/// Compares what the element names with the organisation's lists.
fn gaps(
    element: &Value,
    invoice: &crate::domain::Invoice,
    lists: &ErpLists,
    notes: &mut Vec<String>,
) -> Vec<Gap> {
    let mut gaps = Vec::new();
    if let Some(currencies) = known_ids(lists, ErpList::Currencies, notes)
        && !currencies
            .iter()
            .any(|c| c.eq_ignore_ascii_case(&invoice.currency))
    {
        gaps.push(Gap::new(
            "currency",
            format!(
                "the organisation is not subscribed to {}: add the currency in Xero (Settings > Currencies) or route these invoices to another connection",
                invoice.currency
            ),
        ));
    }
    let accounts = known_ids(lists, ErpList::Accounts, notes);
    let taxes = known_ids(lists, ErpList::TaxRates, notes);
    let items = known_ids(lists, ErpList::Items, notes);
    let lines = element["LineItems"].as_array().cloned().unwrap_or_default();
    for (i, line) in lines.iter().enumerate() {
        let unknown = |ids: &Option<Vec<String>>, key: &str| {
            line[key]
                .as_str()
                .filter(|v| {
                    ids.as_ref()
                        .is_some_and(|ids| !ids.iter().any(|id| id == v))
                })
                .map(str::to_string)
        };
        if let Some(code) = unknown(&accounts, "AccountCode") {
            gaps.push(Gap::new(
                format!("lines[{i}].account"),
                format!(
                    "account code {code} is not an active account of the organisation: choose one in account_map or account_code"
                ),
            ));
        }
        if let Some(tax) = unknown(&taxes, "TaxType") {
            gaps.push(Gap::new(
                format!("lines[{i}].tax_code"),
                format!(
                    "tax type {tax} is not an active tax rate of the organisation: choose one in tax_map or tax_type"
                ),
            ));
        }
        if let Some(item) = unknown(&items, "ItemCode") {
            gaps.push(Gap::new(
                format!("lines[{i}].product_id"),
                format!(
                    "item code {item} is not an item of the organisation: choose one in item_map"
                ),
            ));
        }
    }
    gaps
}
