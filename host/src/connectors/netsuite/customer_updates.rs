//! Customer updates as an upsert of the same NetSuite customer (`docs/erp-apis.md` §3.9).
//!
//! The customer is the one invoices made: external id `es_cus_…` of our customer id. An
//! update is upserted (`PUT /customer/eid:<id>`) with the body invoices send
//! ([`super::mapping::customer_body_of`]: company name, e-mail, subsidiary), under the
//! same per-customer lock and with the same fingerprint, so an unchanged customer is not
//! sent again and the next invoice does not re-send it either. A customer NetSuite does
//! not hold yet is not created by an update: its first document creates it (the contract:
//! "an update of the same ERP customer on every routed connection that already holds it").
//! `address`, `tax_number` and `currency` are not sent: NetSuite's address book is a
//! sublist of its own the accountant keeps (as for invoices), its tax registration
//! fields depend on the account's country and SuiteTax, and a customer's currency cannot
//! change once it has transactions.

use super::mapping::{self, external_id};
use super::{NetSuiteConnector, Session, success_with};
use crate::connectors::Outcome;
use crate::domain::{Customer, CustomerUpdate};

impl NetSuiteConnector {
    pub(super) async fn sync_customer_update(
        &self,
        session: &Session,
        update: &CustomerUpdate,
    ) -> Result<Outcome, Outcome> {
        let local = &update.id;
        let eid = external_id("cus", &session.tenant_id, local);
        let key = format!("{}/{eid}", session.account.key());
        let _guard = self.customer_locks.lock(&key).await;
        let held = match self.remembered(session, "customer", local).await? {
            Some(r) => Some(r.remote_id),
            None => self.id_by_external_id(session, "customer", &eid).await?,
        };
        if held.is_none() {
            return Ok(success_with(
                None,
                None,
                format!(
                    "customer {local} is not in NetSuite yet; nothing to update (its first document creates it)"
                ),
            ));
        }
        let customer = Customer {
            address: update.address.clone(),
            email: update.email.clone(),
            id: local.clone(),
            name: update.name.clone(),
        };
        let body = mapping::customer_body_of(&customer, session.subsidiary_id.as_deref());
        let fingerprint = mapping::fingerprint(&body);
        let before = self.remembered(session, "customer", local).await?;
        let id = self
            .upsert_customer(session, local, &eid, &body, fingerprint.clone())
            .await?;
        let unchanged = before.and_then(|r| r.version) == Some(fingerprint);
        let note = if unchanged {
            format!("NetSuite customer {id} already has these details")
        } else {
            format!("NetSuite customer {id} updated")
        };
        Ok(success_with(None, Some(id), note))
    }
}
