//! QuickBooks Customers for our customers, one per (customer, currency).
//!
//! A QuickBooks Customer has one currency, fixed when it is created, and an invoice must
//! be in its customer's currency. So our customer maps to one Customer per currency it
//! is invoiced in: the stored mapping first; else the Customer whose `DisplayName` is the
//! customer's name, if it is in that currency; else the one named `<name> (<currency>)`;
//! else a new Customer, named `<name>` when that name is free and `<name> (<currency>)`
//! otherwise (display names are unique in a company). A "duplicate name" answer (6240)
//! is settled by looking the name up again. One resolution per customer runs at a time
//! per company, so a bill run's deliveries for a new customer create it once.

use serde_json::Value;

use super::QuickBooksConnector;
use super::client::Session;
use super::mapping::{self, Company};
use crate::connectors::{Outcome, remember_customer};
use crate::domain::Customer;

/// The key of a customer's mapping: its id in the home currency (as before currencies
/// were known), `<id>@<currency>` in another.
pub(super) fn local_key(customer: &Customer, currency: &str, company: &Company) -> String {
    if company.is_foreign(currency) {
        format!("{}@{}", customer.id, currency.to_ascii_uppercase())
    } else {
        customer.id.clone()
    }
}

fn currency_of(entity: &Value, company: &Company) -> String {
    entity["CurrencyRef"]["value"]
        .as_str()
        .unwrap_or(&company.home_currency)
        .to_ascii_uppercase()
}

impl QuickBooksConnector {
    /// The QuickBooks Customer id for `customer` invoiced in `currency`.
    pub(super) async fn customer(
        &self,
        session: &mut Session,
        customer: &Customer,
        currency: &str,
        company: &Company,
    ) -> Result<String, Outcome> {
        let account = session.account().to_string();
        let tenant = session.connection.tenant_id.clone();
        let local = local_key(customer, currency, company);
        let remembered = |store: &crate::store::Store| {
            let (account, tenant, local) = (account.clone(), tenant.clone(), local.clone());
            let store = store.clone();
            async move {
                store
                    .erp_record(&account, &tenant, "customer", &local)
                    .await
                    .map_err(Outcome::from)
            }
        };
        if let Some(r) = remembered(&self.store).await? {
            return Ok(r.remote_id);
        }
        // One lock per customer, whatever the currency: two currencies of one new
        // customer would otherwise both claim its plain name.
        let lock_key = format!("{account}/{}", customer.id);
        let result = {
            let _guard = self.customer_locks.lock(&lock_key).await;
            // Whoever held the lock may have resolved it meanwhile.
            match remembered(&self.store).await? {
                Some(r) => Ok(r.remote_id),
                None => {
                    let currency = currency.to_ascii_uppercase();
                    self.resolve(session, customer, currency, company).await
                }
            }
        };
        let id = result?;
        remember_customer(&self.store, &account, &tenant, &local, &id).await?;
        Ok(id)
    }

    async fn resolve(
        &self,
        session: &mut Session,
        customer: &Customer,
        currency: String,
        company: &Company,
    ) -> Result<String, Outcome> {
        let suffixed = format!("{} ({currency})", customer.name);
        let plain = self
            .query_one(session, "Customer", "DisplayName", &customer.name)
            .await?;
        let name = match &plain {
            Some(c) if currency_of(c, company) == currency => return id_of(c),
            Some(_) => {
                if let Some(c) = self
                    .query_one(session, "Customer", "DisplayName", &suffixed)
                    .await?
                    && currency_of(&c, company) == currency
                {
                    return id_of(&c);
                }
                suffixed.clone()
            }
            None => customer.name.clone(),
        };
        let body = mapping::customer_body(
            customer,
            &name,
            company.is_foreign(&currency).then_some(currency.as_str()),
        );
        match self
            .call(session, reqwest::Method::POST, "customer", &[], Some(&body))
            .await
        {
            Ok(created) => id_of(&created["Customer"]),
            Err(o)
                if o.detail
                    .as_deref()
                    .is_some_and(|d| d.contains("error 6240")) =>
            {
                // The name was taken meanwhile (or by a vendor or employee): use it if it
                // is this customer in this currency, else take the suffixed name.
                match self
                    .query_one(session, "Customer", "DisplayName", &name)
                    .await?
                {
                    Some(c) if currency_of(&c, company) == currency => id_of(&c),
                    _ if name != suffixed => {
                        let body = mapping::customer_body(
                            customer,
                            &suffixed,
                            company.is_foreign(&currency).then_some(currency.as_str()),
                        );
                        let created = self
                            .call(session, reqwest::Method::POST, "customer", &[], Some(&body))
                            .await?;
                        id_of(&created["Customer"])
                    }
                    _ => Err(o),
                }
            }
            Err(o) => Err(o),
        }
    }
}

fn id_of(entity: &Value) -> Result<String, Outcome> {
    entity["Id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| Outcome::permanent(None, "QuickBooks returned a Customer without an Id"))
}
