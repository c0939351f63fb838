//! Customer updates in Xero: the contact that stands for the customer on this
//! organisation (remembered in `erp_records`, kind `customer`) gets the customer's
//! current name, e-mail, address and tax number (`POST Contacts` with its `ContactID`).
//! A customer this organisation has no contact for yet is not created here: its next
//! document creates it with the details it carries, and the delivery succeeds saying so.

use serde_json::{Value, json};

use super::XeroConnector;
use super::client::Call;
use super::ledger;
use crate::connectors::{Outcome, SyncRequest};
use crate::documents::AnyDocument;
use crate::domain::{Customer, CustomerUpdate};

impl XeroConnector {
    pub(super) async fn sync_customer(
        &self,
        req: &SyncRequest<'_, AnyDocument>,
        update: &CustomerUpdate,
    ) -> Result<Outcome, Outcome> {
        let mut session = self
            .client
            .fresh_session(&req.connection.id, req.stop.clone())
            .await?;
        let Some(contact_id) = self
            .store
            .erp_record(
                session.account(),
                &req.connection.tenant_id,
                "customer",
                &update.id,
            )
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
        let query = [("summarizeErrors", "false")];
        let answer = self
            .call(
                &mut session,
                Call::write(reqwest::Method::POST, "Contacts", &query, &body, &key),
            )
            .await?;
        let updated = answer["Contacts"].get(0).cloned().unwrap_or(Value::Null);
        if let Some(messages) = ledger::refusal(&updated) {
            return Err(Outcome::permanent(
                Some(200),
                format!(
                    "Xero refused the update of contact {contact_id} (customer {}): {messages}",
                    update.id
                ),
            ));
        }
        Ok(Outcome::success(Some(200), Some(contact_id)))
    }
}
