//! Customer updates in QuickBooks: a sparse update of each QuickBooks Customer that
//! already stands for the customer.
//!
//! Our customer maps to one Customer per currency ([`super::customers`]): the update
//! goes to the home currency's (kept under the customer's id) and, when the update
//! names another currency, to that currency's (`<id>@<CUR>`). Each is read for its
//! current `SyncToken`, then sent as a sparse update (`"sparse": true`, `Id`,
//! `SyncToken`: only the fields sent change) of `DisplayName` (`<name> (<CUR>)` for a
//! Customer already named that way, the name otherwise), `PrimaryEmailAddr`, `BillAddr`
//! and `PrimaryTaxIdentifier` (Intuit: the tax id, "masked in responses").
//! A customer QuickBooks does not hold yet is not created here: its next document
//! creates it, and the update succeeds saying so.
//! Keys: see [`super::ledger`]; the step is `k<n>` for the n-th Customer.

use serde_json::{Value, json};

use super::QuickBooksConnector;
use super::ledger::TokenWrite;
use super::mapping::contact_fields;
use crate::connectors::{LedgerRequest, Outcome, Step};
use crate::domain::CustomerUpdate;

/// The sparse update of a Customer now named `current_name`, in `currency`.
pub fn customer_update_body(update: &CustomerUpdate, current_name: &str, currency: &str) -> Value {
    let suffix = format!(" ({currency})");
    let name = if current_name.ends_with(&suffix) {
        format!("{}{suffix}", update.name)
    } else {
        update.name.clone()
    };
    let mut body = json!({"sparse": true, "DisplayName": name});
    contact_fields(&mut body, update.email.as_deref(), update.address.as_ref());
    if let Some(tax_number) = &update.tax_number {
        body["PrimaryTaxIdentifier"] = json!(tax_number);
    }
    body
}

impl QuickBooksConnector {
    pub(super) async fn sync_customer_update(
        &self,
        req: &LedgerRequest<'_>,
        update: &CustomerUpdate,
    ) -> Step {
        let mut session = self.ledger_session(req).await?;
        let company = self.company(&mut session).await?;
        let mut keys = vec![(update.id.clone(), company.home_currency.clone())];
        if let Some(currency) = &update.currency
            && company.is_foreign(currency)
        {
            let currency = currency.to_ascii_uppercase();
            keys.push((format!("{}@{currency}", update.id), currency));
        }
        let mut updated = Vec::new();
        for (n, (key, currency)) in keys.iter().enumerate() {
            let Some(record) = self.stored(&session, "customer", key).await? else {
                continue;
            };
            let step = format!("k{n}");
            let write = TokenWrite::new("customer", "Customer", &step);
            let id = record.remote_id.clone();
            let gone = || format!("QuickBooks Customer {id} (customer {key}) no longer exists");
            let current = self.read_live(&mut session, &write, &id, gone).await?;
            let current_name = current["DisplayName"].as_str().unwrap_or_default();
            let body = customer_update_body(update, current_name, currency);
            let record = crate::store::ErpRecord {
                version: current["SyncToken"].as_str().map(str::to_string),
                ..record
            };
            self.write_with_sync_token(&mut session, req, &write, record, &body)
                .await?;
            updated.push(id);
        }
        if updated.is_empty() {
            return Ok(Outcome {
                detail: Some(format!(
                    "QuickBooks holds no Customer for {} yet; nothing to update: its next document creates it",
                    update.id
                )),
                ..Outcome::success(None, None)
            });
        }
        Ok(Outcome::success(Some(200), Some(updated.join(","))))
    }
}
