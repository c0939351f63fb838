//! Customer updates in Xero: the contact that stands for the customer on this
//! organisation (remembered in `erp_records`, kind `customer`) gets the customer's
//! current name, e-mail, address and tax number (`POST Contacts` with its `ContactID`).
//! A customer this organisation has no contact for yet is not created here: its next
//! document creates it with the details it carries, and the delivery succeeds saying so.

use reqwest::Method;
use serde_json::json;

use super::XeroConnector;
use super::client::Call;
use super::ledger::{self, SUMMARIZE};
use crate::connectors::{LedgerRequest, Outcome, Step};
use crate::domain::{Customer, CustomerUpdate};

impl XeroConnector {
    pub(super) async fn sync_customer(
        &self,
        req: &LedgerRequest<'_>,
        update: &CustomerUpdate,
    ) -> Step {
        let session = &mut self.session(req).await?;
        let Some(contact_id) = self
            .kept(session, "customer", &update.id)
            .await?
            .map(|r| r.remote_id)
        else {
            return Ok(ledger::done(
                None,
                format!(
                    "customer {} has no contact in this Xero organisation yet; its next document creates it with these details",
                    update.id
                ),
            ));
        };
        let customer = Customer {
            address: update.address.clone(),
            email: update.email.clone(),
            id: update.id.clone(),
            name: update.name.clone(),
        };
        let mut element = super::mapping::contact_element(&customer);
        element["ContactID"] = json!(contact_id);
        if let Some(tax) = &update.tax_number {
            element["TaxNumber"] = json!(tax);
        }
        let body = json!({"Contacts": [element]});
        let key = ledger::key(req, &["contact", &contact_id]);
        let call = Call::write(Method::POST, "Contacts", &SUMMARIZE, &body, &key);
        let updated = self.write_one(session, "Contacts", call).await?;
        ledger::accepted(&updated, |messages| {
            let id = &update.id;
            format!("Xero refused the update of contact {contact_id} (customer {id}): {messages}")
        })?;
        Ok(Outcome::success(Some(200), Some(contact_id)))
    }
}
